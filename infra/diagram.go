package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// drawDiagram draws a Mermaid flowchart of what the program registered: the
// load balancer and its routes, the services and who may call whom, the
// database, and the way out to the internet. Nothing in it is drawn by hand:
// a box or an arrow is there because a resource or a rule says so.
func drawDiagram(st *stack) string {
	d := newDiagram(st)
	return d.render()
}

// diagramNode is one box; zone is the subnet tier it sits in ("public",
// "private" or "" when its subnets are not the VPC's).
type diagramNode struct {
	id, label, shape, tier string
}

type diagramEdge struct {
	from, to, label string
}

type diagram struct {
	vpc          *recorded
	zones        []string
	publicIDs    []string
	privateIDs   []string
	nodes        map[string]diagramNode
	edges        map[diagramEdge]bool
	sgOwner      map[string]string // security group ID -> node id
	targetGroups map[string]string // target group ARN -> service node id
}

func newDiagram(st *stack) *diagram {
	d := &diagram{nodes: map[string]diagramNode{}, edges: map[diagramEdge]bool{},
		sgOwner: map[string]string{}, targetGroups: map[string]string{}}
	if vpcs := st.ofType("awsx:ec2:Vpc"); len(vpcs) > 0 {
		d.vpc = &vpcs[0]
		d.zones = asStrings(d.vpc.Inputs["availabilityZoneNames"])
		d.publicIDs = asStrings(d.vpc.Outputs["publicSubnetIds"])
		d.privateIDs = asStrings(d.vpc.Outputs["privateSubnetIds"])
	}
	d.add(diagramNode{id: "clients", label: "clients", shape: "stadium"})
	d.services(st)
	d.databases(st)
	d.loadBalancers(st)
	d.calls(st)
	d.egress(st)
	d.messaging(st)
	return d
}

// messaging draws the events: each topic with an arrow from its publisher
// (the topic's service tag), each consumer's queue with an arrow from the
// topic it subscribes to and one to its consumer (the queue's service tag).
// Topics and queues are regional: drawn outside the VPC.
func (d *diagram) messaging(st *stack) {
	topics := map[string]string{} // topic ARN -> node id
	for _, t := range st.ofType("aws:sns/topic:Topic") {
		id := nodeID("topic", t.Name)
		topics[fmt.Sprint(t.Outputs["arn"])] = id
		d.add(diagramNode{id: id, label: fmt.Sprintf("SNS topic %v", t.Inputs["name"]), shape: "round"})
		if svc := nodeID("svc", fmt.Sprint(dig(t.Inputs, "tags", "service"))); d.nodes[svc].id != "" {
			d.edge(svc, id, "publishes")
		}
	}
	queues := map[string]string{} // queue ARN -> node id
	for _, q := range st.ofType("aws:sqs/queue:Queue") {
		var redrive struct{ MaxReceiveCount int }
		if json.Unmarshal([]byte(text(q.Inputs["redrivePolicy"])), &redrive) != nil {
			continue // a dead-letter queue: drawn on its queue's label
		}
		id := nodeID("queue", q.Name)
		queues[fmt.Sprint(q.Outputs["arn"])] = id
		d.add(diagramNode{id: id, label: fmt.Sprintf("SQS queue %v<br/>dead-letter queue after %d receives", q.Inputs["name"], redrive.MaxReceiveCount), shape: "box"})
		if svc := nodeID("svc", fmt.Sprint(dig(q.Inputs, "tags", "service"))); d.nodes[svc].id != "" {
			d.edge(id, svc, "long polling")
		}
	}
	for _, sub := range st.ofType("aws:sns/topicSubscription:TopicSubscription") {
		from, to := topics[fmt.Sprint(sub.Inputs["topic"])], queues[fmt.Sprint(sub.Inputs["endpoint"])]
		if from == "" || to == "" {
			continue
		}
		label := "subscription"
		if sub.Inputs["rawMessageDelivery"] == true {
			label = "raw delivery"
		}
		d.edge(from, to, label)
	}
}

func (d *diagram) add(n diagramNode) { d.nodes[n.id] = n }

func (d *diagram) edge(from, to, label string) { d.edges[diagramEdge{from, to, label}] = true }

// tier says which of the VPC's subnet tiers a set of subnets belongs to.
func (d *diagram) tier(subnets []string) string {
	if len(subnets) == 0 {
		return ""
	}
	within := func(ids []string) bool {
		for _, s := range subnets {
			if !slices.Contains(ids, s) {
				return false
			}
		}
		return true
	}
	switch {
	case within(d.privateIDs):
		return "private"
	case within(d.publicIDs):
		return "public"
	}
	return ""
}

// zoneOf is the zone of one of the VPC's subnets ("" when it is not one).
func (d *diagram) zoneOf(subnet string) string {
	for _, ids := range [][]string{d.publicIDs, d.privateIDs} {
		if i := slices.Index(ids, subnet); i >= 0 && i < len(d.zones) {
			return d.zones[i]
		}
	}
	return ""
}

// services draws each ECS service with its task size, CPU architecture,
// task count and capacity.
func (d *diagram) services(st *stack) {
	taskDefs := map[string]recorded{}
	for _, td := range st.ofType("aws:ecs/taskDefinition:TaskDefinition") {
		taskDefs[fmt.Sprint(td.Outputs["arn"])] = td
	}
	for _, svc := range st.ofType("aws:ecs/service:Service") {
		name := svc.Name
		if n, ok := svc.Inputs["name"].(string); ok && n != "" {
			name = n
		}
		id := nodeID("svc", name)
		lines := []string{name}
		if td, ok := taskDefs[fmt.Sprint(svc.Inputs["taskDefinition"])]; ok {
			lines = append(lines, taskSize(td))
			// Sidecars share the task: the ADOT collector with telemetry.
			if defs, err := containersOf(td); err == nil {
				for _, c := range defs {
					if c.Name != name {
						lines = append(lines, "+ "+c.Name)
					}
				}
			}
		}
		lines = append(lines, taskCount(st, svc, name)+", "+capacity(st, svc))
		if window := scheduleLabel(st, name); window != "" {
			lines = append(lines, "runs "+window)
		}
		net := asMap(svc.Inputs["networkConfiguration"])
		d.add(diagramNode{id: id, label: strings.Join(lines, "<br/>"), shape: "box", tier: d.tier(asStrings(net["subnets"]))})
		for _, sg := range asStrings(net["securityGroups"]) {
			d.sgOwner[sg] = id
		}
		for _, lb := range asSlice(svc.Inputs["loadBalancers"]) {
			d.targetGroups[fmt.Sprint(dig(lb, "targetGroupArn"))] = id
		}
	}
}

// taskSize is "0.25 vCPU / 0.5 GB, X86_64" from a task definition.
func taskSize(td recorded) string {
	cpu, _ := strconv.ParseFloat(fmt.Sprint(td.Inputs["cpu"]), 64)
	mem, _ := strconv.ParseFloat(fmt.Sprint(td.Inputs["memory"]), 64)
	arch := fmt.Sprint(dig(td.Inputs, "runtimePlatform", "cpuArchitecture"))
	if arch == "<nil>" {
		arch = "X86_64" // Fargate's default when runtimePlatform is unset
	}
	return fmt.Sprintf("%s vCPU / %s GB, %s", trimFloat(cpu/1024), trimFloat(mem/1024), arch)
}

// taskCount is the autoscaling range of a service, or its desired count.
func taskCount(st *stack, svc recorded, name string) string {
	for _, t := range st.ofType("aws:appautoscaling/target:Target") {
		if t.Inputs["serviceNamespace"] == "ecs" && strings.HasSuffix(fmt.Sprint(t.Inputs["resourceId"]), "/"+name) {
			lo, hi := num(t.Inputs["minCapacity"]), num(t.Inputs["maxCapacity"])
			if lo == hi {
				return tasksLabel(lo)
			}
			return fmt.Sprintf("%s-%s tasks", trimFloat(lo), trimFloat(hi))
		}
	}
	return tasksLabel(num(svc.Inputs["desiredCount"]))
}

func tasksLabel(n float64) string {
	if n == 1 {
		return "1 task"
	}
	return trimFloat(n) + " tasks"
}

// capacity says where a service's tasks run: on-demand Fargate, Fargate
// Spot, or both, from its capacity provider strategy, else the cluster's
// default strategy, else its launch type.
func capacity(st *stack, svc recorded) string {
	strategy := capacityStrategyOf(st, svc)
	var base, onDemand, spot float64
	for _, s := range strategy {
		switch dig(s, "capacityProvider") {
		case "FARGATE":
			base, onDemand = num(dig(s, "base")), num(dig(s, "weight"))
		case "FARGATE_SPOT":
			spot = num(dig(s, "weight"))
		}
	}
	switch {
	case len(strategy) == 0:
		return strings.ToLower(fmt.Sprint(svc.Inputs["launchType"]))
	case spot == 0:
		return "on-demand"
	case onDemand == 0 && base == 0:
		return "Spot"
	case base > 0:
		return fmt.Sprintf("on-demand (first %s), then on-demand:Spot %s:%s", trimFloat(base), trimFloat(onDemand), trimFloat(spot))
	}
	return fmt.Sprintf("on-demand:Spot %s:%s", trimFloat(onDemand), trimFloat(spot))
}

// databases draws each RDS instance, in the tier of its subnet group.
func (d *diagram) databases(st *stack) {
	groups := map[string][]string{}
	for _, g := range st.ofType("aws:rds/subnetGroup:SubnetGroup") {
		groups[fmt.Sprint(g.Outputs["name"])] = asStrings(g.Inputs["subnetIds"])
	}
	for _, db := range st.ofType("aws:rds/instance:Instance") {
		id := nodeID("db", db.Name)
		engine := fmt.Sprint(db.Inputs["engine"])
		if engine == "postgres" {
			engine = "PostgreSQL"
		}
		label := fmt.Sprintf("RDS %s %v<br/>%v", engine, db.Inputs["engineVersion"], db.Inputs["instanceClass"])
		if db.Inputs["multiAz"] == true {
			label += ", Multi-AZ"
		} else {
			label += ", single-AZ"
		}
		d.add(diagramNode{id: id, label: label, shape: "cylinder", tier: d.tier(groups[fmt.Sprint(db.Inputs["dbSubnetGroupName"])])})
		for _, sg := range asStrings(db.Inputs["vpcSecurityGroupIds"]) {
			d.sgOwner[sg] = id
		}
	}
}

// loadBalancers draws each load balancer, its listeners on its label, and
// one arrow per destination of its listeners, labelled with the path
// patterns of the rules that lead there.
func (d *diagram) loadBalancers(st *stack) {
	for _, lb := range st.ofType("aws:lb/loadBalancer:LoadBalancer") {
		id := nodeID("alb", lb.Name)
		for _, sg := range asStrings(lb.Inputs["securityGroups"]) {
			d.sgOwner[sg] = id
		}
		var ports []string
		var listeners []string // lines of the label
		var listenerARNs []string
		for _, l := range st.where("aws:lb/listener:Listener", "loadBalancerArn", lb.Outputs["arn"]) {
			listenerARNs = append(listenerARNs, fmt.Sprint(l.Outputs["arn"]))
			port := fmt.Sprintf("%v :%v", l.Inputs["protocol"], l.Inputs["port"])
			ports = append(ports, port)
			line := port
			for _, a := range asSlice(l.Inputs["defaultActions"]) {
				switch dig(a, "type") {
				case "redirect":
					line += fmt.Sprintf(" redirects to %v :%v", dig(a, "redirect", "protocol"), dig(a, "redirect", "port"))
				case "forward":
					d.route(id, fmt.Sprint(dig(a, "targetGroupArn")), "any other path")
				case "fixed-response":
					line += fmt.Sprintf(" answers %v", dig(a, "fixedResponse", "statusCode"))
				}
			}
			listeners = append(listeners, line)
		}
		sort.Strings(ports)
		sort.Strings(listeners)
		scheme := "internet-facing"
		if lb.Inputs["internal"] == true {
			scheme = "internal"
		}
		d.add(diagramNode{id: id, label: fmt.Sprintf("ALB %s, %s<br/>%s", lb.Name, scheme, strings.Join(listeners, "<br/>")),
			shape: "box", tier: d.tier(asStrings(lb.Inputs["subnets"]))})
		if scheme == "internet-facing" {
			d.edge("clients", id, strings.Join(ports, ", "))
		}

		// Rules in priority order, so the patterns read as the ALB tries them.
		var rules []recorded
		for _, r := range st.ofType("aws:lb/listenerRule:ListenerRule") {
			if slices.Contains(listenerARNs, fmt.Sprint(r.Inputs["listenerArn"])) {
				rules = append(rules, r)
			}
		}
		sort.SliceStable(rules, func(i, j int) bool { return num(rules[i].Inputs["priority"]) < num(rules[j].Inputs["priority"]) })
		patterns := map[string][]string{} // destination node -> patterns
		var order []string
		for _, r := range rules {
			var paths []string
			for _, c := range asSlice(r.Inputs["conditions"]) {
				paths = append(paths, asStrings(dig(c, "pathPattern", "values"))...)
			}
			for _, a := range asSlice(r.Inputs["actions"]) {
				var to string
				switch dig(a, "type") {
				case "forward":
					to = d.targetGroups[fmt.Sprint(dig(a, "targetGroupArn"))]
				case "fixed-response":
					status := fmt.Sprint(dig(a, "fixedResponse", "statusCode"))
					to = nodeID(id, "answers", status)
					d.add(diagramNode{id: to, label: "answers " + status, shape: "round", tier: d.nodes[id].tier})
				}
				if to == "" {
					continue
				}
				if _, seen := patterns[to]; !seen {
					order = append(order, to)
				}
				for _, p := range paths {
					if !slices.Contains(patterns[to], p) {
						patterns[to] = append(patterns[to], p)
					}
				}
			}
		}
		for _, to := range order {
			d.edge(id, to, strings.Join(patterns[to], ", "))
		}
	}
}

// route draws a listener's default forward.
func (d *diagram) route(from, targetGroupArn, label string) {
	if to, ok := d.targetGroups[targetGroupArn]; ok {
		d.edge(from, to, label)
	}
}

// calls draws an arrow for every ingress rule whose source is the security
// group of a service: the calls that service may make (Service Connect to
// another service, or the database).
func (d *diagram) calls(st *stack) {
	rules := append(st.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"),
		st.where("aws:ec2/securityGroupRule:SecurityGroupRule", "type", "ingress")...)
	for _, r := range rules {
		from := d.sgOwner[fmt.Sprint(r.Inputs["referencedSecurityGroupId"])]
		if from == "" {
			from = d.sgOwner[fmt.Sprint(r.Inputs["sourceSecurityGroupId"])]
		}
		to := d.sgOwner[fmt.Sprint(r.Inputs["securityGroupId"])]
		if !strings.HasPrefix(from, "svc_") || to == "" || to == from {
			continue // the ALB's own arrows come from its rules
		}
		port := fmt.Sprint(r.Inputs["fromPort"])
		if toPort := fmt.Sprint(r.Inputs["toPort"]); toPort != port {
			port += "-" + toPort
		}
		label := "TCP " + port
		if strings.HasPrefix(to, "svc_") {
			label = "Service Connect, " + label
		}
		d.edge(from, to, label)
	}
}

// egress draws the NAT the private subnets leave through: NAT gateways,
// which awsx creates as children of the VPC and which the mock engine
// therefore does not see, are derived from the VPC's natGateways input, the
// way awsx v2.21.0 places them (awsx/ec2/vpc.ts: Single puts one in the first
// zone's public subnet, OnePerAz one in each); NAT instances are EC2
// instances with the source/destination check off.
func (d *diagram) egress(st *stack) {
	var nats []diagramNode
	natZone := map[string]string{}
	if d.vpc != nil {
		layout := awsxNatLayout(*d.vpc)
		for _, z := range layout.GatewayZones {
			n := diagramNode{id: nodeID("nat", "gateway", z), shape: "box", tier: "public",
				label: fmt.Sprintf("NAT gateway, %s<br/>from the VPC's natGateways: %s", z, layout.Strategy)}
			nats = append(nats, n)
			natZone[n.id] = z
		}
	}
	for _, inst := range st.ofType("aws:ec2/instance:Instance") {
		if inst.Inputs["sourceDestCheck"] != false {
			continue
		}
		zone := d.zoneOf(fmt.Sprint(inst.Inputs["subnetId"]))
		if zone == "" {
			zone, _ = inst.Inputs["availabilityZone"].(string)
		}
		n := diagramNode{id: nodeID("nat", "instance", inst.Name),
			label: strings.TrimSuffix(fmt.Sprintf("NAT instance %s<br/>%v<br/>%s", inst.Name, inst.Inputs["instanceType"], zone), "<br/>"),
			shape: "box", tier: d.tier([]string{fmt.Sprint(inst.Inputs["subnetId"])})}
		nats = append(nats, n)
		natZone[n.id] = zone
		for _, sg := range asStrings(inst.Inputs["vpcSecurityGroupIds"]) {
			d.sgOwner[sg] = n.id
		}
	}
	if len(nats) == 0 {
		return
	}
	d.add(diagramNode{id: "internet", label: "internet", shape: "circle"})
	// One NAT per zone serves its own zone; a lone NAT serves every zone.
	perZone := len(nats) == len(d.zones) && len(nats) > 1
	for _, n := range nats {
		d.add(n)
		label := "egress"
		switch {
		case len(nats) == 1:
			label = "egress, every zone"
		case perZone && natZone[n.id] != "":
			label = "egress, " + natZone[n.id]
		}
		if d.vpc != nil {
			d.edge("subnets_private", n.id, label)
		}
		d.edge(n.id, "internet", "")
	}
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9]+`)

// nodeID joins parts into an ID Mermaid accepts: letters, digits and _.
func nodeID(parts ...string) string {
	for i, p := range parts {
		parts[i] = strings.Trim(unsafeID.ReplaceAllString(p, "_"), "_")
	}
	return strings.Join(parts, "_")
}

// trimFloat prints 0.25, 1, 1.5 (no trailing zeros).
func trimFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// mermaidText makes a label safe inside Mermaid's double quotes.
func mermaidText(s string) string { return strings.ReplaceAll(s, `"`, "#quot;") }

func (n diagramNode) String() string {
	l := mermaidText(n.label)
	switch n.shape {
	case "stadium":
		return fmt.Sprintf(`%s(["%s"])`, n.id, l)
	case "cylinder":
		return fmt.Sprintf(`%s[("%s")]`, n.id, l)
	case "circle":
		return fmt.Sprintf(`%s(("%s"))`, n.id, l)
	case "round":
		return fmt.Sprintf(`%s("%s")`, n.id, l)
	}
	return fmt.Sprintf(`%s["%s"]`, n.id, l)
}

func (d *diagram) render() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	byTier := map[string][]diagramNode{}
	for _, n := range d.nodes {
		byTier[n.tier] = append(byTier[n.tier], n)
	}
	for _, ns := range byTier {
		sort.Slice(ns, func(i, j int) bool { return ns[i].id < ns[j].id })
	}
	for _, n := range byTier[""] {
		fmt.Fprintf(&b, "    %s\n", n)
	}
	if d.vpc != nil {
		fmt.Fprintf(&b, "    subgraph %s[\"%s\"]\n", nodeID("vpc", d.vpc.Name),
			mermaidText(fmt.Sprintf("VPC %s, %v, %d zones", d.vpc.Name, d.vpc.Inputs["cidrBlock"], len(d.zones))))
		for _, tier := range []string{"public", "private"} {
			fmt.Fprintf(&b, "        subgraph subnets_%s[\"%s subnets: %s\"]\n", tier, tier, strings.Join(d.zones, ", "))
			for _, n := range byTier[tier] {
				fmt.Fprintf(&b, "            %s\n", n)
			}
			b.WriteString("        end\n")
		}
		b.WriteString("    end\n")
	}
	edges := make([]diagramEdge, 0, len(d.edges))
	for e := range d.edges {
		edges = append(edges, e)
	}
	sort.Slice(edges, func(i, j int) bool {
		a, c := edges[i], edges[j]
		if a.from != c.from {
			return a.from < c.from
		}
		if a.to != c.to {
			return a.to < c.to
		}
		return a.label < c.label
	})
	for _, e := range edges {
		if e.label == "" {
			fmt.Fprintf(&b, "    %s --> %s\n", e.from, e.to)
		} else {
			fmt.Fprintf(&b, "    %s -- \"%s\" --> %s\n", e.from, mermaidText(e.label), e.to)
		}
	}
	return b.String()
}
