package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The stack's CloudWatch dashboard: one row per service from metrics AWS
// publishes for nothing (the ALB's per target group, ECS's per service),
// and the shop's business counters when the collectors send them.

// Dashboard is the stack's CloudWatch dashboard.
type Dashboard struct {
	pulumi.ResourceState

	Name pulumi.StringOutput
}

// dashboardService is one service's row.
type dashboardService struct {
	Name string
	// Service is the ECS service name; TargetGroup its target group's ARN
	// suffix (the ALB metrics' TargetGroup dimension).
	Service, TargetGroup pulumi.StringOutput
}

type dashboardArgs struct {
	Config Config
	// LoadBalancer is the ALB's ARN suffix (the LoadBalancer dimension);
	// Cluster the ECS cluster name.
	LoadBalancer, Cluster pulumi.StringOutput
	Services              []dashboardService
	// Telemetry is nil when no collector sends the business counters.
	Telemetry *Telemetry
}

func newDashboard(ctx *pulumi.Context, name string, args dashboardArgs, opts ...pulumi.ResourceOption) (*Dashboard, error) {
	d := &Dashboard{}
	if err := ctx.RegisterComponentResource("shop:dashboard:Dashboard", name, d, opts...); err != nil {
		return nil, err
	}
	inputs := []any{args.LoadBalancer, args.Cluster}
	for _, s := range args.Services {
		inputs = append(inputs, s.Service, s.TargetGroup)
	}
	body := pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		view := dashboardView{
			Region: args.Config.Region, Stack: args.Config.Stack,
			LoadBalancer: v[0].(string), Cluster: v[1].(string),
			ContainerInsights: args.Config.ContainerInsights != "disabled",
		}
		for i, s := range args.Services {
			view.Services = append(view.Services, dashboardRow{
				Name: s.Name, Service: v[2+2*i].(string), TargetGroup: v[3+2*i].(string),
			})
		}
		if args.Telemetry != nil {
			view.Namespace = args.Telemetry.Namespace
		}
		return dashboardBody(view)
	}).(pulumi.StringOutput)
	board, err := cloudwatch.NewDashboard(ctx, name, &cloudwatch.DashboardArgs{
		// Letters, digits, - and _ only (PutDashboard, DashboardName).
		DashboardName: pulumi.Sprintf("%s-%s", args.Config.Project, args.Config.Stack),
		DashboardBody: body,
	}, pulumi.Parent(d))
	if err != nil {
		return nil, err
	}
	d.Name = board.DashboardName
	return d, ctx.RegisterResourceOutputs(d, pulumi.Map{"name": d.Name})
}

// dashboardView is everything the body shows, resolved.
type dashboardView struct {
	Region, Stack         string
	LoadBalancer, Cluster string
	// ContainerInsights publishes RunningTaskCount; without it the row
	// shows the ALB's healthy targets instead.
	ContainerInsights bool
	Services          []dashboardRow
	// Namespace of the business counters; empty without telemetry.
	Namespace string
}

type dashboardRow struct{ Name, Service, TargetGroup string }

// widget is one element of the body's "widgets" array ("Dashboard Body
// Structure and Syntax", CloudWatch API reference): a 24-column grid,
// x 0..23, width 1..24, height 1..1000.
type widget struct {
	Type       string         `json:"type"`
	X          int            `json:"x"`
	Y          int            `json:"y"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Properties map[string]any `json:"properties"`
}

// dashboardBody renders the body. A metric line is [namespace, name,
// dimension name, value, ..., {options}]; a metric math line is
// [{"expression": ..., "id": ...}] ("Metric widget: Format of each metric
// in the array" in the same reference).
func dashboardBody(v dashboardView) (string, error) {
	const rowHeight, width = 6, 6
	alb := func(metric string, opts map[string]any, tg string) []any {
		return []any{"AWS/ApplicationELB", metric, "LoadBalancer", v.LoadBalancer, "TargetGroup", tg, opts}
	}
	ecsMetric := func(namespace, metric, service string, opts map[string]any) []any {
		return []any{namespace, metric, "ClusterName", v.Cluster, "ServiceName", service, opts}
	}
	graph := func(x, y int, title, stat string, metrics [][]any) widget {
		return widget{Type: "metric", X: x, Y: y, Width: width, Height: rowHeight, Properties: map[string]any{
			"title": title, "region": v.Region, "view": "timeSeries", "stacked": false,
			"period": 60, "stat": stat, "metrics": metrics,
		}}
	}
	intro := fmt.Sprintf("# %s\nPer service: requests and 5xx at the ALB, target response time, tasks, CPU and memory.", v.Stack)
	if v.Namespace != "" {
		intro += " A p99 that jumps names the service; X-Ray's traces of that service, slowest first, show the span that took the time."
	}
	widgets := []widget{{Type: "text", X: 0, Y: 0, Width: 24, Height: 2, Properties: map[string]any{"markdown": intro}}}
	y := 2
	for _, s := range v.Services {
		tasks := alb("HealthyHostCount", map[string]any{"label": "healthy tasks (ALB)", "stat": "Minimum"}, s.TargetGroup)
		if v.ContainerInsights {
			tasks = ecsMetric("ECS/ContainerInsights", "RunningTaskCount", s.Service, map[string]any{"label": "running tasks", "stat": "Average"})
		}
		widgets = append(widgets,
			graph(0, y, s.Name+": requests and 5xx", "Sum", [][]any{
				alb("RequestCount", map[string]any{"id": "requests", "label": "requests"}, s.TargetGroup),
				alb("HTTPCode_Target_5XX_Count", map[string]any{"id": "errors", "label": "5xx"}, s.TargetGroup),
				{map[string]any{"expression": "100 * errors / requests", "id": "rate", "label": "5xx %", "yAxis": "right"}},
			}),
			graph(width, y, s.Name+": response time (s)", "p99", [][]any{
				alb("TargetResponseTime", map[string]any{"stat": "p50", "label": "p50"}, s.TargetGroup),
				alb("TargetResponseTime", map[string]any{"stat": "p99", "label": "p99"}, s.TargetGroup),
			}),
			graph(2*width, y, s.Name+": tasks", "Average", [][]any{tasks}),
			graph(3*width, y, s.Name+": CPU and memory (%)", "Average", [][]any{
				ecsMetric("AWS/ECS", "CPUUtilization", s.Service, map[string]any{"label": "CPU"}),
				ecsMetric("AWS/ECS", "MemoryUtilization", s.Service, map[string]any{"label": "memory"}),
			}),
		)
		y += rowHeight
	}
	if v.Namespace != "" {
		w := 24 / len(metricDeclarations)
		for i, d := range metricDeclarations {
			var metrics [][]any
			for _, name := range d.Names {
				for _, dims := range dimensionValues(d) {
					line := []any{v.Namespace, name}
					for _, kv := range dims {
						line = append(line, kv[0], kv[1])
					}
					label := name
					if len(dims) > 0 {
						label = dims[0][1]
					}
					metrics = append(metrics, append(line, map[string]any{"label": label}))
				}
			}
			g := graph(i*w, y, d.Names[0], "Sum", metrics)
			g.Width = w
			g.Properties["period"] = 300
			widgets = append(widgets, g)
		}
	}
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	return string(b), err
}

// dimensionValues lists every dimension name/value combination a
// declaration turns into a metric, in declaration order: the product of
// the values allowed for each of its dimensions. No dimension is one
// combination, the empty one.
func dimensionValues(d metricDeclaration) [][][2]string {
	out := [][][2]string{{}}
	for _, dim := range d.Dimension {
		var next [][][2]string
		for _, prefix := range out {
			for _, value := range d.Values[dim] {
				combo := append(append([][2]string{}, prefix...), [2]string{dim, value})
				next = append(next, combo)
			}
		}
		out = next
	}
	return out
}
