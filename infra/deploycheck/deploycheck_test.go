package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/deploy-failure-example.txt from the rollback scenario")

// exampleDoc is the sample output in the docs; the rollback scenario
// produces it, so it cannot drift from what the command prints.
var exampleDoc = filepath.Join("..", "..", "docs", "deploy-failure-example.txt")

type result struct {
	code           int
	stdout, stderr string
}

// runCheck runs the command in-process. Unless args say otherwise it
// decides on the first observation (-timeout 0), so a scenario that
// wrongly keeps waiting fails at once instead of polling for 15 minutes.
func runCheck(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr strings.Builder
	args = append([]string{"-timeout", "0s"}, args...)
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// exactly checks the exit code and the whole output, and that stderr is empty.
func (r result) exactly(t *testing.T, code int, stdout string) {
	t.Helper()
	if r.code != code || r.stdout != stdout || r.stderr != "" {
		t.Errorf("got exit %d, stdout:\n%s\nstderr: %q\nwant exit %d, stdout:\n%s", r.code, r.stdout, r.stderr, code, stdout)
	}
}

func (r result) want(t *testing.T, code int, parts ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d", r.code, code)
	}
	if missing := containsAll(r.stdout, parts...); len(missing) > 0 {
		t.Errorf("output lacks %q", missing)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q, want nothing", r.stderr)
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.stdout)
	}
}

func TestHealthyRolloutPasses(t *testing.T) {
	f := newFakeAWS(t)
	world(f, "catalog", "orders", "web")
	f.start()

	r := runCheck(t, stackOutputs("catalog", "orders", "web"))

	want := "ok   catalog: shop-dev-catalog:12, 2/2 running, targets 2 healthy\n" +
		"ok   orders: shop-dev-orders:8, 2/2 running, targets 2 healthy\n" +
		"ok   web: shop-dev-web:9, 2/2 running, targets 2 healthy\n"
	r.exactly(t, 0, want)
	// A healthy deploy is not investigated.
	for _, op := range f.seen {
		if op == "ListTasks" || op == "FilterLogEvents" {
			t.Errorf("healthy deploy called %s", op)
		}
	}
}

func TestRollbackAfterFailedHealthChecksFails(t *testing.T) {
	f := newFakeAWS(t)
	world(f, "catalog", "orders", "web")
	rollbackAfterHealthChecks(f)
	f.start()

	r := runCheck(t, stackOutputs("catalog", "orders", "web"))

	r.want(t, 1,
		"ok   catalog:",
		"ok   web:",
		"FAIL orders: rolled back to shop-dev-orders:7: deployment "+deploymentID("orders", 8)+" (shop-dev-orders:8) failed: ECS deployment circuit breaker: tasks failed to start.",
		"deployment failed: tasks failed to start.",
		"rolling back to deployment ecs-svc/",
		"ServiceSchedulerInitiated: Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/orders-5e8a3f2/6d0ecf831eec9f09)",
		"task "+taskA+" (shop-dev-orders:8) stopped 2026-11-29T06:04:45Z",
		"task "+taskC+" (shop-dev-orders:8) stopping since 2026-11-29T06:09:06Z",
		"container orders: exit code 0",
		"10.0.1.87:8080 unhealthy Target.FailedHealthChecks: Health checks failed",
		`"msg":"listening","addr":":8081"`,
		"deploycheck: 1 of 3 services failed: orders\n",
	)
	if strings.Contains(r.stdout, "cds: added/updated") {
		t.Errorf("output shows the Service Connect proxy's log lines; want only the app's")
	}
	// Newest first: the third task stopped last.
	if a, c := strings.Index(r.stdout, "task "+taskA), strings.Index(r.stdout, "task "+taskC); c < 0 || a < c {
		t.Errorf("stopped tasks not newest first:\n%s", r.stdout)
	}

	if *update {
		if err := os.WriteFile(exampleDoc, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := os.ReadFile(exampleDoc)
	if err != nil {
		t.Fatalf("%v (run go test ./deploycheck -run %s -update to write it)", err, t.Name())
	}
	if string(doc) != r.stdout {
		t.Errorf("%s differs from the output; run go test ./deploycheck -run %s -update and review the diff\noutput:\n%s", exampleDoc, t.Name(), r.stdout)
	}
}

func TestRolloutCompletedOnSecondPollPasses(t *testing.T) {
	f := newFakeAWS(t)
	world(f, "orders")
	f.services["orders"] = []ecsService{inProgress("orders"), healthy("orders")}
	f.start()

	r := runCheck(t, stackOutputs("orders"), "-timeout", "1m", "-poll", "1ms")

	want := "orders: rollout IN_PROGRESS, 1/2 running, targets 2 healthy\n" +
		"ok   orders: shop-dev-orders:8, 2/2 running, targets 2 healthy\n"
	r.exactly(t, 0, want)
	if n := f.calls["orders"]; n != 2 {
		t.Errorf("DescribeServices asked about orders %d times, want 2", n)
	}
}

// TestDeployOutsideActiveHoursPasses: a deploy while the schedule holds a
// service at zero tasks completes without starting one. The check waits
// for the old deployment to go, then passes without waiting for targets
// that cannot come, and says that nothing of the release ran.
func TestDeployOutsideActiveHoursPasses(t *testing.T) {
	f := newFakeAWS(t)
	app := "orders"
	world(f, app)
	atZero := func(d ecsDeployment) ecsDeployment {
		d.DesiredCount, d.RunningCount = 0, 0
		return d
	}
	newID := deploymentID(app, registered[app])
	rolling := service(app, []ecsDeployment{
		atZero(deployment(app, registered[app], "PRIMARY", "IN_PROGRESS", fmt.Sprintf("ECS deployment %s in progress.", newID), 0, deployStart.Add(time.Minute))),
		atZero(deployment(app, previous(app), "ACTIVE", "COMPLETED", "", 0, deployStart.Add(-26*time.Hour))),
	}, nil)
	done := service(app, []ecsDeployment{
		atZero(deployment(app, registered[app], "PRIMARY", "COMPLETED", fmt.Sprintf("ECS deployment %s completed.", newID), 0, deployStart.Add(time.Minute))),
	}, nil)
	rolling.DesiredCount, done.DesiredCount = 0, 0
	f.services[app] = []ecsService{rolling, done}
	f.targets[targetGroupArns[app]] = []targetHealthDescription{}
	f.start()

	r := runCheck(t, stackOutputs(app), "-timeout", "1m", "-poll", "1ms")

	want := "orders: rollout IN_PROGRESS, 0/0 running, targets none\n" +
		"ok   orders: shop-dev-orders:8, 0/0 running, targets none (scaled to zero: no task of this release has started yet)\n"
	r.exactly(t, 0, want)
}

// TestFailedRolloutsFail: each way a rollout of orders can go wrong exits 1
// with the evidence that explains it.
func TestFailedRolloutsFail(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeAWS)
		outputs string // stack outputs; those of orders when empty
		args    []string
		want    []string // parts of the report
		notWant string   // a part the report must not have
	}{
		{
			name: "image pull failure",
			setup: func(f *fakeAWS) {
				rolledBackAfterPullFailure(f)
				f.logs[logGroup("orders")] = append(f.logs[logGroup("orders")],
					appLog("orders", "0e1d2c3b4a5f69788796a5b4c3d2e1f0", deployStart.Add(-time.Hour), "a line from before the deploy"))
			},
			want: []string{
				"FAIL orders: service runs shop-dev-orders:7, not shop-dev-orders:8 that this stack registered",
				"(deployment " + deploymentID("orders", 8) + ") deployment failed: tasks failed to start.",
				"TaskFailedToStart: CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-dev-orders:4f2a9c1",
				"container orders: no exit code, same reason as the task\n",
				"shop-dev-orders:4f2a9c1: not found",
				// The deploy began when its first task was created.
				"last 50 log lines of /shop/dev/orders (streams orders/*) since 2026-11-29T06:00:40Z:\n",
			},
			notWant: "a line from before the deploy",
		},
		{
			name:  "unreadable secret",
			setup: secretUnreadable,
			want: []string{
				"FAIL orders: deployment " + deploymentID("orders", 8) + " (shop-dev-orders:8) failed: ECS deployment circuit breaker: tasks failed to start., 0/2 running (3 failed), targets none",
				"TaskFailedToStart: ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm",
				"api error AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/orders-execution-3c1f9e2/",
				"is not authorized to perform: secretsmanager:GetSecretValue",
				"container orders: no exit code\n",
			},
		},
		{
			name: "still in progress at the time limit",
			setup: func(f *fakeAWS) {
				f.services["orders"] = []ecsService{inProgress("orders")}
				f.targets[targetGroupArns["orders"]] = append(healthyTargets(),
					target("10.0.1.87", "eu-west-1a", "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"))
			},
			args: []string{"-timeout", "1ms", "-poll", "1ms"},
			want: []string{
				"orders: rollout IN_PROGRESS, 1/2 running, targets 2 healthy 1 initial\n",
				"FAIL orders: still in progress after 1ms: rollout IN_PROGRESS, 1/2 running, targets 2 healthy 1 initial\n",
				"10.0.1.87:8080 initial Elb.InitialHealthChecking: Initial health checks in progress",
			},
		},
		{
			name:    "service unknown to ECS",
			outputs: strings.Replace(stackOutputs("orders"), `"orders": "orders"`, `"orders": "orderz"`, 1),
			want: []string{
				"FAIL orders: ECS does not know the service (MISSING)",
				"unavailable: list stopped tasks: operation error ECS: ListTasks",
				"ServiceNotFoundException: Service not found.",
			},
		},
		{
			name:  "AWS error",
			setup: func(f *fakeAWS) { f.cluster = "shop-prod" },
			want: []string{
				"FAIL orders: cannot check: describe services in cluster shop-dev: operation error ECS: DescribeServices",
				"ClusterNotFoundException: Cluster not found.",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t)
			world(f, "orders")
			if tt.setup != nil {
				tt.setup(f)
			}
			f.start()
			outputs := cmp.Or(tt.outputs, stackOutputs("orders"))

			r := runCheck(t, outputs, tt.args...)

			r.want(t, 1, tt.want...)
			if tt.notWant != "" && strings.Contains(r.stdout, tt.notWant) {
				t.Errorf("output shows %q, want it left out", tt.notWant)
			}
		})
	}
}

func TestLogTailIsTheNewestLines(t *testing.T) {
	f := newFakeAWS(t)
	world(f, "orders")
	secretUnreadable(f)
	var lines []logEvent
	for i := 1; i <= 60; i++ {
		lines = append(lines, appLog("orders", taskA, deployStart.Add(time.Minute+time.Duration(i)*time.Second), "line "+strconv.Itoa(i)+"."))
	}
	f.logs[logGroup("orders")] = lines
	f.pageSize = 7 // several pages, newest first
	f.start()

	r := runCheck(t, stackOutputs("orders"), "-log-lines", "25")

	r.want(t, 1, "last 25 log lines of /shop/dev/orders (streams orders/*)")
	var got []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if i := strings.Index(l, " line "); i >= 0 {
			got = append(got, l[i+1:])
		}
	}
	var want []string
	for i := 36; i <= 60; i++ {
		want = append(want, "line "+strconv.Itoa(i)+".")
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("log lines\n got %q\nwant %q", got, want)
	}
}

func TestBadInputExits2(t *testing.T) {
	// No AWS call may be made for input that cannot be right.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("AWS called with bad input: %s", r.Header.Get("X-Amz-Target"))
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")

	good := stackOutputs("catalog", "orders")
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"empty input", "", nil, "stack outputs are not a JSON object (want `pulumi stack output --json`): input is empty"},
		{"not JSON", "error: no stack selected", nil, `stack outputs are not a JSON object (want ` + "`pulumi stack output --json`" + `): "error: no stack selected"`},
		{"a JSON array", `["region"]`, nil, "stack outputs are not a JSON object"},
		{"empty stack", `{}`, nil, "stack outputs: missing region; missing clusterName; missing serviceNames; missing taskDefinitionArns; missing targetGroupArns; missing logGroupNames"},
		{"ill-typed", strings.Replace(strings.Replace(good, `"region": "eu-west-1"`, `"region": 7`, 1), `"clusterName": "shop-dev"`, `"clusterName": ["shop-dev"]`, 1), nil,
			"stack outputs: region is a number, want a string; clusterName is an array, want a string"},
		{"map value ill-typed", strings.Replace(good, `"orders": "/shop/dev/orders"`, `"orders": null`, 1), nil,
			"stack outputs: logGroupNames.orders is null, want a string; logGroupNames has no entry for orders"},
		{"map is a string", strings.Replace(good, `"targetGroupArns": {`, `"targetGroupArns": "arn", "x": {`, 1), nil,
			"stack outputs: targetGroupArns is a string, want an object of app name to string"},
		{"maps disagree", strings.Replace(good, `"catalog": "/shop/dev/catalog"`, `"catalogue": "/shop/dev/catalog"`, 1), nil,
			"stack outputs: logGroupNames has no entry for catalog; logGroupNames has catalogue, which serviceNames lacks"},
		{"empty string", strings.Replace(good, `"clusterName": "shop-dev"`, `"clusterName": ""`, 1), nil, "stack outputs: clusterName is empty"},
		{"no services", `{"region":"eu-west-1","clusterName":"c","serviceNames":{},"taskDefinitionArns":{},"targetGroupArns":{},"logGroupNames":{}}`, nil,
			"stack outputs: serviceNames is empty"},
		{"outputs file missing", good, []string{"-outputs", filepath.Join(t.TempDir(), "nope.json")}, "read stack outputs: open "},
		{"bad poll", good, []string{"-poll", "0s"}, "-poll must be positive"},
		{"stray argument", good, []string{"outputs.json"}, `unexpected argument "outputs.json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, tt.stdin, tt.args...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "deploycheck: ") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q, want one line deploycheck: ...%s...", r.stderr, tt.want)
			}
		})
	}
}

func TestOutputsFromFile(t *testing.T) {
	f := newFakeAWS(t)
	world(f, "web")
	f.start()
	file := filepath.Join(t.TempDir(), "outputs.json")
	if err := os.WriteFile(file, []byte(stackOutputs("web")), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runCheck(t, "", "-outputs", file)

	r.want(t, 0, "ok   web: shop-dev-web:9, 2/2 running, targets 2 healthy\n")
}

// cancelOn cancels a context once a line containing trigger is written:
// the interrupt arrives while the command waits, at a known point.
type cancelOn struct {
	strings.Builder
	trigger string
	cancel  func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.trigger) {
		c.cancel()
	}
	return c.Builder.Write(p)
}

func TestInterruptedWaitFailsWithEvidence(t *testing.T) {
	f := newFakeAWS(t)
	world(f, "orders")
	f.services["orders"] = []ecsService{inProgress("orders")}
	f.start()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout := &cancelOn{trigger: "rollout IN_PROGRESS", cancel: cancel}
	var stderr strings.Builder
	code := run(ctx, []string{"-timeout", "1h", "-poll", "1h"}, strings.NewReader(stackOutputs("orders")), stdout, &stderr)

	r := result{code, stdout.String(), stderr.String()}
	r.want(t, 1,
		"FAIL orders: stopped waiting (context canceled): rollout IN_PROGRESS, 1/2 running, targets 2 healthy",
		"service events, newest first:",
		"last 50 log lines of /shop/dev/orders",
	)
}

// docs/cloud.md shows the sample output whole; it must be the file the
// rollback scenario keeps equal to the command's output.
func TestCloudDocShowsTheExample(t *testing.T) {
	example, err := os.ReadFile(exampleDoc)
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := os.ReadFile(filepath.Join("..", "..", "docs", "cloud.md"))
	if err != nil {
		t.Fatal(err)
	}
	if block := "```text\n" + string(example) + "```\n"; !strings.Contains(string(cloud), block) {
		t.Errorf("docs/cloud.md does not show %s whole in a text block; copy it there", exampleDoc)
	}
}
