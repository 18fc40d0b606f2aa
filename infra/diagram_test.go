package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

var (
	mermaidID      = `[A-Za-z0-9_]+`
	mermaidLabel   = `"[^"]*"`
	mermaidNode    = regexp.MustCompile(`^(` + mermaidID + `)(\["[^"]*"\]|\(\["[^"]*"\]\)|\[\("[^"]*"\)\]|\(\("[^"]*"\)\)|\("[^"]*"\))$`)
	mermaidSub     = regexp.MustCompile(`^subgraph (` + mermaidID + `)\[` + mermaidLabel + `\]$`)
	mermaidEdge    = regexp.MustCompile(`^(` + mermaidID + `) --> (` + mermaidID + `)$`)
	mermaidLabeled = regexp.MustCompile(`^(` + mermaidID + `) -- (` + mermaidLabel + `) --> (` + mermaidID + `)$`)
)

// mermaidEdges checks a flowchart at the level of its syntax: every line a
// node, a subgraph, its end or an edge; IDs of letters, digits and _ and
// declared once; subgraphs closed; every edge between declared IDs. It
// returns the edges as "from -> to: label".
func mermaidEdges(t *testing.T, chart string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(chart, "\n"), "\n")
	if lines[0] != "flowchart LR" {
		t.Fatalf("got first line %q, want flowchart LR", lines[0])
	}
	declared := map[string]bool{}
	declare := func(id string) {
		if declared[id] {
			t.Errorf("%s declared twice", id)
		}
		declared[id] = true
	}
	var edges [][3]string
	depth := 0
	for _, raw := range lines[1:] {
		line := strings.TrimSpace(raw)
		if m := mermaidSub.FindStringSubmatch(line); m != nil {
			declare(m[1])
			depth++
		} else if line == "end" {
			if depth--; depth < 0 {
				t.Fatalf("end without subgraph")
			}
		} else if m := mermaidNode.FindStringSubmatch(line); m != nil {
			declare(m[1])
		} else if m := mermaidEdge.FindStringSubmatch(line); m != nil {
			edges = append(edges, [3]string{m[1], m[2], ""})
		} else if m := mermaidLabeled.FindStringSubmatch(line); m != nil {
			edges = append(edges, [3]string{m[1], m[3], strings.Trim(m[2], `"`)})
		} else {
			t.Errorf("not a node, subgraph or edge: %q", line)
		}
	}
	if depth != 0 {
		t.Errorf("got %d subgraphs left open, want 0", depth)
	}
	var out []string
	for _, e := range edges {
		for _, id := range e[:2] {
			if !declared[id] {
				t.Errorf("edge %s --> %s: %s is not declared", e[0], e[1], id)
			}
		}
		out = append(out, fmt.Sprintf("%s -> %s: %s", e[0], e[1], e[2]))
	}
	return out
}

func TestDiagramIsValidMermaid(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		chart := drawDiagram(st)
		mermaidEdges(t, chart)
		if again := drawDiagram(st); again != chart {
			t.Errorf("got a different diagram on a second drawing:\n%s\nwant\n%s", again, chart)
		}
	})
}

// TestDiagramDrawsTheStack holds the diagram to the routing declaration and
// to each scenario's switches: a route per declared path, a call per
// declared dependency, the database for its owners, and the NAT layout,
// listeners, architecture and capacity the configuration asks for.
func TestDiagramDrawsTheStack(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		chart := drawDiagram(st)
		edges := mermaidEdges(t, chart)
		var want []string
		for _, s := range routing.Services {
			svc := "svc_" + s.Name
			if s.Default {
				want = append(want, "alb_loadbalancer -> "+svc+": any other path")
			} else {
				want = append(want, "alb_loadbalancer -> "+svc+": "+strings.Join(s.Paths, ", "))
			}
			for _, dep := range s.Dependencies {
				want = append(want, fmt.Sprintf("%s -> svc_%s: Service Connect, TCP %d", svc, dep, servicePort(t, dep)))
			}
			if s.Database {
				want = append(want, fmt.Sprintf("%s -> db_database: TCP %d", svc, postgresPort))
			}
			for _, topic := range s.Publishes {
				want = append(want, svc+" -> "+nodeID("topic", topic)+": publishes")
			}
			for _, topic := range s.Consumes {
				queue := nodeID("queue", s.Name, topic)
				want = append(want, nodeID("topic", topic)+" -> "+queue+": raw delivery", queue+" -> "+svc+": long polling")
			}
		}
		listeners := "HTTP :80"
		if sc.https {
			listeners = "HTTP :80, HTTPS :443"
		}
		want = append(want, "clients -> alb_loadbalancer: "+listeners)
		zones := mockZones[:sc.zones]
		switch sc.nat {
		case "Single":
			want = append(want, "subnets_private -> nat_gateway_us_east_1a: egress, every zone", "nat_gateway_us_east_1a -> internet: ")
		case "OnePerAz":
			for _, z := range zones {
				id := nodeID("nat", "gateway", z)
				want = append(want, "subnets_private -> "+id+": egress, "+z, id+" -> internet: ")
			}
		case "Instance":
			want = append(want, "subnets_private -> nat_instance_network_nat: egress, every zone", "nat_instance_network_nat -> internet: ")
		}
		// Requests for internal paths end at the ALB (loadbalancer.go).
		want = append(want, "alb_loadbalancer -> alb_loadbalancer_answers_404: /internal, /internal/*")
		slices.Sort(want)
		slices.Sort(edges)
		if !slices.Equal(edges, want) {
			t.Errorf("got edges\n  %s\nwant\n  %s", strings.Join(edges, "\n  "), strings.Join(want, "\n  "))
		}
		if got, wantN := strings.Count(chart, "NAT gateway, "), map[string]int{"Single": 1, "OnePerAz": sc.zones}[sc.nat]; got != wantN {
			t.Errorf("got %d NAT gateways, want %d (%s)", got, wantN, sc.nat)
		}
		for _, s := range []string{
			"private subnets: " + strings.Join(zones, ", "),
			fmt.Sprintf("%s vCPU / %s GB, %s", cpuOf(sc), memOf(sc), sc.cpuArch),
		} {
			if !strings.Contains(chart, s) {
				t.Errorf("got no %q in\n%s", s, chart)
			}
		}
		if redirect := strings.Contains(chart, "HTTP :80 redirects to HTTPS :443"); redirect != sc.https {
			t.Errorf("got HTTP redirect drawn %v, want %v", redirect, sc.https)
		}
		if spot := strings.Contains(chart, "Spot"); spot != sc.spot {
			t.Errorf("got Spot drawn %v, want %v", spot, sc.spot)
		}
		if multiAZ := strings.Contains(chart, "Multi-AZ"); multiAZ != sc.production {
			t.Errorf("got Multi-AZ drawn %v, want %v", multiAZ, sc.production)
		}
		// Every service's box says when it runs, when it has active hours.
		window, boxes := "runs "+sc.value("activeHours")+" "+sc.value("activeTimezone"), 0
		if sc.value("activeHours") != "" {
			boxes = len(routing.Services)
		}
		if got := strings.Count(chart, window); got != boxes {
			t.Errorf("got %q drawn %d times, want %d", window, got, boxes)
		}
		// Every service's box names its collector when it has one.
		if got, want := strings.Count(chart, "+ aws-otel-collector"), map[bool]int{true: len(routing.Services)}[sc.telemetered()]; got != want {
			t.Errorf("got %d collectors drawn, want %d (telemetry %v)", got, want, sc.telemetered())
		}
	})
}

func servicePort(t *testing.T, name string) int {
	t.Helper()
	for _, s := range routing.Services {
		if s.Name == name {
			return s.Port
		}
	}
	t.Fatalf("no declared service %s", name)
	return 0
}

func cpuOf(sc scenario) string {
	var v float64
	fmt.Sscan(sc.cpu, &v)
	return trimFloat(v / 1024)
}

func memOf(sc scenario) string {
	var v float64
	fmt.Sscan(sc.memory, &v)
	return trimFloat(v / 1024)
}

// edited returns a copy of a stack run with some resources replaced or
// removed (edit returns false to drop one) and others added.
func edited(st *stack, edit func(r *recorded) bool, add ...recorded) *stack {
	out := &stack{}
	for _, r := range st.resources {
		r.Inputs = copyMap(r.Inputs)
		if edit(&r) {
			out.resources = append(out.resources, r)
		}
	}
	out.resources = append(out.resources, add...)
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestDiagramDrawsWhatIsRegistered changes the recorded resources and
// expects the drawing to follow: a NAT instance instead of gateways, a
// missing rule, a missing database.
func TestDiagramDrawsWhatIsRegistered(t *testing.T) {
	// The edits start from one NAT gateway and take it away or add to it.
	st := findScenario(t, "a single NAT gateway", func(sc scenario) bool { return sc.nat == "Single" }).run(t)
	vpc := st.one(t, "awsx:ec2:Vpc", "network")
	public := asStrings(vpc.Outputs["publicSubnetIds"])
	natInstance := recorded{Type: "aws:ec2/instance:Instance", Name: "nat", Custom: true, Inputs: map[string]any{
		"instanceType": "t4g.nano", "sourceDestCheck": false, "subnetId": public[1],
		"vpcSecurityGroupIds": []any{"sg-nat"},
	}}
	noGateways := func(r *recorded) bool {
		if r.Type == "awsx:ec2:Vpc" {
			r.Inputs["natGateways"] = map[string]any{"strategy": "None"}
		}
		return true
	}
	cases := []struct {
		name        string
		st          *stack
		want, avoid []string
	}{
		{"NAT instance instead of gateways", edited(st, noGateways, natInstance),
			[]string{"subnets_private -> nat_instance_nat: egress, every zone", "nat_instance_nat -> internet: "},
			[]string{"nat_gateway"}},
		{"no NAT at all", edited(st, noGateways),
			nil, []string{"nat_", "internet(("}},
		{"an instance that is not a NAT", edited(st, func(*recorded) bool { return true },
			recorded{Type: "aws:ec2/instance:Instance", Name: "bastion", Custom: true, Inputs: map[string]any{"instanceType": "t4g.nano", "subnetId": public[0]}}),
			[]string{"subnets_private -> nat_gateway_us_east_1a: egress, every zone"}, []string{"bastion"}},
		{"the rule letting orders call catalog removed", edited(st, func(r *recorded) bool { return r.Name != "orders-to-catalog-in" }),
			[]string{"svc_web -> svc_catalog: Service Connect, TCP 8080"}, []string{"svc_orders -> svc_catalog"}},
		{"no database", edited(st, func(r *recorded) bool { return r.Type != "aws:rds/instance:Instance" }),
			nil, []string{"db_database"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chart := drawDiagram(c.st)
			edges := mermaidEdges(t, chart)
			for _, w := range c.want {
				if !slices.Contains(edges, w) {
					t.Errorf("got no edge %q; edges:\n  %s", w, strings.Join(edges, "\n  "))
				}
			}
			for _, a := range c.avoid {
				if strings.Contains(chart, a) {
					t.Errorf("got %q drawn, want it gone:\n%s", a, chart)
				}
			}
		})
	}
	// The NAT instance sits in the public subnet it was given, in that zone.
	chart := drawDiagram(cases[0].st)
	if !strings.Contains(chart, `nat_instance_nat["NAT instance nat<br/>t4g.nano<br/>us-east-1b"]`) {
		t.Errorf("got no NAT instance in us-east-1b:\n%s", chart)
	}
}

func TestNodeID(t *testing.T) {
	cases := []struct {
		parts []string
		want  string
	}{
		{[]string{"svc", "catalog"}, "svc_catalog"},
		{[]string{"nat", "gateway", "us-east-1a"}, "nat_gateway_us_east_1a"},
		{[]string{"db", "-my.db-"}, "db_my_db"},
	}
	for _, c := range cases {
		if got := nodeID(c.parts...); got != c.want {
			t.Errorf("nodeID(%q): got %q, want %q", c.parts, got, c.want)
		}
	}
}
