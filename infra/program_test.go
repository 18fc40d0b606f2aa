package main

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server"
)

// scenario is one stack configuration the whole program is run with, and what
// the resources must then look like.
type scenario struct {
	name   string
	stack  string
	config map[string]string
	// Expectations that depend on the configuration.
	https        bool
	nat          string
	zones        int
	spot         bool
	production   bool // deletion protection, Multi-AZ, final snapshot
	exec         bool
	minBackups   int
	cpu, memory  string
	cpuArch      string
	forceDestroy bool
	demoData     bool // catalog loads the demo products
}

// scenarios are the dev stack file, the documented production example and
// the dev stack with one switch flipped at a time. Dev runs a NAT instance,
// arm64 and all Spot; the variants bring back what dev gives up: NAT
// gateways (one per zone, or a single one with x86 tasks), on-demand
// capacity with autoscaling, Container Insights, every flow logged each
// minute.
func scenarios(t *testing.T) []scenario {
	t.Helper()
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	prod := stackConfig(t, "../docs/Pulumi.prod.example.yaml")
	base := scenario{
		name: "dev", stack: "dev", config: dev,
		nat: "Instance", zones: 2, spot: true, minBackups: 1, cpu: "256", memory: "512", cpuArch: "ARM64",
		forceDestroy: true, demoData: true,
	}
	natPerAZ := base
	natPerAZ.name, natPerAZ.config, natPerAZ.nat = "dev+natPerAz", with(dev, map[string]string{"shop:natGateways": "OnePerAz"}), "OnePerAz"
	natSingle := base
	natSingle.name, natSingle.nat, natSingle.cpuArch = "dev+natSingle+x86", "Single", "X86_64"
	natSingle.config = with(dev, map[string]string{"shop:natGateways": "Single", "shop:platform": "linux/amd64"})
	https := base
	https.name, https.https = "dev+https", true
	https.config = with(dev, map[string]string{"shop:certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/dev"})
	onDemand := base
	onDemand.name, onDemand.spot = "dev+onDemand+autoscaling", false
	onDemand.config = with(dev, map[string]string{"shop:fargateWeight": "1", "shop:fargateSpotWeight": "0", "shop:maxTasks": "2"})
	exec := base
	exec.name, exec.exec = "dev+exec", true
	exec.config = with(dev, map[string]string{"shop:enableExecuteCommand": "true"})
	insights := base
	insights.name = "dev+insights"
	insights.config = with(dev, map[string]string{"shop:containerInsights": "enhanced"})
	// Dev stops its services outside working hours; this runs them all
	// the time, as production does.
	alwaysOn := base
	alwaysOn.name = "dev+alwaysOn"
	alwaysOn.config = with(dev, map[string]string{"shop:activeHours": ""})
	allFlows := base
	allFlows.name = "dev+allFlows"
	allFlows.config = with(dev, map[string]string{"shop:flowLogTrafficType": "ALL", "shop:flowLogAggregationSeconds": "60"})
	// Dev gives up telemetry and the dashboard; this brings both back, at
	// a sample ratio of its own.
	observed := base
	observed.name = "dev+telemetry+dashboard"
	observed.config = with(dev, map[string]string{
		"shop:telemetry": "enabled", "shop:dashboard": "true", "shop:traceSampleRatio": "0.25",
	})
	production := scenario{
		name: "prod", stack: "prod", config: prod,
		https: true, nat: "OnePerAz", zones: 3, spot: true, production: true, minBackups: 7,
		cpu: "512", memory: "1024", cpuArch: "X86_64",
	}
	return []scenario{base, natPerAZ, natSingle, https, onDemand, exec, insights, allFlows, observed, alwaysOn, production}
}

// value is the effective value of a project config key in this scenario.
func (sc scenario) value(key string) string { return sc.scope().value(key) }

// runs caches one program run per scenario: the whole program runs once per
// configuration and every test inspects the same result.
var runs sync.Map

func (sc scenario) run(t *testing.T) *stack {
	t.Helper()
	type result struct {
		st  *stack
		err error
	}
	v, _ := runs.LoadOrStore(sc.name, sync.OnceValue(func() result {
		st, err := runProgram(routing.Services, sc.stack, sc.config)
		return result{st, err}
	}))
	r := v.(func() result)()
	if r.err != nil {
		t.Fatalf("%s: program failed: %v", sc.name, r.err)
	}
	return r.st
}

// shopServices are the shop's own services from the declaration: what the
// tests that hold fixed numbers (resource counts, dev's $60) run, so a team
// that adds a service (make new-service) keeps them meaningful.
func shopServices(t *testing.T) []routing.Service {
	t.Helper()
	var out []routing.Service
	for _, s := range routing.Services {
		if slices.Contains([]string{"catalog", "orders", "web", "shipping"}, s.Name) {
			out = append(out, s)
		}
	}
	if len(out) != 4 {
		t.Fatalf("got %d of the shop's services (catalog, orders, web, shipping) in the declaration, want 4", len(out))
	}
	return out
}

// findScenario returns the first scenario match accepts, failing the test
// when there is none.
func findScenario(t *testing.T, what string, match func(scenario) bool) scenario {
	t.Helper()
	for _, sc := range scenarios(t) {
		if match(sc) {
			return sc
		}
	}
	t.Fatalf("no scenario with %s", what)
	return scenario{}
}

// forEach runs check as a subtest for every scenario.
func forEach(t *testing.T, check func(t *testing.T, sc scenario, st *stack)) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			check(t, sc, sc.run(t))
		})
	}
}

func secretMap(c containerDefinition) map[string]string {
	out := map[string]string{}
	for _, s := range c.Secrets {
		out[s.Name] = s.ValueFrom
	}
	return out
}

// targetGroupOwner maps target group ARNs to the service they belong to.
func targetGroupOwner(st *stack) map[string]string {
	out := map[string]string{}
	for _, tg := range st.ofType("aws:lb/targetGroup:TargetGroup") {
		out[fmt.Sprint(tg.Outputs["arn"])] = tg.Name
	}
	return out
}

// routesListener is the listener that carries the forwarding rules: HTTPS
// when a certificate is configured, HTTP otherwise.
func routesListener(t *testing.T, sc scenario, st *stack) recorded {
	t.Helper()
	if sc.https {
		return st.one(t, "aws:lb/listener:Listener", "loadbalancer-https")
	}
	return st.one(t, "aws:lb/listener:Listener", "loadbalancer-http")
}

// albRoute evaluates the recorded listener rules like the ALB does: rules in
// ascending priority, first path match wins, otherwise the default action.
// It returns the service a forward reaches, or "fixed:<status>".
func albRoute(t *testing.T, sc scenario, st *stack, path string) string {
	t.Helper()
	owners := targetGroupOwner(st)
	listener := routesListener(t, sc, st)
	var rules []recorded
	for _, r := range st.ofType("aws:lb/listenerRule:ListenerRule") {
		if r.Inputs["listenerArn"] == listener.Outputs["arn"] {
			rules = append(rules, r)
		}
	}
	sort.Slice(rules, func(i, j int) bool { return num(rules[i].Inputs["priority"]) < num(rules[j].Inputs["priority"]) })
	outcome := func(action any) string {
		if dig(action, "type") == "fixed-response" {
			return "fixed:" + fmt.Sprint(dig(action, "fixedResponse", "statusCode"))
		}
		return owners[fmt.Sprint(dig(action, "targetGroupArn"))]
	}
	for _, r := range rules {
		for _, pattern := range asStrings(dig(r.Inputs, "conditions", "0", "pathPattern", "values")) {
			if albMatch(pattern, path) {
				return outcome(dig(r.Inputs, "actions", "0"))
			}
		}
	}
	return outcome(dig(listener.Inputs, "defaultActions", "0"))
}

// albMatch is the ALB's path pattern match written independently of
// routing.Match, so a mistake there cannot hide here: case-sensitive, the
// whole path, '*' any run of characters, '?' exactly one.
func albMatch(pattern, path string) bool {
	var re strings.Builder
	re.WriteString("^")
	for _, c := range pattern {
		switch c {
		case '*':
			re.WriteString("(?s:.*)")
		case '?':
			re.WriteString("(?s:.)")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(path)
}

func TestRoutingMatchesDeclaration(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		owners := targetGroupOwner(st)
		listener := routesListener(t, sc, st)

		// One rule per declared path with the declared priority, forwarding
		// to the target group of the declared service.
		for _, want := range routing.Rules(routing.Services) {
			name := fmt.Sprintf("%s-%d", want.Service, want.Priority)
			rule := st.one(t, "aws:lb/listenerRule:ListenerRule", name)
			if got := num(rule.Inputs["priority"]); int(got) != want.Priority {
				t.Errorf("%s: got priority %v, want %d", name, got, want.Priority)
			}
			if got := asStrings(dig(rule.Inputs, "conditions", "0", "pathPattern", "values")); len(got) != 1 || got[0] != want.Pattern {
				t.Errorf("%s: got path patterns %v, want [%s]", name, got, want.Pattern)
			}
			if got := owners[fmt.Sprint(dig(rule.Inputs, "actions", "0", "targetGroupArn"))]; got != want.Service {
				t.Errorf("%s: forwards to %q, want %q", name, got, want.Service)
			}
			if got := rule.Inputs["listenerArn"]; got != listener.Outputs["arn"] {
				t.Errorf("%s: on listener %v, want %v", name, got, listener.Outputs["arn"])
			}
		}

		// The default action forwards to the default service.
		def, _ := routing.DefaultService(routing.Services)
		if got := owners[fmt.Sprint(dig(listener.Inputs, "defaultActions", "0", "targetGroupArn"))]; got != def.Name {
			t.Errorf("default action forwards to %q, want %q", got, def.Name)
		}

		// Nothing forwards /internal: no forward rule matches it and the
		// request ends in a fixed 404.
		for _, r := range st.ofType("aws:lb/listenerRule:ListenerRule") {
			if dig(r.Inputs, "actions", "0", "type") != "forward" {
				continue
			}
			for _, p := range asStrings(dig(r.Inputs, "conditions", "0", "pathPattern", "values")) {
				for _, internal := range []string{"/internal", "/internal/x", "/internal/orders/1"} {
					if routing.Match(p, internal) {
						t.Errorf("rule %s pattern %q forwards %s", r.Name, p, internal)
					}
				}
			}
		}

		// End to end: the ALB built from the recorded rules sends each
		// request where the shop needs it, written out here rather than
		// asked of the declaration under test.
		cases := []struct{ path, want string }{
			{"/", "web"},
			{"/products", "web"},
			{"/static/app.js", "web"},
			{"/api/catalog", "catalog"},
			{"/api/catalog/", "catalog"},
			{"/api/catalog/products/42", "catalog"},
			{"/api/catalogue", "web"},
			{"/API/catalog/products", "web"}, // case-sensitive
			{"/api/orders", "orders"},
			{"/api/orders/0b7c", "orders"},
			{"/api/ordersx", "web"},
			{"/api", "web"},
			{"/internal", "fixed:404"},
			{"/internal/reservations", "fixed:404"},
			{"/internal/x/y", "fixed:404"},
		}
		for _, c := range cases {
			if got := albRoute(t, sc, st, c.path); got != c.want {
				t.Errorf("GET %s: got %s, want %s", c.path, got, c.want)
			}
		}
	})
}

func TestDeclarationAndInfraAgree(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		perService := []struct {
			typ  string
			desc string
		}{
			{"aws:lb/targetGroup:TargetGroup", "target group"},
			{"aws:ecs/service:Service", "ECS service"},
			{"aws:ecs/taskDefinition:TaskDefinition", "task definition"},
			{"aws:ecr/repository:Repository", "ECR repository"},
			{"awsx:ecr:Image", "image"},
			{"aws:cloudwatch/logGroup:LogGroup", "log group"},
			{"aws:appautoscaling/target:Target", "scaling target"},
			{"shop:service:Service", "service component"},
		}
		for _, want := range perService {
			if want.typ == "aws:appautoscaling/target:Target" && sc.value("minTasks") == sc.value("maxTasks") {
				continue // nothing to scale; TestAutoscaling holds that none is made
			}
			var got []string
			for _, r := range st.ofType(want.typ) {
				// The flow log, RDS's own log groups and the EMF log group
				// belong to no service.
				if r.Name != "network-flow-logs" && !strings.HasPrefix(r.Name, "database-") && r.Name != "telemetry-metrics" {
					got = append(got, r.Name)
				}
			}
			var declared []string
			for _, s := range routing.Services {
				declared = append(declared, s.Name)
			}
			sort.Strings(declared)
			if strings.Join(got, ",") != strings.Join(declared, ",") {
				t.Errorf("%ss: got %v, want one per declared service %v", want.desc, got, declared)
			}
		}
		// One forwarding rule per declared path, and no other.
		var forwards int
		for _, r := range st.ofType("aws:lb/listenerRule:ListenerRule") {
			if dig(r.Inputs, "actions", "0", "type") == "forward" {
				forwards++
			}
		}
		if want := len(routing.Rules(routing.Services)); forwards != want {
			t.Errorf("got %d forwarding rules, want %d (one per declared path)", forwards, want)
		}
		// Each target group checks /livez, which every service answers
		// (httpapi.Health), on the declared port.
		for _, s := range routing.Services {
			tg := st.one(t, "aws:lb/targetGroup:TargetGroup", s.Name)
			if got := dig(tg.Inputs, "healthCheck", "path"); got != "/livez" {
				t.Errorf("%s: health check path %v, want /livez", s.Name, got)
			}
			if got := int(num(tg.Inputs["port"])); got != s.Port {
				t.Errorf("%s: target group port %d, want %d", s.Name, got, s.Port)
			}
			lbs := asSlice(st.one(t, "aws:ecs/service:Service", s.Name).Inputs["loadBalancers"])
			if len(lbs) != 1 || dig(lbs[0], "targetGroupArn") != tg.Outputs["arn"] || int(num(dig(lbs[0], "containerPort"))) != s.Port {
				t.Errorf("%s: ECS service load balancers %v, want its own target group on port %d", s.Name, lbs, s.Port)
			}
		}
	})
}

func TestBrokenDeclarationIsRejected(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	clone := func(edit func(s []routing.Service)) []routing.Service {
		out := make([]routing.Service, len(routing.Services))
		for i, s := range routing.Services {
			s.Paths = append([]string(nil), s.Paths...)
			s.Dependencies = append([]string(nil), s.Dependencies...)
			out[i] = s
		}
		edit(out)
		return out
	}
	cases := []struct {
		name     string
		services []routing.Service
		wantErr  string
	}{
		{"duplicate priority", clone(func(s []routing.Service) { s[1].Priority = s[0].Priority }), "clashes"},
		{"internal path", clone(func(s []routing.Service) { s[0].Paths = append(s[0].Paths, "/internal/*") }), "/internal"},
		{"no default", clone(func(s []routing.Service) { s[2].Default = false; s[2].Paths = []string{"/web"}; s[2].Priority = 300 }), "default"},
		{"undeclared dependency", clone(func(s []routing.Service) { s[1].Dependencies = []string{"payments"} }), "payments"},
		{"reserved priority", clone(func(s []routing.Service) { s[0].Priority = 1 }), "reserved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := runProgram(c.services, "dev", dev)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got error %v, want one mentioning %q", err, c.wantErr)
			}
			for _, r := range st.resources {
				if r.Type == "aws:ecs/service:Service" || r.Type == "aws:lb/listenerRule:ListenerRule" {
					t.Errorf("got %s %q created from a broken declaration", r.Type, r.Name)
				}
			}
		})
	}
}

func TestDeploySpeedSettings(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			tg := st.one(t, "aws:lb/targetGroup:TargetGroup", s.Name)
			hc := asMap(tg.Inputs["healthCheck"])
			checks := []struct {
				what    string
				got     float64
				ok      bool
				wantMsg string
			}{
				{"health check interval", num(hc["interval"]), num(hc["interval"]) >= 5 && num(hc["interval"]) <= 10, "5..10 s"},
				{"health check timeout", num(hc["timeout"]), num(hc["timeout"]) > 0 && num(hc["timeout"]) < num(hc["interval"]), "below the interval"},
				{"healthy threshold", num(hc["healthyThreshold"]), num(hc["healthyThreshold"]) == 2, "2"},
				// Short, since every task replacement waits for it (and
				// Fargate Spot needs it under two minutes: loadbalancer.go).
				{"deregistration delay", num(tg.Inputs["deregistrationDelay"]), num(tg.Inputs["deregistrationDelay"]) > 0 && num(tg.Inputs["deregistrationDelay"]) <= 15, "1..15 s"},
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("%s: got %s %v, want %s", s.Name, c.what, c.got, c.wantMsg)
				}
			}
			if got := tg.Inputs["targetType"]; got != "ip" {
				t.Errorf("%s: got target type %v, want ip", s.Name, got)
			}

			svc := st.one(t, "aws:ecs/service:Service", s.Name)
			if got := asMap(svc.Inputs["deploymentCircuitBreaker"]); got["enable"] != true || got["rollback"] != true {
				t.Errorf("%s: got circuit breaker %v, want enable and rollback", s.Name, got)
			}
			if got := num(svc.Inputs["deploymentMinimumHealthyPercent"]); got != 100 {
				t.Errorf("%s: got minimum healthy %v%%, want 100", s.Name, got)
			}
			if got := num(svc.Inputs["deploymentMaximumPercent"]); got != 200 {
				t.Errorf("%s: got maximum %v%%, want 200", s.Name, got)
			}
			if got := num(svc.Inputs["healthCheckGracePeriodSeconds"]); got <= 0 {
				t.Errorf("%s: got grace period %v, want > 0", s.Name, got)
			}
			// ECS deregisters a task and lets it drain before SIGTERM, so
			// the stop timeout is the app's own drain and release
			// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html).
			// Fargate accepts at most 120 s
			// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_timeout).
			c := container(t, st, s.Name)
			if want := server.StopTimeout; time.Duration(c.StopTimeout)*time.Second != want {
				t.Errorf("%s: got stopTimeout %d s, want server.StopTimeout (%s)", s.Name, c.StopTimeout, want)
			}
			if c.StopTimeout > 120 {
				t.Errorf("%s: got stopTimeout %d s, more than the 120 Fargate allows", s.Name, c.StopTimeout)
			}
			if want := []string{"CMD", "/usr/local/bin/" + s.Name, "healthcheck"}; strings.Join(c.HealthCheck.Command, " ") != strings.Join(want, " ") {
				t.Errorf("%s: got health check %v, want %v", s.Name, c.HealthCheck.Command, want)
			}
		}
	})
}

func TestServiceWiring(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		db := st.one(t, "aws:rds/instance:Instance", "database")
		dbSecret := fmt.Sprint(dig(db.Outputs, "masterUserSecrets", "0", "secretArn"))
		adminSecret := fmt.Sprint(st.one(t, "aws:secretsmanager/secret:Secret", "admin-token").Outputs["arn"])
		cluster := st.one(t, "aws:ecs/cluster:Cluster", "cluster")
		namespace := st.one(t, "aws:servicediscovery/httpNamespace:HttpNamespace", "cluster")

		for _, s := range routing.Services {
			c := container(t, st, s.Name)
			env, secrets := envMap(c), secretMap(c)

			want := map[string]string{"PORT": fmt.Sprint(s.Port), "LOG_LEVEL": sc.value("logLevel")}
			for _, d := range s.Dependencies {
				want[strings.ToUpper(d)+"_URL"] = "http://" + d + ":8080"
			}
			wantSecrets := map[string]string{}
			if s.Database {
				want["PGHOST"] = fmt.Sprint(db.Outputs["address"])
				want["PGPORT"] = "5432"
				want["PGDATABASE"] = "shop"
				want["PGUSER"] = "shop"
				want["PGSSLMODE"] = "require"
				// Read by the app on every new connection, never injected
				// at start: RDS rotates it.
				want["PGPASSWORD_SECRET_ARN"] = dbSecret
			}
			if s.Name == "catalog" {
				wantSecrets["ADMIN_TOKEN"] = adminSecret
				if sc.demoData {
					want["DEMO_DATA"] = "true"
				}
			}
			// Events: the publisher finds its topic's ARN, a consumer its
			// queue's URL, and both the region their SDK calls.
			for _, topic := range s.Publishes {
				want[routing.TopicEnv(topic)] = fmt.Sprint(st.one(t, "aws:sns/topic:Topic", topic).Outputs["arn"])
			}
			for _, topic := range s.Consumes {
				want[routing.QueueEnv(topic)] = fmt.Sprint(st.one(t, "aws:sqs/queue:Queue", s.Name+"-"+topic).Outputs["url"])
			}
			if len(s.Publishes)+len(s.Consumes) > 0 {
				want["AWS_REGION"] = sc.config["aws:region"]
			}
			// With telemetry the OpenTelemetry SDK's own variables send
			// OTLP over HTTP/protobuf to the collector in the task.
			if sc.value("telemetry") == "enabled" {
				want["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
				want["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
				want["OTEL_SERVICE_NAME"] = s.Name
				want["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment.name=" + sc.stack
				want["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
				want["OTEL_TRACES_SAMPLER_ARG"] = sc.value("traceSampleRatio")
				want["OTEL_METRIC_EXPORT_INTERVAL"] = "60000"
			}
			if fmt.Sprint(env) != fmt.Sprint(want) {
				t.Errorf("%s: got environment %v, want %v", s.Name, env, want)
			}
			if fmt.Sprint(secrets) != fmt.Sprint(wantSecrets) {
				t.Errorf("%s: got secrets %v, want %v", s.Name, secrets, wantSecrets)
			}
			if !strings.Contains(c.Image, "@sha256:") {
				t.Errorf("%s: got image %q, want a digest reference", s.Name, c.Image)
			}

			svc := st.one(t, "aws:ecs/service:Service", s.Name)
			if got := svc.Inputs["cluster"]; got != cluster.Outputs["arn"] {
				t.Errorf("%s: got cluster %v, want %v", s.Name, got, cluster.Outputs["arn"])
			}
			scc := asMap(svc.Inputs["serviceConnectConfiguration"])
			if scc["enabled"] != true || scc["namespace"] != namespace.Outputs["arn"] {
				t.Errorf("%s: got Service Connect %v, want enabled in the cluster namespace", s.Name, scc)
			}
			if got := dig(scc, "services", "0"); dig(got, "portName") != s.Name || dig(got, "discoveryName") != s.Name ||
				dig(got, "clientAlias", "0", "dnsName") != s.Name || num(dig(got, "clientAlias", "0", "port")) != float64(s.Port) {
				t.Errorf("%s: got Service Connect service %v, want %s:%d", s.Name, got, s.Name, s.Port)
			}
			if c.PortMappings[0].Name != s.Name {
				t.Errorf("%s: got port name %q, want the Service Connect port name %q", s.Name, c.PortMappings[0].Name, s.Name)
			}
			if svc.Inputs["propagateTags"] != "SERVICE" {
				t.Errorf("%s: got propagateTags %v, want SERVICE", s.Name, svc.Inputs["propagateTags"])
			}
			if got := svc.Inputs["enableExecuteCommand"]; got != sc.exec {
				t.Errorf("%s: got enableExecuteCommand %v, want %v", s.Name, got, sc.exec)
			}

			// Capacity: Spot only when switched on, the base always on-demand.
			var providers []string
			for _, p := range asSlice(svc.Inputs["capacityProviderStrategies"]) {
				providers = append(providers, fmt.Sprint(dig(p, "capacityProvider")))
				if dig(p, "capacityProvider") == "FARGATE_SPOT" && num(dig(p, "base")) != 0 {
					t.Errorf("%s: got Spot base %v, want 0", s.Name, dig(p, "base"))
				}
			}
			if got := strings.Contains(strings.Join(providers, ","), "FARGATE_SPOT"); got != sc.spot {
				t.Errorf("%s: got capacity providers %v, want Spot %v", s.Name, providers, sc.spot)
			}

			task := st.one(t, "aws:ecs/taskDefinition:TaskDefinition", s.Name)
			if task.Inputs["cpu"] != sc.cpu || task.Inputs["memory"] != sc.memory {
				t.Errorf("%s: got %v CPU / %v MiB, want %s / %s", s.Name, task.Inputs["cpu"], task.Inputs["memory"], sc.cpu, sc.memory)
			}
			if got := dig(task.Inputs, "runtimePlatform", "cpuArchitecture"); got != sc.cpuArch {
				t.Errorf("%s: got CPU architecture %v, want %s", s.Name, got, sc.cpuArch)
			}
			if task.Inputs["networkMode"] != "awsvpc" || fmt.Sprint(task.Inputs["requiresCompatibilities"]) != "[FARGATE]" {
				t.Errorf("%s: got %v / %v, want awsvpc on FARGATE", s.Name, task.Inputs["networkMode"], task.Inputs["requiresCompatibilities"])
			}
			image := st.one(t, "awsx:ecr:Image", s.Name)
			if got, want := image.Inputs["platform"], map[string]string{"X86_64": "linux/amd64", "ARM64": "linux/arm64"}[sc.cpuArch]; got != want {
				t.Errorf("%s: got image platform %v, want %s", s.Name, got, want)
			}
			arch := strings.TrimPrefix(fmt.Sprint(image.Inputs["platform"]), "linux/")
			if tag := fmt.Sprint(image.Inputs["imageTag"]); !strings.HasPrefix(tag, arch+"-") || dig(image.Inputs, "args", "VERSION") != tag {
				t.Errorf("%s: got tag %q and build args %v, want %s-<hash> passed as VERSION", s.Name, tag, image.Inputs["args"], arch)
			}
			if got := dig(image.Inputs, "args", "SERVICE"); got != s.Name {
				t.Errorf("%s: got build arg SERVICE %v, want %s", s.Name, got, s.Name)
			}
			if got := fmt.Sprint(image.Inputs["dockerfile"]); !strings.HasSuffix(got, "/apps/Dockerfile") {
				t.Errorf("%s: got Dockerfile %s, want apps/Dockerfile", s.Name, got)
			}
			if got := fmt.Sprint(image.Inputs["context"]); !strings.HasPrefix(fmt.Sprint(image.Inputs["dockerfile"]), got+"/apps/") {
				t.Errorf("%s: got build context %s, want the repository root", s.Name, got)
			}
		}
	})
}

// TestAutoscaling: Application Auto Scaling changes a service's desired
// count, and pulumi-aws's ecs.Service documents ignoreChanges on
// desiredCount for that case (the resource's "Ignoring Changes to Desired
// Count" note, from terraform-provider-aws's aws_ecs_service); without a
// scaling target nothing else sets it, so up must not ignore it. Target
// tracking and the active hours' schedule each need the target.
func TestAutoscaling(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		alb := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer")
		scales := sc.value("minTasks") != sc.value("maxTasks")
		if !scales && sc.value("activeHours") == "" {
			// No room to scale and no schedule: no target, no policies,
			// and so none of the alarms target tracking would create;
			// the count is minTasks.
			if got := len(st.ofType("aws:appautoscaling/target:Target")) + len(st.ofType("aws:appautoscaling/policy:Policy")); got != 0 {
				t.Errorf("minTasks = maxTasks = %s: got %d scaling resources, want none", sc.value("minTasks"), got)
			}
			for _, s := range routing.Services {
				svc := st.one(t, "aws:ecs/service:Service", s.Name)
				if got := fmt.Sprint(svc.Inputs["desiredCount"]); got != sc.value("minTasks") {
					t.Errorf("%s: got desiredCount %s, want minTasks %s", s.Name, got, sc.value("minTasks"))
				}
				if slices.Contains(svc.IgnoreChanges, "desiredCount") {
					t.Errorf("%s: desiredCount ignored with nothing to scale it: a new minTasks would never reach ECS", s.Name)
				}
			}
			return
		}
		for _, s := range routing.Services {
			if svc := st.one(t, "aws:ecs/service:Service", s.Name); !slices.Contains(svc.IgnoreChanges, "desiredCount") {
				t.Errorf("%s: got ignoreChanges %v, want desiredCount: up would undo what autoscaling set", s.Name, svc.IgnoreChanges)
			}
			target := st.one(t, "aws:appautoscaling/target:Target", s.Name)
			min, max := num(target.Inputs["minCapacity"]), num(target.Inputs["maxCapacity"])
			if got, want := fmt.Sprintf("%v..%v", min, max), sc.value("minTasks")+".."+sc.value("maxTasks"); got != want {
				t.Errorf("%s: got %s tasks, want %s", s.Name, got, want)
			}
			wantID := fmt.Sprintf("service/%s/%s", st.one(t, "aws:ecs/cluster:Cluster", "cluster").Outputs["name"], s.Name)
			if target.Inputs["resourceId"] != wantID {
				t.Errorf("%s: got resource %v, want %s", s.Name, target.Inputs["resourceId"], wantID)
			}
			if !scales {
				// Scheduled only: the schedule sets the count and nothing
				// tracks a metric (so no alarms are created for it).
				if got := len(st.ofType("aws:appautoscaling/policy:Policy")); got != 0 {
					t.Errorf("minTasks = maxTasks with active hours: got %d scaling policies, want none", got)
				}
				continue
			}
			tg := st.one(t, "aws:lb/targetGroup:TargetGroup", s.Name)
			wantPolicies := map[string]string{
				s.Name + "-cpu":      "ECSServiceAverageCPUUtilization",
				s.Name + "-requests": "ALBRequestCountPerTarget",
			}
			for name, metric := range wantPolicies {
				p := st.one(t, "aws:appautoscaling/policy:Policy", name)
				spec := dig(p.Inputs, "targetTrackingScalingPolicyConfiguration", "predefinedMetricSpecification")
				if p.Inputs["policyType"] != "TargetTrackingScaling" || dig(spec, "predefinedMetricType") != metric {
					t.Errorf("%s: got %v %v, want target tracking on %s", name, p.Inputs["policyType"], spec, metric)
				}
				if p.Inputs["resourceId"] != wantID {
					t.Errorf("%s: got resource %v, want %s", name, p.Inputs["resourceId"], wantID)
				}
				if metric == "ALBRequestCountPerTarget" {
					want := fmt.Sprintf("%s/%s", alb.Outputs["arnSuffix"], tg.Outputs["arnSuffix"])
					if got := dig(spec, "resourceLabel"); got != want {
						t.Errorf("%s: got resource label %v, want %s", name, got, want)
					}
				}
			}
		}
	})
}

func TestNetworkLayout(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		vpc := st.one(t, "awsx:ec2:Vpc", "network")
		// With a NAT instance awsx makes no NAT gateway (strategy None).
		wantStrategy := map[string]string{"Instance": "None"}[sc.nat]
		if wantStrategy == "" {
			wantStrategy = sc.nat
		}
		if got := dig(vpc.Inputs, "natGateways", "strategy"); got != wantStrategy {
			t.Errorf("got NAT strategy %v, want %s", got, wantStrategy)
		}
		if got, want := len(st.ofType("aws:ec2/instance:Instance")), map[bool]int{true: 1}[sc.nat == "Instance"]; got != want {
			t.Errorf("got %d EC2 instances, want %d (natGateways %s)", got, want, sc.nat)
		}
		if got := asStrings(vpc.Inputs["availabilityZoneNames"]); len(got) != sc.zones {
			t.Errorf("got zones %v, want %d", got, sc.zones)
		}
		var types []string
		for _, spec := range asSlice(vpc.Inputs["subnetSpecs"]) {
			types = append(types, fmt.Sprint(dig(spec, "type")))
		}
		if strings.Join(types, ",") != "Private,Public" {
			t.Errorf("got subnet types %v, want Private,Public", types)
		}
		// Tasks and the database live in private subnets only.
		private := fmt.Sprint(vpc.Outputs["privateSubnetIds"])
		for _, s := range st.ofType("aws:ecs/service:Service") {
			if got := fmt.Sprint(dig(s.Inputs, "networkConfiguration", "subnets")); got != private {
				t.Errorf("service %s: got subnets %s, want the private ones %s", s.Name, got, private)
			}
		}
		if got := fmt.Sprint(st.one(t, "aws:rds/subnetGroup:SubnetGroup", "database").Inputs["subnetIds"]); got != private {
			t.Errorf("database: got subnets %s, want the private ones %s", got, private)
		}
	})
}

func TestSecurityGroupsFollowDependencies(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		sgName := map[string]string{} // id -> logical name
		for _, sg := range st.ofType("aws:ec2/securityGroup:SecurityGroup") {
			sgName["sg-"+sg.Name] = sg.Name
		}
		// Every allowed source, per destination group and port.
		got := map[string][]string{}
		for _, r := range st.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
			from := sgName[fmt.Sprint(r.Inputs["referencedSecurityGroupId"])]
			if from == "" {
				from = fmt.Sprint(r.Inputs["cidrIpv4"])
			}
			key := fmt.Sprintf("%s:%v", sgName[fmt.Sprint(r.Inputs["securityGroupId"])], r.Inputs["fromPort"])
			got[key] = append(got[key], from)
		}
		want := map[string][]string{"loadbalancer:80": {"0.0.0.0/0"}}
		if sc.nat == "Instance" {
			// The NAT instance takes every protocol, from the VPC only.
			want[fmt.Sprintf("network-nat:%v", nil)] = []string{sc.value("vpcCidr")}
		}
		if sc.https {
			want["loadbalancer:443"] = []string{"0.0.0.0/0"}
		}
		for _, s := range routing.Services {
			key := fmt.Sprintf("%s:%d", s.Name, s.Port)
			want[key] = append(want[key], "loadbalancer")
			for _, other := range routing.Services {
				for _, d := range other.Dependencies {
					if d == s.Name {
						want[key] = append(want[key], other.Name)
					}
				}
			}
			if s.Database {
				want["database:5432"] = append(want["database:5432"], s.Name)
			}
		}
		for k := range want {
			sort.Strings(want[k])
			sort.Strings(got[k])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got inbound rules %v,\nwant %v", got, want)
		}
		for _, s := range routing.Services {
			svc := st.one(t, "aws:ecs/service:Service", s.Name)
			if got := asStrings(dig(svc.Inputs, "networkConfiguration", "securityGroups")); len(got) != 1 || got[0] != "sg-"+s.Name {
				t.Errorf("%s: got security groups %v, want [sg-%s]", s.Name, got, s.Name)
			}
		}
	})
}

func TestOutputs(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			got := stackOutputs(t, sc)
			st := sc.run(t)
			scheme := "http://"
			if sc.https {
				scheme = "https://"
			}
			url := fmt.Sprint(got["url"])
			if !strings.HasPrefix(url, scheme) || !strings.HasSuffix(url, ".elb.amazonaws.com") {
				t.Errorf("got url %q, want %s<alb dns>", url, scheme)
			}
			// The shop's own services by hand; any added one (make
			// new-service) at least has its URL under the ALB's.
			urls, _ := got["serviceUrls"].(map[string]string)
			for name, want := range map[string]string{"catalog": url + "/api/catalog", "orders": url + "/api/orders", "web": url + "/"} {
				if urls[name] != want {
					t.Errorf("got %s url %q, want %q", name, urls[name], want)
				}
			}
			for _, s := range routing.Services {
				if !strings.HasPrefix(urls[s.Name], url+"/") {
					t.Errorf("got %s url %q, want one under %s", s.Name, urls[s.Name], url)
				}
			}
			if len(urls) != len(routing.Services) {
				t.Errorf("got service urls %v, want one per service", urls)
			}
			for _, key := range []string{"repositoryUrls", "serviceNames", "logGroupNames", "taskDefinitionArns", "targetGroupArns"} {
				m, _ := got[key].(map[string]string)
				if len(m) != len(routing.Services) {
					t.Errorf("got %s %v, want one per service", key, got[key])
				}
			}
			// What the deploy check compares with what ECS runs.
			if got := fmt.Sprint(got["region"]); got != sc.config["aws:region"] {
				t.Errorf("got region %q, want %q", got, sc.config["aws:region"])
			}
			for _, s := range routing.Services {
				task := st.one(t, "aws:ecs/taskDefinition:TaskDefinition", s.Name)
				if got := got["taskDefinitionArns"].(map[string]string)[s.Name]; got != task.Outputs["arn"] {
					t.Errorf("%s: got task definition output %q, want %v", s.Name, got, task.Outputs["arn"])
				}
				tg := st.one(t, "aws:lb/targetGroup:TargetGroup", s.Name)
				if got := got["targetGroupArns"].(map[string]string)[s.Name]; got != tg.Outputs["arn"] {
					t.Errorf("%s: got target group output %q, want %v", s.Name, got, tg.Outputs["arn"])
				}
			}
			if got := got["serviceNames"].(map[string]string)["orders"]; got != "orders" {
				t.Errorf("got orders service name %q, want orders", got)
			}
			if got := got["logGroupNames"].(map[string]string)["web"]; got != "/shop/"+sc.stack+"/web" {
				t.Errorf("got web log group %q, want /shop/%s/web", got, sc.stack)
			}
			if got := fmt.Sprint(got["databaseEndpoint"]); !strings.HasSuffix(got, ".rds.amazonaws.com:5432") {
				t.Errorf("got database endpoint %q, want <host>:5432", got)
			}
			if got := fmt.Sprint(got["clusterName"]); got == "" {
				t.Errorf("got empty cluster name")
			}
		})
	}
}

// TestProductionKeepsWhatDevGivesUp holds the production example to what the
// dev levers trade away: NAT gateways in every zone and no NAT instance,
// tasks in private subnets without public addresses, Container Insights on,
// flow log records every minute, an age alarm on every event queue.
func TestProductionKeepsWhatDevGivesUp(t *testing.T) {
	st := findScenario(t, "prod", func(sc scenario) bool { return sc.name == "prod" }).run(t)
	vpc := st.one(t, "awsx:ec2:Vpc", "network")
	type check struct {
		what      string
		got, want any
	}
	checks := []check{
		{"NAT strategy", dig(vpc.Inputs, "natGateways", "strategy"), "OnePerAz"},
		{"zones", len(asSlice(vpc.Inputs["availabilityZoneNames"])), 3},
		{"EC2 instances", len(st.ofType("aws:ec2/instance:Instance")), 0},
		{"routes added to awsx's", len(st.ofType("aws:ec2/route:Route")), 0},
		{"Container Insights", dig(st.one(t, "aws:ecs/cluster:Cluster", "cluster").Inputs, "settings", "0", "value"), "enabled"},
		{"flow log aggregation", num(st.one(t, "aws:ec2/flowLog:FlowLog", "network").Inputs["maxAggregationInterval"]), 60.0},
		{"dashboards", len(st.ofType("aws:cloudwatch/dashboard:Dashboard")), 1},
		{"EMF log groups", len(st.where("aws:cloudwatch/logGroup:LogGroup", "name", "/shop/prod/telemetry/metrics")), 1},
		{"queue age alarms", len(st.where("aws:cloudwatch/metricAlarm:MetricAlarm", "metricName", "ApproximateAgeOfOldestMessage")), len(consumerQueues(routing.Services))},
		{"scheduled actions (always on)", len(st.ofType("aws:appautoscaling/scheduledAction:ScheduledAction")), 0},
	}
	for _, s := range st.ofType("aws:ecs/service:Service") {
		checks = append(checks,
			check{s.Name + " public IP", dig(s.Inputs, "networkConfiguration", "assignPublicIp"), false},
			check{s.Name + " subnets", fmt.Sprint(dig(s.Inputs, "networkConfiguration", "subnets")), fmt.Sprint(vpc.Outputs["privateSubnetIds"])},
			check{s.Name + " containers", len(containers(t, st, s.Name)), 2})
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("prod: got %s %v, want %v", c.what, c.got, c.want)
		}
	}
}

// with returns a copy of base with overrides applied.
func with(base map[string]string, overrides map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range overrides {
		out[k] = v
	}
	return out
}
