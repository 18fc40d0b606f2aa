package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile creates dir/name with content, making parent directories.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHashContext(t *testing.T) {
	dir := t.TempDir()
	hash := func() string {
		t.Helper()
		h, err := hashContext(dir)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// The shape of the repository's own .dockerignore: everything out, then
	// exceptions, then exclusions inside the exceptions.
	writeFile(t, dir, ".dockerignore", "# comment\n*\n!platform/\n!apps/\n**/*_test.go\n**/*.md\napps/*/Dockerfile\n")
	writeFile(t, dir, "go.work", "go 1.26\n")
	writeFile(t, dir, "apps/catalog/main.go", "package main\n")
	writeFile(t, dir, "platform/go.mod", "module platform\n")
	prev := hash()

	steps := []struct {
		name    string
		edit    func()
		changes bool
	}{
		{"app source", func() { writeFile(t, dir, "apps/catalog/main.go", "package main // changed\n") }, true},
		{"new platform file", func() { writeFile(t, dir, "platform/routing/routing.go", "package routing\n") }, true},
		{"file outside the exceptions", func() { writeFile(t, dir, "infra/main.go", "package main\n") }, false},
		{"root file", func() { writeFile(t, dir, "go.work", "go 1.26.1\n") }, false},
		{"test file", func() { writeFile(t, dir, "platform/routing/routing_test.go", "package routing\n") }, false},
		{"markdown deep inside", func() { writeFile(t, dir, "apps/catalog/internal/README.md", "text") }, false},
		{"Dockerfile (hashed per image instead)", func() { writeFile(t, dir, "apps/catalog/Dockerfile", "FROM scratch\n") }, false},
		{"git metadata", func() { writeFile(t, dir, ".git/HEAD", "ref") }, false},
	}
	for _, s := range steps {
		s.edit()
		got := hash()
		if changed := got != prev; changed != s.changes {
			t.Errorf("%s: got hash changed %v, want %v", s.name, changed, s.changes)
		}
		prev = got
	}
	if h := hash(); h != prev {
		t.Errorf("got %s then %s for the same tree, want a stable hash", prev, h)
	}
}

// dockerignore reads content as the .dockerignore of a new directory.
func dockerignore(t *testing.T, content string) (string, ignoreRules) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, ".dockerignore", content)
	rules, err := readDockerignore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, rules
}

func TestDockerignoreRules(t *testing.T) {
	_, rules := dockerignore(t, "bin/\n!bin/keep\n*.log\ndocs/**/draft?.txt\n/out\n[!a]x\n")
	cases := []struct {
		path     string
		excluded bool
	}{
		{"bin/tool", true},
		{"bin/keep", false},
		{"app.log", true},
		{"sub/app.log", false}, // "*" stays within one path element
		{"docs/a/b/draft1.txt", true},
		{"docs/draft1.txt", true},
		{"docs/a/final.txt", false},
		{"out/x", true},
		{"bx", true},
		{"ax", false},
		{"main.go", false},
	}
	for _, c := range cases {
		if got := rules.excludes(c.path); got != c.excluded {
			t.Errorf("%s: got excluded %v, want %v", c.path, got, c.excluded)
		}
	}
}

func TestDockerignoreSkipsOnlyUnreachableDirectories(t *testing.T) {
	dir, rules := dockerignore(t, "*\n!apps/\n!docs/keep.txt\nbuild/\n")
	cases := []struct {
		dir  string
		want bool
	}{
		{".cache", false},          // excluded by "*", no exception reaches it
		{"docs", true},             // "!docs/keep.txt" lies inside
		{"apps", true},             // re-included itself
		{"apps/catalog/bin", true}, // under a re-included directory
		{"build", false},
	}
	for _, c := range cases {
		if got := rules.mayReinclude(c.dir); got != c.want {
			t.Errorf("%s: got mayReinclude %v, want %v", c.dir, got, c.want)
		}
	}
	writeFile(t, dir, "docs/keep.txt", "kept")
	before, err := hashContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "docs/keep.txt", "kept, changed")
	if after, _ := hashContext(dir); after == before {
		t.Error("got the same hash after a re-included file changed, want a new one")
	}
}

func TestImageTag(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "apps/Dockerfile", "FROM scratch\n")
	writeFile(t, dir, "apps/orders/go.mod", "module orders\n")
	src := buildSource{Root: dir, Hash: strings.Repeat("ab", 32)}
	tag := func(service, platform string) string {
		t.Helper()
		got, err := src.ImageTag(service, platform)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	amd := tag("orders", "linux/amd64")
	if !strings.HasPrefix(amd, "amd64-") || len(amd) != len("amd64-")+16 {
		t.Errorf("got tag %q, want amd64-<16 hex>", amd)
	}
	if arm := tag("orders", "linux/arm64"); arm[len("arm64-"):] == amd[len("amd64-"):] {
		t.Errorf("got the same hash for two platforms (%s, %s), want different tags: the repositories are immutable", amd, arm)
	}
	if tag("orders", "linux/amd64") != amd {
		t.Error("got a different tag for the same Dockerfile and context, want equal")
	}
	writeFile(t, dir, "apps/Dockerfile", "FROM scratch\nUSER 65532\n")
	if tag("orders", "linux/amd64") == amd {
		t.Error("got the same tag after the Dockerfile changed, want a new one")
	}
	elsewhere := dir + "/."
	moved := buildSource{Root: elsewhere, Hash: src.Hash}
	if got, err := moved.ImageTag("orders", "linux/amd64"); err != nil || got == tag("orders", "linux/amd64") {
		t.Errorf("got tag %q (%v) from another checkout path, want a new tag", got, err)
	}
	noDockerfile := t.TempDir()
	writeFile(t, noDockerfile, "apps/orders/go.mod", "module orders\n")
	if _, err := (buildSource{Root: noDockerfile}).ImageTag("orders", "linux/amd64"); err == nil {
		t.Error("got a tag without a Dockerfile, want an error")
	}
	if _, err := src.ImageTag("shiping", "linux/amd64"); err == nil || !strings.Contains(err.Error(), "apps/shiping") {
		t.Errorf("got %v for a service with no module, want an error naming apps/shiping", err)
	}
}
