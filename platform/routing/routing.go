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

	"github.com/fargateshop/shop/platform/config"
)

// Service is what the load balancer needs to know about one deployable app.
type Service struct {
	// Name is the DNS name other services use (http://<Name>:<Port>), the
	// folder under apps/, the compose service and the ECS service name.
	Name string
	// Port is the container port the service listens on.
	Port int
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
	// Publishes are the topics this service publishes events to. Infra makes
	// one SNS topic per topic named here and lets only its publisher send to
	// it; the service finds it in TopicEnv(topic).
	Publishes []string
	// Consumes are the topics this service reads, each from a queue of its
	// own subscribed to the topic (with a dead-letter queue); the service
	// finds the queue in QueueEnv(topic).
	Consumes []string
}

// Services is the declaration. Adding a service means adding an entry here,
// a folder in apps/ and a block in docker-compose.yml.
var Services = []Service{
	{
		Name:     "catalog",
		Port:     config.DefaultPort,
		Paths:    []string{"/api/catalog", "/api/catalog/*"},
		Priority: 100,
		Database: true,
	},
	{
		Name:         "orders",
		Port:         config.DefaultPort,
		Paths:        []string{"/api/orders", "/api/orders/*"},
		Priority:     200,
		Database:     true,
		Dependencies: []string{"catalog"},
		Publishes:    []string{OrderEvents},
	},
	{
		Name:         "web",
		Port:         config.DefaultPort,
		Default:      true,
		Dependencies: []string{"catalog"},
	},
	{
		Name:     "shipping",
		Port:     config.DefaultPort,
		Paths:    []string{"/api/shipping", "/api/shipping/*"},
		Priority: 300,
		Database: true,
		Consumes: []string{OrderEvents},
	},
}

// OrderEvents is the topic orders publishes order.confirmed to.
const OrderEvents = "order-events"

// MaxReceiveCount is the redrive policy of every consumer's queue: a message
// received this many times without being deleted goes to the queue's
// dead-letter queue. With the consumer's backoff (2 s doubling, at most
// 2 min, platform/messaging) a failing message is retried for about 8
// minutes first, so a database outage of a few minutes parks nothing; an
// event that can never succeed is released at once on every receive and is
// parked within seconds.
const MaxReceiveCount = 10

// TopicEnv is the environment variable that holds the ARN of topic for the
// service publishing to it: "order-events" -> ORDER_EVENTS_TOPIC_ARN.
func TopicEnv(topic string) string { return envName(topic) + "_TOPIC_ARN" }

// QueueEnv is the environment variable that holds the URL of a consuming
// service's queue for topic: "order-events" -> ORDER_EVENTS_QUEUE_URL.
func QueueEnv(topic string) string { return envName(topic) + "_QUEUE_URL" }

func envName(topic string) string { return strings.ToUpper(strings.ReplaceAll(topic, "-", "_")) }

// Topics lists every topic declared, published or consumed, sorted.
func Topics(services []Service) []string {
	seen := map[string]bool{}
	var topics []string
	for _, s := range services {
		for _, t := range append(append([]string(nil), s.Publishes...), s.Consumes...) {
			if !seen[t] {
				seen[t] = true
				topics = append(topics, t)
			}
		}
	}
	sort.Strings(topics)
	return topics
}

// InternalPrefix is the path prefix of service-to-service endpoints. No rule
// may route it from the outside.
const InternalPrefix = "/internal"

// HealthPath is the liveness endpoint every service answers. The target
// groups and the container health check (server.Healthcheck) both probe it.
const HealthPath = "/livez"

// URL is where the other services reach s: http://<name>:<port>, the name
// Compose and ECS Service Connect resolve.
func (s Service) URL() string { return fmt.Sprintf("http://%s:%d", s.Name, s.Port) }

// URL returns the URL of the declared service name, or "" when no service
// of that name is declared (a URL setting defaulted to "" is reported as
// invalid, so the mistake surfaces at start).
func URL(name string) string {
	if s, ok := Lookup(Services, name); ok {
		return s.URL()
	}
	return ""
}

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

// Limits the Application Load Balancer imposes on the rules built from a
// declaration (Elastic Load Balancing API reference, PathPatternConditionConfig
// and RuleCondition; user guide, "Condition types for listener rules" and
// "Quotas for your Application Load Balancers"). Pulumi would refuse a
// declaration that breaks one only halfway through a deployment, and the
// local edge would accept it: Validate refuses it for both.
const (
	// MaxPatternLen is the longest path pattern a condition accepts.
	MaxPatternLen = 128
	// MaxWildcards is how many '*' and '?' one rule may hold in all.
	MaxWildcards = 5
	// MaxPriority is the highest listener rule priority.
	MaxPriority = 50000
	// MaxRules is the default quota of rules per load balancer, default
	// actions not counted. It can be raised on request; raise this with it.
	MaxRules = 100
	// patternChars are the characters a path pattern may contain besides
	// letters and digits ('&' is sent as &amp; in the XML API).
	patternChars = "_-.$/~\"'@:+&*?"
	// maxNameLen keeps a service's names within AWS limits: its target
	// group is named <name>-<7 random characters>, at most 32 characters.
	maxNameLen = 24
)

// Priorities 1..FirstPriority-1 belong to the rules infra adds on its own,
// evaluated before every declared rule.
const (
	// InternalBlockPriority is the rule that answers 404 for InternalPrefix.
	InternalBlockPriority = 1
	// FirstPriority is the lowest priority a declared rule may have.
	FirstPriority = 10
)

// Validate reports every problem in the declaration at once.
func Validate(services []Service) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	priorities := map[int]string{}
	patterns := map[string]string{}
	defaults := 0
	for _, s := range services {
		if !validName(s.Name) {
			fail("service %q: name must be 1..%d lower-case letters, digits and inner '-', starting with a letter", s.Name, maxNameLen)
		}
		if names[s.Name] {
			fail("service %q: declared twice", s.Name)
		}
		names[s.Name] = true
		if s.Port < 1 || s.Port > 65535 {
			fail("service %q: port %d out of range", s.Name, s.Port)
		}
		if s.Default {
			defaults++
		}
		if !s.Default && len(s.Paths) == 0 {
			fail("service %q: no paths and not the default: unreachable", s.Name)
		}
		for i, p := range s.Paths {
			prio := s.Priority + i
			if prio < FirstPriority || prio > MaxPriority {
				fail("service %q: priority %d outside %d..%d (1..%d are reserved for the rules infra adds)",
					s.Name, prio, FirstPriority, MaxPriority, FirstPriority-1)
			}
			if other, ok := priorities[prio]; ok {
				fail("service %q: priority %d clashes with %q", s.Name, prio, other)
			}
			priorities[prio] = s.Name
			if other, ok := patterns[p]; ok {
				fail("service %q: path %q already routed to %q", s.Name, p, other)
			}
			patterns[p] = s.Name
			if err := checkPattern(p); err != nil {
				fail("service %q: path %q: %w", s.Name, p, err)
			}
			if Match(p, InternalPrefix) || Match(p, InternalPrefix+"/x") || strings.HasPrefix(p, InternalPrefix) {
				fail("service %q: path %q would expose %s", s.Name, p, InternalPrefix)
			}
		}
	}
	publishers := map[string]string{}
	for _, s := range services {
		for _, d := range s.Dependencies {
			if !names[d] {
				fail("service %q: depends on undeclared %q", s.Name, d)
			}
		}
		for _, t := range s.Publishes {
			if !validName(t) {
				fail("service %q: topic %q: name must be 1..%d lower-case letters, digits and inner '-', starting with a letter", s.Name, t, maxNameLen)
			}
			if other, ok := publishers[t]; ok && other != s.Name {
				fail("service %q: topic %q already published by %q (one publisher per topic)", s.Name, t, other)
			}
			publishers[t] = s.Name
		}
	}
	for _, s := range services {
		consumed := map[string]bool{}
		for _, t := range s.Consumes {
			if consumed[t] {
				fail("service %q: consumes %q twice", s.Name, t)
			}
			consumed[t] = true
			if _, ok := publishers[t]; !ok {
				fail("service %q: consumes %q, which no service publishes", s.Name, t)
			}
		}
	}
	if defaults != 1 {
		fail("want exactly one default service, got %d", defaults)
	}
	// Infra adds one rule of its own (the /internal block).
	if n := len(priorities) + 1; n > MaxRules {
		fail("%d listener rules, more than the %d a load balancer may have", n, MaxRules)
	}
	if _, err := StartOrder(services); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkPattern applies the ALB's rules for one path pattern. Each declared
// pattern is a rule of its own, so the per-rule wildcard limit applies to
// the pattern alone.
func checkPattern(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with '/'")
	}
	if len(p) > MaxPatternLen {
		return fmt.Errorf("%d characters, more than %d", len(p), MaxPatternLen)
	}
	for _, c := range p {
		if !isAlnum(c) && !strings.ContainsRune(patternChars, c) {
			return fmt.Errorf("character %q is not allowed (letters, digits and %s only)", c, patternChars)
		}
	}
	if n := strings.Count(p, "*") + strings.Count(p, "?"); n > MaxWildcards {
		return fmt.Errorf("%d wildcards, more than %d per rule", n, MaxWildcards)
	}
	return nil
}

// validName reports whether name can be a DNS label, a Service Connect name
// and the prefix of a target group name.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen || name[0] < 'a' || name[0] > 'z' || strings.HasSuffix(name, "-") {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
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
