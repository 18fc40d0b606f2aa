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
	// "How AWS X-Ray works with IAM" (X-Ray developer guide): X-Ray has no
	// resource-level permissions for sending segments.
	"xray:PutTraceSegments",
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
// ECS Exec (when on) opens SSM channels, the collector (with telemetry)
// sends traces and writes its EMF log, and a service with events publishes
// or consumes them; the task role allows nothing else. Which secrets each
// role reads is TestRolesReadOnlyTheirSecrets; what the collector may do,
// TestCollectorPermissionsAreExact; on which topics and queues,
// TestEventPermissionsAreExact.
func TestTaskRoleHoldsOnlyWhatTheAppUses(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		telemetry := sc.value("telemetry") == telemetryEnabled
		for _, s := range routing.Services {
			taskPolicy, hasTaskPolicy := docs["aws:iam/rolePolicy:RolePolicy "+s.Name+"-task"]
			events := len(s.Publishes) > 0 || len(s.Consumes) > 0
			if want := s.Database || sc.exec || telemetry || events; hasTaskPolicy != want {
				t.Errorf("%s: got task role policy %v, want %v (database secret, ECS Exec, telemetry or events)", s.Name, hasTaskPolicy, want)
			}
			for _, stmt := range taskPolicy {
				for _, a := range strs(stmt.Action) {
					switch {
					case a == "secretsmanager:GetSecretValue":
					case sc.exec && strings.HasPrefix(a, "ssmmessages:"):
					case telemetry && slices.Contains([]string{"xray:PutTraceSegments", "logs:CreateLogStream", "logs:PutLogEvents"}, a):
					case len(s.Publishes) > 0 && slices.Contains([]string{"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"}, a):
					case len(s.Consumes) > 0 && slices.Contains(consumerActions, a):
					default:
						t.Errorf("%s: task role allows %s, want only GetSecretValue, with ECS Exec ssmmessages channels, with telemetry the collector's, with events publish (and the topic key through SNS) or consume", s.Name, a)
					}
				}
			}
		}
	})
}

// TestCollectorPermissionsAreExact holds the collector's statements to what
// its exporters call: awsxray only PutTraceSegments ("AWS X-Ray Tracing
// Exporter" README: it sends with PutTraceSegments; PutTelemetryRecords
// only with telemetry.enabled, which the program leaves off), awsemf
// CreateLogStream and PutLogEvents, on the EMF log group the program made
// and no other ("AWS CloudWatch EMF Exporter" README: it writes EMF with
// PutLogEvents; it calls CreateLogGroup only when the group is missing).
// Without telemetry none of it exists.
func TestCollectorPermissionsAreExact(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		telemetry := sc.value("telemetry") == telemetryEnabled
		groups := st.where("aws:cloudwatch/logGroup:LogGroup", "name", emfLogGroupName(Config{Project: "shop", Stack: sc.stack}))
		if telemetry != (len(groups) == 1) {
			t.Fatalf("got %d EMF log groups, want one exactly when telemetry is on (%v)", len(groups), telemetry)
		}
		for _, s := range routing.Services {
			var got []string
			for _, stmt := range docs["aws:iam/rolePolicy:RolePolicy "+s.Name+"-task"] {
				if stmt.Sid == "SendTraces" || stmt.Sid == "WriteMetricsLog" {
					got = append(got, fmt.Sprintf("%s %s %v on %v", stmt.Sid, stmt.Effect, strs(stmt.Action), strs(stmt.Resource)))
				}
			}
			var want []string
			if telemetry {
				want = []string{
					"SendTraces Allow [xray:PutTraceSegments] on [*]",
					fmt.Sprintf("WriteMetricsLog Allow [logs:CreateLogStream logs:PutLogEvents] on [%s:*]", groups[0].Outputs["arn"]),
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: got collector statements %q, want %q", s.Name, got, want)
			}
		}
		if telemetry {
			g := groups[0]
			if fmt.Sprint(g.Inputs["retentionInDays"]) != sc.value("logRetentionDays") || g.Inputs["kmsKeyId"] != nil {
				t.Errorf("EMF log group: got retention %v and KMS key %v, want %s days and CloudWatch Logs' own encryption like the other groups",
					g.Inputs["retentionInDays"], g.Inputs["kmsKeyId"], sc.value("logRetentionDays"))
			}
		}
	})
}
