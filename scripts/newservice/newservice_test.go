package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

// repoRoot is the repository this module sits in.
const repoRoot = "../.."

// copyRepo copies the repository's files (tracked and untracked, not
// ignored; never .git) into a temporary directory and returns it with the
// list of copied paths.
func copyRepo(t *testing.T) (string, []string) {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dst := t.TempDir()
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(repoRoot, f)
		info, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return dst, files
}

// snapshot maps every regular file under root to its content.
func snapshot(t *testing.T, root string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		m[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sameTree reports how after differs from before.
func sameTree(before, after map[string][]byte) []string {
	var diffs []string
	for f, b := range before {
		a, ok := after[f]
		switch {
		case !ok:
			diffs = append(diffs, f+": removed")
		case !bytes.Equal(a, b):
			diffs = append(diffs, f+": changed")
		}
	}
	for f := range after {
		if _, ok := before[f]; !ok {
			diffs = append(diffs, f+": added")
		}
	}
	return diffs
}

// TestRefusals: every refused request says why in one line and leaves the
// repository as it was.
func TestRefusals(t *testing.T) {
	root, _ := copyRepo(t)
	before := snapshot(t, root)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"add"}, "NAME is required"},
		{"existing service", []string{"add", "-name", "catalog"}, `service "catalog" exists`},
		{"the edge", []string{"add", "-name", "edge"}, `"edge" is reserved`},
		{"reserved word", []string{"add", "-name", "internal"}, `"internal" is reserved`},
		{"compose's database", []string{"add", "-name", "postgres"}, `"postgres" is reserved`},
		{"compose's trace store", []string{"add", "-name", "jaeger"}, `"jaeger" is reserved`},
		{"upper case", []string{"add", "-name", "Reviews"}, "not a DNS label"},
		{"leading digit", []string{"add", "-name", "1probe"}, "not a DNS label"},
		{"trailing hyphen", []string{"add", "-name", "probe-"}, "not a DNS label"},
		{"underscore", []string{"add", "-name", "my_probe"}, "not a DNS label"},
		{"too long", []string{"add", "-name", "abcdefghijklmnopqrstuvwxy"}, "not a DNS label"},
		{"a path of another service", []string{"add", "-name", "probe", "-path", "/api/orders"}, `already routed to "orders"`},
		{"a path under another service's", []string{"add", "-name", "probe", "-path", "/api/catalog/probe"}, `clashes with service "catalog"`},
		{"the web's assets", []string{"add", "-name", "probe", "-path", "/static/probe"}, "/static is reserved"},
		{"internal endpoints", []string{"add", "-name", "probe", "-path", "/internal/probe"}, "/internal is reserved"},
		{"wildcard path", []string{"add", "-name", "probe", "-path", "/api/probe/*"}, "want a literal path"},
		{"relative path", []string{"add", "-name", "probe", "-path", "api/probe"}, "want a literal path"},
		{"bad DB", []string{"add", "-name", "probe", "-db", "maybe"}, "want yes or no"},
		{"remove a built-in service", []string{"remove", "-name", "orders"}, "services the shop is made of"},
		{"remove the edge", []string{"remove", "-name", "edge"}, "services the shop is made of"},
		{"remove nothing", []string{"remove", "-name", "probe"}, `no service "probe"`},
		{"remove Compose's database", []string{"remove", "-name", "postgres"}, `no service "postgres"`},
		{"remove a volume", []string{"remove", "-name", "pgdata"}, `no service "pgdata"`},
		{"a schema PostgreSQL keeps", []string{"add", "-name", "pg-stats", "-db", "yes"}, "PostgreSQL reserves pg_*"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(append(tc.args, "-root", root), &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("got a message of several lines %q, want one", err)
			}
			if d := sameTree(before, snapshot(t, root)); len(d) > 0 {
				t.Errorf("a refused request changed the repository: %v", d)
			}
		})
	}
}

// TestEditsUndo: each edit of a shared file, undone, gives back the file
// byte for byte, with the database flag and without.
func TestEditsUndo(t *testing.T) {
	for _, db := range []bool{false, true} {
		spec := Spec{Name: "probe", Prefix: "/api/probe", Paths: []string{"/api/probe", "/api/probe/*"}, Priority: 300, Database: db}
		for _, tc := range []struct {
			file   string
			add    func([]byte, Spec) ([]byte, error)
			remove func([]byte, string) ([]byte, error)
			want   string
			more   string // once more with DB=yes
		}{
			{declarationFile, addEntry, removeEntry, `Paths:    []string{"/api/probe", "/api/probe/*"},`, "Database: true"},
			{composeFile, addComposeService, removeComposeService, `test: ["CMD", "/usr/local/bin/probe", "healthcheck"]`, "@postgres:5432/shop?"},
			{workFile, addWorkLine, removeWorkLine, "\t./apps/probe\n", ""},
			{readmeFile, addDiagramService, removeDiagramService, `edge & alb -- "/api/probe, /api/probe/*" --> probe`, `probe -- "schema probe" --> db`},
		} {
			orig, err := os.ReadFile(filepath.Join(repoRoot, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			added, err := tc.add(orig, spec)
			if err != nil {
				t.Fatalf("%s: add: %v", tc.file, err)
			}
			if !bytes.Contains(added, []byte(tc.want)) {
				t.Errorf("%s (db %v): got no %q after adding", tc.file, db, tc.want)
			}
			if db && tc.more != "" && bytes.Count(added, []byte(tc.more)) != bytes.Count(orig, []byte(tc.more))+1 {
				t.Errorf("%s: got no new %q for a service with DB=yes", tc.file, tc.more)
			}
			back, err := tc.remove(added, spec.Name)
			if err != nil {
				t.Fatalf("%s: remove: %v", tc.file, err)
			}
			if !bytes.Equal(back, orig) {
				t.Errorf("%s (db %v): add then remove did not give back the original", tc.file, db)
			}
		}
	}
}

// TestNextPriority: the next free hundred above every declared rule.
func TestNextPriority(t *testing.T) {
	if got := nextPriority(nil); got != 100 {
		t.Errorf("no rules: got %d, want 100", got)
	}
	spec := Spec{Name: "x", Paths: []string{"/a", "/a/*"}, Priority: 300}
	if got := nextPriority([]routing.Service{spec.service()}); got != 400 {
		t.Errorf("rules at 300 and 301: got %d, want 400", got)
	}
	spec.Priority = 399
	if got := nextPriority([]routing.Service{spec.service()}); got != 500 {
		t.Errorf("rules at 399 and 400: got %d, want 500", got)
	}
}

// edgeRouteTest is dropped into the copy's apps/edge: the real edge, in
// front of one fake per declared service, sends the new service's paths
// to it.
const edgeRouteTest = `package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server/servertest"
)

func TestNewServiceRoute(t *testing.T) {
	env := map[string]string{}
	for _, s := range routing.Services {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, s.Name+" "+r.URL.Path)
		}))
		defer up.Close()
		env[UpstreamEnv(s.Name)] = up.URL
	}
	prog := servertest.Start(t, run, env)
	for path, want := range map[string]string{
		"/api/probe":          "probe /api/probe",
		"/api/probe/hello":    "probe /api/probe/hello",
		"/api/catalog/products": "catalog /api/catalog/products",
		"/":                     "web /",
	} {
		res, err := http.Get(prog.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != want {
			t.Errorf("GET %s: got %q, want %q", path, b, want)
		}
	}
}
`

// TestNewServiceEndToEnd runs make new-service's program for probe in a
// copy of the repository, proves the result builds, routes, deploys under
// the mocks and composes, then removes it and compares every file.
func TestNewServiceEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("docker is missing: this test needs `docker compose config` (no daemon work); install Docker Compose v2 (make tools)")
	}
	root, _ := copyRepo(t)
	before := snapshot(t, root)
	// Offline: every module the new service needs is one the other apps
	// already use, so the module cache has it.
	env := append(os.Environ(), "GOWORK=", "GOPROXY=off", "GOFLAGS=")
	sh := func(dir string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = filepath.Join(root, dir)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %s %s: %v\n%s", dir, name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	sh(".", "go", "run", "./scripts/newservice", "add", "-name", "probe")
	sh("apps/probe", "go", "build", "./...")
	sh("apps/probe", "go", "vet", "./...")
	sh("apps/probe", "go", "test", "-count=1", "./...")
	// The image builds the module alone (GOWORK=off) from its own go.sum.
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = filepath.Join(root, "apps/probe")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apps/probe alone, as the image builds it: %v\n%s", err, out)
	}
	// The declaration validates, and the edge and compose agree with it.
	sh(".", "go", "test", "-count=1", "./platform/routing/")
	sh(".", "go", "test", "-count=1", "-run", "TestCompose|TestCheckCompose|TestReadmeDiagram", "./apps/edge/")
	check := filepath.Join(root, "apps/edge/newservice_route_test.go")
	if err := os.WriteFile(check, []byte(edgeRouteTest), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := sh(".", "go", "test", "-count=1", "-v", "-run", "TestNewServiceRoute", "./apps/edge/"); !strings.Contains(out, "--- PASS: TestNewServiceRoute") {
		t.Fatalf("TestNewServiceRoute did not run:\n%s", out)
	}
	if err := os.Remove(check); err != nil {
		t.Fatal(err)
	}
	// One ECR repository, ECS service, target group and listener rule per
	// declared path, probe among them, in every scenario under the mocks.
	out := sh(".", "go", "test", "-count=1", "-v", "-run", "TestDeclarationAndInfraAgree", "./infra/")
	if !strings.Contains(out, "--- PASS: TestDeclarationAndInfraAgree") {
		t.Fatalf("TestDeclarationAndInfraAgree did not run:\n%s", out)
	}
	sh(".", "docker", "compose", "config", "-q")
	if services := sh(".", "docker", "compose", "config", "--services"); !strings.Contains("\n"+services, "\nprobe\n") {
		t.Errorf("docker compose config --services: got %q, want probe among them", services)
	}

	sh(".", "go", "run", "./scripts/newservice", "remove", "-name", "probe")
	if d := sameTree(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("remove-service left the copy different from the original: %v", d)
	}
}

// TestEdgeWaitsForTheNewService: the edge, which routes to every service,
// starts once the new one is healthy too.
func TestEdgeWaitsForTheNewService(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(repoRoot, composeFile))
	if err != nil {
		t.Fatal(err)
	}
	added, err := addComposeService(orig, Spec{Name: "probe", Prefix: "/api/probe", Paths: []string{"/api/probe", "/api/probe/*"}, Priority: 300})
	if err != nil {
		t.Fatal(err)
	}
	// The edge's depends_on list: its entries, up to the first line indented
	// less than they are.
	list := func(src []byte) []byte {
		_, edge, _ := bytes.Cut(src, []byte(composeEdge))
		_, deps, ok := bytes.Cut(edge, []byte(edgeDependsOn))
		if !ok {
			t.Fatalf("no depends_on under the edge in\n%s", src)
		}
		end := 0
		for end < len(deps) && bytes.HasPrefix(deps[end:], []byte("      ")) {
			end = lineEnd(deps, end)
		}
		return deps[:end]
	}
	before, after := list(orig), list(added)
	if want := append(append([]byte(nil), before...), edgeDependency("probe")...); !bytes.Equal(after, want) {
		t.Errorf("got the edge's depends_on\n%s\nwant probe after the existing entries\n%s", after, before)
	}
}
