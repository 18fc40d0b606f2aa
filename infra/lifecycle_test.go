package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Tests of how a deployed stack behaves over time: what later `pulumi up`s
// replace or delete, and in which order AWS sees things on the first one.
// The mocks accept anything, so each test encodes the documented behaviour of
// AWS or of the provider beside it.

// waitsFor reports whether r waits for the resource of type typ named name.
func waitsFor(r recorded, typ, name string) bool {
	for _, urn := range r.DependsOn {
		if strings.HasSuffix(urn, typ+"::"+name) {
			return true
		}
	}
	return false
}

// awsx v2.21.0's ecr.Image registers one docker-build Image named after the
// image tag (awsx/ecr/image.ts), so each new tag is a new child and the old
// child is deleted. docker-build's Image delete removes the pushed manifest
// from the registry by digest (pulumi-docker-build provider/internal/image.go
// and client.go, Delete). Without retainOnDelete every `pulumi up` that ships
// a new tag deletes the image the running tasks, and any rollback, use.
func TestImagesAreNeverDeletedByUp(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			image := st.one(t, "awsx:ecr:Image", s.Name)
			tag := fmt.Sprint(image.Inputs["imageTag"])
			child := pulumi.ResourceTransformArgs{
				Type: "docker-build:index:Image", Name: tag, Custom: true,
				Props: pulumi.Map{
					"tags": pulumi.ToStringArray([]string{fmt.Sprint(image.Inputs["repositoryUrl"], ":", tag)}),
					"push": pulumi.Bool(true),
				},
			}
			props, opts := applyTransforms(image, child)
			if !opts.RetainOnDelete {
				t.Errorf("%s: the image's docker-build child gets retainOnDelete %v, want true", s.Name, opts.RetainOnDelete)
			}
			if len(props) != len(child.Props) {
				t.Errorf("%s: got build properties %v, want them untouched", s.Name, props)
			}
			// Nothing else awsx creates is kept past its delete.
			other := pulumi.ResourceTransformArgs{Type: "aws:ecr/repository:Repository", Name: "x", Custom: true}
			if _, opts := applyTransforms(image, other); opts.RetainOnDelete {
				t.Errorf("%s: got retainOnDelete on %s, want it only on the image build", s.Name, other.Type)
			}
		}
		// The lifecycle policy is then the only thing that removes images.
		for _, r := range st.ofType("aws:ecr/lifecyclePolicy:LifecyclePolicy") {
			if !strings.Contains(fmt.Sprint(r.Inputs["policy"]), fmt.Sprintf(`"countNumber":%d`, keepImages)) {
				t.Errorf("%s: got lifecycle policy %v, want it to keep the last %d images", r.Name, r.Inputs["policy"], keepImages)
			}
		}
	})
}

// AWS documents that existing tasks cannot resolve a new Service Connect
// endpoint: only tasks started after it exists can, and it tells stacks to
// make each client service depend on the services it calls ("Amazon ECS
// Service Connect components", developer guide,
// service-connect-concepts-deploy.html). Each ECS service must wait for the
// services it calls.
func TestServicesWaitForTheServicesTheyCall(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			svc := st.one(t, "aws:ecs/service:Service", s.Name)
			for _, other := range routing.Services {
				want := slices.Contains(s.Dependencies, other.Name)
				if got := waitsFor(svc, "aws:ecs/service:Service", other.Name); got != want {
					t.Errorf("%s: waits for the %s service %v, want %v (declared dependencies %v)",
						s.Name, other.Name, got, want, s.Dependencies)
				}
			}
		}
	})
}

// IAM is eventually consistent: a role's inline policy may not be in effect
// yet when ECS first uses the role ("Changes that I make are not always
// immediately visible", IAM user guide, troubleshoot.html). Task definitions
// and services wait for the policies, not only the roles (which the ARNs
// alone would give).
func TestTasksWaitForTheirRolePolicies(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			policies := []string{s.Name + "-execution"}
			if s.Database || sc.exec {
				policies = append(policies, s.Name+"-task")
			}
			for _, typ := range []string{"aws:ecs/taskDefinition:TaskDefinition", "aws:ecs/service:Service"} {
				r := st.one(t, typ, s.Name)
				for _, p := range policies {
					if !waitsFor(r, "aws:iam/rolePolicy:RolePolicy", p) {
						t.Errorf("%s %s: does not wait for the role policy %s", s.Name, typ, p)
					}
				}
			}
		}
	})
}

// providerV5Replaces encodes terraform-provider-aws v5's CustomizeDiff for
// aws_ecs_service (capacityProviderStrategyCustomizeDiff in
// internal/service/ecs/service.go): a change of capacity_provider_strategy
// forces a new service (delete, then create) unless force_new_deployment is
// true and neither the old nor the new strategy is empty. pulumi-aws v6 is
// built on that provider; v7 (provider v6) updates in place instead.
func providerV5Replaces(old, new map[string]any) bool {
	oldStrategy, newStrategy := asSlice(old["capacityProviderStrategies"]), asSlice(new["capacityProviderStrategies"])
	if fmt.Sprint(oldStrategy) == fmt.Sprint(newStrategy) {
		return false
	}
	if new["forceNewDeployment"] != true {
		return true
	}
	return (len(oldStrategy) == 0) != (len(newStrategy) == 0)
}

// Moving a stack between on-demand and Spot (fargateBase, fargateWeight,
// fargateSpotWeight) must update the services, not replace them: a replaced
// ECS service is deleted with its tasks before the new one starts.
func TestCapacitySwitchUpdatesServicesInPlace(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	configs := map[string]map[string]string{
		"on-demand":        with(dev, map[string]string{"shop:fargateWeight": "1", "shop:fargateSpotWeight": "0"}),
		"spot":             with(dev, map[string]string{"shop:fargateSpotWeight": "3", "shop:fargateBase": "1"}),
		"spot only":        with(dev, map[string]string{"shop:fargateWeight": "0", "shop:fargateSpotWeight": "1"}),
		"base 2, weighted": with(dev, map[string]string{"shop:fargateBase": "2", "shop:fargateWeight": "2", "shop:fargateSpotWeight": "1"}),
	}
	runs := map[string]*stack{}
	for name, cfg := range configs {
		st, err := runProgram(routing.Services, "dev", cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runs[name] = st
	}
	for from := range runs {
		for to := range runs {
			if from == to {
				continue
			}
			for _, s := range routing.Services {
				old := runs[from].one(t, "aws:ecs/service:Service", s.Name).Inputs
				new := runs[to].one(t, "aws:ecs/service:Service", s.Name).Inputs
				if fmt.Sprint(old["capacityProviderStrategies"]) == fmt.Sprint(new["capacityProviderStrategies"]) {
					t.Fatalf("%s -> %s: strategies are equal, the test proves nothing", from, to)
				}
				if providerV5Replaces(old, new) {
					t.Errorf("%s -> %s: %s service would be replaced (forceNewDeployment %v, strategies %v -> %v)",
						from, to, s.Name, new["forceNewDeployment"], old["capacityProviderStrategies"], new["capacityProviderStrategies"])
				}
			}
		}
	}
}

// The rule itself, so a wrong encoding cannot make the test above pass.
func TestProviderV5ReplacementRule(t *testing.T) {
	strategy := func(providers ...string) []any {
		var out []any
		for _, p := range providers {
			out = append(out, map[string]any{"capacityProvider": p, "weight": 1.0})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		old, new map[string]any
		want     bool
	}{
		{"unchanged", map[string]any{"capacityProviderStrategies": strategy("FARGATE")},
			map[string]any{"capacityProviderStrategies": strategy("FARGATE")}, false},
		{"changed without force", map[string]any{"capacityProviderStrategies": strategy("FARGATE")},
			map[string]any{"capacityProviderStrategies": strategy("FARGATE", "FARGATE_SPOT")}, true},
		{"changed with force", map[string]any{"capacityProviderStrategies": strategy("FARGATE")},
			map[string]any{"capacityProviderStrategies": strategy("FARGATE", "FARGATE_SPOT"), "forceNewDeployment": true}, false},
		{"from none, with force", map[string]any{},
			map[string]any{"capacityProviderStrategies": strategy("FARGATE"), "forceNewDeployment": true}, true},
	} {
		if got := providerV5Replaces(tc.old, tc.new); got != tc.want {
			t.Errorf("%s: got replace %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A deployment whose tasks pass health checks but answer errors must roll back
// too: each service names a 5xx alarm on its own target group in its
// deployment alarms, with rollback on ("How CloudWatch alarms detect Amazon
// ECS deployment failures", Amazon ECS developer guide).
func TestDeploymentAlarmsRollBackOnTarget5xx(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		alb := st.ofType("aws:lb/loadBalancer:LoadBalancer")[0]
		for _, s := range routing.Services {
			alarm := st.one(t, "aws:cloudwatch/metricAlarm:MetricAlarm", s.Name+"-5xx")
			tg := st.one(t, "aws:lb/targetGroup:TargetGroup", s.Name)
			in := alarm.Inputs
			if in["namespace"] != "AWS/ApplicationELB" || in["metricName"] != "HTTPCode_Target_5XX_Count" ||
				dig(in, "dimensions", "TargetGroup") != tg.Outputs["arnSuffix"] ||
				dig(in, "dimensions", "LoadBalancer") != alb.Outputs["arnSuffix"] {
				t.Errorf("%s: got alarm %v, want target 5xx of its own target group", s.Name, in)
			}
			if in["statistic"] != "Sum" || num(in["threshold"]) != deployAlarm5xxPerMinute ||
				in["treatMissingData"] != "notBreaching" || num(in["evaluationPeriods"]) != deployAlarmMinutes {
				t.Errorf("%s: got alarm %v, want a Sum >= %d over %d minutes, no data = fine",
					s.Name, in, deployAlarm5xxPerMinute, deployAlarmMinutes)
			}
			svc := st.one(t, "aws:ecs/service:Service", s.Name)
			alarms := asMap(svc.Inputs["alarms"])
			if alarms["enable"] != true || alarms["rollback"] != true ||
				fmt.Sprint(alarms["alarmNames"]) != fmt.Sprint([]any{alarm.Outputs["name"]}) {
				t.Errorf("%s: got deployment alarms %v, want %v with rollback", s.Name, alarms, alarm.Outputs["name"])
			}
			if cb := asMap(svc.Inputs["deploymentCircuitBreaker"]); cb["enable"] != true || cb["rollback"] != true {
				t.Errorf("%s: got circuit breaker %v, want enabled with rollback", s.Name, cb)
			}
		}
	})
}

// RDS creates /aws/rds/instance/<id>/<log> when it first exports a log, with
// no retention, and leaves it behind after the instance is deleted
// ("Publishing database logs to Amazon CloudWatch Logs", Amazon RDS user
// guide). The program creates each one first, with the stack's retention.
func TestDatabaseLogGroupsAreManaged(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		db := st.one(t, "aws:rds/instance:Instance", "database")
		id := fmt.Sprint(db.Inputs["identifier"])
		if id != "shop-"+sc.stack {
			t.Errorf("got identifier %q, want shop-%s", id, sc.stack)
		}
		exports := asStrings(db.Inputs["enabledCloudwatchLogsExports"])
		if len(exports) == 0 {
			t.Fatal("got no exported logs, want postgresql and upgrade")
		}
		for _, export := range exports {
			name := "/aws/rds/instance/" + id + "/" + export
			groups := st.where("aws:cloudwatch/logGroup:LogGroup", "name", name)
			if len(groups) != 1 {
				t.Errorf("%s: got %d managed log groups, want 1", name, len(groups))
				continue
			}
			if got := fmt.Sprint(groups[0].Inputs["retentionInDays"]); got != sc.value("logRetentionDays") {
				t.Errorf("%s: got retention %s, want %s", name, got, sc.value("logRetentionDays"))
			}
			if !waitsFor(db, "aws:cloudwatch/logGroup:LogGroup", groups[0].Name) {
				t.Errorf("the instance does not wait for %s: RDS could create it first and the create would fail", name)
			}
		}
	})
}

func TestBadStackNameIsRefused(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	for _, stack := range []string{"dev_1", "dev.1", "dev-", "a--b", strings.Repeat("x", 64)} {
		_, err := runProgram(routing.Services, stack, dev)
		if err == nil || !strings.Contains(err.Error(), "RDS instance identifier") {
			t.Errorf("stack %q: got %v, want the identifier refused", stack, err)
		}
	}
	if _, err := runProgram(routing.Services, "staging-2", dev); err != nil {
		t.Errorf("stack staging-2: got %v, want it accepted", err)
	}
}
