// Package routing is the single declaration of how public traffic reaches each
// service. The AWS Application Load Balancer rules in infra/ and the local edge
// in apps/edge are both built from Services, so the two cannot drift apart.
//
// Path patterns follow ALB semantics: case-sensitive, '*' matches any run of
// characters (including '/'), '?' matches exactly one character, and rules are
// evaluated in ascending priority. A request no rule matches goes to the
// default service.
package routing

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Service is what the load balancer needs to know about one deployable app.
type Service struct {
	// Name is the DNS name other services use (http://<Name>:<Port>), the
	// folder under apps/, the compose service and the ECS service name.
	Name string
	// Port is the container port the service listens on.
	Port int
	// HostPort is where `make run` starts the service on the host.
	HostPort int
	// HealthPath is the liveness endpoint used by target groups and
	// container health checks.
	HealthPath string
	// Paths are ALB path patterns routed to this service, one listener rule
	// each. Empty for the default service.
	Paths []string
	// Priority is the ALB rule priority of Paths[0]; Paths[i] gets
	// Priority+i. Lower is evaluated first.
	Priority int
	// Default marks the service that receives every unmatched request.
	Default bool
	// Database is true when the service owns a PostgreSQL schema.
	Database bool
	// Dependencies are services this one calls over REST.
	Dependencies []string
}

// Services is the declaration. Adding a service means adding an entry here,
// a folder in apps/ and a block in docker-compose.yml.
var Services = []Service{
	{
		Name:       "catalog",
		Port:       8080,
		HostPort:   8081,
		HealthPath: "/livez",
		Paths:      []string{"/api/catalog", "/api/catalog/*"},
		Priority:   100,
		Database:   true,
	},
	{
		Name:         "orders",
		Port:         8080,
		HostPort:     8082,
		HealthPath:   "/livez",
		Paths:        []string{"/api/orders", "/api/orders/*"},
		Priority:     200,
		Database:     true,
		Dependencies: []string{"catalog"},
	},
	{
		Name:         "web",
		Port:         8080,
		HostPort:     8083,
		HealthPath:   "/livez",
		Default:      true,
		Dependencies: []string{"catalog"},
	},
}

// InternalPrefix is the path prefix of service-to-service endpoints. No rule
// may route it from the outside.
const InternalPrefix = "/internal"

// Rule is one ALB listener rule: a single path pattern forwarded to a service.
type Rule struct {
	Priority int
	Pattern  string
	Service  string
}

// Rules returns every listener rule in evaluation order.
func Rules(services []Service) []Rule {
	var rules []Rule
	for _, s := range services {
		for i, p := range s.Paths {
			rules = append(rules, Rule{Priority: s.Priority + i, Pattern: p, Service: s.Name})
		}
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
	return rules
}

// DefaultService returns the service that receives unmatched requests.
func DefaultService(services []Service) (Service, bool) {
	for _, s := range services {
		if s.Default {
			return s, true
		}
	}
	return Service{}, false
}

// Lookup returns the service with the given name.
func Lookup(services []Service, name string) (Service, bool) {
	for _, s := range services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Route returns the name of the service an ALB built from services would
// forward path to.
func Route(services []Service, path string) string {
	for _, r := range Rules(services) {
		if Match(r.Pattern, path) {
			return r.Service
		}
	}
	d, _ := DefaultService(services)
	return d.Name
}

// ALB limits that Validate enforces.
const (
	maxPatternLen = 128
	minPriority   = 1
	maxPriority   = 50000
)

// Validate reports every problem in the declaration at once.
func Validate(services []Service) error {
	var errs []error
	names := map[string]bool{}
	hostPorts := map[int]string{}
	priorities := map[int]string{}
	patterns := map[string]string{}
	defaults := 0
	for _, s := range services {
		if s.Name == "" || strings.ToLower(s.Name) != s.Name || strings.ContainsAny(s.Name, " /_.") {
			errs = append(errs, fmt.Errorf("service %q: name must be lower-case letters, digits and '-'", s.Name))
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("service %q: declared twice", s.Name))
		}
		names[s.Name] = true
		if s.Port < 1 || s.Port > 65535 {
			errs = append(errs, fmt.Errorf("service %q: port %d out of range", s.Name, s.Port))
		}
		if other, ok := hostPorts[s.HostPort]; ok {
			errs = append(errs, fmt.Errorf("service %q: host port %d already used by %q", s.Name, s.HostPort, other))
		}
		hostPorts[s.HostPort] = s.Name
		if !strings.HasPrefix(s.HealthPath, "/") {
			errs = append(errs, fmt.Errorf("service %q: health path %q must start with '/'", s.Name, s.HealthPath))
		}
		if s.Default {
			defaults++
		}
		if !s.Default && len(s.Paths) == 0 {
			errs = append(errs, fmt.Errorf("service %q: no paths and not the default: unreachable", s.Name))
		}
		for i, p := range s.Paths {
			prio := s.Priority + i
			if prio < minPriority || prio > maxPriority {
				errs = append(errs, fmt.Errorf("service %q: priority %d outside %d..%d", s.Name, prio, minPriority, maxPriority))
			}
			if other, ok := priorities[prio]; ok {
				errs = append(errs, fmt.Errorf("service %q: priority %d clashes with %q", s.Name, prio, other))
			}
			priorities[prio] = s.Name
			if other, ok := patterns[p]; ok {
				errs = append(errs, fmt.Errorf("service %q: path %q already routed to %q", s.Name, p, other))
			}
			patterns[p] = s.Name
			if !strings.HasPrefix(p, "/") || len(p) > maxPatternLen {
				errs = append(errs, fmt.Errorf("service %q: path %q must start with '/' and be at most %d characters", s.Name, p, maxPatternLen))
			}
			if Match(p, InternalPrefix) || Match(p, InternalPrefix+"/x") || strings.HasPrefix(p, InternalPrefix) {
				errs = append(errs, fmt.Errorf("service %q: path %q would expose %s", s.Name, p, InternalPrefix))
			}
		}
	}
	for _, s := range services {
		for _, d := range s.Dependencies {
			if !names[d] {
				errs = append(errs, fmt.Errorf("service %q: depends on undeclared %q", s.Name, d))
			}
		}
	}
	if defaults != 1 {
		errs = append(errs, fmt.Errorf("want exactly one default service, got %d", defaults))
	}
	if _, err := StartOrder(services); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// StartOrder returns the services with every service after the services it
// depends on, keeping declaration order otherwise. A service that starts
// before a dependency exists may never reach it: ECS Service Connect gives a
// task only the endpoints that existed when the task started. Dependencies
// on undeclared services are ignored here (Validate reports them); a cycle
// is an error, since no order can satisfy it.
func StartOrder(services []Service) ([]Service, error) {
	byName := map[string]Service{}
	for _, s := range services {
		byName[s.Name] = s
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order []Service
	var visit func(s Service, path []string) error
	visit = func(s Service, path []string) error {
		switch state[s.Name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("service %q: dependency cycle %s", s.Name, strings.Join(append(path, s.Name), " -> "))
		}
		state[s.Name] = visiting
		for _, d := range s.Dependencies {
			if dep, ok := byName[d]; ok {
				if err := visit(dep, append(path, s.Name)); err != nil {
					return err
				}
			}
		}
		state[s.Name] = done
		order = append(order, s)
		return nil
	}
	for _, s := range services {
		if err := visit(s, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Match reports whether path matches an ALB path pattern.
func Match(pattern, path string) bool {
	// Iterative glob with single-star backtracking: linear in practice and
	// never recursive, so hostile paths cannot blow the stack.
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(path) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == path[s]) && pattern[p] != '*':
			p++
			s++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, s
			p++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
