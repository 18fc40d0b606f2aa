package routing

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/api/catalog", "/api/catalog", true},
		{"/api/catalog", "/api/catalog/", false},
		{"/api/catalog/*", "/api/catalog/", true},
		{"/api/catalog/*", "/api/catalog/products/1", true},
		{"/api/catalog/*", "/api/catalogue", false},
		{"/api/catalog/*", "/API/catalog/x", false}, // ALB patterns are case-sensitive
		{"/a?c", "/abc", true},
		{"/a?c", "/ac", false},
		{"/a*b*c", "/a-x-b-y-c", true},
		{"/a*b*c", "/a-x-b-y-d", false},
		{"*", "/anything", true},
		{"/x", "", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.path); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestRouteDeclaration(t *testing.T) {
	if err := Validate(Services); err != nil {
		t.Fatalf("declaration invalid: %v", err)
	}
	tests := []struct{ path, want string }{
		{"/", "web"},
		{"/static/app.js", "web"},
		{"/api/catalog/products", "catalog"},
		{"/api/catalog", "catalog"},
		{"/api/orders", "orders"},
		{"/api/orders/0b7c", "orders"},
		{"/internal/reservations", "web"}, // unmatched: the web 404 page, never catalog
		{"/api/ordersx", "web"},
	}
	for _, tt := range tests {
		if got := Route(Services, tt.path); got != tt.want {
			t.Errorf("Route(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestRulesArePriorityOrdered(t *testing.T) {
	rules := Rules(Services)
	for i := 1; i < len(rules); i++ {
		if rules[i-1].Priority >= rules[i].Priority {
			t.Fatalf("rules out of order at %d: %+v then %+v", i, rules[i-1], rules[i])
		}
	}
	var n int
	for _, s := range Services {
		n += len(s.Paths)
	}
	if got := len(rules); got != n {
		t.Errorf("got %d rules, want one per path (%d)", got, n)
	}
}

// Each rule of Validate, the ALB's limits among them, refuses a declaration
// that breaks it: the local edge must not accept what Pulumi would reject.
func TestValidateRejects(t *testing.T) {
	base := func() []Service {
		return []Service{
			{Name: "a", Port: 8080, Paths: []string{"/a/*"}, Priority: 10},
			{Name: "w", Port: 8080, Default: true},
		}
	}
	paths := func(ps ...string) func([]Service) []Service {
		return func(s []Service) []Service { s[0].Paths = ps; return s }
	}
	// MaxRules declared rules plus infra's /internal block: one too many.
	manyRules := paths(manyPaths(MaxRules)...)
	tests := []struct {
		name   string
		mutate func([]Service) []Service
		want   string
	}{
		{"priority clash", func(s []Service) []Service {
			return append(s, Service{Name: "b", Port: 8080, Paths: []string{"/b/*"}, Priority: 10})
		}, "clashes"},
		{"priority clash with a second path's priority", func(s []Service) []Service {
			s[0].Paths = []string{"/a", "/a/*"} // priorities 10 and 11
			return append(s, Service{Name: "b", Port: 8080, Paths: []string{"/b/*"}, Priority: 11})
		}, "priority 11 clashes"},
		{"duplicate path", func(s []Service) []Service {
			return append(s, Service{Name: "b", Port: 8080, Paths: []string{"/a/*"}, Priority: 20})
		}, "already routed"},
		{"internal exposed", paths("/internal/*"), "/internal"},
		{"wildcard exposes internal", paths("/*"), "/internal"},
		{"two defaults", func(s []Service) []Service { s[0].Default = true; return s }, "exactly one default"},
		{"no default", func(s []Service) []Service {
			s[1].Default = false
			s[1].Paths = []string{"/w"}
			s[1].Priority = 50
			return s
		}, "exactly one default"},
		{"duplicate name", func(s []Service) []Service { s[1].Name = "a"; return s }, "declared twice"},
		{"topic with two publishers", func(s []Service) []Service {
			s[0].Publishes = []string{"t"}
			s[1].Publishes = []string{"t"}
			return s
		}, `topic "t" already published by "a"`},
		{"topic nobody publishes", func(s []Service) []Service { s[1].Consumes = []string{"t"}; return s }, "which no service publishes"},
		{"topic consumed twice", func(s []Service) []Service {
			s[0].Publishes = []string{"t"}
			s[1].Consumes = []string{"t", "t"}
			return s
		}, `consumes "t" twice`},
		{"bad topic name", func(s []Service) []Service { s[0].Publishes = []string{"Order_Events"}; return s }, `topic "Order_Events": name must be`},
		{"empty name", func(s []Service) []Service { s[0].Name = ""; return s }, "name must be"},
		{"upper-case name", func(s []Service) []Service { s[0].Name = "Orders"; return s }, "name must be"},
		{"name with a symbol", func(s []Service) []Service { s[0].Name = "a!b"; return s }, "name must be"},
		{"name ending in '-'", func(s []Service) []Service { s[0].Name = "a-"; return s }, "name must be"},
		{"name starting with a digit", func(s []Service) []Service { s[0].Name = "1a"; return s }, "name must be"},
		{"name too long for a target group", func(s []Service) []Service { s[0].Name = strings.Repeat("a", 25); return s }, "name must be"},
		{"unreachable", paths(), "unreachable"},
		{"unknown dependency", func(s []Service) []Service { s[0].Dependencies = []string{"ghost"}; return s }, "undeclared"},
		{"dependency cycle", func(s []Service) []Service {
			s[0].Dependencies = []string{"w"}
			s[1].Dependencies = []string{"a"}
			return s
		}, "dependency cycle a -> w -> a"},
		{"depends on itself", func(s []Service) []Service { s[0].Dependencies = []string{"a"}; return s }, "dependency cycle a -> a"},
		{"port zero", func(s []Service) []Service { s[0].Port = 0; return s }, "out of range"},
		{"port too high", func(s []Service) []Service { s[0].Port = 65536; return s }, "out of range"},
		{"priority above the ALB's range", func(s []Service) []Service { s[0].Priority = MaxPriority + 1; return s }, "outside"},
		{"last path's priority above the range", func(s []Service) []Service {
			s[0].Paths, s[0].Priority = []string{"/a", "/a/*"}, MaxPriority
			return s
		}, "priority 50001 outside"},
		{"priority reserved for infra's own rules", func(s []Service) []Service { s[0].Priority = FirstPriority - 1; return s }, "reserved"},
		{"priority zero", func(s []Service) []Service { s[0].Priority = 0; return s }, "outside"},
		{"pattern without a leading slash", paths("a/*"), "must start with '/'"},
		{"pattern too long", paths("/" + strings.Repeat("a", MaxPatternLen)), "more than 128"},
		{"pattern with a space", paths("/a b"), "not allowed"},
		{"pattern with a query", paths("/a?x=1"), "not allowed"},
		{"pattern with a percent escape", paths("/a%20b"), "not allowed"},
		{"pattern with non-ASCII", paths("/caf\u00e9"), "not allowed"},
		{"pattern with too many wildcards", paths("/a/*/*/*/?/?/*"), "6 wildcards"},
		{"more rules than a load balancer may have", manyRules, "more than the 100"},
	}
	if err := Validate(base()); err != nil {
		t.Fatalf("base declaration should be valid: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.mutate(base()))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

// The limits are inclusive: what the ALB accepts, Validate accepts.
func TestValidateAcceptsTheLimits(t *testing.T) {
	longest := "/" + strings.Repeat("a", MaxPatternLen-1)
	tests := []struct {
		name  string
		paths []string
		prio  int
	}{
		{"longest pattern", []string{longest}, 10},
		{"every allowed character", []string{"/AZaz09_-.$/~\"'@:+&"}, 10},
		{"as many wildcards as a rule may hold", []string{"/a/*/*/?/?/*"}, 10},
		{"lowest declared priority", []string{"/a"}, FirstPriority},
		{"highest priority", []string{"/a"}, MaxPriority},
		{"as many rules as a load balancer may have", manyPaths(MaxRules - 1), 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			services := []Service{
				{Name: strings.Repeat("a", 24), Port: 65535, Paths: tt.paths, Priority: tt.prio},
				{Name: "w-1", Port: 1, Default: true},
			}
			if err := Validate(services); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func manyPaths(n int) []string {
	var out []string
	for i := range n {
		out = append(out, "/a"+strings.Repeat("x", i))
	}
	return out
}

func TestURL(t *testing.T) {
	if got, want := (Service{Name: "catalog", Port: 9090}).URL(), "http://catalog:9090"; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if got, want := URL("catalog"), "http://catalog:8080"; got != want {
		t.Errorf("URL(catalog) = %q, want %q", got, want)
	}
	if got := URL("ghost"); got != "" {
		t.Errorf("URL(ghost) = %q, want empty", got)
	}
}

func TestStartOrderPutsDependenciesFirst(t *testing.T) {
	services := []Service{
		{Name: "web", Dependencies: []string{"orders", "catalog"}},
		{Name: "orders", Dependencies: []string{"catalog"}},
		{Name: "catalog"},
		{Name: "audit"},
	}
	order, err := StartOrder(services)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range order {
		got = append(got, s.Name)
	}
	if want := "catalog orders web audit"; strings.Join(got, " ") != want {
		t.Errorf("got order %v, want %s", got, want)
	}
	// The real declaration: every dependency comes before its dependents.
	order, err = StartOrder(Services)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range order {
		for _, d := range s.Dependencies {
			if !seen[d] {
				t.Errorf("%s comes before its dependency %s", s.Name, d)
			}
		}
		seen[s.Name] = true
	}
	if len(order) != len(Services) {
		t.Errorf("got %d services, want %d", len(order), len(Services))
	}
}

func TestTopicEnvironment(t *testing.T) {
	if got := TopicEnv(OrderEvents); got != "ORDER_EVENTS_TOPIC_ARN" {
		t.Errorf("TopicEnv = %q", got)
	}
	if got := QueueEnv(OrderEvents); got != "ORDER_EVENTS_QUEUE_URL" {
		t.Errorf("QueueEnv = %q", got)
	}
	services := []Service{
		{Name: "a", Publishes: []string{"b-events", "a-events"}},
		{Name: "c", Consumes: []string{"a-events"}},
	}
	if got := strings.Join(Topics(services), ","); got != "a-events,b-events" {
		t.Errorf("Topics = %s, want a-events,b-events", got)
	}
}
