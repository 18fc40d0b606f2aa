package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// How much of each kind of evidence a failure report shows.
const (
	eventsShown       = 10
	stoppedTasksShown = 10
)

// diagnosis is the evidence gathered for one failed app.
type diagnosis struct {
	tasks    []ecstypes.Task
	tasksErr error
	logs     []logtypes.FilteredLogEvent
	logsErr  error
	since    time.Time // where the log search started
}

// diagnose gathers what explains a failure: stopped tasks and log lines.
// Service events and target health are already in the status.
func (c *cloud) diagnose(ctx context.Context, a app, st status, logLines int, now time.Time) diagnosis {
	var d diagnosis
	d.tasks, d.tasksErr = c.stoppedTasks(ctx, a.Service)
	d.since = logWindowStart(a.TaskDefinition, st, d.tasks, now)
	// The app's container writes to streams <app>/<container>/<task id>
	// (awslogs-stream-prefix in infra/container.go); the Service Connect
	// proxy's streams in the same group are left out.
	d.logs, d.logsErr = c.logTail(ctx, a.LogGroup, a.Name+"/", d.since, logLines)
	return d
}

// logWindowStart is when this deploy began, as near as ECS tells: the
// creation of the deployment of the registered task definition, else of the
// first stopped task that ran it, else an hour ago. Lines are read newest
// first, so the window only keeps out what predates the deploy.
func logWindowStart(want string, st status, tasks []ecstypes.Task, now time.Time) time.Time {
	if st.service != nil {
		for _, d := range st.service.Deployments {
			if sameTaskDefinition(deref(d.TaskDefinition), want) && d.CreatedAt != nil {
				return *d.CreatedAt
			}
		}
	}
	var start time.Time
	for _, t := range tasks {
		if sameTaskDefinition(deref(t.TaskDefinitionArn), want) && t.CreatedAt != nil &&
			(start.IsZero() || t.CreatedAt.Before(start)) {
			start = *t.CreatedAt
		}
	}
	if start.IsZero() {
		return now.Add(-time.Hour)
	}
	return start
}

// writeFailure prints one failed app: the verdict, then the evidence.
func writeFailure(w io.Writer, a app, v verdict, st status, d diagnosis, logLines int) {
	fmt.Fprintf(w, "FAIL %s: %s\n", a.Name, v.text)

	if st.service != nil {
		events := st.service.Events // ECS lists them newest first
		fmt.Fprintf(w, "  service events, newest first:\n")
		if len(events) == 0 {
			fmt.Fprintf(w, "    none\n")
		}
		for _, e := range events[:min(len(events), eventsShown)] {
			fmt.Fprintf(w, "    %s %s\n", stamp(deref(e.CreatedAt)), deref(e.Message))
		}
	}

	fmt.Fprintf(w, "  stopped tasks, newest first:\n")
	switch {
	case d.tasksErr != nil:
		fmt.Fprintf(w, "    unavailable: %v\n", d.tasksErr)
	case len(d.tasks) == 0:
		fmt.Fprintf(w, "    none\n")
	}
	for _, t := range d.tasks[:min(len(d.tasks), stoppedTasksShown)] {
		when := "stopped"
		if t.StoppedAt == nil {
			when = "stopping since"
		}
		fmt.Fprintf(w, "    task %s (%s) %s %s\n", lastSegment(deref(t.TaskArn)),
			shortTaskDefinition(deref(t.TaskDefinitionArn)), when, stamp(taskTime(t)))
		fmt.Fprintf(w, "      %s: %s\n", orNone(string(t.StopCode)), orNone(deref(t.StoppedReason)))
		for _, c := range t.Containers {
			fmt.Fprintf(w, "      container %s: %s\n", deref(c.Name), containerOutcome(c, deref(t.StoppedReason)))
		}
	}
	if more := len(d.tasks) - stoppedTasksShown; more > 0 {
		fmt.Fprintf(w, "    and %d older\n", more)
	}

	if st.service != nil || st.targets != nil {
		fmt.Fprintf(w, "  targets in %s:\n", a.TargetGroup)
		if len(st.targets) == 0 {
			fmt.Fprintf(w, "    none\n")
		}
		for _, t := range st.targets {
			line := fmt.Sprintf("    %s %s", targetAddress(t), state(t))
			if r := targetReason(t); r != "" {
				line += " " + r
			}
			fmt.Fprintln(w, line)
		}
	}

	if logLines == 0 {
		return
	}
	fmt.Fprintf(w, "  last %d log lines of %s (streams %s/*) since %s:\n", logLines, a.LogGroup, a.Name, stamp(d.since))
	switch {
	case d.logsErr != nil:
		fmt.Fprintf(w, "    unavailable: %v\n", d.logsErr)
	case len(d.logs) == 0:
		fmt.Fprintf(w, "    none\n")
	}
	for _, e := range d.logs {
		msg := strings.ReplaceAll(strings.TrimRight(deref(e.Message), "\r\n"), "\n", "\n      ")
		fmt.Fprintf(w, "    %s %s %s\n", stamp(time.UnixMilli(deref(e.Timestamp))), lastSegment(deref(e.LogStreamName)), msg)
	}
}

// containerOutcome is e.g. "exit code 1", or "no exit code, still RUNNING"
// for a task being stopped, with the container's reason unless it only
// repeats the task's.
func containerOutcome(c ecstypes.Container, taskReason string) string {
	var parts []string
	switch status := deref(c.LastStatus); {
	case c.ExitCode != nil:
		parts = append(parts, fmt.Sprintf("exit code %d", *c.ExitCode))
	case status != "" && status != "STOPPED":
		parts = append(parts, "no exit code, still "+status)
	default:
		parts = append(parts, "no exit code")
	}
	switch r := deref(c.Reason); r {
	case "":
	case taskReason:
		parts = append(parts, "same reason as the task")
	default:
		parts = append(parts, r)
	}
	return strings.Join(parts, ", ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(time unknown)"
	}
	return t.UTC().Format(time.RFC3339)
}

// lastSegment turns a task ARN or log stream name into the task id.
func lastSegment(s string) string {
	return s[strings.LastIndex(s, "/")+1:]
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// shortDuration is 15m rather than 15m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
