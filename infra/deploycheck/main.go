// Command deploycheck tells whether the deploy `pulumi up` just made really
// runs, and if not, why.
//
// pulumi-aws v6 waits for an ECS service to reach a steady state, and a
// deployment the circuit breaker rolled back reaches one too: `pulumi up`
// ends green while the old version serves. deploycheck reads the stack
// outputs and checks, per service, that the PRIMARY deployment runs the task
// definition this stack registered, its rollout COMPLETED, the running count
// equals the desired count, no other deployment is left, and every target
// in the service's target group is healthy. Rollouts still in progress are
// polled until -timeout.
//
//	pulumi stack output --json | go run ./infra/deploycheck
//
// For each failed service it prints why, the latest service events, the
// stopped tasks with their stop codes and container exit codes, the target
// health reasons and the service's last log lines.
//
// Exit status: 0 every service is healthy; 1 a service failed or could not
// be checked; 2 bad flags or stack outputs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// diagnoseTimeout bounds the reading of one failed service's evidence.
const diagnoseTimeout = 2 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("deploycheck", flag.ContinueOnError)
	flags.SetOutput(stderr)
	outputsFile := flags.String("outputs", "", "read the stack outputs from `file` instead of stdin")
	timeout := flags.Duration("timeout", 15*time.Minute, "how long to wait for rollouts still in progress")
	poll := flags.Duration("poll", 15*time.Second, "how often to look again while waiting")
	logLines := flags.Int("log-lines", 50, "log lines to print per failed service")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var problems []string
	if flags.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", flags.Arg(0)))
	}
	if *timeout < 0 {
		problems = append(problems, "-timeout must not be negative")
	}
	if *poll <= 0 {
		problems = append(problems, "-poll must be positive")
	}
	if *logLines < 0 {
		problems = append(problems, "-log-lines must not be negative")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "deploycheck: %s\n", strings.Join(problems, "; "))
		return 2
	}

	data, err := readOutputs(*outputsFile, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "deploycheck: %v\n", err)
		return 2
	}
	out, err := parseOutputs(data)
	if err != nil {
		fmt.Fprintf(stderr, "deploycheck: %v\n", err)
		return 2
	}

	c, err := newCloud(ctx, out.Region, out.Cluster)
	if err != nil {
		fmt.Fprintf(stderr, "deploycheck: %v\n", err)
		return 1
	}
	verdicts, last := c.wait(ctx, out.Apps, *timeout, *poll, stdout)

	var failedApps []string
	for _, a := range out.Apps {
		v := verdicts[a.Name]
		if v.outcome == passed {
			fmt.Fprintf(stdout, "ok   %s: %s\n", a.Name, v.text)
			continue
		}
		failedApps = append(failedApps, a.Name)
		// The evidence is read even when ctx is done, for a bounded time:
		// it is what the person who interrupted the wait wants to see.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
		d := c.diagnose(dctx, a, last[a.Name], *logLines, time.Now())
		cancel()
		writeFailure(stdout, a, v, last[a.Name], d, *logLines)
	}
	if len(failedApps) > 0 {
		fmt.Fprintf(stdout, "deploycheck: %d of %d services failed: %s\n",
			len(failedApps), len(out.Apps), strings.Join(failedApps, ", "))
		return 1
	}
	return 0
}

func readOutputs(file string, stdin io.Reader) ([]byte, error) {
	if file == "" {
		// Run by hand without a pipe, it would wait for input silently.
		if f, ok := stdin.(*os.File); ok {
			if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
				return nil, errors.New("no stack outputs: pipe `pulumi stack output --json` into deploycheck, or pass -outputs file")
			}
		}
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stack outputs from stdin: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read stack outputs: %w", err)
	}
	return data, nil
}

// wait evaluates every app until none is waiting or the timeout passes,
// printing a progress line for each app still waiting. It returns each
// app's verdict and the last status seen.
func (c *cloud) wait(ctx context.Context, apps []app, timeout, poll time.Duration, w io.Writer) (map[string]verdict, map[string]status) {
	deadline := time.Now().Add(timeout)
	verdicts := map[string]verdict{}
	last := map[string]status{}
	remaining := apps
	for {
		statuses := c.statuses(ctx, remaining)
		var still []app
		for _, a := range remaining {
			st := statuses[a.Name]
			last[a.Name] = st
			v := evaluate(a.TaskDefinition, st)
			verdicts[a.Name] = v
			if v.outcome == waiting {
				fmt.Fprintf(w, "%s: %s\n", a.Name, v.text)
				still = append(still, a)
			}
		}
		remaining = still
		if len(remaining) == 0 {
			return verdicts, last
		}

		left := time.Until(deadline)
		if left <= 0 {
			for _, a := range remaining {
				verdicts[a.Name] = verdict{failed, fmt.Sprintf("still in progress after %s: %s",
					shortDuration(timeout), verdicts[a.Name].text)}
			}
			return verdicts, last
		}
		timer := time.NewTimer(min(poll, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			for _, a := range remaining {
				verdicts[a.Name] = verdict{failed, fmt.Sprintf("stopped waiting (%v): %s",
					context.Cause(ctx), verdicts[a.Name].text)}
			}
			return verdicts, last
		case <-timer.C:
		}
	}
}
