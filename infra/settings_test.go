package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server"
)

// The settings that appear outside Go, in Compose and the Dockerfile, are
// held here to the one declaration each has in Go. (ECS's are checked on
// the program's resources: TestDeploySpeedSettings, TestServiceWiring.)

// composeService is what these tests read of a Compose service.
type composeService struct {
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Environment     map[string]string `yaml:"environment"`
}

// appNames are the programs Compose runs from apps/: the declared services
// and the edge.
func appNames() []string {
	names := []string{"edge"}
	for _, s := range routing.Services {
		names = append(names, s.Name)
	}
	return names
}

func composeServices(t *testing.T, data []byte) map[string]composeService {
	t.Helper()
	var f struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return f.Services
}

// checkCompose returns every place where the compose file disagrees with the
// Go declarations.
func checkCompose(t *testing.T, data []byte) []string {
	t.Helper()
	services := composeServices(t, data)
	var problems []string
	for _, name := range appNames() {
		c, ok := services[name]
		if !ok {
			problems = append(problems, name+": missing from docker-compose.yml")
			continue
		}
		// Compose sends SIGTERM without deregistering anything first, so it
		// must wait what ECS waits: the drain and release.
		if d, err := time.ParseDuration(c.StopGracePeriod); err != nil || d != server.StopTimeout {
			problems = append(problems, name+": stop_grace_period "+strconv.Quote(c.StopGracePeriod)+", want server.StopTimeout ("+server.StopTimeout.String()+")")
		}
	}
	// Each service reaches its dependencies where routing says.
	for _, s := range routing.Services {
		for _, dep := range s.Dependencies {
			key := envName(dep) + "_URL"
			if got := services[s.Name].Environment[key]; got != "" && got != routing.URL(dep) {
				problems = append(problems, s.Name+": "+key+" "+strconv.Quote(got)+", want "+routing.URL(dep))
			}
		}
	}
	return problems
}

func TestComposeHonoursTheDeclarations(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkCompose(t, data) {
		t.Error(p)
	}
}

// TestCheckCompose proves each check can fail, on a small compose file.
func TestCheckCompose(t *testing.T) {
	good := `
x-app: &app
  stop_grace_period: 20s
services:
  catalog: {<<: *app}
  orders:
    <<: *app
    environment: {CATALOG_URL: "http://catalog:8080"}
  web: {<<: *app}
  edge: {<<: *app}
`
	// Services added since (make new-service) join the fixture as they are.
	for _, name := range appNames() {
		if !slices.Contains([]string{"catalog", "orders", "web", "edge"}, name) {
			good += "  " + name + ": {<<: *app}\n"
		}
	}
	if server.StopTimeout != 20*time.Second {
		t.Fatalf("fixture assumes a 20s stop timeout, got %s", server.StopTimeout)
	}
	if p := checkCompose(t, []byte(good)); len(p) > 0 {
		t.Fatalf("good fixture: %v", p)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"short grace period", "stop_grace_period: 20s", "stop_grace_period: 10s", `catalog: stop_grace_period "10s"`},
		{"no grace period", "stop_grace_period: 20s", "user: nobody", `edge: stop_grace_period ""`},
		{"one service overrides it", "web: {<<: *app}", "web: {<<: *app, stop_grace_period: 30s}", `web: stop_grace_period "30s"`},
		{"service missing", "  web: {<<: *app}\n", "", "web: missing"},
		{"dependency elsewhere", "http://catalog:8080", "http://catalog:9090", "orders: CATALOG_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken := strings.Replace(good, tc.old, tc.new, 1)
			if broken == good {
				t.Fatalf("fixture edit %q did not apply", tc.old)
			}
			p := checkCompose(t, []byte(broken))
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("problems %q, want one containing %q", p, tc.want)
			}
		})
	}
}

// The image documents the port the binary listens on without PORT, and
// stamps the version each service's main package declares.
func TestImageHonoursTheDeclarations(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	src := buildSource{Root: root}
	for _, name := range appNames() {
		dockerfile, err := os.ReadFile(src.Dockerfile())
		if err != nil {
			t.Fatal(err)
		}
		if exposes := regexp.MustCompile(`(?m)^EXPOSE\s+(\S+)\s*$`).FindAllStringSubmatch(string(dockerfile), -1); len(exposes) != 1 || exposes[0][1] != strconv.Itoa(config.DefaultPort) {
			t.Errorf("%s: Dockerfile EXPOSE %v, want exactly config.DefaultPort (%d)", name, exposes, config.DefaultPort)
		}
		if !strings.Contains(string(dockerfile), `-X main.version=${VERSION}`) {
			t.Errorf("%s: the Dockerfile does not stamp main.version with -X main.version=${VERSION}", name)
		}
		if err := checkVersionVar(filepath.Join(root, "apps", name, "main.go")); err != "" {
			t.Errorf("%s: %s", name, err)
		}
	}
}

// checkVersionVar reports what keeps `go build -ldflags "-X main.version=..."`
// from setting the version in file: the linker sets only a package-level
// string variable, and silently does nothing when there is none (a constant,
// or no declaration at all).
func checkVersionVar(file string) string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		return err.Error()
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range g.Specs {
			v, ok := spec.(*ast.ValueSpec)
			if !ok || !slices.ContainsFunc(v.Names, func(n *ast.Ident) bool { return n.Name == "version" }) {
				continue
			}
			if g.Tok != token.VAR || len(v.Values) != 1 {
				return `version must be a variable: var version = "dev"`
			}
			if lit, ok := v.Values[0].(*ast.BasicLit); !ok || lit.Kind != token.STRING {
				return `version must be initialised with a string constant: var version = "dev"`
			}
			return ""
		}
	}
	return `no package-level var version = "dev" to stamp`
}

func TestCheckVersionVar(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, src, want string }{
		{"variable", `var version = "dev"`, ""},
		{"in a group", "var (\n\tx = 1\n\tversion = \"dev\"\n)", ""},
		{"constant", `const version = "dev"`, "must be a variable"},
		{"computed", `var version = fmt.Sprint("dev")`, "string constant"},
		{"missing", `var name = "dev"`, "no package-level var version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, dir, "main.go", "package main\n\n"+tc.src+"\n")
			got := checkVersionVar(filepath.Join(dir, "main.go"))
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDockerfileCrossCompiles: the dev stack runs arm64 tasks and is built on
// whatever machine runs `pulumi up`. The build stage must run on the
// builder's platform and hand the target to the Go toolchain, and the
// runtime stage must run nothing, or an arm64 image built on x86 runs its
// whole build under emulation.
func TestDockerfileCrossCompiles(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(buildSource{Root: root}.Dockerfile())
	if err != nil {
		t.Fatal(err)
	}
	stages := regexp.MustCompile(`(?m)^FROM `).Split(string(raw), -1)
	if len(stages) != 3 {
		t.Fatalf("got %d stages, want a build stage and a runtime stage", len(stages)-1)
	}
	build, runtime := stages[1], stages[2]
	for _, want := range []string{"--platform=$BUILDPLATFORM ", "ARG TARGETOS TARGETARCH", "GOOS=${TARGETOS} GOARCH=${TARGETARCH}"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^RUN `).MatchString(runtime) {
		t.Error("runtime stage has a RUN step, which would need the target platform to run")
	}
}
