package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The stack the scenarios describe: project shop, stack dev, as the Pulumi
// program names things (cluster shop-dev, task definition family
// shop-dev-<app>, log group /shop/dev/<app>, streams <app>/<app>/<task id>).
const (
	region  = "eu-west-1"
	account = "123456789012"
	cluster = "shop-dev"
)

// deployStart is when `pulumi up` registered the new task definitions.
var deployStart = time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)

func clusterArn() string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", region, account, cluster)
}

func serviceArn(name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", region, account, cluster, name)
}

func taskDefinitionArn(app string, revision int) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/shop-dev-%s:%d", region, account, app, revision)
}

func taskArn(id string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", region, account, cluster, id)
}

// targetGroupArns are as Pulumi autonames them.
var targetGroupArns = map[string]string{
	"catalog": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/catalog-0c4d1e7/3b9f2a6c1d8e4f05",
	"orders":  "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/orders-5e8a3f2/6d0ecf831eec9f09",
	"web":     "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-9a1b2c3/0f1e2d3c4b5a6978",
}

// registered is the task definition revision the stack just registered,
// per app; previous is the one that ran before.
var registered = map[string]int{"catalog": 12, "orders": 8, "web": 9}

func previous(app string) int { return registered[app] - 1 }

func logGroup(app string) string { return "/shop/dev/" + app }

// stackOutputs is `pulumi stack output --json` for the apps.
func stackOutputs(apps ...string) string {
	services, defs, groups, logs := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	for _, a := range apps {
		services[a] = a
		defs[a] = taskDefinitionArn(a, registered[a])
		groups[a] = targetGroupArns[a]
		logs[a] = logGroup(a)
	}
	out, err := json.MarshalIndent(map[string]any{
		"region":             region,
		"clusterName":        cluster,
		"serviceNames":       services,
		"taskDefinitionArns": defs,
		"targetGroupArns":    groups,
		"logGroupNames":      logs,
		"url":                "http://shop-dev-alb-1234567890.eu-west-1.elb.amazonaws.com",
		"databaseEndpoint":   "shop-dev.c9akciq32.eu-west-1.rds.amazonaws.com:5432",
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(out)
}

// deploymentID is an ECS deployment id: ecs-svc/ and 19 digits.
func deploymentID(app string, revision int) string {
	return fmt.Sprintf("ecs-svc/%d", 4466848471931441950+int64(len(app))*1000003+int64(revision)*7919)
}

func event(when time.Time, format string, args ...any) ecsEvent {
	return ecsEvent{
		ID:        fmt.Sprintf("%08x-1c2d-4e5f-8a9b-%012x", when.Unix()%100000000, when.UnixNano()%1000000000000),
		CreatedAt: at(when),
		Message:   fmt.Sprintf(format, args...),
	}
}

// service is an ECS service with the given deployments and events
// (newest first), counted as ECS counts them.
func service(app string, deployments []ecsDeployment, events []ecsEvent) ecsService {
	s := ecsService{
		ServiceArn: serviceArn(app), ServiceName: app, ClusterArn: clusterArn(),
		Status: "ACTIVE", DesiredCount: 2,
		LoadBalancers:                 []ecsLoadBalancer{{TargetGroupArn: targetGroupArns[app], ContainerName: app, ContainerPort: 8080}},
		Deployments:                   deployments,
		Events:                        events,
		CreatedAt:                     at(deployStart.Add(-30 * 24 * time.Hour)),
		HealthCheckGracePeriodSeconds: 30,
		SchedulingStrategy:            "REPLICA",
		DeploymentController:          map[string]string{"type": "ECS"},
		CapacityProviderStrategy:      []ecsCapacityProviderIt{{CapacityProvider: "FARGATE_SPOT", Weight: 1}},
	}
	s.DeploymentConfiguration.DeploymentCircuitBreaker.Enable = true
	s.DeploymentConfiguration.DeploymentCircuitBreaker.Rollback = true
	s.DeploymentConfiguration.MaximumPercent = 200
	s.DeploymentConfiguration.MinimumHealthyPercent = 100
	for _, d := range deployments {
		s.RunningCount += d.RunningCount
		s.PendingCount += d.PendingCount
		if d.Status == "PRIMARY" {
			s.TaskDefinition = d.TaskDefinition
		}
	}
	return s
}

func deployment(app string, revision int, status, rollout, reason string, running int, created time.Time) ecsDeployment {
	return ecsDeployment{
		ID: deploymentID(app, revision), Status: status, TaskDefinition: taskDefinitionArn(app, revision),
		DesiredCount: 2, RunningCount: running, PendingCount: 0,
		CreatedAt: at(created), UpdatedAt: at(created.Add(4 * time.Minute)),
		RolloutState: rollout, RolloutStateReason: reason,
	}
}

// healthy is a service whose deployment of the registered revision
// completed.
func healthy(app string) ecsService {
	id := deploymentID(app, registered[app])
	return service(app,
		[]ecsDeployment{deployment(app, registered[app], "PRIMARY", "COMPLETED",
			fmt.Sprintf("ECS deployment %s completed.", id), 2, deployStart.Add(time.Minute))},
		[]ecsEvent{
			event(deployStart.Add(5*time.Minute), "(service %s) has reached a steady state.", app),
			event(deployStart.Add(5*time.Minute), "(service %s) (deployment %s) deployment completed.", app, id),
			event(deployStart.Add(4*time.Minute), "(service %s) has stopped 2 running tasks: (task 1f2e3d4c5b6a79880a1b2c3d4e5f6071) (task 2e3d4c5b6a7988091b2c3d4e5f607182).", app),
			event(deployStart.Add(2*time.Minute), "(service %s) has started 2 tasks: (task 7a6b5c4d3e2f10897a6b5c4d3e2f1089) (task 8b7c6d5e4f3a21098b7c6d5e4f3a2109).", app),
		})
}

func target(ip, az, state, reason, description string) targetHealthDescription {
	var t targetHealthDescription
	t.Target.ID, t.Target.Port, t.Target.AvailabilityZone = ip, 8080, az
	t.HealthCheckPort = "8080"
	t.TargetHealth.State, t.TargetHealth.Reason, t.TargetHealth.Description = state, reason, description
	return t
}

func healthyTargets() []targetHealthDescription {
	return []targetHealthDescription{
		target("10.0.1.23", "eu-west-1a", "healthy", "", ""),
		target("10.0.2.41", "eu-west-1b", "healthy", "", ""),
	}
}

// stoppedTask is a task of the app's registered revision that ECS stopped.
func stoppedTask(app, id string, started, stopped time.Time, stopCode, reason string, containers ...ecsContainer) ecsTask {
	for i := range containers {
		containers[i].TaskArn = taskArn(id)
		containers[i].ContainerArn = fmt.Sprintf("arn:aws:ecs:%s:%s:container/%s/%s/%08x-5b1c-4f7e-9d2a-%012d", region, account, cluster, id, i+1, i+1)
		if containers[i].Image == "" {
			containers[i].Image = fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/shop-dev-%s:4f2a9c1", account, region, app)
		}
		if containers[i].LastStatus == "" {
			containers[i].LastStatus = "STOPPED"
		}
	}
	t := ecsTask{
		TaskArn: taskArn(id), ClusterArn: clusterArn(), TaskDefinitionArn: taskDefinitionArn(app, registered[app]),
		Group: "service:" + app, StartedBy: deploymentID(app, registered[app]), LaunchType: "FARGATE",
		AvailabilityZone: "eu-west-1a", LastStatus: "STOPPED", DesiredStatus: "STOPPED",
		StopCode: stopCode, StoppedReason: reason,
		CreatedAt: at(started.Add(-20 * time.Second)), StoppingAt: at(stopped.Add(-30 * time.Second)), StoppedAt: at(stopped),
		Containers: containers,
	}
	if stopCode != "TaskFailedToStart" {
		t.StartedAt = at(started)
	}
	return t
}

func exitCode(n int) *int { return &n }

// appLog is a log line from the app's own container in a task.
func appLog(app, taskID string, at time.Time, msg string) logEvent {
	return logEvent{Stream: app + "/" + app + "/" + taskID, At: at, Message: msg}
}

// world is the fake with every app healthy, then changed per scenario.
func world(f *fakeAWS, apps ...string) {
	for _, a := range apps {
		f.services[a] = []ecsService{healthy(a)}
		f.targets[targetGroupArns[a]] = healthyTargets()
		f.logs[logGroup(a)] = []logEvent{
			appLog(a, "7a6b5c4d3e2f10897a6b5c4d3e2f1089", deployStart.Add(2*time.Minute+5*time.Second),
				`{"time":"2026-11-29T06:02:05Z","level":"INFO","msg":"listening","addr":":8080"}`),
		}
	}
}

// The task ids of the orders tasks the failing scenarios stop.
const (
	taskA = "a1f3c9e07b2d4e6f8a0b1c2d3e4f5a6b"
	taskB = "b2e4d0f18c3e5f708b1c2d3e4f5a6b7c"
	taskC = "c3f5e1a29d4f60819c2d3e4f5a6b7c8d"
)

// rollbackAfterHealthChecks is orders while the circuit breaker rolls back
// a deployment whose tasks never passed the ALB health check: orders:8
// listens on :8081, the target group checks :8080.
func rollbackAfterHealthChecks(f *fakeAWS) {
	app := "orders"
	newID, oldID := deploymentID(app, 8), deploymentID(app, 7)
	tg := targetGroupArns[app]
	failedAt := deployStart.Add(9 * time.Minute)
	f.services[app] = []ecsService{service(app,
		[]ecsDeployment{
			deployment(app, 7, "PRIMARY", "IN_PROGRESS", fmt.Sprintf("ECS deployment %s in progress.", oldID), 2, deployStart.Add(-26*time.Hour)),
			func() ecsDeployment {
				d := deployment(app, 8, "ACTIVE", "FAILED", "ECS deployment circuit breaker: tasks failed to start.", 0, deployStart.Add(time.Minute))
				d.DesiredCount, d.FailedTasks = 0, 3
				return d
			}(),
		},
		[]ecsEvent{
			event(failedAt.Add(6*time.Second), "(service %s) rolling back to deployment %s.", app, oldID),
			event(failedAt.Add(5*time.Second), "(service %s) (deployment %s) deployment failed: tasks failed to start.", app, newID),
			event(failedAt, "(service %s) (task %s) (port 8080) is unhealthy in (target-group %s) due to (reason Health checks failed).", app, taskC, tg),
			event(deployStart.Add(7*time.Minute), "(service %s) has started 1 tasks: (task %s).", app, taskC),
			event(deployStart.Add(6*time.Minute+40*time.Second), "(service %s) has stopped 1 running tasks: (task %s).", app, taskB),
			event(deployStart.Add(6*time.Minute+30*time.Second), "(service %s) (task %s) (port 8080) is unhealthy in (target-group %s) due to (reason Health checks failed).", app, taskB, tg),
			event(deployStart.Add(5*time.Minute), "(service %s) has started 1 tasks: (task %s).", app, taskB),
			event(deployStart.Add(4*time.Minute+40*time.Second), "(service %s) has stopped 1 running tasks: (task %s).", app, taskA),
			event(deployStart.Add(4*time.Minute+30*time.Second), "(service %s) (task %s) (port 8080) is unhealthy in (target-group %s) due to (reason Health checks failed).", app, taskA, tg),
			event(deployStart.Add(2*time.Minute), "(service %s) registered 1 targets in (target-group %s)", app, tg),
			event(deployStart.Add(time.Minute+30*time.Second), "(service %s) has started 1 tasks: (task %s).", app, taskA),
			event(deployStart.Add(-25*time.Hour), "(service %s) has reached a steady state.", app),
		})}

	elbReason := fmt.Sprintf("Task failed ELB health checks in (target-group %s)", tg)
	sigterm := func() []ecsContainer {
		return []ecsContainer{{Name: app, ExitCode: exitCode(0)}, {Name: "ecs-service-connect-7Hq2", ExitCode: exitCode(0), Image: "public.ecr.aws/ecs/service-connect-agent:v1.29.6.0-1"}}
	}
	f.tasks = append(f.tasks,
		stoppedTask(app, taskA, deployStart.Add(time.Minute+30*time.Second), deployStart.Add(4*time.Minute+45*time.Second), "ServiceSchedulerInitiated", elbReason, sigterm()...),
		stoppedTask(app, taskB, deployStart.Add(5*time.Minute), deployStart.Add(6*time.Minute+45*time.Second), "ServiceSchedulerInitiated", elbReason, sigterm()...),
	)
	// The third task is still being stopped: desired STOPPED, not yet
	// stopped.
	c := stoppedTask(app, taskC, deployStart.Add(7*time.Minute), failedAt.Add(10*time.Second), "ServiceSchedulerInitiated", elbReason,
		ecsContainer{Name: app, LastStatus: "RUNNING"}, ecsContainer{Name: "ecs-service-connect-7Hq2", LastStatus: "RUNNING", Image: "public.ecr.aws/ecs/service-connect-agent:v1.29.6.0-1"})
	c.LastStatus, c.StoppingAt, c.StoppedAt = "DEACTIVATING", at(failedAt.Add(6*time.Second)), nil
	f.tasks = append(f.tasks, c)

	f.targets[tg] = []targetHealthDescription{
		target("10.0.1.23", "eu-west-1a", "healthy", "", ""),
		target("10.0.2.41", "eu-west-1b", "healthy", "", ""),
		target("10.0.1.87", "eu-west-1a", "unhealthy", "Target.FailedHealthChecks", "Health checks failed"),
	}

	var lines []logEvent
	for _, task := range []struct {
		id      string
		started time.Time
		stopped time.Time
	}{
		{taskA, deployStart.Add(time.Minute + 30*time.Second), deployStart.Add(4*time.Minute + 40*time.Second)},
		{taskB, deployStart.Add(5 * time.Minute), deployStart.Add(6*time.Minute + 40*time.Second)},
		{taskC, deployStart.Add(7 * time.Minute), failedAt.Add(6 * time.Second)},
	} {
		ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z") }
		up := task.started.Add(2 * time.Second)
		lines = append(lines,
			appLog(app, task.id, up, fmt.Sprintf(`{"time":"%s","level":"INFO","msg":"config loaded","port":8081}`, ts(up))),
			appLog(app, task.id, up.Add(40*time.Millisecond), fmt.Sprintf(`{"time":"%s","level":"INFO","msg":"listening","addr":":8081"}`, ts(up.Add(40*time.Millisecond)))),
			appLog(app, task.id, task.stopped, fmt.Sprintf(`{"time":"%s","level":"INFO","msg":"shutting down","signal":"terminated"}`, ts(task.stopped))),
		)
	}
	// The old version keeps serving, and the Service Connect proxy logs
	// to the same group under its own prefix.
	lines = append(lines,
		appLog(app, "9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a", deployStart.Add(8*time.Minute),
			`{"time":"2026-11-29T06:08:00.000Z","level":"INFO","msg":"request","method":"POST","path":"/api/orders","status":201,"duration_ms":14}`),
		logEvent{Stream: "service-connect/ecs-service-connect-7Hq2/" + taskC, At: failedAt,
			Message: "[2026-11-29 06:09:00.000][15][info][upstream] cds: added/updated 2 cluster(s)"},
	)
	f.logs[logGroup(app)] = lines
}

// rolledBackAfterPullFailure is orders after the circuit breaker rolled
// back a deployment whose image tag does not exist, and the rollback
// completed: the failed deployment is no longer listed.
func rolledBackAfterPullFailure(f *fakeAWS) {
	app := "orders"
	newID, oldID := deploymentID(app, 8), deploymentID(app, 7)
	done := deployStart.Add(6 * time.Minute)
	f.services[app] = []ecsService{service(app,
		[]ecsDeployment{deployment(app, 7, "PRIMARY", "COMPLETED", fmt.Sprintf("ECS deployment %s completed.", oldID), 2, deployStart.Add(-26*time.Hour))},
		[]ecsEvent{
			event(done.Add(30*time.Second), "(service %s) has reached a steady state.", app),
			event(done.Add(30*time.Second), "(service %s) (deployment %s) deployment completed.", app, oldID),
			event(done.Add(time.Second), "(service %s) rolling back to deployment %s.", app, oldID),
			event(done, "(service %s) (deployment %s) deployment failed: tasks failed to start.", app, newID),
			event(deployStart.Add(4*time.Minute), "(service %s) has started 1 tasks: (task %s).", app, taskC),
			event(deployStart.Add(2*time.Minute), "(service %s) has started 1 tasks: (task %s).", app, taskB),
			event(deployStart.Add(time.Minute), "(service %s) has started 1 tasks: (task %s).", app, taskA),
		})}
	image := fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/shop-dev-orders:4f2a9c1", account, region)
	reason := fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref %s: %s: not found", image, image)
	for i, id := range []string{taskA, taskB, taskC} {
		start := deployStart.Add(time.Duration(1+i*i+i) * time.Minute)
		f.tasks = append(f.tasks, stoppedTask(app, id, start, start.Add(50*time.Second), "TaskFailedToStart", reason,
			ecsContainer{Name: app, Reason: reason}))
	}
}

// secretUnreadable is a first deploy of orders whose execution role may not
// read the database secret: no completed deployment to roll back to, so
// the FAILED deployment stays primary.
func secretUnreadable(f *fakeAWS) {
	app := "orders"
	secret := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f9c2a71-8e4b-4d0a-9c1e-5b7f2d6a8e30-Ab12Cd"
	reason := "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: " +
		"unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret " + secret +
		" from secrets manager: operation error Secrets Manager: GetSecretValue, https response error StatusCode: 400, " +
		"RequestID: 2d8f7a3c-6b1e-4f0a-9c2d-7e5b3a1f8c4d, api error AccessDeniedException: User: " +
		"arn:aws:sts::123456789012:assumed-role/orders-execution-3c1f9e2/7c1f0e9d2b3a4c5d6e7f8a9b0c1d2e3f is not authorized to perform: " +
		"secretsmanager:GetSecretValue on resource: " + secret + " because no identity-based policy allows the secretsmanager:GetSecretValue action"
	d := deployment(app, 8, "PRIMARY", "FAILED", "ECS deployment circuit breaker: tasks failed to start.", 0, deployStart.Add(time.Minute))
	d.FailedTasks = 3
	f.services[app] = []ecsService{service(app, []ecsDeployment{d},
		[]ecsEvent{
			event(deployStart.Add(6*time.Minute), "(service %s) (deployment %s) deployment failed: tasks failed to start.", app, d.ID),
			event(deployStart.Add(4*time.Minute), "(service %s) has started 2 tasks: (task %s) (task %s).", app, taskB, taskC),
			event(deployStart.Add(time.Minute), "(service %s) has started 2 tasks: (task %s) (task %s).", app, taskA, "d4a6f2b30e5a7192ad3e4f5a6b7c8d9e"),
		})}
	for i, id := range []string{taskA, taskB, taskC} {
		start := deployStart.Add(time.Duration(1+i) * time.Minute)
		f.tasks = append(f.tasks, stoppedTask(app, id, start, start.Add(40*time.Second), "TaskFailedToStart", reason,
			ecsContainer{Name: app}))
	}
	f.targets[targetGroupArns[app]] = []targetHealthDescription{}
	f.logs[logGroup(app)] = nil
}

// inProgress is orders mid-rollout: one new task running, one registering,
// the old deployment still serving.
func inProgress(app string) ecsService {
	newID := deploymentID(app, registered[app])
	d := deployment(app, registered[app], "PRIMARY", "IN_PROGRESS", fmt.Sprintf("ECS deployment %s in progress.", newID), 1, deployStart.Add(time.Minute))
	return service(app,
		[]ecsDeployment{d, deployment(app, previous(app), "ACTIVE", "COMPLETED", "", 2, deployStart.Add(-26*time.Hour))},
		[]ecsEvent{event(deployStart.Add(2*time.Minute), "(service %s) has started 2 tasks: (task %s) (task %s).", app, taskA, taskB)})
}

func containsAll(s string, parts ...string) []string {
	var missing []string
	for _, p := range parts {
		if !strings.Contains(s, p) {
			missing = append(missing, p)
		}
	}
	return missing
}
