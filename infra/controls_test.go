package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

// fixedIn names, for a control that fails in dev, the dev variants that
// switch on what it needs; every other variant fails it like dev does.
var fixedIn = map[string][]string{
	"ELB.1":  {"dev+https"},
	"ECS.12": {"dev+insights"},
	"EC2.9":  {"dev+natPerAz", "dev+natSingle+x86"},
}

// wantMet is whether docs/security.md says a control is met in a scenario:
// its dev and prod columns for those two stacks; the dev column for the dev
// variants, except where fixedIn says the variant meets it.
func wantMet(row docControl, sc scenario) bool {
	switch {
	case sc.stack == "prod":
		return row.prod == "meets"
	case slices.Contains(fixedIn[row.id], sc.name):
		return true
	}
	return row.dev == "meets"
}

// TestSecurityControls runs every control in every scenario and holds it to
// what docs/security.md says: a control the doc says is met has no
// violation, and one it says fails has at least one.
func TestSecurityControls(t *testing.T) {
	doc := securityDoc(t)
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.run(t)
			for _, c := range controls {
				t.Run(c.id, func(t *testing.T) {
					row, ok := doc[c.id]
					if !ok {
						t.Fatalf("%s is not in docs/security.md", c.id)
					}
					v := c.check(t, sc.scope(), st)
					switch want := wantMet(row, sc); {
					case want && len(v) > 0:
						t.Errorf("docs/security.md says %s is met here; got violations:\n  %s", c.id, strings.Join(v, "\n  "))
					case !want && len(v) == 0:
						t.Errorf("docs/security.md says %s fails here; got no violation (update the doc)", c.id)
					case !want:
						t.Logf("fails, as documented:\n  %s", strings.Join(v, "\n  "))
					}
				})
			}
		})
	}
}

func TestFixedInNamesFailingControlsAndVariants(t *testing.T) {
	doc := securityDoc(t)
	var variants []string
	for _, sc := range scenarios(t) {
		if sc.stack == "dev" && sc.name != "dev" {
			variants = append(variants, sc.name)
		}
	}
	for id, names := range fixedIn {
		if row, ok := doc[id]; !ok || row.dev != "fails" {
			t.Errorf("fixedIn[%s]: got doc row %+v, want a control that fails in dev", id, row)
		}
		for _, name := range names {
			if !slices.Contains(variants, name) {
				t.Errorf("fixedIn[%s]: got %q, want one of the dev variants %v", id, name, variants)
			}
		}
	}
}

// TestRolesReadOnlyTheirSecrets proves each role may read exactly the secrets
// its task uses: the execution role those ECS injects at start (the task
// definition's secrets), the task role those the app fetches itself (named
// by *_SECRET_ARN variables), and no other role any secret.
func TestRolesReadOnlyTheirSecrets(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		readers := map[string][]string{} // policy owner -> secrets it may read
		for owner, statements := range docs {
			for _, stmt := range statements {
				if stmt.Effect == "Allow" && slices.Contains(strs(stmt.Action), "secretsmanager:GetSecretValue") {
					readers[owner] = append(readers[owner], strs(stmt.Resource)...)
				}
			}
		}
		want := map[string][]string{}
		for _, s := range routing.Services {
			c := container(t, st, s.Name)
			for _, ref := range c.Secrets {
				// <arn>:<json-key>:<stage>:<version> selects part of <arn>.
				arn := ref.ValueFrom
				if parts := strings.Split(arn, ":"); len(parts) > 7 {
					arn = strings.Join(parts[:7], ":")
				}
				want["aws:iam/rolePolicy:RolePolicy "+s.Name+"-execution"] = append(want["aws:iam/rolePolicy:RolePolicy "+s.Name+"-execution"], arn)
			}
			for name, value := range envMap(c) {
				if strings.HasSuffix(name, "_SECRET_ARN") {
					want["aws:iam/rolePolicy:RolePolicy "+s.Name+"-task"] = append(want["aws:iam/rolePolicy:RolePolicy "+s.Name+"-task"], value)
				}
			}
		}
		for _, m := range []map[string][]string{readers, want} {
			for k := range m {
				sort.Strings(m[k])
			}
		}
		if fmt.Sprint(readers) != fmt.Sprint(want) {
			t.Errorf("got secret readers %v,\nwant %v", readers, want)
		}
	})
}

// TestTrustPoliciesNameTheAccount proves every role can be assumed only by an
// AWS service acting for this account (aws:SourceAccount), which keeps
// another account's use of the same service from assuming it.
func TestTrustPoliciesNameTheAccount(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		roles := st.ofType("aws:iam/role:Role")
		if len(roles) == 0 {
			t.Fatal("got no roles")
		}
		for _, r := range roles {
			var doc struct{ Statement []policyStatement }
			if err := json.Unmarshal([]byte(fmt.Sprint(r.Inputs["assumeRolePolicy"])), &doc); err != nil {
				t.Fatalf("%s: trust policy: %v", r.Name, err)
			}
			for _, stmt := range doc.Statement {
				// The one exception, an EC2 instance role (natinstance.go
				// says why): only an instance profile of this account can
				// hand it to an instance.
				if fmt.Sprint(strs(asMap(stmt.Principal)["Service"])) == "[ec2.amazonaws.com]" {
					if profiles := st.where("aws:iam/instanceProfile:InstanceProfile", "role", r.Outputs["name"]); len(profiles) != 1 {
						t.Errorf("%s: EC2 role without aws:SourceAccount in %d instance profiles, want exactly 1", r.Name, len(profiles))
					}
					continue
				}
				if got := fmt.Sprint(stmt.Condition["StringEquals"]["aws:SourceAccount"]); got != mockAccount {
					t.Errorf("%s: statement %q has aws:SourceAccount %q, want %s", r.Name, stmt.Sid, got, mockAccount)
				}
			}
		}
	})
}

// TestDesyncModeIsValidated backs ELB.12 for any stack, not only the two
// files: config refuses the modes the control fails (monitor).
func TestDesyncModeIsValidated(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	for mode, ok := range map[string]bool{"defensive": true, "strictest": true, "monitor": false} {
		t.Run(mode, func(t *testing.T) {
			_, err := runProgram(routing.Services, "dev", with(dev, map[string]string{"shop:desyncMitigationMode": mode}))
			if got := err == nil; got != ok {
				t.Fatalf("desyncMitigationMode %q: got accepted=%v (err %v), want %v", mode, got, err, ok)
			}
			if !ok && !strings.Contains(err.Error(), "desyncMitigationMode") {
				t.Errorf("got error %v, want it to name desyncMitigationMode", err)
			}
		})
	}
}

// TestExecutionRolesUseOnlyTheirOwnResources proves each execution role may
// pull only its service's repository and write only its service's log group;
// the registry token is the one action AWS defines without a resource. Which
// secrets it reads is TestRolesReadOnlyTheirSecrets.
func TestExecutionRolesUseOnlyTheirOwnResources(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		for _, s := range routing.Services {
			repo := fmt.Sprint(st.one(t, "aws:ecr/repository:Repository", s.Name).Outputs["arn"])
			logs := fmt.Sprint(st.one(t, "aws:cloudwatch/logGroup:LogGroup", s.Name).Outputs["arn"]) + ":*"
			statements := docs["aws:iam/rolePolicy:RolePolicy "+s.Name+"-execution"]
			if len(statements) == 0 {
				t.Fatalf("%s: no execution role policy", s.Name)
			}
			for _, stmt := range statements {
				for _, action := range strs(stmt.Action) {
					var want string
					switch {
					case action == "ecr:GetAuthorizationToken":
						want = "*"
					case strings.HasPrefix(action, "ecr:"):
						want = repo
					case strings.HasPrefix(action, "logs:"):
						want = logs
					case action == "secretsmanager:GetSecretValue":
						continue
					default:
						t.Errorf("%s: execution role allows %s, want only image pull, log writes and secrets", s.Name, action)
						continue
					}
					if got := strs(stmt.Resource); stmt.Effect != "Allow" || len(got) != 1 || got[0] != want {
						t.Errorf("%s: %s %s on %v, want Allow on %s", s.Name, stmt.Effect, action, got, want)
					}
				}
			}
		}
	})
}

// scope is the configuration the controls compare a scenario's resources with.
func (sc scenario) scope() controlScope { return controlScope{config: sc.config} }

// stackConfig reads a stack file, failing the test when it cannot.
func stackConfig(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := readStackConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestScenariosAskWhatTheyClaim holds each scenario's own expectations to its
// stack configuration: the controls compare resources with the configuration,
// so a production example that stopped asking for protection would otherwise
// only show up as a control failing in prod.
func TestScenariosAskWhatTheyClaim(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			scope := sc.scope()
			for _, key := range []string{"albDeletionProtection", "dbMultiAz", "dbDeletionProtection", "dbFinalSnapshot"} {
				if got := scope.flag(key); got != sc.production {
					t.Errorf("%s: got %v, want %v", key, got, sc.production)
				}
			}
			if got, err := strconv.Atoi(scope.value("dbBackupRetentionDays")); err != nil || got < sc.minBackups {
				t.Errorf("dbBackupRetentionDays: got %q, want at least %d", scope.value("dbBackupRetentionDays"), sc.minBackups)
			}
			checks := map[string]bool{
				"certificateArn":       (scope.value("certificateArn") != "") == sc.https,
				"enableExecuteCommand": scope.flag("enableExecuteCommand") == sc.exec,
				"forceDestroy":         scope.flag("forceDestroy") == sc.forceDestroy,
				"availabilityZones":    scope.value("availabilityZones") == fmt.Sprint(sc.zones),
			}
			for key, ok := range checks {
				if !ok {
					t.Errorf("%s: got %q, which contradicts the scenario %+v", key, scope.value(key), sc)
				}
			}
		})
	}
}
