package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

const (
	wantDef = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-dev-orders:8"
	oldDef  = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-dev-orders:7"
)

func dep(status, def string, rollout ecstypes.DeploymentRolloutState, running, desired int32) ecstypes.Deployment {
	return ecstypes.Deployment{
		Id: aws.String("ecs-svc/1"), Status: aws.String(status), TaskDefinition: aws.String(def),
		RolloutState: rollout, RolloutStateReason: aws.String("reason given"),
		RunningCount: running, DesiredCount: desired, CreatedAt: aws.Time(time.Unix(1795900000, 0)),
	}
}

func tgt(state elbtypes.TargetHealthStateEnum, reason elbtypes.TargetHealthReasonEnum) elbtypes.TargetHealthDescription {
	return elbtypes.TargetHealthDescription{
		Target:       &elbtypes.TargetDescription{Id: aws.String("10.0.1.23"), Port: aws.Int32(8080)},
		TargetHealth: &elbtypes.TargetHealth{State: state, Reason: reason},
	}
}

func svc(deployments ...ecstypes.Deployment) *ecstypes.Service {
	return &ecstypes.Service{Status: aws.String("ACTIVE"), Deployments: deployments}
}

func TestEvaluate(t *testing.T) {
	healthy := tgt(elbtypes.TargetHealthStateEnumHealthy, "")
	completed := dep("PRIMARY", wantDef, ecstypes.DeploymentRolloutStateCompleted, 2, 2)
	tests := []struct {
		name    string
		st      status
		outcome outcome
		text    string // a part of the verdict's text
	}{
		{"completed and healthy", status{service: svc(completed), targets: []elbtypes.TargetHealthDescription{healthy, healthy}},
			passed, "shop-dev-orders:8, 2/2 running, targets 2 healthy"},
		{"task definition given as family:revision", status{service: svc(dep("PRIMARY", "shop-dev-orders:8", ecstypes.DeploymentRolloutStateCompleted, 1, 1)), targets: []elbtypes.TargetHealthDescription{healthy}},
			passed, "1/1 running"},
		{"scaled to zero", status{service: svc(dep("PRIMARY", wantDef, ecstypes.DeploymentRolloutStateCompleted, 0, 0))},
			passed, "0/0 running, targets none"},
		{"rollout state not reported", status{service: svc(dep("PRIMARY", wantDef, "", 1, 1)), targets: []elbtypes.TargetHealthDescription{healthy}},
			passed, "1/1 running"},

		{"rolled back, failed deployment listed", status{service: svc(dep("PRIMARY", oldDef, ecstypes.DeploymentRolloutStateInProgress, 2, 2), dep("ACTIVE", wantDef, ecstypes.DeploymentRolloutStateFailed, 0, 0))},
			failed, "rolled back to shop-dev-orders:7: deployment ecs-svc/1 (shop-dev-orders:8) failed: reason given"},
		{"rolled back and settled", status{service: svc(dep("PRIMARY", oldDef, ecstypes.DeploymentRolloutStateCompleted, 2, 2)), targets: []elbtypes.TargetHealthDescription{healthy}},
			failed, "service runs shop-dev-orders:7, not shop-dev-orders:8 that this stack registered"},
		{"failed without rollback", status{service: svc(dep("PRIMARY", wantDef, ecstypes.DeploymentRolloutStateFailed, 0, 2))},
			failed, "deployment ecs-svc/1 (shop-dev-orders:8) failed: reason given, 0/2 running"},
		{"unhealthy target after completion", status{service: svc(completed), targets: []elbtypes.TargetHealthDescription{healthy, tgt(elbtypes.TargetHealthStateEnumUnhealthy, elbtypes.TargetHealthReasonEnumResponseCodeMismatch)}},
			failed, "targets 1 healthy 1 unhealthy: 10.0.1.23:8080 unhealthy Target.ResponseCodeMismatch"},
		{"unused target", status{service: svc(completed), targets: []elbtypes.TargetHealthDescription{healthy, tgt(elbtypes.TargetHealthStateEnumUnused, elbtypes.TargetHealthReasonEnumNotInUse)}},
			failed, "unused Target.NotInUse"},
		{"no targets while tasks run", status{service: svc(completed)},
			failed, "no targets are registered"},
		{"service missing", status{notFound: "MISSING"}, failed, "ECS does not know the service (MISSING)"},
		{"service draining", status{service: &ecstypes.Service{Status: aws.String("DRAINING")}}, failed, "service is DRAINING, not ACTIVE"},
		{"no primary", status{service: svc(dep("ACTIVE", wantDef, ecstypes.DeploymentRolloutStateCompleted, 2, 2))}, failed, "no PRIMARY deployment"},
		{"AWS error", status{err: errors.New("AccessDeniedException")}, failed, "cannot check: AccessDeniedException"},

		{"rollout in progress", status{service: svc(dep("PRIMARY", wantDef, ecstypes.DeploymentRolloutStateInProgress, 1, 2)), targets: []elbtypes.TargetHealthDescription{healthy, tgt(elbtypes.TargetHealthStateEnumInitial, elbtypes.TargetHealthReasonEnumInitialHealthChecking)}},
			waiting, "rollout IN_PROGRESS, 1/2 running, targets 1 healthy 1 initial"},
		{"rollout in progress with failed tasks", status{service: svc(func() ecstypes.Deployment {
			d := dep("PRIMARY", wantDef, ecstypes.DeploymentRolloutStateInProgress, 1, 2)
			d.FailedTasks = 2
			return d
		}()), targets: []elbtypes.TargetHealthDescription{healthy}},
			waiting, "rollout IN_PROGRESS, 1/2 running (2 failed), targets 1 healthy"},
		{"unhealthy target while rollout runs is the circuit breaker's call", status{service: svc(dep("PRIMARY", wantDef, ecstypes.DeploymentRolloutStateInProgress, 1, 2)), targets: []elbtypes.TargetHealthDescription{healthy, tgt(elbtypes.TargetHealthStateEnumUnhealthy, elbtypes.TargetHealthReasonEnumFailedHealthChecks)}},
			waiting, "targets 1 healthy 1 unhealthy"},
		{"old deployment still active", status{service: svc(completed, dep("ACTIVE", oldDef, ecstypes.DeploymentRolloutStateCompleted, 1, 0)), targets: []elbtypes.TargetHealthDescription{healthy, healthy}},
			waiting, "deployment ecs-svc/1 (shop-dev-orders:7) still ACTIVE with 1 running"},
		{"fewer running than desired", status{service: svc(dep("PRIMARY", wantDef, ecstypes.DeploymentRolloutStateCompleted, 1, 2)), targets: []elbtypes.TargetHealthDescription{healthy}},
			waiting, "rollout COMPLETED, 1/2 running"},
		{"target draining", status{service: svc(completed), targets: []elbtypes.TargetHealthDescription{healthy, healthy, tgt(elbtypes.TargetHealthStateEnumDraining, elbtypes.TargetHealthReasonEnumDeregistrationInProgress)}},
			waiting, "targets 2 healthy 1 draining"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evaluate(wantDef, tt.st)
			if got.outcome != tt.outcome || !strings.Contains(got.text, tt.text) {
				t.Errorf("got %v %q, want %v containing %q", got.outcome, got.text, tt.outcome, tt.text)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute: "15m", time.Hour: "1h", 90 * time.Second: "1m30s",
		time.Millisecond: "1ms", 2*time.Hour + 30*time.Minute: "2h30m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
