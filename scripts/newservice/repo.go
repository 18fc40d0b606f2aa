package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/routing"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Repo is a checkout of this repository.
type Repo struct{ Root string }

// The files new-service edits besides apps/<name>/.
const (
	declarationFile = "platform/routing/routing.go"
	composeFile     = "docker-compose.yml"
	workFile        = "go.work"
	readmeFile      = "README.md"
	// templateApp lends a new service its go.mod requirements and go.sum:
	// the service without a database needs what web needs (gin, platform);
	// one with a database, what catalog needs (pgx besides).
	templateApp   = "web"
	templateDBApp = "catalog"
)

// builtIn are the services the repository ships with: remove-service leaves
// them alone.
var builtIn = []string{"catalog", "orders", "web", "edge", "shipping"}

// reserved names would collide with a path, a folder or a Compose service
// that is not a declared service.
var reserved = []string{"internal", "edge", "api", "static", "postgres", "jaeger", "platform", "infra", "livez", "readyz", "version", "healthcheck"}

// reservedSegments are first path segments the default service (web) or
// every service answers itself; routing them away would break it.
var reservedSegments = []string{"internal", "static", "livez", "readyz", "version"}

// maxNameLen is routing's limit: a target group is named <name>-<7 random
// characters>, at most 32 characters.
const maxNameLen = 24

var dnsLabel = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)

// prefixPattern is a literal path: the generator adds "/*" itself, and the
// generated routes live under it.
var prefixPattern = regexp.MustCompile(`^(/[A-Za-z0-9_.~-]+)+$`)

// Spec is a service to add.
type Spec struct {
	Name     string
	Prefix   string   // routed as Prefix and Prefix/*
	Paths    []string // the declaration's path patterns
	Priority int
	Database bool
}

// Schema is the PostgreSQL schema the service owns: its name, with '_'
// where a DNS label has '-'.
func (s Spec) Schema() string { return strings.ReplaceAll(s.Name, "-", "_") }

// Ident is the name as a Go identifier, for import aliases.
func (s Spec) Ident() string { return strings.ReplaceAll(s.Name, "-", "") }

// Plan checks a request to add a service against the repository and the
// declaration, and returns what Add would write. It writes nothing.
func (r Repo) Plan(name, prefix string, database bool) (Spec, error) {
	switch {
	case name == "":
		return Spec{}, errors.New("NAME is required: make new-service NAME=reviews")
	case len(name) > maxNameLen || !dnsLabel.MatchString(name):
		return Spec{}, fmt.Errorf("NAME=%q is not a DNS label: 1..%d lower-case letters, digits and inner '-', starting with a letter", name, maxNameLen)
	case slices.Contains(reserved, name):
		return Spec{}, fmt.Errorf("NAME=%q is reserved", name)
	case database && (strings.HasPrefix(name, "pg-") || name == "public"):
		// PostgreSQL keeps pg_* schemas for itself, and public is everyone's.
		return Spec{}, fmt.Errorf("NAME=%q cannot own a schema (%s): PostgreSQL reserves pg_* and public", name, strings.ReplaceAll(name, "-", "_"))
	}
	if _, ok := routing.Lookup(routing.Services, name); ok {
		return Spec{}, fmt.Errorf("service %q exists in %s", name, declarationFile)
	}
	if _, err := os.Stat(filepath.Join(r.Root, "apps", name)); err == nil {
		return Spec{}, fmt.Errorf("service %q exists: apps/%s is there", name, name)
	}
	compose, err := os.ReadFile(filepath.Join(r.Root, composeFile))
	if err != nil {
		return Spec{}, err
	}
	if bytes.Contains(compose, []byte("\n  "+name+":\n")) {
		return Spec{}, fmt.Errorf("service %q exists in %s", name, composeFile)
	}

	if prefix == "" {
		prefix = "/api/" + name
	}
	if !prefixPattern.MatchString(prefix) {
		return Spec{}, fmt.Errorf("PATH=%q: want a literal path such as /api/%s (no wildcards, no trailing '/'; /* is added)", prefix, name)
	}
	if first := strings.SplitN(prefix[1:], "/", 2)[0]; slices.Contains(reservedSegments, first) {
		return Spec{}, fmt.Errorf("PATH=%q: /%s is reserved", prefix, first)
	}
	spec := Spec{Name: name, Prefix: prefix, Paths: []string{prefix, prefix + "/*"}, Database: database}
	spec.Priority = nextPriority(routing.Services)

	declared := append(slices.Clone(routing.Services), spec.service())
	if err := routing.Validate(declared); err != nil {
		return Spec{}, fmt.Errorf("the declaration would be invalid: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	// A pattern no other service has may still be shadowed by one evaluated
	// earlier (PATH=/api/catalog/x is /api/catalog/*'s): every request
	// under the prefix must reach the new service.
	for _, p := range []string{prefix, prefix + "/", prefix + "/hello"} {
		if got := routing.Route(declared, p); got != name {
			return Spec{}, fmt.Errorf("PATH=%q clashes with service %q, which receives %s", prefix, got, p)
		}
	}
	return spec, nil
}

func (s Spec) service() routing.Service {
	return routing.Service{Name: s.Name, Port: config.DefaultPort, Paths: s.Paths, Priority: s.Priority, Database: s.Database}
}

// nextPriority is the next multiple of 100 above every declared rule, so
// that each service keeps room for more paths of its own.
func nextPriority(services []routing.Service) int {
	highest := 0
	for _, r := range routing.Rules(services) {
		highest = max(highest, r.Priority)
	}
	return max(routing.FirstPriority, (highest/100+1)*100)
}

// Add writes the service. It prepares every edit first, so a failure
// leaves the repository as it was.
func (r Repo) Add(spec Spec, tidy func(dir string) error) error {
	edits, err := r.addEdits(spec)
	if err != nil {
		return err
	}
	files, err := r.appFiles(spec)
	if err != nil {
		return err
	}
	dir := filepath.Join(r.Root, "apps", spec.Name)
	undo := func() { _ = os.RemoveAll(dir) }
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			undo()
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			undo()
			return err
		}
	}
	if err := tidy(dir); err != nil {
		undo()
		return err
	}
	return r.apply(edits, undo)
}

// Remove undoes Add: apps/<name>/, the declaration entry, the Compose
// service and the go.work line.
func (r Repo) Remove(name string) error {
	if name == "" {
		return errors.New("NAME is required: make remove-service NAME=reviews")
	}
	if slices.Contains(builtIn, name) {
		return fmt.Errorf("%q is one of the services the shop is made of; remove it by hand if you mean it", name)
	}
	if !dnsLabel.MatchString(name) {
		return fmt.Errorf("NAME=%q is not a DNS label", name)
	}
	// Only what add-service made: a declared service with its own module.
	// Anything else of that name (Compose's postgres, a volume) stays.
	_, declared := routing.Lookup(routing.Services, name)
	if _, err := os.Stat(filepath.Join(r.Root, "apps", name, "go.mod")); slices.Contains(reserved, name) || (!declared && err != nil) {
		return fmt.Errorf("no service %q to remove", name)
	}
	var rest []routing.Service
	for _, s := range routing.Services {
		if s.Name != name {
			rest = append(rest, s)
		}
	}
	if err := routing.Validate(rest); err != nil {
		return fmt.Errorf("the declaration would be invalid without %q: %s", name, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	edits := map[string][]byte{}
	for file, edit := range map[string]func([]byte, string) ([]byte, error){
		declarationFile: removeEntry,
		composeFile:     removeComposeService,
		workFile:        removeWorkLine,
		readmeFile:      removeDiagramService,
	} {
		old, err := os.ReadFile(filepath.Join(r.Root, file))
		if err != nil {
			return err
		}
		data, err := edit(old, name)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if !bytes.Equal(data, old) {
			edits[file] = data
		}
	}
	dir := filepath.Join(r.Root, "apps", name)
	_, statErr := os.Stat(dir)
	if len(edits) == 0 && statErr != nil {
		return fmt.Errorf("no service %q to remove", name)
	}
	if err := r.apply(edits, func() {}); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// apply writes each edited file, restoring those already written when one
// fails.
func (r Repo) apply(edits map[string][]byte, undo func()) error {
	written := map[string][]byte{}
	for file, data := range edits {
		p := filepath.Join(r.Root, file)
		old, err := os.ReadFile(p)
		if err == nil {
			err = os.WriteFile(p, data, 0o644)
		}
		if err != nil {
			for f, o := range written {
				_ = os.WriteFile(filepath.Join(r.Root, f), o, 0o644)
			}
			undo()
			return err
		}
		written[file] = old
	}
	return nil
}

func (r Repo) addEdits(spec Spec) (map[string][]byte, error) {
	edits := map[string][]byte{}
	for file, edit := range map[string]func([]byte, Spec) ([]byte, error){
		declarationFile: addEntry,
		composeFile:     addComposeService,
		workFile:        addWorkLine,
		readmeFile:      addDiagramService,
	} {
		old, err := os.ReadFile(filepath.Join(r.Root, file))
		if err != nil {
			return nil, err
		}
		data, err := edit(old, spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		edits[file] = data
	}
	return edits, nil
}

// appFiles are apps/<name>/'s files, by path inside it.
func (r Repo) appFiles(spec Spec) (map[string][]byte, error) {
	data := struct {
		Spec
		Schema, Ident string
	}{spec, spec.Schema(), spec.Ident()}
	out := map[string][]byte{}
	render := func(tmpl, path string) error {
		t, err := template.ParseFS(templates, "templates/"+tmpl)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return err
		}
		src := b.Bytes()
		if strings.HasSuffix(path, ".go") {
			if src, err = format.Source(src); err != nil {
				return fmt.Errorf("%s: %w", tmpl, err)
			}
		}
		out[path] = src
		return nil
	}
	files := [][2]string{
		{"main.go.tmpl", "main.go"},
		{"main_test.go.tmpl", "main_test.go"},
		{"web.go.tmpl", "internal/web/web.go"},
		{"web_test.go.tmpl", "internal/web/web_test.go"},
	}
	lender := templateApp
	if spec.Database {
		lender = templateDBApp
		files = append(files,
			[2]string{"postgres.go.tmpl", "internal/postgres/postgres.go"},
			[2]string{"postgres_test.go.tmpl", "internal/postgres/postgres_test.go"},
			[2]string{"001_schema.sql.tmpl", "internal/postgres/migrations/001_schema.sql"},
		)
	}
	for _, f := range files {
		if err := render(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	// The lender's go.mod under the new module path: its requirements are
	// a superset of what the new service imports, and go mod tidy then
	// trims them from the module cache.
	mod, err := os.ReadFile(filepath.Join(r.Root, "apps", lender, "go.mod"))
	if err != nil {
		return nil, err
	}
	oldPath := "module github.com/fargateshop/shop/apps/" + lender + "\n"
	if !bytes.HasPrefix(mod, []byte(oldPath)) {
		return nil, fmt.Errorf("apps/%s/go.mod does not start with %q", lender, oldPath)
	}
	out["go.mod"] = append([]byte("module github.com/fargateshop/shop/apps/"+spec.Name+"\n"), mod[len(oldPath):]...)
	if out["go.sum"], err = os.ReadFile(filepath.Join(r.Root, "apps", lender, "go.sum")); err != nil {
		return nil, err
	}
	return out, nil
}

// addEntry appends the service to routing.Services.
func addEntry(src []byte, spec Spec) ([]byte, error) {
	lit, fset, err := servicesLiteral(src)
	if err != nil {
		return nil, err
	}
	if len(lit.Elts) == 0 {
		return nil, errors.New("routing.Services is empty")
	}
	at := lineEnd(src, fset.Position(lit.Elts[len(lit.Elts)-1].End()).Offset)
	var b strings.Builder
	b.WriteString("\t{\n")
	fmt.Fprintf(&b, "\t\tName: %q,\n", spec.Name)
	b.WriteString("\t\tPort: config.DefaultPort,\n")
	quoted := make([]string, len(spec.Paths))
	for i, p := range spec.Paths {
		quoted[i] = strconv.Quote(p)
	}
	fmt.Fprintf(&b, "\t\tPaths: []string{%s},\n", strings.Join(quoted, ", "))
	fmt.Fprintf(&b, "\t\tPriority: %d,\n", spec.Priority)
	if spec.Database {
		b.WriteString("\t\tDatabase: true,\n")
	}
	b.WriteString("\t},\n")
	out := slices.Concat(src[:at], []byte(b.String()), src[at:])
	return format.Source(out)
}

// removeEntry deletes the service's element from routing.Services; the
// source is unchanged when there is none.
func removeEntry(src []byte, name string) ([]byte, error) {
	lit, fset, err := servicesLiteral(src)
	if err != nil {
		return nil, err
	}
	for _, e := range lit.Elts {
		cl, ok := e.(*ast.CompositeLit)
		if !ok || fieldString(cl, "Name") != name {
			continue
		}
		start := fset.Position(cl.Pos()).Offset
		for start > 0 && src[start-1] != '\n' {
			start--
		}
		end := lineEnd(src, fset.Position(cl.End()).Offset)
		return format.Source(slices.Concat(src[:start], src[end:]))
	}
	return src, nil
}

func servicesLiteral(src []byte) (*ast.CompositeLit, *token.FileSet, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, declarationFile, src, parser.ParseComments)
	if err != nil {
		return nil, nil, err
	}
	var lit *ast.CompositeLit
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if ok && len(vs.Names) == 1 && vs.Names[0].Name == "Services" && len(vs.Values) == 1 {
			lit, _ = vs.Values[0].(*ast.CompositeLit)
		}
		return lit == nil
	})
	if lit == nil {
		return nil, nil, errors.New("no `var Services = []Service{...}` to edit")
	}
	return lit, fset, nil
}

// fieldString is the string literal of a keyed field, or "".
func fieldString(cl *ast.CompositeLit, key string) string {
	for _, e := range cl.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if id, ok := kv.Key.(*ast.Ident); ok && id.Name == key {
			if bl, ok := kv.Value.(*ast.BasicLit); ok && bl.Kind == token.STRING {
				s, _ := strconv.Unquote(bl.Value)
				return s
			}
		}
	}
	return ""
}

// lineEnd is the offset just past the newline ending the line at offset.
func lineEnd(src []byte, offset int) int {
	if i := bytes.IndexByte(src[offset:], '\n'); i >= 0 {
		return offset + i + 1
	}
	return len(src)
}

// composeEdge is where new services go: before the edge, which stays last.
const composeEdge = "\n  edge:\n"

// addComposeService adds the service's block, in the shape of web's: the
// shared hardening (x-app), the shared image build, the telemetry settings
// (x-otel-env) under the service's own name, and the health check that runs
// the binary itself.
func addComposeService(src []byte, spec Spec) ([]byte, error) {
	at := bytes.Index(src, []byte(composeEdge))
	if at < 0 {
		return nil, errors.New("no `  edge:` service to insert before")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `
  %[1]s:
    <<: *app
    build:
      context: .
      dockerfile: apps/Dockerfile
      args:
        <<: *build-args
        SERVICE: %[1]s
    environment:
      <<: *otel-env
      OTEL_SERVICE_NAME: %[1]s
      PORT: "%[2]d"
`, spec.Name, config.DefaultPort)
	if spec.Database {
		b.WriteString("      DATABASE_URL: postgres://shop:${POSTGRES_PASSWORD:-shop-local-only}@postgres:5432/shop?sslmode=disable\n")
	}
	fmt.Fprintf(&b, `    healthcheck:
      <<: *app-healthcheck
      test: ["CMD", "/usr/local/bin/%s", "healthcheck"]
`, spec.Name)
	if spec.Database {
		b.WriteString("    depends_on:\n      postgres:\n        condition: service_healthy\n")
	}
	out := slices.Concat(src[:at], []byte(b.String()), src[at:])
	return edgeWaitsFor(out, spec.Name)
}

// edgeDependsOn is the edge's depends_on key: the edge starts once every
// service it routes to is healthy, and a new one joins the list.
const edgeDependsOn = "\n    depends_on:\n"

func edgeDependency(name string) string {
	return "      " + name + ":\n        condition: service_healthy\n"
}

// edgeWaitsFor appends the service to the edge's depends_on list.
func edgeWaitsFor(src []byte, name string) ([]byte, error) {
	edge := bytes.Index(src, []byte(composeEdge))
	if edge < 0 {
		return nil, errors.New("no `  edge:` service")
	}
	dep := bytes.Index(src[edge+1:], []byte(edgeDependsOn))
	if dep < 0 {
		return nil, errors.New("the edge has no depends_on list to join")
	}
	// The list ends at the first line indented less than its entries.
	end := edge + 1 + dep + len(edgeDependsOn)
	for end < len(src) && bytes.HasPrefix(src[end:], []byte("      ")) {
		end = lineEnd(src, end)
	}
	return slices.Concat(src[:end], []byte(edgeDependency(name)), src[end:]), nil
}

// removeComposeService deletes the service's block: the blank line before
// it, its key line and every line indented under it, as addComposeService
// wrote them.
func removeComposeService(src []byte, name string) ([]byte, error) {
	if edge := bytes.Index(src, []byte(composeEdge)); edge >= 0 {
		if at := bytes.Index(src[edge:], []byte(edgeDependency(name))); at >= 0 {
			at += edge
			src = slices.Concat(src[:at], src[at+len(edgeDependency(name)):])
		}
	}
	at := bytes.Index(src, []byte("\n  "+name+":\n"))
	if at < 0 {
		return src, nil
	}
	end := lineEnd(src, at+1)
	for end < len(src) && bytes.HasPrefix(src[end:], []byte("    ")) {
		end = lineEnd(src, end)
	}
	return slices.Concat(src[:at], src[end:]), nil
}

// addWorkLine adds apps/<name> to go.work's use block, in order.
func addWorkLine(src []byte, spec Spec) ([]byte, error) {
	line := "\t./apps/" + spec.Name + "\n"
	start := bytes.Index(src, []byte("use (\n"))
	if start < 0 {
		return nil, errors.New("no `use (` block")
	}
	at := start + len("use (\n")
	for {
		next := lineEnd(src, at)
		l := string(src[at:next])
		if !strings.HasPrefix(l, "\t./") || l > line {
			break
		}
		at = next
	}
	return slices.Concat(src[:at], []byte(line), src[at:]), nil
}

func removeWorkLine(src []byte, name string) ([]byte, error) {
	return bytes.Replace(src, []byte("\t./apps/"+name+"\n"), nil, 1), nil
}

// The README's architecture diagram (a Mermaid flowchart) draws every
// declared service: a route from the edge and the ALB, a node in the
// services' subgraph and, with a database, its schema. apps/edge's
// TestReadmeDiagramShowsTheDeclaration holds the diagram to the declaration.
const (
	diagramRoute    = "    edge & alb -- "
	diagramServices = "    subgraph svc["
)

func diagramLines(spec Spec) (route, node, schema string) {
	route = fmt.Sprintf("%s%q --> %s\n", diagramRoute, strings.Join(spec.Paths, ", "), spec.Name)
	node = fmt.Sprintf("        %s[\"%s<br/>apps/%s\"]\n", spec.Name, spec.Name, spec.Name)
	if spec.Database {
		schema = fmt.Sprintf("    %s -- \"schema %s\" --> db\n", spec.Name, spec.Schema())
	}
	return route, node, schema
}

// addDiagramService adds the route after the last route line, the node at
// the end of the services' subgraph and the schema edge after the last one.
func addDiagramService(src []byte, spec Spec) ([]byte, error) {
	route, node, schema := diagramLines(spec)
	last := bytes.LastIndex(src, []byte("\n"+diagramRoute))
	if last < 0 {
		return nil, errors.New("the architecture diagram has no `edge & alb -- ...` route line to follow")
	}
	at := lineEnd(src, last+1)
	src = slices.Concat(src[:at], []byte(route), src[at:])
	sub := bytes.Index(src, []byte("\n"+diagramServices))
	if sub < 0 {
		return nil, errors.New("the architecture diagram has no `subgraph svc[...]` for the services")
	}
	end := bytes.Index(src[sub:], []byte("\n    end\n"))
	if end < 0 {
		return nil, errors.New("the architecture diagram's services subgraph has no `end`")
	}
	at = sub + end + 1
	src = slices.Concat(src[:at], []byte(node), src[at:])
	if schema != "" {
		last := bytes.LastIndex(src, []byte(" --> db\n"))
		if last < 0 {
			return nil, errors.New("the architecture diagram has no `... --> db` schema line to follow")
		}
		at := last + len(" --> db\n")
		src = slices.Concat(src[:at], []byte(schema), src[at:])
	}
	return src, nil
}

// removeDiagramService deletes the lines addDiagramService wrote, whatever
// the paths were, since remove-service knows only the name.
func removeDiagramService(src []byte, name string) ([]byte, error) {
	node := fmt.Sprintf("        %s[", name)
	schema := fmt.Sprintf("    %s -- \"schema ", name)
	var out []byte
	for len(src) > 0 {
		end := lineEnd(src, 0)
		line := string(src[:end])
		isRoute := strings.HasPrefix(line, diagramRoute) && strings.HasSuffix(line, " --> "+name+"\n")
		if !isRoute && !strings.HasPrefix(line, node) && !strings.HasPrefix(line, schema) {
			out = append(out, src[:end]...)
		}
		src = src[end:]
	}
	return out, nil
}
