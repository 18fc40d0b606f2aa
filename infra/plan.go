package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/fargateshop/shop/platform/routing"
	"gopkg.in/yaml.v3"
)

// `make plan` runs the real program with a stack's configuration under the
// mock engine (no AWS account, no network, no Pulumi CLI) and reports what it
// would create, a diagram of it, what it costs a month and which FSBP
// controls it meets.

// Exit codes of the plan command.
const (
	exitOK    = 0
	exitStack = 1 // the stack cannot be planned: its configuration, region or program
	exitUsage = 2 // the command line is wrong: flags, an unknown stack, -assume
)

// mockProject is the project name runProgram gives the mock engine; the
// stack files' keys are namespaced with it.
const mockProject = "shop"

// planError is a failure the plan reports as lines on stderr, with its exit code.
type planError struct {
	code  int
	lines []string
}

func (e *planError) Error() string { return strings.Join(e.lines, "; ") }

func usageErr(format string, args ...any) *planError {
	return &planError{exitUsage, []string{fmt.Sprintf(format, args...)}}
}

func stackErr(lines ...string) *planError { return &planError{exitStack, lines} }

// multiFlag collects a flag given several times (-assume, -write-docs).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

const planUsage = `usage: infra plan [-stack dev|PATH] [-json|-markdown] [-assume key=value]... [-write-docs FILE]...
  -stack       a stack name (Pulumi.<name>.yaml at the repository root) or a stack file (default dev)
  -json        print the plan as one JSON document
  -markdown    print it as Markdown, for a CI job summary or a pull request comment
  -assume      change a usage assumption of the cost estimate, e.g. -assume key=value (repeatable)
  -write-docs  rewrite this stack's generated sections of FILE instead of printing (repeatable)
`

// runPlan is the plan command: it prints the plan on stdout, or one line per
// problem on stderr, and returns the exit code. It never panics.
func runPlan(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "make plan: internal error: %v\n", oneLine(fmt.Sprint(r)))
			code = exitStack
		}
	}()
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	stackArg := fs.String("stack", "dev", "")
	asJSON := fs.Bool("json", false, "")
	asMarkdown := fs.Bool("markdown", false, "")
	var assume, docs multiFlag
	fs.Var(&assume, "assume", "")
	fs.Var(&docs, "write-docs", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, planUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "make plan: %s (infra plan -h for usage)\n", oneLine(err.Error()))
		return exitUsage
	}
	if *asJSON && *asMarkdown {
		fmt.Fprintln(stderr, "make plan: -json and -markdown: choose one")
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "make plan: unexpected argument %q (infra plan -h for usage)\n", fs.Arg(0))
		return exitUsage
	}

	p, err := makePlan(*stackArg, assume)
	if err == nil && len(docs) > 0 {
		err = writeDocs(p, docs, stdout)
	}
	if err != nil {
		var pe *planError
		if !errors.As(err, &pe) {
			pe = stackErr(err.Error())
		}
		for _, line := range pe.lines {
			fmt.Fprintf(stderr, "make plan: %s\n", line)
		}
		return pe.code
	}
	if len(docs) > 0 {
		return exitOK
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p.jsonView()); err != nil {
			fmt.Fprintf(stderr, "make plan: %v\n", err)
			return exitStack
		}
	} else if *asMarkdown {
		p.writeMarkdown(stdout)
	} else {
		p.writeText(stdout)
	}
	if bad := p.uncheckedControls(); len(bad) > 0 {
		fmt.Fprintf(stderr, "make plan: the checks of %s could not run or found the program not doing what the configuration asks (see Security controls)\n",
			strings.Join(bad, ", "))
		return exitStack
	}
	return exitOK
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// plan is everything `make plan` reports about one stack.
type plan struct {
	Project, Stack string
	// StackFile is relative to the repository root.
	StackFile  string
	Region     string
	Components []componentResources
	Counts     []typeCount
	Total      int
	Diagram    string
	Cost       costEstimate
	// UnusedAssumptions were set (stack file or -assume) for usage this
	// stack has none of, e.g. natGB without NAT.
	UnusedAssumptions []string
	Controls          []controlResult
}

type componentResources struct {
	// Component is "<type> <name>" of a component the stack registers
	// directly, or "stack" for the resources registered outside any.
	Component string        `json:"component"`
	Resources []resourceRef `json:"resources"`
}

type resourceRef struct {
	Type string `json:"type"`
	Name string `json:"name"`
	// MadeBy names the component that creates the resource where the mock
	// engine cannot register it (awsx's VPC children); empty for the
	// resources the program registered.
	MadeBy string `json:"madeBy,omitempty"`
}

type typeCount struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
}

// controlResult is one FSBP control's outcome in this stack.
type controlResult struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Status is "meets", "fails" or "unchecked" (a resource the check
	// reads is missing).
	Status     string   `json:"status"`
	Violations []string `json:"violations,omitempty"`
	// Problems are places where the program does not do what the
	// configuration asks, or why the check could not run.
	Problems []string `json:"problems,omitempty"`
	// DocReason is docs/security.md's explanation of a failure.
	DocReason []string `json:"docReason,omitempty"`
}

// makePlan resolves the stack, runs the program and prices it.
func makePlan(stackArg string, assume []string) (*plan, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, stackErr(err.Error())
	}
	project, err := projectName(root)
	if err != nil {
		return nil, stackErr(err.Error())
	}
	if project != mockProject {
		return nil, stackErr(fmt.Sprintf("Pulumi.yaml: project %q, but the plan runs the program as %q", project, mockProject))
	}
	file, name, err := resolveStack(root, stackArg)
	if err != nil {
		return nil, err
	}
	// Name the file as the user knows it: from the root when it is in the
	// repository, else its full path.
	rel, err := filepath.Rel(root, file)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = file
	}
	cfg, err := readStackConfig(file)
	if err != nil {
		return nil, stackErr(oneLine(err.Error()))
	}
	if lines := unknownSettings(cfg, project); len(lines) > 0 {
		for i := range lines {
			lines[i] = rel + ": " + lines[i]
		}
		return nil, stackErr(lines...)
	}
	// The stack's own usage (plan:<assumption> keys), then -assume on top.
	usage, err := parseAssumptions(stackAssumptions(cfg), defaultAssumptions(), filepath.ToSlash(rel))
	if err != nil {
		return nil, stackErr(errorLines(rel+": plan:", err)...)
	}
	usage, err = parseAssumptions(assume, usage, "-assume")
	if err != nil {
		return nil, &planError{code: exitUsage, lines: errorLines("-assume:", err)}
	}
	st, err := runProgram(routing.Services, name, cfg)
	if err != nil {
		return nil, stackErr(programErrorLines(rel, err)...)
	}
	region := cfg["aws:region"]
	prices, err := loadPrices(region)
	if err != nil {
		return nil, stackErr(fmt.Sprintf("%s: %s", rel, oneLine(err.Error())))
	}
	estimate, err := estimateCost(st, prices, usage)
	if err != nil {
		return nil, stackErr(fmt.Sprintf("%s: %s", rel, oneLine(err.Error())))
	}
	docRows, err := readSecurityDoc(root)
	if err != nil {
		return nil, stackErr(err.Error())
	}
	p := &plan{Project: project, Stack: name, StackFile: filepath.ToSlash(rel), Region: region,
		Diagram: drawDiagram(st), Cost: estimate}
	p.Components, p.Counts, p.Total = groupResources(st)
	for key, a := range usage {
		if a.Source != "default" && !slices.ContainsFunc(estimate.Assumptions, func(u assumption) bool { return u.Key == key }) {
			p.UnusedAssumptions = append(p.UnusedAssumptions, key)
		}
	}
	slices.Sort(p.UnusedAssumptions)
	p.Controls = checkControls(controlScope{config: cfg}, st, docRows, name)
	return p, nil
}

// errorLines splits a joined error into one line per problem, each after
// prefix.
func errorLines(prefix string, err error) []string {
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, prefix+" "+line)
		}
	}
	return out
}

// stackAssumptions are the stack file's plan:<key> entries, as key=value:
// the usage a stack expects, kept beside its configuration. Pulumi passes
// other namespaces' keys to the program untouched and the program reads
// none in this one.
func stackAssumptions(cfg map[string]string) []string {
	var kv []string
	for k, v := range cfg {
		if key, ok := strings.CutPrefix(k, "plan:"); ok {
			kv = append(kv, key+"="+v)
		}
	}
	slices.Sort(kv)
	return kv
}

// unknownSettings names the project keys of a stack file that the program
// does not read: a misspelled key would otherwise plan, and deploy, with the
// default it meant to change.
func unknownSettings(cfg map[string]string, project string) []string {
	var out []string
	for k := range cfg {
		key, ok := strings.CutPrefix(k, project+":")
		if !ok {
			continue
		}
		if _, known := settings[key]; !known && key != "adminToken" {
			out = append(out, fmt.Sprintf("%s: not a setting of this project (Pulumi.yaml lists them)", k))
		}
	}
	slices.Sort(out)
	return out
}

// repoRoot walks up from the working directory to the directory holding
// Pulumi.yaml, so the plan runs from the root (make) and from infra/ (tests).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no Pulumi.yaml in the working directory or above it: run from the repository")
		}
		dir = up
	}
}

func projectName(root string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		return "", err
	}
	var p struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("project file Pulumi.yaml: %s", oneLine(err.Error()))
	}
	return p.Name, nil
}

// stackFileName is Pulumi.<name>.yaml or Pulumi.<name>.example.yaml.
var stackFileName = regexp.MustCompile(`^Pulumi\.([A-Za-z0-9_.-]+?)(\.example)?\.yaml$`)

// resolveStack turns -stack into a stack file and the stack's name: a name
// is Pulumi.<name>.yaml at the root; a path is taken from the working
// directory, then from the root.
func resolveStack(root, arg string) (file, name string, err error) {
	var tried []string
	candidates := []string{arg, filepath.Join(root, arg)}
	if filepath.IsAbs(arg) {
		candidates = []string{arg}
	}
	if !strings.ContainsAny(arg, `/\`) && !strings.HasSuffix(arg, ".yaml") {
		candidates = []string{filepath.Join(root, "Pulumi."+arg+".yaml")}
	}
	for _, c := range candidates {
		tried = append(tried, c)
		if info, statErr := os.Stat(c); statErr == nil && !info.IsDir() {
			m := stackFileName.FindStringSubmatch(filepath.Base(c))
			if m == nil || m[1] == "" {
				return "", "", usageErr("%s: not a stack file name (want Pulumi.<stack>.yaml or Pulumi.<stack>.example.yaml)", arg)
			}
			abs, _ := filepath.Abs(c)
			return abs, m[1], nil
		}
	}
	var have []string
	for _, pattern := range []string{"Pulumi.*.yaml", "docs/Pulumi.*.yaml"} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			have = append(have, filepath.ToSlash(rel))
		}
	}
	for i, t := range tried {
		if rel, err := filepath.Rel(root, t); err == nil && !strings.HasPrefix(rel, "..") {
			tried[i] = filepath.ToSlash(rel)
		}
	}
	return "", "", usageErr("unknown stack %q: no file %s; stack files: %s",
		arg, strings.Join(slices.Compact(tried), " or "), strings.Join(have, ", "))
}

// programErrorLines turns the program's error (loadConfig reports every
// problem at once, one per line) into one line per problem.
func programErrorLines(file string, err error) []string {
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasSuffix(line, ":") {
			continue // a heading such as "invalid stack configuration:"
		}
		out = append(out, file+": "+line)
	}
	if len(out) == 0 {
		out = []string{file + ": " + oneLine(err.Error())}
	}
	return out
}

// groupResources groups the custom resources and the nested components by
// the top-level component they belong to.
func groupResources(st *stack) ([]componentResources, []typeCount, int) {
	// URNs are rebuilt the way the engine makes them: a child's type is
	// qualified with its parent's ("...::shop:network:Network$awsx:ec2:Vpc::network").
	isStack := func(urn string) bool { return strings.HasSuffix(urnType(urn), "pulumi:pulumi:Stack") }
	byURN := map[string]recorded{}
	for _, r := range st.resources {
		typ := r.Type
		if !isStack(r.Parent) && r.Parent != "" {
			typ = urnType(r.Parent) + "$" + r.Type
		}
		byURN[urnPrefix(r.Parent)+typ+"::"+r.Name] = r
	}
	top := func(r recorded) string {
		for {
			parent, ok := byURN[r.Parent]
			if !ok {
				return "stack"
			}
			if isStack(parent.Parent) {
				return parent.Type + " " + parent.Name
			}
			r = parent
		}
	}
	groups := map[string][]resourceRef{}
	counts := map[string]int{}
	total := 0
	for _, r := range st.resources {
		if !r.Custom && isStack(r.Parent) {
			if _, ok := groups[r.Type+" "+r.Name]; !ok {
				groups[r.Type+" "+r.Name] = nil // a component, even an empty one
			}
			continue
		}
		groups[top(r)] = append(groups[top(r)], resourceRef{Type: r.Type, Name: r.Name})
		counts[r.Type]++
		total++
		if r.Type == "awsx:ec2:Vpc" {
			for _, child := range awsxVpcChildren(r) {
				groups[top(r)] = append(groups[top(r)], child)
				counts[child.Type]++
				total++
			}
		}
	}
	var comps []componentResources
	for name, rs := range groups {
		sort.Slice(rs, func(i, j int) bool {
			if rs[i].Type != rs[j].Type {
				return rs[i].Type < rs[j].Type
			}
			return rs[i].Name < rs[j].Name
		})
		comps = append(comps, componentResources{name, rs})
	}
	sort.Slice(comps, func(i, j int) bool {
		// The stack's own resources (the provider) first, then by component.
		if (comps[i].Component == "stack") != (comps[j].Component == "stack") {
			return comps[i].Component == "stack"
		}
		return comps[i].Component < comps[j].Component
	})
	var tc []typeCount
	for t, n := range counts {
		tc = append(tc, typeCount{t, n})
	}
	sort.Slice(tc, func(i, j int) bool {
		if tc[i].Count != tc[j].Count {
			return tc[i].Count > tc[j].Count
		}
		return tc[i].Type < tc[j].Type
	})
	return comps, tc, total
}

// urnType is the qualified type of a URN (urn:pulumi:stack::project::type::name).
func urnType(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return ""
	}
	return parts[2]
}

// urnPrefix is "urn:pulumi:stack::project::" of a URN.
func urnPrefix(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return ""
	}
	return parts[0] + "::" + parts[1] + "::"
}

// planReporter is the reporter the checks get in the plan: Errorf records a
// problem, Fatalf records why the check cannot go on and stops that check.
type planReporter struct {
	problems []string
	stopped  bool
}

// stopCheck is what Fatalf panics with; checkControl recovers only it.
type stopCheck struct{}

func (r *planReporter) Helper() {}

func (r *planReporter) Errorf(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *planReporter) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.stopped = true
	panic(stopCheck{})
}

func checkControl(c control, sc controlScope, st *stack) (violations []string, rep *planReporter) {
	rep = &planReporter{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopCheck); !ok {
				panic(r)
			}
		}
	}()
	return c.check(rep, sc, st), rep
}

// checkControls runs every control of controls.go, the table docs/security.md
// is held to, and adds the doc's reason to each failure.
func checkControls(sc controlScope, st *stack, doc map[string]docControl, stackName string) []controlResult {
	var out []controlResult
	for _, c := range controls {
		v, rep := checkControl(c, sc, st)
		res := controlResult{ID: c.id, Title: c.title, Violations: v, Problems: rep.problems, Status: "meets"}
		switch {
		case rep.stopped:
			res.Status = "unchecked"
		case len(v) > 0:
			res.Status = "fails"
			res.DocReason = docFailReasons(doc[c.id], stackName)
		}
		out = append(out, res)
	}
	return out
}

func readSecurityDoc(root string) (map[string]docControl, error) {
	raw, err := os.ReadFile(filepath.Join(root, "docs", "security.md"))
	if err != nil {
		return nil, err
	}
	rows, problems := parseSecurityDoc(string(raw))
	if len(problems) > 0 {
		return nil, fmt.Errorf("docs/security.md: %s", strings.Join(problems, "; "))
	}
	out := map[string]docControl{}
	for _, r := range rows {
		out[r.id] = r
	}
	return out, nil
}

// docFailReasons are the "Fails in ...:" explanations of a doc row: those
// naming this stack when there are any, else all of them.
func docFailReasons(row docControl, stackName string) []string {
	marks := docFailReason.FindAllStringSubmatchIndex(row.what, -1)
	var all, mine []string
	for i, m := range marks {
		end := len(row.what)
		if i+1 < len(marks) {
			end = marks[i+1][0]
		}
		stacks := row.what[m[2]:m[3]]
		text := "Fails in " + stacks + ": " + strings.TrimSpace(row.what[m[1]:end])
		all = append(all, text)
		if slices.Contains(strings.Split(stacks, " and "), stackName) {
			mine = append(mine, text)
		}
	}
	if len(mine) > 0 {
		return mine
	}
	return all
}

// uncheckedControls lists the controls whose check could not run or found
// a problem beyond the control's own status.
func (p *plan) uncheckedControls() []string {
	var out []string
	for _, c := range p.Controls {
		if c.Status == "unchecked" || len(c.Problems) > 0 {
			out = append(out, c.ID)
		}
	}
	return out
}

func (p *plan) controlCounts() (meets, fails, unchecked int) {
	for _, c := range p.Controls {
		switch c.Status {
		case "meets":
			meets++
		case "fails":
			fails++
		default:
			unchecked++
		}
	}
	return
}

// writeText prints the four parts: resources, diagram, monthly cost,
// security controls.
func (p *plan) writeText(w io.Writer) {
	fmt.Fprintf(w, "Plan of stack %s (%s), project %s, region %s: the program run under the mock engine\n\n",
		p.Stack, p.StackFile, p.Project, p.Region)

	fmt.Fprintf(w, "== Resources: %d ==\n", p.Total)
	p.writeResources(w)

	fmt.Fprintln(w, "\n== Diagram (Mermaid) ==")
	fmt.Fprint(w, p.Diagram)

	fmt.Fprintf(w, "\n== Monthly cost: $%.2f ==\n", p.Cost.Total)
	p.writeCost(w)

	fmt.Fprintf(w, "\n== %s ==\n", p.controlsHeading())
	p.writeControls(w)
}

// writeResources lists the resources by component, then the counts by type.
func (p *plan) writeResources(w io.Writer) {
	fmt.Fprintln(w, "(\"by awsx:ec2:Vpc\": what the awsx VPC creates when deployed, named as awsx v2.21.0 names it;\n the mock engine runs no awsx code, so it registers none of them)")
	for _, c := range p.Components {
		fmt.Fprintf(w, "%s (%d)\n", c.Component, len(c.Resources))
		for _, r := range c.Resources {
			if r.MadeBy != "" {
				fmt.Fprintf(w, "  %s %s (by %s)\n", r.Type, r.Name, r.MadeBy)
				continue
			}
			fmt.Fprintf(w, "  %s %s\n", r.Type, r.Name)
		}
	}
	fmt.Fprintln(w, "By type:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range p.Counts {
		fmt.Fprintf(tw, "  %d\t %s\n", c.Count, c.Type)
	}
	fmt.Fprintf(tw, "  %d\t total\n", p.Total)
	tw.Flush()
}

// writeCost prints the cost table, the ceiling and the usage assumed.
func (p *plan) writeCost(w io.Writer) {
	fmt.Fprintf(w, "%s list prices as of %s, %s hours a month\n", p.Cost.Region, p.Cost.AsOf, trimFloat(p.Cost.HoursPerMonth))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tITEM\tARITHMETIC\tUSD/MONTH")
	for _, l := range p.Cost.Lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%9.2f\n", l.Component, l.Item, l.Arithmetic, l.Monthly)
	}
	fmt.Fprintf(tw, "total\t\t\t%9.2f\n", p.Cost.Total)
	tw.Flush()
	fmt.Fprintf(w, "At maxTasks in every service: $%.2f a month\n", p.Cost.Ceiling)
	fmt.Fprintln(w, "Usage assumed (a stack file sets its own with plan:<key> entries; make plan ASSUME=\"key=value ...\" overrides):")
	for _, a := range p.Cost.Assumptions {
		fmt.Fprintf(w, "  %s\n", a.explain())
	}
	if len(p.UnusedAssumptions) > 0 {
		fmt.Fprintf(w, "Set but not used by this stack's resources: %s\n", strings.Join(p.UnusedAssumptions, ", "))
	}
}

func (p *plan) controlsHeading() string {
	meets, fails, unchecked := p.controlCounts()
	h := fmt.Sprintf("Security controls (AWS FSBP, as in docs/security.md): %d meet, %d fail", meets, fails)
	if unchecked > 0 {
		h += fmt.Sprintf(", %d could not be checked", unchecked)
	}
	return h
}

// writeControls prints each control's status, with the violations, the
// doc's reason and any problem under it.
func (p *plan) writeControls(w io.Writer) {
	for _, c := range p.Controls {
		fmt.Fprintf(w, "%-9s %-16s %s\n", c.Status, c.ID, c.Title)
		for _, v := range c.Violations {
			fmt.Fprintf(w, "            %s\n", v)
		}
		for _, r := range c.DocReason {
			fmt.Fprintf(w, "            docs/security.md: %s\n", r)
		}
		for _, pr := range c.Problems {
			fmt.Fprintf(w, "            problem: %s\n", pr)
		}
	}
}

// writeMarkdown is the plan for a CI job summary or a pull request comment:
// the total as a heading, then the cost table, the diagram (GitHub draws
// Mermaid), the resources and the controls, each folded.
func (p *plan) writeMarkdown(w io.Writer) {
	fence := func(lang string, write func(io.Writer)) string {
		var b strings.Builder
		write(&b)
		return "```" + lang + "\n" + strings.TrimSuffix(b.String(), "\n") + "\n```"
	}
	fold := func(summary, body string) {
		fmt.Fprintf(w, "\n<details><summary>%s</summary>\n\n%s\n</details>\n", summary, body)
	}
	fmt.Fprintf(w, "### %s: $%.2f a month ($%.2f with every service at maxTasks)\n", p.Stack, p.Cost.Total, p.Cost.Ceiling)
	fold("Cost line by line and the usage assumed", p.costMarkdown())
	fold("Diagram", "```mermaid\n"+p.Diagram+"```")
	fold(fmt.Sprintf("Resources: %d", p.Total), fence("text", p.writeResources))
	fold(p.controlsHeading(), fence("text", p.writeControls))
}

// The JSON document: lower-case keys, the cost estimate's fields included.
type planJSON struct {
	Project   string        `json:"project"`
	Stack     string        `json:"stack"`
	StackFile string        `json:"stackFile"`
	Region    string        `json:"region"`
	Resources resourcesJSON `json:"resources"`
	Diagram   string        `json:"diagram"`
	Cost      costEstimate  `json:"cost"`
	// UnusedAssumptions: set, but this stack has none of that usage.
	UnusedAssumptions []string         `json:"unusedAssumptions,omitempty"`
	Controls          controlsJSONPart `json:"controls"`
}

type resourcesJSON struct {
	Components []componentResources `json:"components"`
	Counts     []typeCount          `json:"counts"`
	Total      int                  `json:"total"`
}

type controlsJSONPart struct {
	Meets     int             `json:"meets"`
	Fails     int             `json:"fails"`
	Unchecked int             `json:"unchecked"`
	List      []controlResult `json:"list"`
}

func (p *plan) jsonView() planJSON {
	out := planJSON{Project: p.Project, Stack: p.Stack, StackFile: p.StackFile, Region: p.Region, Diagram: p.Diagram}
	out.Resources.Counts, out.Resources.Total = p.Counts, p.Total
	out.Resources.Components = p.Components
	out.Cost, out.UnusedAssumptions = p.Cost, p.UnusedAssumptions
	out.Controls.Meets, out.Controls.Fails, out.Controls.Unchecked = p.controlCounts()
	out.Controls.List = p.Controls
	return out
}

// docSections are the parts of a document `make plan-docs` writes for this
// stack, by marker name: <!-- plan NAME --> ... <!-- end plan NAME -->.
func (p *plan) docSections() map[string]string {
	return map[string]string{
		p.Stack + " diagram": "```mermaid\n" + p.Diagram + "```",
		p.Stack + " cost":    p.costMarkdown(),
		p.Stack + " total":   fmt.Sprintf("$%.2f", p.Cost.Total),
	}
}

// costMarkdown is the cost table docs/cloud.md shows.
func (p *plan) costMarkdown() string {
	var b strings.Builder
	e := p.Cost
	fmt.Fprintf(&b, "`%s`, %s list prices as of %s, %s hours a month:\n\n", p.StackFile, e.Region, e.AsOf, trimFloat(e.HoursPerMonth))
	b.WriteString("| Component | Item | Arithmetic | USD a month |\n| --- | --- | --- | ---: |\n")
	for _, l := range e.Lines {
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f |\n", mdCell(l.Component), mdCell(l.Item), mdCell(l.Arithmetic), l.Monthly)
	}
	fmt.Fprintf(&b, "| **Total** | | | **%.2f** |\n\n", e.Total)
	fmt.Fprintf(&b, "With every service at `maxTasks`: $%.2f a month. Usage assumed", e.Ceiling)
	b.WriteString(" (a stack file's `plan:<key>` entries set its own; `make plan ASSUME=\"key=value\"` overrides for one run):\n\n")
	for _, a := range e.Assumptions {
		fmt.Fprintf(&b, "- %s\n", mdCell(a.explain()))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// markerPair is the start and end marker of a generated section.
func markerPair(name string) (string, string) {
	return "<!-- plan " + name + " -->", "<!-- end plan " + name + " -->"
}

// replaceSections rewrites every section of the plan found in doc, and
// reports which it found.
func replaceSections(doc string, sections map[string]string) (string, []string) {
	var found []string
	names := make([]string, 0, len(sections))
	for n := range sections {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		start, end := markerPair(name)
		before, after, ok := strings.Cut(doc, start)
		if !ok {
			continue
		}
		old, rest, ok := strings.Cut(after, end)
		if !ok {
			continue
		}
		content := sections[name]
		if strings.HasPrefix(old, "\n") {
			content = "\n" + content + "\n"
		}
		doc = before + start + content + end + rest
		found = append(found, name)
	}
	return doc, found
}

// writeDocs rewrites the plan's sections in each file; a file holding none
// of them is an error, so a typo does not pass as done.
func writeDocs(p *plan, files []string, stdout io.Writer) error {
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return usageErr("-write-docs: %s", oneLine(err.Error()))
		}
		doc, found := replaceSections(string(raw), p.docSections())
		if len(found) == 0 {
			return usageErr("-write-docs %s: no <!-- plan %s ... --> section in it", f, p.Stack)
		}
		if doc == string(raw) {
			fmt.Fprintf(stdout, "%s: %s up to date\n", f, strings.Join(found, ", "))
			continue
		}
		if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
			return stackErr(oneLine(err.Error()))
		}
		fmt.Fprintf(stdout, "%s: rewrote %s\n", f, strings.Join(found, ", "))
	}
	return nil
}
