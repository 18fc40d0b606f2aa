package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

// resourceWildcardActions are the only actions the program may allow on
// Resource "*": AWS defines no resource for them.
var resourceWildcardActions = []string{
	"ecr:GetAuthorizationToken",
	"logs:DescribeLogGroups",
	"ssmmessages:CreateControlChannel",
	"ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel",
	"ssmmessages:OpenDataChannel",
}

type policyStatement struct {
	Sid       string
	Effect    string
	Principal any
	Action    any
	Resource  any
	Condition map[string]map[string]any
}

// strs reads an IAM field that may be a string or a list of strings.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		return asStrings(v)
	}
	return nil
}

// policies returns every policy document in the stack, parsed, by owner.
func policies(t *testing.T, st *stack) map[string][]policyStatement {
	t.Helper()
	out := map[string][]policyStatement{}
	add := func(owner string, raw any) {
		if raw == nil {
			return
		}
		var doc struct {
			Version   string
			Statement []policyStatement
		}
		if err := json.Unmarshal([]byte(fmt.Sprint(raw)), &doc); err != nil {
			t.Errorf("%s: policy is not JSON: %v", owner, err)
			return
		}
		if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
			t.Errorf("%s: got version %q with %d statements, want 2012-10-17 and some", owner, doc.Version, len(doc.Statement))
		}
		out[owner] = append(out[owner], doc.Statement...)
	}
	for _, r := range st.resources {
		if r.Type == "aws:ecr/lifecyclePolicy:LifecyclePolicy" {
			continue // an ECR lifecycle policy, not an IAM document
		}
		owner := r.Type + " " + r.Name
		add(owner, r.Inputs["policy"])
		add(owner, r.Inputs["assumeRolePolicy"])
		for _, inline := range asSlice(r.Inputs["inlinePolicies"]) {
			add(owner, dig(inline, "policy"))
		}
	}
	return out
}

func TestIAMPoliciesHaveNoWildcards(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		if len(docs) < 10 {
			t.Fatalf("got %d policy documents, want every role, role policy and bucket policy (>= 10)", len(docs))
		}
		for owner, statements := range docs {
			for _, s := range statements {
				if s.Effect != "Allow" {
					continue
				}
				actions, resources := strs(s.Action), strs(s.Resource)
				for _, a := range actions {
					if a == "*" || strings.HasSuffix(a, ":*") || strings.Contains(a, "*") {
						t.Errorf("%s: statement %q allows wildcard action %q", owner, s.Sid, a)
					}
				}
				if slices.Contains(resources, "*") {
					for _, a := range actions {
						if !slices.Contains(resourceWildcardActions, a) {
							t.Errorf("%s: statement %q allows %s on Resource \"*\"", owner, s.Sid, a)
						}
					}
				}
				if s.Principal != nil && strings.Contains(fmt.Sprint(s.Principal), "*") {
					t.Errorf("%s: statement %q allows principal %v", owner, s.Sid, s.Principal)
				}
			}
		}
		for _, r := range st.ofType("aws:iam/role:Role") {
			if arns := asSlice(r.Inputs["managedPolicyArns"]); len(arns) > 0 {
				t.Errorf("%s: got managed policies %v, want scoped inline policies only", r.Name, arns)
			}
		}
	})
}

// TestExecutionRolesReadOnlyTheirSecrets proves each service can fetch exactly
// the secrets its task definition references.
func TestExecutionRolesReadOnlyTheirSecrets(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		for _, s := range routing.Services {
			var readable []string
			for _, stmt := range docs["aws:iam/rolePolicy:RolePolicy "+s.Name+"-execution"] {
				if slices.Contains(strs(stmt.Action), "secretsmanager:GetSecretValue") {
					readable = append(readable, strs(stmt.Resource)...)
				}
			}
			var referenced []string
			for _, ref := range container(t, st, s.Name).Secrets {
				// "<arn>:password::" selects a JSON key of the secret <arn>.
				referenced = append(referenced, strings.TrimSuffix(ref.ValueFrom, ":password::"))
			}
			sort.Strings(readable)
			sort.Strings(referenced)
			if fmt.Sprint(readable) != fmt.Sprint(referenced) {
				t.Errorf("%s: execution role reads %v, want exactly the referenced secrets %v", s.Name, readable, referenced)
			}

			// The task role is empty unless ECS Exec is on, and then holds
			// only the SSM channel actions.
			taskPolicy, hasTaskPolicy := docs["aws:iam/rolePolicy:RolePolicy "+s.Name+"-exec"]
			if hasTaskPolicy != sc.exec {
				t.Errorf("%s: got task role policy %v, want one only when ECS Exec is on (%v)", s.Name, hasTaskPolicy, sc.exec)
			}
			for _, stmt := range taskPolicy {
				for _, a := range strs(stmt.Action) {
					if !strings.HasPrefix(a, "ssmmessages:") {
						t.Errorf("%s: task role allows %s, want only ssmmessages channel actions", s.Name, a)
					}
				}
			}
		}
	})
}
