package main

import (
	"fmt"
	"slices"
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
		// The one managed policy: the SSM agent's, on an instance role
		// (SSM.1). AWS maintains it for exactly that use.
		for _, a := range st.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			profiles := st.where("aws:iam/instanceProfile:InstanceProfile", "role", a.Inputs["role"])
			if a.Inputs["policyArn"] != ssmManagedInstanceCore || len(profiles) != 1 {
				t.Errorf("%s: got %v attached to %v (in %d instance profiles), want only %s on an instance role",
					a.Name, a.Inputs["policyArn"], a.Inputs["role"], len(profiles), ssmManagedInstanceCore)
			}
		}
	})
}

// TestTaskRoleHoldsOnlyWhatTheAppUses: the app reads its database secret,
// and ECS Exec (when on) opens SSM channels; the task role allows nothing
// else. Which secrets each role reads is TestRolesReadOnlyTheirSecrets.
func TestTaskRoleHoldsOnlyWhatTheAppUses(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		for _, s := range routing.Services {
			taskPolicy, hasTaskPolicy := docs["aws:iam/rolePolicy:RolePolicy "+s.Name+"-task"]
			if want := s.Database || sc.exec; hasTaskPolicy != want {
				t.Errorf("%s: got task role policy %v, want %v (database secret or ECS Exec)", s.Name, hasTaskPolicy, want)
			}
			for _, stmt := range taskPolicy {
				for _, a := range strs(stmt.Action) {
					if a != "secretsmanager:GetSecretValue" && (!sc.exec || !strings.HasPrefix(a, "ssmmessages:")) {
						t.Errorf("%s: task role allows %s, want only GetSecretValue and, with ECS Exec, ssmmessages channels", s.Name, a)
					}
				}
			}
		}
	})
}
