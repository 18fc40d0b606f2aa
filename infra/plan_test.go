package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

// The stacks `make plan` documents: dev, and the production example.
var planStacks = []struct{ arg, name string }{
	{"dev", "dev"},
	{"docs/Pulumi.prod.example.yaml", "prod"},
}

func runPlanT(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runPlan(append([]string{}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

// planOf makes a stack's plan, failing the test when it cannot.
func planOf(t *testing.T, stackArg string) *plan {
	t.Helper()
	p, err := makePlan(stackArg, nil)
	if err != nil {
		t.Fatalf("plan of %s: %v", stackArg, err)
	}
	return p
}

func TestPlanPrintsFourParts(t *testing.T) {
	parts := []string{"== Resources: ", "== Diagram (Mermaid) ==", "== Monthly cost: $", "== Security controls (AWS FSBP"}
	for _, s := range planStacks {
		t.Run(s.name, func(t *testing.T) {
			out, errOut, code := runPlanT(t, "-stack", s.arg)
			if code != 0 || errOut != "" {
				t.Fatalf("got exit %d, stderr %q, want 0 and nothing", code, errOut)
			}
			at := -1
			for _, part := range parts {
				i := strings.Index(out, part)
				if i <= at {
					t.Errorf("got %q at %d, want it after the previous part (at %d)", part, i, at)
				}
				at = i
			}
			for _, svc := range routing.Services {
				for _, want := range []string{"shop:service:Service " + svc.Name, "  aws:ecs/service:Service " + svc.Name + "\n"} {
					if !strings.Contains(out, want) {
						t.Errorf("got no %q in the resources", want)
					}
				}
			}
			if !strings.Contains(out, "flowchart LR\n") {
				t.Errorf("got no Mermaid flowchart in:\n%s", out)
			}
		})
	}
}

// TestPlanJSON proves -json is one document with the same facts as the
// text: the totals, the counts, the diagram and the controls.
func TestPlanJSON(t *testing.T) {
	for _, s := range planStacks {
		t.Run(s.name, func(t *testing.T) {
			out, errOut, code := runPlanT(t, "-stack", s.arg, "-json")
			if code != 0 || errOut != "" {
				t.Fatalf("got exit %d, stderr %q, want 0 and nothing", code, errOut)
			}
			var doc planJSON
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("got JSON that does not parse: %v", err)
			}
			if dec.More() {
				t.Errorf("got more than one JSON document")
			}
			text, _, _ := runPlanT(t, "-stack", s.arg)
			if want := fmt.Sprintf("== Monthly cost: $%.2f ==", doc.Cost.Total); !strings.Contains(text, want) {
				t.Errorf("got JSON total %v, but the text has no %q", doc.Cost.Total, want)
			}
			if !strings.Contains(text, doc.Diagram) || doc.Diagram == "" {
				t.Errorf("got a JSON diagram the text does not show:\n%s", doc.Diagram)
			}
			if doc.Stack != s.name || doc.Region == "" {
				t.Errorf("got stack %q region %q, want %q and a region", doc.Stack, doc.Region, s.name)
			}
			listed, counted := 0, 0
			for _, c := range doc.Resources.Components {
				listed += len(c.Resources)
			}
			for _, c := range doc.Resources.Counts {
				counted += c.Count
			}
			if listed != doc.Resources.Total || counted != doc.Resources.Total {
				t.Errorf("got %d resources listed, %d counted, total %d, want all equal", listed, counted, doc.Resources.Total)
			}
			if want := fmt.Sprintf("== Resources: %d ==", doc.Resources.Total); !strings.Contains(text, want) {
				t.Errorf("got no %q in the text", want)
			}
			if n := doc.Controls.Meets + doc.Controls.Fails + doc.Controls.Unchecked; n != len(controls) || len(doc.Controls.List) != len(controls) {
				t.Errorf("got %d controls counted, %d listed, want %d", n, len(doc.Controls.List), len(controls))
			}
		})
	}
}

// TestDevStackCostsAtMost60 holds the dev stack to its budget: at most $60
// a month by `make plan`, with the total the sum of its lines.
func TestDevStackCostsAtMost60(t *testing.T) {
	for _, s := range planStacks {
		p := planOf(t, s.arg)
		sum := 0.0
		for _, l := range p.Cost.Lines {
			sum += l.Monthly
		}
		if math.Abs(sum-p.Cost.Total) > 0.005 {
			t.Errorf("%s: got total %.4f, want the sum of the lines %.4f", s.name, p.Cost.Total, sum)
		}
		if p.Cost.Ceiling < p.Cost.Total {
			t.Errorf("%s: got ceiling %.2f below the total %.2f", s.name, p.Cost.Ceiling, p.Cost.Total)
		}
		t.Logf("%s: $%.2f a month, $%.2f at maxTasks", s.name, p.Cost.Total, p.Cost.Ceiling)
	}
	// The budget is the shop's: its own four services (shipping included)
	// on the dev stack file. A service a team adds costs what the plan says
	// on top.
	cfg, err := readStackConfig("../Pulumi.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := runProgram(shopServices(t), "dev", cfg)
	if err != nil {
		t.Fatal(err)
	}
	prices, err := loadPrices(cfg["aws:region"])
	if err != nil {
		t.Fatal(err)
	}
	usage, err := parseAssumptions(stackAssumptions(cfg), defaultAssumptions(), "Pulumi.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	est, err := estimateCost(st, prices, usage)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dev, the shop's services: $%.2f a month", est.Total)
	if est.Total > 60 {
		t.Errorf("dev: got $%.2f a month for the shop's services, want at most $60.00", est.Total)
	}
}

// TestPlanBadInput proves every bad input is one line per problem on
// stderr, a non-zero exit and nothing on stdout.
func TestPlanBadInput(t *testing.T) {
	dir := t.TempDir()
	writeStack := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const unpriced = "ap-south-2"
	if _, err := loadPrices(unpriced); err == nil {
		t.Fatalf("the price table has %s: pick a region it lacks for this test", unpriced)
	}
	cases := []struct {
		name  string
		args  []string
		code  int
		lines int
		say   string
	}{
		{"unknown stack", []string{"-stack", "staging"}, exitUsage, 1, `unknown stack "staging": no file Pulumi.staging.yaml; stack files: Pulumi.dev.yaml, docs/Pulumi.prod.example.yaml`},
		{"missing stack file", []string{"-stack", filepath.Join(dir, "Pulumi.gone.yaml")}, exitUsage, 1, "Pulumi.gone.yaml"},
		{"not a stack file", []string{"-stack", writeStack("settings.yaml", "config: {}\n")}, exitUsage, 1, "not a stack file name"},
		{"setting out of range", []string{"-stack", writeStack("Pulumi.wide.yaml", "config:\n  aws:region: us-east-1\n  shop:availabilityZones: \"9\"\n")},
			exitStack, 1, "Pulumi.wide.yaml: availabilityZones: got 9, want 2..6"},
		{"two bad settings, two lines", []string{"-stack", writeStack("Pulumi.two.yaml", "config:\n  aws:region: us-east-1\n  shop:availabilityZones: \"9\"\n  shop:logLevel: loud\n")},
			exitStack, 2, "logLevel"},
		{"no region", []string{"-stack", writeStack("Pulumi.noregion.yaml", "config:\n  shop:logLevel: info\n")},
			exitStack, 1, "aws:region: required"},
		{"unpriced region", []string{"-stack", writeStack("Pulumi.far.yaml", "config:\n  aws:region: "+unpriced+"\n")},
			exitStack, 1, unpriced},
		{"stack file that is not YAML", []string{"-stack", writeStack("Pulumi.broken.yaml", "config: [\n")}, exitStack, 1, "Pulumi.broken.yaml"},
		{"misspelled setting", []string{"-stack", writeStack("Pulumi.typo.yaml", "config:\n  aws:region: us-east-1\n  shop:natGateway: Single\n  shop:logLevl: info\n")},
			exitStack, 2, "Pulumi.typo.yaml: shop:natGateway: not a setting of this project"},
		{"stack assumption not known", []string{"-stack", writeStack("Pulumi.usage.yaml", "config:\n  aws:region: us-east-1\n  plan:albLCU: \"2\"\n")},
			exitStack, 1, `Pulumi.usage.yaml: plan: assumption "albLCU": unknown`},
		{"stack assumption not a number", []string{"-stack", writeStack("Pulumi.usage2.yaml", "config:\n  aws:region: us-east-1\n  plan:natGB: lots\n")},
			exitStack, 1, `assumption "natGB": got "lots", want a number`},
		{"unknown assumption", []string{"-assume", "no-such-thing=1"}, exitUsage, 1, "no-such-thing"},
		{"assumption without a value", []string{"-assume", "justakey"}, exitUsage, 1, "justakey"},
		{"unknown flag", []string{"-colour"}, exitUsage, 1, "-colour"},
		{"stray argument", []string{"dev"}, exitUsage, 1, `unexpected argument "dev"`},
		{"docs file without sections", []string{"-write-docs", writeStack("notes.md", "# Notes\n")}, exitUsage, 1, "no <!-- plan dev ... --> section"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runPlanT(t, c.args...)
			if code != c.code {
				t.Errorf("got exit %d, want %d (stderr %q)", code, c.code, errOut)
			}
			if out != "" {
				t.Errorf("got stdout %q, want nothing", out)
			}
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if len(lines) != c.lines || !strings.HasSuffix(errOut, "\n") {
				t.Errorf("got %d stderr lines %q, want %d", len(lines), errOut, c.lines)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "make plan: ") || strings.Contains(l, "goroutine") || strings.Contains(l, "panic") {
					t.Errorf("got stderr line %q, want \"make plan: <problem>\"", l)
				}
			}
			if !strings.Contains(errOut, c.say) {
				t.Errorf("got stderr %q, want it to say %q", errOut, c.say)
			}
		})
	}
}

func TestResolveStack(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ arg, file, name string }{
		{"dev", "Pulumi.dev.yaml", "dev"},
		{"Pulumi.dev.yaml", "Pulumi.dev.yaml", "dev"},    // from the root
		{"../Pulumi.dev.yaml", "Pulumi.dev.yaml", "dev"}, // from infra/, the tests' directory
		{"docs/Pulumi.prod.example.yaml", "docs/Pulumi.prod.example.yaml", "prod"},
		{"../docs/Pulumi.prod.example.yaml", "docs/Pulumi.prod.example.yaml", "prod"},
	}
	for _, c := range cases {
		file, name, err := resolveStack(root, c.arg)
		if err != nil {
			t.Errorf("%s: %v", c.arg, err)
			continue
		}
		if want := filepath.Join(root, c.file); file != want || name != c.name {
			t.Errorf("%s: got %s, %s, want %s, %s", c.arg, file, name, want, c.name)
		}
	}
	for _, bad := range []string{"prod", "docs", "README.md", "Pulumi.yaml"} {
		if _, _, err := resolveStack(root, bad); err == nil {
			t.Errorf("%s: got a stack, want an error", bad)
		}
	}
}

// TestPlanControlsMatchSecurityDoc proves the plan reports the statuses
// docs/security.md states for dev and prod, with the doc's reason beside
// every failure: the plan and the doc read the same checks.
func TestPlanControlsMatchSecurityDoc(t *testing.T) {
	doc := securityDoc(t)
	for _, s := range planStacks {
		p := planOf(t, s.arg)
		for _, c := range p.Controls {
			row := doc[c.ID]
			want := map[string]string{"dev": row.dev, "prod": row.prod}[s.name]
			if c.Status != want {
				t.Errorf("%s %s: got %s, docs/security.md says %s", s.name, c.ID, c.Status, want)
			}
			if len(c.Problems) > 0 {
				t.Errorf("%s %s: got problems %q, want none", s.name, c.ID, c.Problems)
			}
			if c.Status == "fails" && (len(c.Violations) == 0 || len(c.DocReason) == 0) {
				t.Errorf("%s %s: fails with violations %q and reason %q, want both", s.name, c.ID, c.Violations, c.DocReason)
			}
			for _, r := range c.DocReason {
				if !strings.Contains(r, s.name) {
					t.Errorf("%s %s: got reason %q, want the one for %s", s.name, c.ID, r, s.name)
				}
			}
		}
	}
}

func TestDocFailReasons(t *testing.T) {
	row := docControl{what: "Does x. **Fails in dev:** no certificate. **Fails in prod:** none either."}
	both := docControl{what: "**Fails in dev and prod:** never rotated."}
	cases := []struct {
		row   docControl
		stack string
		want  []string
	}{
		{row, "dev", []string{"Fails in dev: no certificate."}},
		{row, "prod", []string{"Fails in prod: none either."}},
		{row, "staging", []string{"Fails in dev: no certificate.", "Fails in prod: none either."}},
		{both, "prod", []string{"Fails in dev and prod: never rotated."}},
		{docControl{what: "Met everywhere."}, "dev", nil},
	}
	for _, c := range cases {
		if got := docFailReasons(c.row, c.stack); !slices.Equal(got, c.want) {
			t.Errorf("%q for %s: got %q, want %q", c.row.what, c.stack, got, c.want)
		}
	}
}

// TestPlanReporter proves a check that cannot find a resource stops alone,
// and that a problem is recorded without stopping the check.
func TestPlanReporter(t *testing.T) {
	st := scenarios(t)[0].run(t)
	missing := control{"X.1", "missing", func(t reporter, sc controlScope, st *stack) []string {
		st.one(t, "aws:ec2/instance:Instance", "nowhere")
		return []string{"not reached"}
	}}
	problem := control{"X.2", "problem", func(t reporter, sc controlScope, st *stack) []string {
		t.Errorf("retention %d, want %d", 1, 7)
		return []string{"a violation"}
	}}
	v, rep := checkControl(missing, controlScope{}, st)
	if v != nil || !rep.stopped || len(rep.problems) != 1 || !strings.Contains(rep.problems[0], `"nowhere"`) {
		t.Errorf("missing resource: got violations %q, stopped %v, problems %q; want none, true, one naming it", v, rep.stopped, rep.problems)
	}
	v, rep = checkControl(problem, controlScope{}, st)
	if !slices.Equal(v, []string{"a violation"}) || rep.stopped || !slices.Equal(rep.problems, []string{"retention 1, want 7"}) {
		t.Errorf("problem: got violations %q, stopped %v, problems %q", v, rep.stopped, rep.problems)
	}
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("got recovered %v, want the check's own panic passed on", r)
		}
	}()
	checkControl(control{"X.3", "panics", func(reporter, controlScope, *stack) []string { panic("boom") }}, controlScope{}, st)
}

// TestPlanGroupsEveryResource proves every registered resource is listed
// once, under the component it belongs to.
func TestPlanGroupsEveryResource(t *testing.T) {
	st := scenarios(t)[0].run(t)
	comps, counts, total := groupResources(st)
	where := map[string]string{}
	for _, c := range comps {
		for _, r := range c.Resources {
			key := r.Type + " " + r.Name
			if prev, dup := where[key]; dup {
				t.Errorf("%s listed under %s and %s", key, prev, c.Component)
			}
			where[key] = c.Component
		}
	}
	topLevel, madeByAwsx := 0, 0
	for _, r := range st.resources {
		if !r.Custom && strings.HasSuffix(urnType(r.Parent), "pulumi:pulumi:Stack") {
			topLevel++
		}
		if r.Type == "awsx:ec2:Vpc" {
			madeByAwsx += len(awsxVpcChildren(r))
		}
	}
	if want := len(st.resources) - topLevel + madeByAwsx; total != want || len(where) != want {
		t.Errorf("got total %d, %d listed, want %d (%d of them made by awsx)", total, len(where), want, madeByAwsx)
	}
	n := 0
	for _, c := range counts {
		n += c.Count
	}
	if n != total {
		t.Errorf("got counts adding to %d, want %d", n, total)
	}
	cases := map[string]string{
		"awsx:ec2:Vpc network":                       "shop:network:Network network",
		"aws:ec2/flowLog:FlowLog network":            "shop:network:Network network",
		"aws:rds/instance:Instance database":         "shop:database:Database database",
		"pulumi:providers:aws aws":                   "stack",
		"aws:lb/listener:Listener loadbalancer-http": "shop:loadbalancer:LoadBalancer loadbalancer",
	}
	for _, s := range routing.Services {
		cases["aws:ecs/service:Service "+s.Name] = "shop:service:Service " + s.Name
		cases["awsx:ecr:Image "+s.Name] = "shop:service:Service " + s.Name
	}
	for res, comp := range cases {
		if where[res] != comp {
			t.Errorf("%s: got under %q, want %q", res, where[res], comp)
		}
	}
}

// TestCloudDocMatchesPlan keeps the diagrams and cost tables of
// docs/cloud.md and the totals in README.md equal to what the program draws
// and prices now. `make plan-docs` rewrites them.
func TestCloudDocMatchesPlan(t *testing.T) {
	files := map[string][]string{"../docs/cloud.md": {"diagram", "cost"}, "../README.md": {"total"}, "../README.pt-BR.md": {"total"}}
	for _, s := range planStacks {
		sections := planOf(t, s.arg).docSections()
		for file, kinds := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, kind := range kinds {
				name := s.name + " " + kind
				got, ok := sectionOf(string(raw), name)
				if !ok {
					t.Errorf("%s: no <!-- plan %s --> ... <!-- end plan %s --> section", file, name, name)
					continue
				}
				if got != sections[name] {
					t.Errorf("%s: section %q is out of date (run make plan-docs):\ngot\n%s\nwant\n%s", file, name, got, sections[name])
				}
			}
		}
	}
}

func TestReplaceSections(t *testing.T) {
	doc := "# T\n<!-- plan dev diagram -->\nold\nlines\n<!-- end plan dev diagram -->\n" +
		"Costs <!-- plan dev total -->$1.00<!-- end plan dev total --> a month.\n" +
		"<!-- plan prod total -->$9.00<!-- end plan prod total -->\n"
	got, found := replaceSections(doc, map[string]string{"dev diagram": "new", "dev total": "$2.50", "dev cost": "x"})
	want := "# T\n<!-- plan dev diagram -->\nnew\n<!-- end plan dev diagram -->\n" +
		"Costs <!-- plan dev total -->$2.50<!-- end plan dev total --> a month.\n" +
		"<!-- plan prod total -->$9.00<!-- end plan prod total -->\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if !slices.Equal(found, []string{"dev diagram", "dev total"}) {
		t.Errorf("got found %q, want the two sections present", found)
	}
	for name, body := range map[string]string{"dev diagram": "new", "dev total": "$2.50", "prod total": "$9.00"} {
		if b, ok := sectionOf(got, name); !ok || b != body {
			t.Errorf("sectionOf %s: got %q, %v, want %q", name, b, ok, body)
		}
	}
}

// TestPlanAssumptionsChangeTheCost proves -assume reaches the estimate: a
// usage assumption raised tenfold raises the total, and shows in the text.
func TestPlanAssumptionsChangeTheCost(t *testing.T) {
	base := planOf(t, "dev")
	var key string
	var value float64
	for _, a := range base.Cost.Assumptions {
		if a.Value > 0 {
			key, value = a.Key, a.Value
			break
		}
	}
	if key == "" {
		t.Fatalf("got no assumption with a value above 0 in %+v", base.Cost.Assumptions)
	}
	arg := key + "=" + strconv.FormatFloat(value*10, 'f', -1, 64)
	p, err := makePlan("dev", []string{arg})
	if err != nil {
		t.Fatal(err)
	}
	if p.Cost.Total <= base.Cost.Total {
		t.Errorf("-assume %s: got total %.2f, want more than %.2f", arg, p.Cost.Total, base.Cost.Total)
	}
	out, _, code := runPlanT(t, "-assume", arg)
	if code != 0 || !regexp.MustCompile(`(?m)^  `+regexp.QuoteMeta(arg)+` `).MatchString(out) {
		t.Errorf("got exit %d and no assumption line %q in the text", code, arg)
	}
}

// TestStackFileAssumptions proves a stack file's plan:<key> entries set the
// usage its estimate assumes, -assume still overrides them, each assumption
// says where its value came from, and a value set for usage the stack does
// not have is reported rather than dropped in silence.
func TestStackFileAssumptions(t *testing.T) {
	dev, err := readStackConfig("../Pulumi.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	body.WriteString("config:\n")
	for k, v := range dev {
		if !strings.HasPrefix(k, "plan:") {
			fmt.Fprintf(&body, "  %s: %q\n", k, v)
		}
	}
	body.WriteString("  plan:appLogGB: \"4\"\n  plan:albLcu: \"2\"\n")
	file := filepath.Join(t.TempDir(), "Pulumi.busy.yaml")
	if err := os.WriteFile(file, []byte(body.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := makePlan(file, []string{"albLcu=3", "containerInsightsMetricsPerService=20"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]assumption{}
	for _, a := range p.Cost.Assumptions {
		got[a.Key] = a
	}
	for key, want := range map[string]struct {
		value  float64
		source string
	}{
		"appLogGB": {4, file}, "albLcu": {3, "-assume"}, "natGB": {defaultAssumptions()["natGB"].Value, "default"},
	} {
		if a := got[key]; a.Value != want.value || a.Source != want.source {
			t.Errorf("%s: got %v from %q, want %v from %q", key, a.Value, a.Source, want.value, want.source)
		}
	}
	// Container Insights is off in dev: its metric count prices nothing.
	if !slices.Equal(p.UnusedAssumptions, []string{"containerInsightsMetricsPerService"}) {
		t.Errorf("got unused %v, want [containerInsightsMetricsPerService]", p.UnusedAssumptions)
	}
	devPlan := planOf(t, "dev")
	if p.Cost.Total <= devPlan.Cost.Total {
		t.Errorf("got total %.2f with more logs and LCUs, want more than dev's %.2f", p.Cost.Total, devPlan.Cost.Total)
	}
}

// sectionOf returns what a document holds between a section's markers.
func sectionOf(doc, name string) (string, bool) {
	start, end := markerPair(name)
	_, after, ok := strings.Cut(doc, start)
	if !ok {
		return "", false
	}
	body, _, ok := strings.Cut(after, end)
	if !ok {
		return "", false
	}
	// Block sections sit on lines of their own.
	if strings.HasPrefix(body, "\n") && strings.HasSuffix(body, "\n") && len(body) > 1 {
		body = body[1 : len(body)-1]
	}
	return body, true
}

// TestPlanMarkdown: the Markdown view holds the total as its heading, the
// cost table docs/cloud.md shows, the diagram as a Mermaid block and the
// resources and controls, each part folded.
func TestPlanMarkdown(t *testing.T) {
	p := planOf(t, "dev")
	out, errOut, code := runPlanT(t, "-markdown")
	if code != exitOK || errOut != "" {
		t.Fatalf("got exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("### dev: $%.2f a month", p.Cost.Total),
		p.costMarkdown(),
		"```mermaid\n" + p.Diagram + "```",
		fmt.Sprintf("<summary>Resources: %d</summary>", p.Total),
		"<summary>" + p.controlsHeading() + "</summary>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if got := strings.Count(out, "<details>"); got != 4 || strings.Count(out, "</details>") != 4 {
		t.Errorf("got %d folded parts, want 4", got)
	}
	if _, errOut, code := runPlanT(t, "-markdown", "-json"); code != exitUsage || !strings.Contains(errOut, "choose one") {
		t.Errorf("-markdown -json: got exit %d, stderr %q, want a usage error", code, errOut)
	}
}
