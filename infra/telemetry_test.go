package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	platformconfig "github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/telemetry"
	"gopkg.in/yaml.v3"
)

// telemetered reports whether a scenario runs the collectors.
func (sc scenario) telemetered() bool { return sc.value("telemetry") == "enabled" }

// pinnedCollector is the ADOT image by a release tag: never latest, never
// a moving major tag.
var pinnedCollector = regexp.MustCompile(`^public\.ecr\.aws/aws-observability/aws-otel-collector:v[0-9]+\.[0-9]+\.[0-9]+$`)

// TestCollectorSidecar holds the collector's container definition to what
// the ADOT documentation for ECS Fargate describes ("Create ECS Task
// Definition for Fargate with ADOT Collector" and the Fargate sidecar
// CloudFormation template in aws-otel-collector: the image's /healthcheck
// as the health check, the apps depending on it with condition START) and
// to what the stack promises: the collector never stops the task, runs as
// non-root on a read-only root filesystem, logs to the service's group
// under its own prefix, and fits in the task beside the app.
func TestCollectorSidecar(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			all := containers(t, st, s.Name)
			app := all[0]
			if !sc.telemetered() {
				if len(all) != 1 || len(app.DependsOn) != 0 || app.CPU != 0 {
					t.Errorf("%s: got %d containers, dependsOn %v, cpu %d; want the app alone, as before telemetry",
						s.Name, len(all), app.DependsOn, app.CPU)
				}
				continue
			}
			if len(all) != 2 || all[1].Name != "aws-otel-collector" {
				t.Fatalf("%s: got %d containers, want the app and aws-otel-collector", s.Name, len(all))
			}
			c := all[1]
			if !pinnedCollector.MatchString(c.Image) {
				t.Errorf("%s: got collector image %q, want a pinned ADOT release", s.Name, c.Image)
			}
			if c.Essential || !app.Essential {
				t.Errorf("%s: got essential app %v, collector %v; want true, false", s.Name, app.Essential, c.Essential)
			}
			// awsvpc: the task's containers share one network namespace,
			// so the app reaches 127.0.0.1:4318 without a port mapping,
			// and nothing outside the task reaches the collector.
			if len(c.PortMappings) != 0 {
				t.Errorf("%s: got collector ports %+v, want none", s.Name, c.PortMappings)
			}
			if c.HealthCheck == nil || strings.Join(c.HealthCheck.Command, " ") != "CMD /healthcheck" {
				t.Errorf("%s: got collector health check %+v, want the image's /healthcheck", s.Name, c.HealthCheck)
			}
			// ContainerRestartPolicy (ECS API reference): restartAttemptPeriod
			// from 60 to 1800 seconds.
			if p := c.RestartPolicy; p == nil || !p.Enabled || p.RestartAttemptPeriod < 60 || p.RestartAttemptPeriod > 1800 {
				t.Errorf("%s: got restart policy %+v, want enabled with a period of 60..1800 s", s.Name, c.RestartPolicy)
			}
			if c.User != "4317:4317" || !c.ReadonlyRootFilesystem || c.Privileged {
				t.Errorf("%s: got user %q, read-only %v, privileged %v; want 4317:4317, true, false",
					s.Name, c.User, c.ReadonlyRootFilesystem, c.Privileged)
			}
			if got := c.LogConfiguration.Options; c.LogConfiguration.LogDriver != "awslogs" ||
				got["awslogs-group"] != app.LogConfiguration.Options["awslogs-group"] || got["awslogs-stream-prefix"] != "aws-otel-collector" {
				t.Errorf("%s: got collector logging %+v, want awslogs to the service's group under aws-otel-collector", s.Name, c.LogConfiguration)
			}
			if want := []dependency{{ContainerName: "aws-otel-collector", Condition: "START"}}; !slices.Equal(app.DependsOn, want) {
				t.Errorf("%s: got app dependsOn %+v, want %+v", s.Name, app.DependsOn, want)
			}
			// The app gets every CPU unit the collector does not; the
			// collector's hard limit leaves the app at least 256 MiB.
			task := st.one(t, "aws:ecs/taskDefinition:TaskDefinition", s.Name)
			cpu, _ := strconv.Atoi(fmt.Sprint(task.Inputs["cpu"]))
			mem, _ := strconv.Atoi(fmt.Sprint(task.Inputs["memory"]))
			if c.CPU <= 0 || app.CPU+c.CPU != cpu {
				t.Errorf("%s: got CPU app %d + collector %d, want the task's %d", s.Name, app.CPU, c.CPU, cpu)
			}
			if c.MemoryReservation <= 0 || c.MemoryReservation > c.Memory || mem-c.Memory < 256 {
				t.Errorf("%s: got collector memory %d reserved, %d limit of %d, want reserve <= limit and 256 MiB left for the app",
					s.Name, c.MemoryReservation, c.Memory, mem)
			}

			conf := parsedCollectorConfig(t, c)
			checkCollectorConfig(t, sc, s.Name, conf, c.Memory)
		}
	})
}

func parsedCollectorConfig(t *testing.T, c containerDefinition) map[string]any {
	t.Helper()
	if envMap(c)["AOT_CONFIG_CONTENT"] == "" || len(c.Environment) != 1 {
		t.Fatalf("got collector environment %v, want only AOT_CONFIG_CONTENT", c.Environment)
	}
	var conf map[string]any
	if err := yaml.Unmarshal([]byte(envMap(c)["AOT_CONFIG_CONTENT"]), &conf); err != nil {
		t.Fatalf("AOT_CONFIG_CONTENT is not YAML: %v", err)
	}
	return conf
}

// checkCollectorConfig: OTLP over HTTP on the loopback only (no gRPC),
// memory_limiter first in every pipeline (its README: the best practice is
// to add it as the first processor), batches, traces to awsxray and metrics to awsemf into
// the stack's namespace and EMF log group without dimension rollups.
func checkCollectorConfig(t *testing.T, sc scenario, service string, conf map[string]any, memoryLimit int) {
	t.Helper()
	if got := fmt.Sprint(dig(conf, "receivers")); got != "map[otlp:map[protocols:map[http:map[endpoint:127.0.0.1:4318]]]]" {
		t.Errorf("%s: got receivers %s, want OTLP/HTTP on 127.0.0.1:4318 only", service, got)
	}
	if got := dig(conf, "extensions", "health_check", "endpoint"); got != "127.0.0.1:13133" {
		t.Errorf("%s: got health_check on %v, want 127.0.0.1:13133, where /healthcheck asks", service, got)
	}
	limit, _ := number(dig(conf, "processors", "memory_limiter", "limit_mib"))
	// memory_limiter README: the process uses about 50 MiB more than
	// limit_mib.
	if limit <= 0 || int(limit)+50 >= memoryLimit {
		t.Errorf("%s: got memory_limiter limit_mib %v under a %d MiB container, want limit + 50 below it", service, limit, memoryLimit)
	}
	want := map[string]string{
		"traces":  "[otlp] [memory_limiter batch/traces] [awsxray]",
		"metrics": "[otlp] [memory_limiter filter/metrics batch/metrics] [awsemf]",
	}
	pipelines := asMap(dig(conf, "service", "pipelines"))
	if len(pipelines) != len(want) {
		t.Errorf("%s: got pipelines %v, want traces and metrics", service, pipelines)
	}
	for name, w := range want {
		p := dig(pipelines, name)
		if got := fmt.Sprint(dig(p, "receivers"), " ", dig(p, "processors"), " ", dig(p, "exporters")); got != w {
			t.Errorf("%s: pipeline %s: got %s, want %s", service, name, got, w)
		}
	}
	emf := asMap(dig(conf, "exporters", "awsemf"))
	if emf["namespace"] != "shop/"+sc.stack || emf["log_group_name"] != "/shop/"+sc.stack+"/telemetry/metrics" ||
		emf["log_stream_name"] != service || emf["dimension_rollup_option"] != "NoDimensionRollup" {
		t.Errorf("%s: got awsemf %v, want namespace shop/%s into /shop/%s/telemetry/metrics, stream %s, no rollup",
			service, emf, sc.stack, sc.stack, service)
	}
	if emf["region"] != sc.config["aws:region"] || dig(conf, "exporters", "awsxray", "region") != sc.config["aws:region"] {
		t.Errorf("%s: got exporter regions %v, %v, want %s", service, emf["region"], dig(conf, "exporters", "awsxray", "region"), sc.config["aws:region"])
	}
}

// TestMetricDeclarationsAreDeliberate counts, by hand, the custom metrics
// the collector may create: CloudWatch bills every metric name and set of
// dimension values ("Metrics" on the CloudWatch pricing page). Only the
// shop's counters, each value named: shop.orders by 3 outcomes,
// shop.reconciler.settlements by 2, shop.reservations.expired alone.
func TestMetricDeclarationsAreDeliberate(t *testing.T) {
	sc := findScenario(t, "telemetry", scenario.telemetered)
	st := sc.run(t)
	conf := parsedCollectorConfig(t, containers(t, st, "orders")[1])
	want := map[string]int{"shop.orders": 3, "shop.reconciler.settlements": 2, "shop.reservations.expired": 1}
	got := map[string]int{}
	for _, d := range asSlice(dig(conf, "exporters", "awsemf", "metric_declarations")) {
		sets := asSlice(dig(d, "dimensions"))
		if len(sets) != 1 {
			t.Errorf("declaration %v: got %d dimension sets, want one", d, len(sets))
		}
		values := 1
		for _, m := range asSlice(dig(d, "label_matchers")) {
			values *= strings.Count(fmt.Sprint(dig(m, "regex")), "|") + 1
		}
		for _, sel := range asStrings(dig(d, "metric_name_selectors")) {
			name := strings.ReplaceAll(strings.Trim(sel, "^$"), `\.`, ".")
			got[name] += values
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got metrics %v, want %v", got, want)
	}
	// The filter keeps exactly the declared names, so no other metric is
	// ingested into the EMF log.
	wantFilter := `not (metric.name == "shop.orders" or metric.name == "shop.reconciler.settlements" or metric.name == "shop.reservations.expired")`
	if got := fmt.Sprint(dig(conf, "processors", "filter/metrics", "metric_conditions", "0")); got != wantFilter {
		t.Errorf("got filter %s, want %s", got, wantFilter)
	}
	n, err := func() (float64, error) { _, n, err := emfMetricCount(conf); return n, err }()
	if err != nil || n != 6 {
		t.Errorf("emfMetricCount: got %v, %v; want 6", n, err)
	}
}

func TestEMFMetricCountRefusesWhatItCannotCount(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"exporters": map[string]any{"awsemf": map[string]any{
			"namespace": "shop/dev", "dimension_rollup_option": "NoDimensionRollup",
			"metric_declarations": []any{map[string]any{
				"dimensions":            []any{[]any{"outcome"}},
				"metric_name_selectors": []any{`^shop\.orders$`},
				"label_matchers":        []any{map[string]any{"label_names": []any{"outcome"}, "regex": "^(confirmed|cancelled|failed)$"}},
			}},
		}}}
	}
	if _, n, err := emfMetricCount(base()); err != nil || n != 3 {
		t.Fatalf("got %v, %v; want 3 (a shared prefix in the alternation still counts three)", n, err)
	}
	cases := map[string]func(map[string]any){
		"rollup": func(c map[string]any) {
			dig(c, "exporters", "awsemf").(map[string]any)["dimension_rollup_option"] = "ZeroAndSingleDimensionRollup"
		},
		"unbounded dimension": func(c map[string]any) {
			delete(dig(c, "exporters", "awsemf", "metric_declarations", "0").(map[string]any), "label_matchers")
		},
		"open selector": func(c map[string]any) {
			dig(c, "exporters", "awsemf", "metric_declarations", "0").(map[string]any)["metric_name_selectors"] = []any{`^shop\..*$`}
		},
		"unanchored regex": func(c map[string]any) {
			dig(c, "exporters", "awsemf", "metric_declarations", "0", "label_matchers", "0").(map[string]any)["regex"] = "confirmed|failed"
		},
	}
	for name, mutate := range cases {
		c := base()
		mutate(c)
		if _, n, err := emfMetricCount(c); err == nil {
			t.Errorf("%s: got %v metrics and no error, want it refused", name, n)
		}
	}
}

// TestDashboardBody parses the body the way CloudWatch's "Dashboard Body
// Structure and Syntax" (CloudWatch API reference) defines it: a widgets
// array on a 24-column grid, metric widgets with a region and metrics
// arrays of [namespace, name, dimension name, value, ..., {options}] or
// [{expression, id}]. Every metric must be one AWS publishes for a
// resource this program created (AWS/ApplicationELB: "CloudWatch metrics
// for your Application Load Balancer"; AWS/ECS: "Amazon ECS CloudWatch
// metrics"; ECS/ContainerInsights only with Container Insights on) or one
// of the collector's declared metrics in the stack's namespace.
func TestDashboardBody(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		boards := st.ofType("aws:cloudwatch/dashboard:Dashboard")
		if sc.scope().flag("dashboard") != (len(boards) == 1) {
			t.Fatalf("got %d dashboards, want one exactly when dashboard is true (%v)", len(boards), sc.scope().flag("dashboard"))
		}
		if len(boards) == 0 {
			return
		}
		board := boards[0]
		if got := board.Inputs["dashboardName"]; got != "shop-"+sc.stack {
			t.Errorf("got dashboard name %v, want shop-%s", got, sc.stack)
		}
		var body struct {
			Widgets []struct {
				Type                string
				X, Y, Width, Height *int
				Properties          map[string]any
			}
		}
		if err := json.Unmarshal([]byte(fmt.Sprint(board.Inputs["dashboardBody"])), &body); err != nil {
			t.Fatalf("dashboard body is not JSON: %v", err)
		}
		alb := fmt.Sprint(st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer").Outputs["arnSuffix"])
		cluster := fmt.Sprint(st.one(t, "aws:ecs/cluster:Cluster", "cluster").Outputs["name"])
		targetGroups, ecsServices := map[string]string{}, map[string]string{}
		for _, s := range routing.Services {
			targetGroups[fmt.Sprint(st.one(t, "aws:lb/targetGroup:TargetGroup", s.Name).Outputs["arnSuffix"])] = s.Name
			ecsServices[fmt.Sprint(st.one(t, "aws:ecs/service:Service", s.Name).Outputs["name"])] = s.Name
		}
		declared := map[string][]string{} // metric name: its dimension names
		for _, d := range metricDeclarations {
			for _, n := range d.Names {
				declared[n] = d.Dimension
			}
		}
		insights := sc.value("containerInsights") != "disabled"
		seen := map[string]bool{}
		for i, w := range body.Widgets {
			if w.X == nil || w.Y == nil || w.Width == nil || w.Height == nil {
				t.Errorf("widget %d: got x/y/width/height %v/%v/%v/%v, want all set", i, w.X, w.Y, w.Width, w.Height)
				continue
			}
			if *w.X < 0 || *w.Y < 0 || *w.Width < 1 || *w.X+*w.Width > 24 || *w.Height < 1 || *w.Height > 1000 {
				t.Errorf("widget %d: at %d,%d size %dx%d, off the 24-column grid", i, *w.X, *w.Y, *w.Width, *w.Height)
			}
			switch w.Type {
			case "text":
				if fmt.Sprint(w.Properties["markdown"]) == "" {
					t.Errorf("widget %d: text without markdown", i)
				}
				continue
			case "metric":
			default:
				t.Errorf("widget %d: got type %q, want metric or text", i, w.Type)
				continue
			}
			if w.Properties["region"] != sc.config["aws:region"] {
				t.Errorf("widget %d: got region %v, want %s", i, w.Properties["region"], sc.config["aws:region"])
			}
			ids := map[string]bool{}
			lines := asSlice(w.Properties["metrics"])
			if len(lines) == 0 {
				t.Errorf("widget %d (%v): no metrics", i, w.Properties["title"])
			}
			for _, raw := range lines {
				line := asSlice(raw)
				if len(line) == 1 {
					expr := fmt.Sprint(dig(line[0], "expression"))
					for _, ref := range regexp.MustCompile(`[a-z][a-zA-Z0-9_]*`).FindAllString(expr, -1) {
						if !ids[ref] {
							t.Errorf("widget %d: expression %q uses %s, no metric of the widget has that id", i, expr, ref)
						}
					}
					continue
				}
				if opts, ok := line[len(line)-1].(map[string]any); ok {
					line = line[:len(line)-1]
					if id, ok := opts["id"].(string); ok {
						ids[id] = true
					}
				}
				if len(line) < 2 || len(line)%2 != 0 {
					t.Errorf("widget %d: metric %v, want namespace, name and dimension pairs", i, raw)
					continue
				}
				ns, name := fmt.Sprint(line[0]), fmt.Sprint(line[1])
				dims := map[string]string{}
				var dimNames []string
				for j := 2; j < len(line); j += 2 {
					dims[fmt.Sprint(line[j])] = fmt.Sprint(line[j+1])
					dimNames = append(dimNames, fmt.Sprint(line[j]))
				}
				switch ns {
				case "AWS/ApplicationELB":
					owner, ok := targetGroups[dims["TargetGroup"]]
					if !slices.Contains([]string{"RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime", "HealthyHostCount"}, name) ||
						dims["LoadBalancer"] != alb || !ok || len(dims) != 2 {
						t.Errorf("widget %d: %v is not an ALB target group metric of this stack", i, raw)
					}
					seen["alb "+owner+" "+name] = true
				case "AWS/ECS", "ECS/ContainerInsights":
					owner, ok := ecsServices[dims["ServiceName"]]
					valid := map[string][]string{"AWS/ECS": {"CPUUtilization", "MemoryUtilization"}, "ECS/ContainerInsights": {"RunningTaskCount"}}[ns]
					if !slices.Contains(valid, name) || dims["ClusterName"] != cluster || !ok || len(dims) != 2 {
						t.Errorf("widget %d: %v is not a service metric of this stack's cluster", i, raw)
					}
					if ns == "ECS/ContainerInsights" && !insights {
						t.Errorf("widget %d: %v needs Container Insights, which is %s", i, raw, sc.value("containerInsights"))
					}
					seen["ecs "+owner+" "+name] = true
				case "shop/" + sc.stack:
					want, ok := declared[name]
					if !sc.telemetered() || !ok || !slices.Equal(dimNames, want) {
						t.Errorf("widget %d: %v is not a declared metric (telemetry %v)", i, raw, sc.telemetered())
					}
					seen["emf "+name] = true
				default:
					t.Errorf("widget %d: namespace %q: not one this stack publishes to", i, ns)
				}
			}
		}
		for _, s := range routing.Services {
			want := []string{"alb " + s.Name + " RequestCount", "alb " + s.Name + " HTTPCode_Target_5XX_Count",
				"alb " + s.Name + " TargetResponseTime", "ecs " + s.Name + " CPUUtilization", "ecs " + s.Name + " MemoryUtilization"}
			if insights {
				want = append(want, "ecs "+s.Name+" RunningTaskCount")
			} else {
				want = append(want, "alb "+s.Name+" HealthyHostCount")
			}
			for _, w := range want {
				if !seen[w] {
					t.Errorf("%s: no %s on the dashboard", s.Name, w)
				}
			}
		}
		for name := range declared {
			if seen["emf "+name] != sc.telemetered() {
				t.Errorf("%s on the dashboard: %v, want %v (telemetry)", name, seen["emf "+name], sc.telemetered())
			}
		}
	})
}

// TestServiceAlarms: each service has the 5xx alarm ECS reads during
// deployments and a p99 latency alarm on the ALB's TargetResponseTime (in
// seconds: "CloudWatch metrics for your Application Load Balancer"). The
// deployment alarms are the 5xx alarm alone: a slow first minute of new
// tasks is no reason to roll back.
func TestServiceAlarms(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		alb := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer").Outputs["arnSuffix"]
		ms, _ := strconv.Atoi(sc.value("p99LatencyAlarmMs"))
		for _, s := range routing.Services {
			tg := st.one(t, "aws:lb/targetGroup:TargetGroup", s.Name).Outputs["arnSuffix"]
			p99 := st.one(t, "aws:cloudwatch/metricAlarm:MetricAlarm", s.Name+"-p99")
			errors := st.one(t, "aws:cloudwatch/metricAlarm:MetricAlarm", s.Name+"-5xx")
			for _, a := range []recorded{p99, errors} {
				if dig(a.Inputs, "dimensions", "LoadBalancer") != alb || dig(a.Inputs, "dimensions", "TargetGroup") != tg ||
					a.Inputs["namespace"] != "AWS/ApplicationELB" || a.Inputs["treatMissingData"] != "notBreaching" {
					t.Errorf("%s: got %v on %v, want the service's target group, missing data not breaching", a.Name, a.Inputs["metricName"], a.Inputs["dimensions"])
				}
			}
			if p99.Inputs["metricName"] != "TargetResponseTime" || p99.Inputs["extendedStatistic"] != "p99" ||
				num(p99.Inputs["threshold"]) != float64(ms)/1000 || p99.Inputs["comparisonOperator"] != "GreaterThanThreshold" ||
				num(p99.Inputs["period"]) != 60 || num(p99.Inputs["datapointsToAlarm"]) > num(p99.Inputs["evaluationPeriods"]) {
				t.Errorf("%s: got %v %v > %v every %v s, want TargetResponseTime p99 > %v s", p99.Name, p99.Inputs["metricName"],
					p99.Inputs["extendedStatistic"], p99.Inputs["threshold"], p99.Inputs["period"], float64(ms)/1000)
			}
			svc := st.one(t, "aws:ecs/service:Service", s.Name)
			if got := fmt.Sprint(dig(svc.Inputs, "alarms", "alarmNames")); got != fmt.Sprintf("[%v]", errors.Outputs["name"]) {
				t.Errorf("%s: got deployment alarms %s, want the 5xx alarm alone", s.Name, got)
			}
		}
	})
}

// TestEveryTaskSizeFitsTheCollector: no Fargate size is too small for the
// app beside the collector, so telemetry never forces a bigger task.
func TestEveryTaskSizeFitsTheCollector(t *testing.T) {
	for cpu, mems := range fargateSizes {
		if cpu-collectorCPU < appMinCPU || slices.Min(mems)-collectorMemoryMiB < appMinMemoryMiB {
			t.Errorf("%d/%d: leaves the app %d CPU units and %d MiB, want >= %d and %d",
				cpu, slices.Min(mems), cpu-collectorCPU, slices.Min(mems)-collectorMemoryMiB, appMinCPU, appMinMemoryMiB)
		}
	}
}

func TestTelemetrySettingsAreValidated(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	cases := []settingCase{
		{"telemetry on", map[string]string{"shop:telemetry": "enabled"}, ""},
		{"telemetry as a boolean", map[string]string{"shop:telemetry": "true"}, "telemetry"},
		{"telemetry capitalised", map[string]string{"shop:telemetry": "Enabled"}, "telemetry"},
		{"every trace", map[string]string{"shop:traceSampleRatio": "1"}, ""},
		{"no new traces", map[string]string{"shop:traceSampleRatio": "0"}, ""},
		{"a percentage", map[string]string{"shop:traceSampleRatio": "10"}, "traceSampleRatio"},
		{"negative ratio", map[string]string{"shop:traceSampleRatio": "-0.1"}, "traceSampleRatio"},
		{"ratio as a word", map[string]string{"shop:traceSampleRatio": "tenth"}, "traceSampleRatio"},
		{"ratio NaN", map[string]string{"shop:traceSampleRatio": "NaN"}, "traceSampleRatio"},
		{"p99 alarm at 250 ms", map[string]string{"shop:p99LatencyAlarmMs": "250"}, ""},
		{"p99 alarm at 0", map[string]string{"shop:p99LatencyAlarmMs": "0"}, "p99LatencyAlarmMs"},
		{"p99 alarm in seconds", map[string]string{"shop:p99LatencyAlarmMs": "1.5"}, "p99LatencyAlarmMs"},
		{"dashboard as a word", map[string]string{"shop:dashboard": "on"}, "dashboard"},
	}
	checkSettings(t, dev, cases)
}

// TestTelemetryCostLines prices, by hand, what telemetry and the dashboard
// add: X-Ray at 5 USD a million traces recorded, tracedRequests x the
// stack's ratio ("AWS X-Ray pricing"); 0.30 USD a custom metric, six
// declared; the EMF log like any log; 3 USD the dashboard. Dev, without
// either, has none of these lines.
func TestTelemetryCostLines(t *testing.T) {
	prices, err := loadPrices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	sc := findScenario(t, "telemetry and dashboard", func(sc scenario) bool { return sc.name == "dev+telemetry+dashboard" })
	est, err := estimateCost(sc.run(t), prices, defaultAssumptions())
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, est, []wantLine{
		{"telemetry", "X-Ray traces recorded",
			"5 USD/million traces x 1000000 requests/month (tracedRequests) x 0.25 sampled (traceSampleRatio) / 1,000,000 = 1.25", 1.25},
		{"telemetry", "CloudWatch custom metrics (EMF, shop/dev)", "", 1.80},
		{"telemetry", "Log ingestion /shop/dev/telemetry/metrics", "", 0.08},
		{"dashboard", "CloudWatch dashboard shop-dev", "3 USD/dashboard-month x 1 dashboard = 3.00", 3.00},
		{"service:orders", "Sidecars inside the task size", "", 0},
		{"service:orders", "CloudWatch alarm orders-p99 (standard)", "", 0.10},
	})

	dev, err := estimateCost(scenarios(t)[0].run(t), prices, defaultAssumptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range dev.Lines {
		if l.Component == "telemetry" || l.Component == "dashboard" || strings.HasPrefix(l.Item, "Sidecars") {
			t.Errorf("dev: got %s / %s, want no telemetry or dashboard line", l.Component, l.Item)
		}
	}
	if d := cents(est.Total - dev.Total); d != cents(1.25+1.80+0.08+3.00) {
		t.Errorf("got %.2f more with telemetry and the dashboard, want the four lines' %.2f", d, 1.25+1.80+0.08+3.00)
	}
}

// TestServicesReadTheTelemetryEnvironment hands each app container's
// environment to the parser the services themselves run at start
// (platform/telemetry.FromEnv): a variable they would refuse, or read
// differently from what the sidecar expects, fails here, not in a task.
func TestServicesReadTheTelemetryEnvironment(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			env := envMap(containers(t, st, s.Name)[0])
			e := platformconfig.New(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			got := telemetry.FromEnv(e, s.Name)
			if err := e.Err(); err != nil {
				t.Fatalf("%s: the service would refuse its environment: %v", s.Name, err)
			}
			if !sc.telemetered() {
				if got.Enabled() {
					t.Errorf("%s: telemetry off, but the service would export to %+v", s.Name, got)
				}
				continue
			}
			want := fmt.Sprintf("http://127.0.0.1:%d/v1/traces", otlpHTTPPort)
			if got.TracesURL != want || got.ServiceName != s.Name || got.Sampler != telemetry.ParentBasedTraceIDRatio {
				t.Errorf("%s: the service would read %+v, want traces to %s as %s, parent-based ratio", s.Name, got, want, s.Name)
			}
		}
	})
}
