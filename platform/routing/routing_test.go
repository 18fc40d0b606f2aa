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

func TestValidateRejects(t *testing.T) {
	base := func() []Service {
		return []Service{
			{Name: "a", Port: 8080, HostPort: 1, HealthPath: "/livez", Paths: []string{"/a/*"}, Priority: 10},
			{Name: "w", Port: 8080, HostPort: 2, HealthPath: "/livez", Default: true},
		}
	}
	tests := []struct {
		name   string
		mutate func([]Service) []Service
		want   string
	}{
		{"priority clash", func(s []Service) []Service {
			return append(s, Service{Name: "b", Port: 8080, HostPort: 3, HealthPath: "/livez", Paths: []string{"/b/*"}, Priority: 10})
		}, "clashes"},
		{"duplicate path", func(s []Service) []Service {
			return append(s, Service{Name: "b", Port: 8080, HostPort: 3, HealthPath: "/livez", Paths: []string{"/a/*"}, Priority: 20})
		}, "already routed"},
		{"internal exposed", func(s []Service) []Service { s[0].Paths = []string{"/internal/*"}; return s }, "/internal"},
		{"wildcard exposes internal", func(s []Service) []Service { s[0].Paths = []string{"/*"}; return s }, "/internal"},
		{"two defaults", func(s []Service) []Service { s[0].Default = true; return s }, "exactly one default"},
		{"no default", func(s []Service) []Service {
			s[1].Default = false
			s[1].Paths = []string{"/w"}
			s[1].Priority = 50
			return s
		}, "exactly one default"},
		{"duplicate name", func(s []Service) []Service { s[1].Name = "a"; return s }, "declared twice"},
		{"unreachable", func(s []Service) []Service { s[0].Paths = nil; return s }, "unreachable"},
		{"unknown dependency", func(s []Service) []Service { s[0].Dependencies = []string{"ghost"}; return s }, "undeclared"},
		{"dependency cycle", func(s []Service) []Service {
			s[0].Dependencies = []string{"w"}
			s[1].Dependencies = []string{"a"}
			return s
		}, "dependency cycle a -> w -> a"},
		{"depends on itself", func(s []Service) []Service { s[0].Dependencies = []string{"a"}; return s }, "dependency cycle a -> a"},
		{"bad port", func(s []Service) []Service { s[0].Port = 0; return s }, "out of range"},
		{"bad health path", func(s []Service) []Service { s[0].HealthPath = "livez"; return s }, "health path"},
		{"priority out of range", func(s []Service) []Service { s[0].Priority = 60000; return s }, "outside"},
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
