package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	// Already in the module graph through gin; used only by this test.
	"github.com/goccy/go-yaml"

	"github.com/fargateshop/shop/platform/routing"
)

// composePath is the repository's compose file, seen from apps/edge.
const composePath = "../../docker-compose.yml"

// The edge's own container settings.
const (
	edgeName = "edge"
	edgePort = "8080"
)

// The trace store: the one other container that publishes ports (its UI and
// API, and the services' metrics), on the host's loopback only. Tracing is
// optional, so no service may wait for it.
const (
	jaegerName = "jaeger"
	// Where every service sends its traces and metrics (OTLP over HTTP).
	otlpEndpoint = "http://" + jaegerName + ":4318"
)

var jaegerPorts = []string{"127.0.0.1:16686:16686", "127.0.0.1:8889:8889"}

// The SNS/SQS broker: every service that publishes or consumes a topic
// waits for it and finds its topic or queue in the environment. Its port is
// published on the host's loopback only, for the system tests.
const brokerName = "broker"

var brokerPorts = []string{"127.0.0.1:4100:4100"}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Environment any `yaml:"environment"` // map or list of KEY=VALUE
	Healthcheck *struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
	Ports     []any `yaml:"ports"`      // "8080:8080" or {target, published}
	DependsOn any   `yaml:"depends_on"` // list of names or map of name to condition
}

// TestComposeAgreesWithDeclaration: docker-compose.yml, the routing
// declaration and the edge describe the same system.
func TestComposeAgreesWithDeclaration(t *testing.T) {
	data, err := os.ReadFile(composePath)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s does not exist: the compose file must declare services %v and %s", composePath, serviceNames(), edgeName)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkCompose(data, routing.Services) {
		t.Error(p)
	}
}

// TestCheckCompose proves the checker catches each kind of drift, using
// the planned shape of the compose file.
func TestCheckCompose(t *testing.T) {
	if p := checkCompose([]byte(plannedCompose), plannedServices()); len(p) > 0 {
		t.Fatalf("planned compose file reported problems: %v", p)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"wrong port", "PORT: \"8080\" # orders", "PORT: \"9090\" # orders", `"orders": environment PORT`},
		{"wrong healthcheck", `"/usr/local/bin/catalog"`, `"/usr/local/bin/cat"`, `"catalog": healthcheck`},
		{"service publishes a port", "  web:\n", "  web:\n    ports: [\"8083:8080\"]\n", `"web" publishes ports`},
		{"edge not publishing", `    ports: ["8080:8080"]`, ``, `"edge" must publish`},
		{"missing service", "  orders:", "  orders-old:", `"orders" is declared`},
		{"wrong upstream", "UPSTREAM_CATALOG: http://catalog:8080", "UPSTREAM_CATALOG: http://catalog:9999", "UPSTREAM_CATALOG"},
		{"jaeger on every interface", `"127.0.0.1:16686:16686"`, `"16686:16686"`, `"jaeger" must publish exactly`},
		{"jaeger publishes OTLP", `"127.0.0.1:8889:8889"`, `"127.0.0.1:8889:8889", "127.0.0.1:4318:4318"`, `"jaeger" must publish exactly`},
		{"service waits for jaeger", "      catalog:\n        condition: service_healthy # web", "      jaeger:\n        condition: service_healthy", `"web" depends on jaeger`},
		{"service waits for jaeger (list)", "    depends_on: [postgres]", "    depends_on: [postgres, jaeger]", `"catalog" depends on jaeger`},
		{"borrowed service name", "OTEL_SERVICE_NAME: orders", "OTEL_SERVICE_NAME: catalog", `"orders": environment OTEL_SERVICE_NAME = "catalog"`},
		{"edge without a service name", "      OTEL_SERVICE_NAME: edge\n", "", `"edge": environment OTEL_SERVICE_NAME = ""`},
		{"publisher without its topic", "      ORDER_EVENTS_TOPIC_ARN: arn:aws:sns:us-east-1:100010001000:order-events\n", "", `"orders" publishes "order-events" but has no ORDER_EVENTS_TOPIC_ARN`},
		{"consumer without its queue", "ORDER_EVENTS_QUEUE_URL:", "ORDER_EVENTS_QUEUE:", `"shipping" consumes "order-events" but has no ORDER_EVENTS_QUEUE_URL`},
		{"publisher not waiting for the broker", "depends_on: [catalog, broker] # orders", "depends_on: [catalog] # orders", `"orders" publishes or consumes events but does not depend on broker`},
		{"consumer not waiting for the broker", "      broker:\n        condition: service_healthy # shipping", "      postgres:\n        condition: service_healthy", `"shipping" publishes or consumes events but does not depend on broker`},
		{"no broker", "  broker:\n    image:", "  goaws:\n    image:", `"broker" is missing from compose`},
		{"broker on every interface", `"127.0.0.1:${BROKER_PORT:-4100}:4100"`, `"4100:4100"`, `"broker" may publish only`},
		{"exporting elsewhere", "OTEL_EXPORTER_OTLP_ENDPOINT: ${OTEL_EXPORTER_OTLP_ENDPOINT-http://jaeger:4318}", "OTEL_EXPORTER_OTLP_ENDPOINT: http://collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken := strings.Replace(plannedCompose, tc.old, tc.new, 1)
			if broken == plannedCompose {
				t.Fatalf("fixture edit %q did not apply", tc.old)
			}
			problems := checkCompose([]byte(broken), plannedServices())
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q, want one containing %q", problems, tc.want)
			}
		})
	}
}

// checkCompose returns every disagreement between data and the declaration
// services.
func checkCompose(data []byte, services []routing.Service) []string {
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		return []string{fmt.Sprintf("parse compose file: %v", err)}
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	declared := map[string]bool{}
	for _, s := range services {
		declared[s.Name] = true
		c, ok := cf.Services[s.Name]
		if !ok {
			fail("service %q is declared in platform/routing but missing from compose", s.Name)
			continue
		}
		if got := env(c)["PORT"]; got != fmt.Sprint(s.Port) {
			fail("service %q: environment PORT = %q, want %d (routing declaration)", s.Name, got, s.Port)
		}
		if want := healthcheck(s.Name); !slices.Equal(testOf(c), want) {
			fail("service %q: healthcheck test = %q, want %q", s.Name, testOf(c), want)
		}
		checkTelemetry(s.Name, c, fail)
		checkEvents(s, c, fail)
	}

	edge, ok := cf.Services[edgeName]
	if !ok {
		fail("service %q is missing from compose", edgeName)
	} else {
		e := env(edge)
		if p, ok := e["PORT"]; ok && p != edgePort {
			fail("service %q: environment PORT = %q, want %s", edgeName, p, edgePort)
		}
		if want := healthcheck(edgeName); !slices.Equal(testOf(edge), want) {
			fail("service %q: healthcheck test = %q, want %q", edgeName, testOf(edge), want)
		}
		if got := ports(edge); !slices.Equal(got, []string{edgePort + ":" + edgePort}) {
			fail("service %q must publish exactly %s:%s, got %q", edgeName, edgePort, edgePort, got)
		}
		checkTelemetry(edgeName, edge, fail)
		for _, s := range services {
			if v, ok := e[UpstreamEnv(s.Name)]; ok && v != fmt.Sprintf("http://%s:%d", s.Name, s.Port) {
				fail("service %q: %s = %q, want http://%s:%d", edgeName, UpstreamEnv(s.Name), v, s.Name, s.Port)
			}
		}
	}

	if j, ok := cf.Services[jaegerName]; !ok {
		fail("service %q is missing from compose", jaegerName)
	} else if got := ports(j); !slices.Equal(got, jaegerPorts) {
		fail("service %q must publish exactly %q (the host's loopback only), got %q", jaegerName, jaegerPorts, got)
	}

	if b, ok := cf.Services[brokerName]; !ok {
		if len(routing.Topics(services)) > 0 {
			fail("service %q is missing from compose: topics %v are declared", brokerName, routing.Topics(services))
		}
	} else if got := ports(b); len(got) > 0 && !slices.Equal(got, brokerPorts) {
		fail("service %q may publish only %q (the host's loopback), got %q", brokerName, brokerPorts, got)
	}

	for name, c := range cf.Services {
		if name != edgeName && name != jaegerName && name != brokerName && len(c.Ports) > 0 {
			fail("service %q publishes ports %q; only %s, %s and %s may", name, ports(c), edgeName, jaegerName, brokerName)
		}
		if slices.Contains(dependencies(c), jaegerName) {
			fail("service %q depends on %s: tracing is optional, nothing may wait for the collector", name, jaegerName)
		}
		// An app service (its healthcheck is its own binary) must be in
		// the declaration, or neither the edge nor the ALB can reach it.
		if t := testOf(c); len(t) == 3 && strings.HasPrefix(t[1], "/usr/local/bin/") {
			if bin := strings.TrimPrefix(t[1], "/usr/local/bin/"); bin != edgeName && !declared[bin] {
				fail("compose service %q runs %s but is not declared in platform/routing", name, bin)
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// checkTelemetry: the service names itself in its traces and metrics and
// sends them to the local collector.
func checkTelemetry(name string, c composeService, fail func(string, ...any)) {
	e := env(c)
	if got := e["OTEL_SERVICE_NAME"]; got != name {
		fail("service %q: environment OTEL_SERVICE_NAME = %q, want %q", name, got, name)
	}
	if got := e["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != otlpEndpoint {
		fail("service %q: environment OTEL_EXPORTER_OTLP_ENDPOINT = %q, want %s", name, got, otlpEndpoint)
	}
}

// checkEvents: a service that publishes or consumes a topic finds the topic
// ARN or its queue URL in the variable platform/routing names, and waits for
// the broker.
func checkEvents(s routing.Service, c composeService, fail func(string, ...any)) {
	e := env(c)
	for _, t := range s.Publishes {
		if e[routing.TopicEnv(t)] == "" {
			fail("service %q publishes %q but has no %s in its environment", s.Name, t, routing.TopicEnv(t))
		}
	}
	for _, t := range s.Consumes {
		if e[routing.QueueEnv(t)] == "" {
			fail("service %q consumes %q but has no %s in its environment", s.Name, t, routing.QueueEnv(t))
		}
	}
	if len(s.Publishes)+len(s.Consumes) > 0 && !slices.Contains(dependencies(c), brokerName) {
		fail("service %q publishes or consumes events but does not depend on %s", s.Name, brokerName)
	}
}

// dependencies are the services c waits for, from either form of depends_on.
func dependencies(c composeService) []string {
	var out []string
	switch d := c.DependsOn.(type) {
	case map[string]any:
		for k := range d {
			out = append(out, k)
		}
	case []any:
		for _, k := range d {
			out = append(out, fmt.Sprint(k))
		}
	}
	return out
}

func healthcheck(name string) []string {
	return []string{"CMD", "/usr/local/bin/" + name, "healthcheck"}
}

// defaulted matches "${VAR:-default}" and "${VAR-default}".
var defaulted = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*:?-(.*)\}$`)

// inlineDefault matches "${VAR:-default}" inside a longer value.
var inlineDefault = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}`)

func interpolate(v string) string {
	if m := defaulted.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return v
}

func env(c composeService) map[string]string {
	out := map[string]string{}
	switch e := c.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			out[k] = interpolate(fmt.Sprint(v))
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = interpolate(v)
		}
	}
	return out
}

func testOf(c composeService) []string {
	if c.Healthcheck == nil {
		return nil
	}
	list, ok := c.Healthcheck.Test.([]any)
	if !ok {
		return []string{fmt.Sprint(c.Healthcheck.Test)}
	}
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = fmt.Sprint(v)
	}
	return out
}

// ports normalises each mapping to "published:target", or
// "host_ip:published:target" when it is bound to one address.
func ports(c composeService) []string {
	var out []string
	for _, p := range c.Ports {
		switch v := p.(type) {
		case map[string]any:
			m := fmt.Sprintf("%v:%v", v["published"], v["target"])
			if ip, ok := v["host_ip"]; ok {
				m = fmt.Sprintf("%v:%s", ip, m)
			}
			out = append(out, m)
		default:
			// "${EDGE_PORT:-8080}:8080" publishes the default unless set.
			spec := inlineDefault.ReplaceAllString(fmt.Sprint(v), "$1")
			parts := strings.Split(strings.TrimSuffix(spec, "/tcp"), ":")
			switch {
			case len(parts) >= 3:
				out = append(out, strings.Join(parts[len(parts)-3:], ":"))
			case len(parts) == 2:
				out = append(out, parts[0]+":"+parts[1])
			default:
				out = append(out, "(random):"+parts[0])
			}
		}
	}
	return out
}

func serviceNames() []string {
	var names []string
	for _, s := range routing.Services {
		names = append(names, s.Name)
	}
	return names
}

// plannedServices are the declared services plannedCompose describes: a
// service added later (make new-service) is not in the fixture.
func plannedServices() []routing.Service {
	var out []routing.Service
	for _, s := range routing.Services {
		if s.Name == "catalog" || s.Name == "orders" || s.Name == "web" || s.Name == "shipping" {
			out = append(out, s)
		}
	}
	return out
}

// plannedCompose is the agreed shape of docker-compose.yml, reduced to what
// the checker reads.
const plannedCompose = `
x-otel-env: &otel-env
  OTEL_EXPORTER_OTLP_ENDPOINT: ${OTEL_EXPORTER_OTLP_ENDPOINT-http://jaeger:4318}
services:
  postgres:
    image: postgres:15
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U shop"]
  jaeger:
    image: jaegertracing/jaeger:2.13.0
    ports: ["127.0.0.1:16686:16686", "127.0.0.1:8889:8889"]
  broker:
    image: admiralpiett/goaws:v0.5.4
    ports: ["127.0.0.1:${BROKER_PORT:-4100}:4100"]
  catalog:
    build: {context: ., dockerfile: apps/Dockerfile, args: {SERVICE: catalog}}
    environment:
      <<: *otel-env
      OTEL_SERVICE_NAME: catalog
      PORT: "8080"
      DATABASE_URL: postgres://shop@postgres:5432/shop
    healthcheck:
      test: ["CMD", "/usr/local/bin/catalog", "healthcheck"]
    depends_on: [postgres]
  orders:
    environment:
      <<: *otel-env
      OTEL_SERVICE_NAME: orders
      PORT: "8080" # orders
      CATALOG_URL: http://catalog:8080
      ORDER_EVENTS_TOPIC_ARN: arn:aws:sns:us-east-1:100010001000:order-events
    healthcheck:
      test: ["CMD", "/usr/local/bin/orders", "healthcheck"]
    depends_on: [catalog, broker] # orders
  web:
    environment:
      - PORT=8080
      - CATALOG_URL=http://catalog:8080
      - OTEL_SERVICE_NAME=web
      - OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318
    healthcheck:
      test: ["CMD", "/usr/local/bin/web", "healthcheck"]
    depends_on:
      catalog:
        condition: service_healthy # web
  shipping:
    environment:
      <<: *otel-env
      OTEL_SERVICE_NAME: shipping
      PORT: "8080"
      ORDER_EVENTS_QUEUE_URL: http://broker:4100/100010001000/shipping-order-events
    healthcheck:
      test: ["CMD", "/usr/local/bin/shipping", "healthcheck"]
    depends_on:
      broker:
        condition: service_healthy # shipping
  edge:
    environment:
      <<: *otel-env
      OTEL_SERVICE_NAME: edge
      PORT: ${EDGE_PORT:-8080}
      UPSTREAM_CATALOG: http://catalog:8080
    healthcheck:
      test: ["CMD", "/usr/local/bin/edge", "healthcheck"]
    ports: ["8080:8080"]
`
