package main

import (
	"encoding/json"
	"fmt"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// What the collectors beside the apps cost, read from the task definitions
// the program registers: the traces X-Ray records and the custom metrics
// CloudWatch extracts from the EMF events. Their log group and the
// dashboard are priced like any other.

// containersOf parses a task definition's container definitions.
// A task definition without any is no container, not an error: the
// estimate's tests price tasks by their size alone.
func containersOf(task recorded) ([]containerDefinition, error) {
	raw := text(task.Inputs["containerDefinitions"])
	if raw == "" {
		return nil, nil
	}
	var defs []containerDefinition
	err := json.Unmarshal([]byte(raw), &defs)
	return defs, err
}

// telemetry prices the traces recorded and the EMF metrics of every
// collector the running services carry.
func (e *estimator) telemetry() {
	component := "telemetry"
	for _, g := range e.st.ofType("aws:cloudwatch/logGroup:LogGroup") {
		if strings.HasSuffix(text(g.Inputs["name"]), "/"+emfLogGroupSuffix) {
			component = componentOf(g.Parent)
		}
	}
	ratio, traced := 0.0, false
	metrics := map[string]float64{} // namespace: metrics
	for _, svc := range e.st.ofType("aws:ecs/service:Service") {
		task, ok := e.taskDefinition(text(svc.Inputs["taskDefinition"]))
		if !ok {
			continue // reported by ecsService
		}
		defs, err := containersOf(task)
		if err != nil {
			e.fail("cost: task definition %s: %v", task.Name, err)
			continue
		}
		for _, c := range defs {
			if doc, ok := collectorConfigOf(c); ok {
				ns, n, err := emfMetricCount(doc)
				if err != nil {
					e.fail("cost: %s in %s: %v", c.Name, task.Name, err)
					continue
				}
				if ns != "" {
					metrics[ns] = max(metrics[ns], n)
				}
				continue
			}
			env := envMap(c)
			if env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" {
				continue
			}
			r, err := strconv.ParseFloat(env["OTEL_TRACES_SAMPLER_ARG"], 64)
			if err != nil || !strings.HasSuffix(env["OTEL_TRACES_SAMPLER"], "traceidratio") {
				e.fail("cost: %s in %s: sampler %q with ratio %q: only a traceidratio sampler is priced",
					c.Name, task.Name, env["OTEL_TRACES_SAMPLER"], env["OTEL_TRACES_SAMPLER_ARG"])
				continue
			}
			// A trace is recorded where it starts; with ratios that
			// differ, the highest is the bound.
			ratio, traced = max(ratio, r), true
		}
	}
	if traced {
		requests := e.assume("tracedRequests")
		p := e.price("xray.traces-recorded")
		m := p * requests * ratio / 1e6
		e.add(component, "X-Ray traces recorded", m,
			fmt.Sprintf("%s USD/million traces x %s requests/month (tracedRequests) x %s sampled (traceSampleRatio) / 1,000,000 = %s",
				fnum(p), fnum(requests), fnum(ratio), usd(m)), "xray.traces-recorded")
	}
	namespaces := make([]string, 0, len(metrics))
	for ns := range metrics {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	for _, ns := range namespaces {
		e.monthly(component, "CloudWatch custom metrics (EMF, "+ns+")", "cloudwatch.metric", metrics[ns], "metric", "metrics",
			"(metric_declarations: names x dimension values)")
	}
}

// sidecarShare describes what the non-app containers of a task take of it:
// they run inside the task's CPU and memory, which is what Fargate bills.
func sidecarShare(task recorded, service string) (string, bool) {
	defs, err := containersOf(task)
	if err != nil {
		return "", false
	}
	var parts []string
	for _, c := range defs {
		if c.Name == service {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %d CPU units, %d MiB (hard limit) of the task's %s/%s",
			c.Name, c.CPU, c.Memory, text(task.Inputs["cpu"]), text(task.Inputs["memory"])))
	}
	return strings.Join(parts, "; "), len(parts) > 0
}

// emfMetricCount counts the CloudWatch metrics an awsemf exporter can make:
// for each metric_declarations rule, its metric names times, for each
// dimension set, the product of the values its label_matchers allow. A
// dimension whose values no matcher bounds cannot be counted, and is
// refused. Any rollup but NoDimensionRollup adds metrics per dimension
// subset ("AWS CloudWatch EMF Exporter", dimension_rollup_option), and is
// refused too.
func emfMetricCount(doc map[string]any) (string, float64, error) {
	emf, ok := dig(doc, "exporters", "awsemf").(map[string]any)
	if !ok {
		return "", 0, nil
	}
	if r := text(emf["dimension_rollup_option"]); r != "NoDimensionRollup" {
		return "", 0, fmt.Errorf("awsemf dimension_rollup_option %q: only NoDimensionRollup is priced", r)
	}
	ns := text(emf["namespace"])
	total := 0.0
	for i, d := range asSlice(emf["metric_declarations"]) {
		var names []string
		for _, sel := range asStrings(dig(d, "metric_name_selectors")) {
			n, err := finiteLanguage(sel)
			if err != nil {
				return "", 0, fmt.Errorf("metric_declarations[%d]: selector %q: %w", i, sel, err)
			}
			names = append(names, n...)
		}
		bounded := map[string]int{}
		for _, m := range asSlice(dig(d, "label_matchers")) {
			labels := asStrings(dig(m, "label_names"))
			values, err := finiteLanguage(text(dig(m, "regex")))
			if err != nil || len(labels) != 1 {
				return "", 0, fmt.Errorf("metric_declarations[%d]: label matcher %v: want one label and a finite regex (%v)", i, m, err)
			}
			bounded[labels[0]] = len(values)
		}
		sets := 0
		for _, set := range asSlice(dig(d, "dimensions")) {
			product := 1
			for _, dim := range asStrings(set) {
				n, ok := bounded[dim]
				if !ok {
					return "", 0, fmt.Errorf("metric_declarations[%d]: dimension %q has no label matcher bounding its values", i, dim)
				}
				product *= n
			}
			sets += product
		}
		total += float64(len(names) * sets)
	}
	return ns, total, nil
}

// finiteLanguage lists the strings an anchored regular expression matches,
// when they are few and literal (^(a|b)$, ^shop\.orders$); anything
// else is an error.
func finiteLanguage(expr string) ([]string, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	re = re.Simplify()
	subs := re.Sub
	if re.Op != syntax.OpConcat || len(subs) < 2 || subs[0].Op != syntax.OpBeginText || subs[len(subs)-1].Op != syntax.OpEndText {
		return nil, fmt.Errorf("not anchored with ^...$")
	}
	var walk func(*syntax.Regexp) ([]string, error)
	walk = func(r *syntax.Regexp) ([]string, error) {
		switch r.Op {
		case syntax.OpLiteral:
			return []string{string(r.Rune)}, nil
		case syntax.OpEmptyMatch:
			return []string{""}, nil
		case syntax.OpCapture:
			return walk(r.Sub[0])
		case syntax.OpCharClass:
			var out []string
			for i := 0; i < len(r.Rune); i += 2 {
				if r.Rune[i+1]-r.Rune[i] > 64 {
					return nil, fmt.Errorf("character class too wide")
				}
				for c := r.Rune[i]; c <= r.Rune[i+1]; c++ {
					out = append(out, string(c))
				}
			}
			return out, nil
		case syntax.OpAlternate:
			var out []string
			for _, s := range r.Sub {
				l, err := walk(s)
				if err != nil {
					return nil, err
				}
				out = append(out, l...)
			}
			return out, nil
		case syntax.OpConcat:
			out := []string{""}
			for _, s := range r.Sub {
				l, err := walk(s)
				if err != nil {
					return nil, err
				}
				var next []string
				for _, a := range out {
					for _, b := range l {
						next = append(next, a+b)
					}
				}
				out = next
			}
			return out, nil
		}
		return nil, fmt.Errorf("%s matches more than a list of words", r)
	}
	return walk(&syntax.Regexp{Op: syntax.OpConcat, Sub: subs[1 : len(subs)-1]})
}
