package main

import (
	"fmt"
	"slices"
	"strings"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// status is what AWS says about one app's service at one moment.
type status struct {
	service  *ecstypes.Service // nil when ECS does not know the service
	notFound string            // ECS's reason when service is nil, e.g. MISSING
	targets  []elbtypes.TargetHealthDescription
	err      error // the question could not be asked
}

type outcome int

const (
	waiting outcome = iota // ECS is still moving: ask again
	passed
	failed
)

func (o outcome) String() string {
	return [...]string{"waiting", "passed", "failed"}[o]
}

// verdict is the outcome for one app and, in one line, why.
type verdict struct {
	outcome outcome
	text    string
}

// evaluate decides whether an app's service runs the task definition this
// stack registered (want), settled and healthy. It answers waiting only for
// states ECS leaves by itself: a rollout in progress, an old deployment
// draining, targets still registering or deregistering.
func evaluate(want string, st status) verdict {
	if st.err != nil {
		return verdict{failed, "cannot check: " + st.err.Error()}
	}
	svc := st.service
	if svc == nil {
		return verdict{failed, fmt.Sprintf("ECS does not know the service (%s)", st.notFound)}
	}
	if s := deref(svc.Status); s != "ACTIVE" {
		return verdict{failed, fmt.Sprintf("service is %s, not ACTIVE", s)}
	}

	var primary *ecstypes.Deployment
	var others []ecstypes.Deployment
	for i, d := range svc.Deployments {
		if deref(d.Status) == "PRIMARY" {
			primary = &svc.Deployments[i]
		} else {
			others = append(others, d)
		}
	}
	if primary == nil {
		return verdict{failed, "service has no PRIMARY deployment"}
	}

	// The circuit breaker rolls back by making a deployment of the previous
	// task definition primary again; once that rollback completes the failed
	// deployment is no longer listed, so the task definition is the one
	// signal that survives.
	if !sameTaskDefinition(deref(primary.TaskDefinition), want) {
		for _, d := range svc.Deployments {
			if d.RolloutState == ecstypes.DeploymentRolloutStateFailed {
				return verdict{failed, fmt.Sprintf("rolled back to %s: deployment %s (%s) failed: %s",
					shortTaskDefinition(deref(primary.TaskDefinition)), deref(d.Id),
					shortTaskDefinition(deref(d.TaskDefinition)), deref(d.RolloutStateReason))}
			}
		}
		return verdict{failed, fmt.Sprintf("service runs %s, not %s that this stack registered: ECS rolled the deployment back, or another deploy replaced it",
			shortTaskDefinition(deref(primary.TaskDefinition)), shortTaskDefinition(want))}
	}

	running := fmt.Sprintf("%d/%d running", primary.RunningCount, primary.DesiredCount)
	if primary.FailedTasks > 0 {
		// Tasks of this deployment that stopped before settling: what the
		// circuit breaker counts towards its threshold.
		running += fmt.Sprintf(" (%d failed)", primary.FailedTasks)
	}
	targets := "targets " + targetCounts(st.targets)
	switch primary.RolloutState {
	case ecstypes.DeploymentRolloutStateFailed:
		return verdict{failed, fmt.Sprintf("deployment %s (%s) failed: %s, %s, %s",
			deref(primary.Id), shortTaskDefinition(want), deref(primary.RolloutStateReason), running, targets)}
	case ecstypes.DeploymentRolloutStateInProgress:
		return verdict{waiting, fmt.Sprintf("rollout IN_PROGRESS, %s, %s", running, targets)}
	}
	for _, d := range others {
		if s := deref(d.Status); s == "ACTIVE" || d.RolloutState == ecstypes.DeploymentRolloutStateInProgress {
			return verdict{waiting, fmt.Sprintf("deployment %s (%s) still %s with %d running, %s, %s",
				deref(d.Id), shortTaskDefinition(deref(d.TaskDefinition)), s, d.RunningCount, running, targets)}
		}
	}
	if primary.RunningCount != primary.DesiredCount {
		return verdict{waiting, fmt.Sprintf("rollout %s, %s, %s", rolloutState(primary), running, targets)}
	}

	// ECS completes a rollout behind a load balancer only once its targets
	// pass health checks, so an unhealthy or unused target now is a fault,
	// not a step on the way.
	if primary.DesiredCount > 0 && len(st.targets) == 0 {
		return verdict{failed, fmt.Sprintf("%s, but no targets are registered in the target group", running)}
	}
	settling := false
	var bad []string
	for _, t := range st.targets {
		switch state(t) {
		case elbtypes.TargetHealthStateEnumHealthy:
		case elbtypes.TargetHealthStateEnumInitial, elbtypes.TargetHealthStateEnumDraining,
			elbtypes.TargetHealthStateEnumUnhealthyDraining:
			settling = true
		default:
			bad = append(bad, fmt.Sprintf("%s %s %s", targetAddress(t), state(t), targetReason(t)))
		}
	}
	if len(bad) > 0 {
		return verdict{failed, fmt.Sprintf("%s, %s: %s", running, targets, strings.Join(bad, ", "))}
	}
	if settling {
		return verdict{waiting, fmt.Sprintf("rollout %s, %s, %s", rolloutState(primary), running, targets)}
	}
	ok := fmt.Sprintf("%s, %s, %s", shortTaskDefinition(want), running, targets)
	if primary.DesiredCount == 0 {
		// Scaled in to zero, e.g. by the active hours' schedule at night:
		// ECS completes the rollout without starting a task, so there is
		// nothing to fail yet, and nothing proven either.
		ok += " (scaled to zero: no task of this release has started yet)"
	}
	return verdict{passed, ok}
}

func rolloutState(d *ecstypes.Deployment) string {
	if d.RolloutState == "" {
		return "state unknown"
	}
	return string(d.RolloutState)
}

// sameTaskDefinition compares task definitions given as ARNs or as
// family:revision.
func sameTaskDefinition(a, b string) bool {
	return a == b || shortTaskDefinition(a) == shortTaskDefinition(b)
}

// shortTaskDefinition turns arn:aws:ecs:...:task-definition/orders:8 into
// orders:8.
func shortTaskDefinition(arn string) string {
	if i := strings.LastIndex(arn, "task-definition/"); i >= 0 {
		return arn[i+len("task-definition/"):]
	}
	return arn
}

// targetOrder is the order states appear in counts; others follow.
var targetOrder = []elbtypes.TargetHealthStateEnum{
	elbtypes.TargetHealthStateEnumHealthy,
	elbtypes.TargetHealthStateEnumInitial,
	elbtypes.TargetHealthStateEnumUnhealthy,
	elbtypes.TargetHealthStateEnumDraining,
	elbtypes.TargetHealthStateEnumUnhealthyDraining,
	elbtypes.TargetHealthStateEnumUnused,
	elbtypes.TargetHealthStateEnumUnavailable,
}

// targetCounts is e.g. "1 healthy 1 initial", or "none".
func targetCounts(targets []elbtypes.TargetHealthDescription) string {
	counts := map[elbtypes.TargetHealthStateEnum]int{}
	var unknown []elbtypes.TargetHealthStateEnum
	for _, t := range targets {
		s := state(t)
		if counts[s] == 0 && !slices.Contains(targetOrder, s) {
			unknown = append(unknown, s)
		}
		counts[s]++
	}
	var parts []string
	for _, s := range append(targetOrder[:len(targetOrder):len(targetOrder)], unknown...) {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func state(t elbtypes.TargetHealthDescription) elbtypes.TargetHealthStateEnum {
	if t.TargetHealth == nil || t.TargetHealth.State == "" {
		return "unknown"
	}
	return t.TargetHealth.State
}

// targetAddress is e.g. 10.0.2.17:8080.
func targetAddress(t elbtypes.TargetHealthDescription) string {
	if t.Target == nil {
		return "?"
	}
	if t.Target.Port != nil {
		return fmt.Sprintf("%s:%d", deref(t.Target.Id), *t.Target.Port)
	}
	return deref(t.Target.Id)
}

// targetReason is e.g. "Target.FailedHealthChecks: Health checks failed".
func targetReason(t elbtypes.TargetHealthDescription) string {
	if t.TargetHealth == nil {
		return ""
	}
	reason, desc := string(t.TargetHealth.Reason), deref(t.TargetHealth.Description)
	switch {
	case reason != "" && desc != "":
		return reason + ": " + desc
	case reason != "":
		return reason
	default:
		return desc
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
