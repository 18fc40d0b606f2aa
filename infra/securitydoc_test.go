package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// securityDocPath is the document whose controls table TestSecurityControls
// holds the program to.
const securityDocPath = "../docs/security.md"

var docTestName = regexp.MustCompile("`(Test[A-Za-z0-9]+)(/[^`]*)?`")

// securityDoc returns the controls table of docs/security.md by ID, failing
// the test when the table cannot be read.
func securityDoc(t *testing.T) map[string]docControl {
	t.Helper()
	raw, err := os.ReadFile(securityDocPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, problems := parseSecurityDoc(string(raw))
	if len(problems) > 0 {
		t.Fatalf("%s: %s", securityDocPath, strings.Join(problems, "\n"))
	}
	out := map[string]docControl{}
	for _, r := range rows {
		if _, dup := out[r.id]; dup {
			t.Fatalf("%s: %s appears twice", securityDocPath, r.id)
		}
		out[r.id] = r
	}
	return out
}

// TestSecurityDocMatchesControls proves docs/security.md lists exactly the
// controls of the controls table, with their titles, a status per stack and
// a reason for each failure, and that every test it cites exists. Whether
// the statuses are true is TestSecurityControls' job.
func TestSecurityDocMatchesControls(t *testing.T) {
	doc := securityDoc(t)
	code := map[string]control{}
	for _, c := range controls {
		if _, dup := code[c.id]; dup {
			t.Errorf("controls: %s appears twice", c.id)
		}
		code[c.id] = c
		if _, ok := doc[c.id]; !ok {
			t.Errorf("%s is checked in controls.go but not in %s", c.id, securityDocPath)
		}
	}
	for id, row := range doc {
		c, ok := code[id]
		if !ok {
			t.Errorf("%s is in %s but not checked in controls.go", id, securityDocPath)
			continue
		}
		if row.title != c.title {
			t.Errorf("%s: doc title %q, code title %q", id, row.title, c.title)
		}
		var failing []string
		for stack, status := range map[string]string{"dev": row.dev, "prod": row.prod} {
			switch status {
			case "meets":
			case "fails":
				failing = append(failing, stack)
			default:
				t.Errorf("%s: %s status %q, want meets or fails", id, stack, status)
			}
		}
		slices.Sort(failing)
		var explained []string
		for _, m := range docFailReason.FindAllStringSubmatch(row.what, -1) {
			explained = append(explained, strings.Split(m[1], " and ")...)
		}
		slices.Sort(explained)
		if !slices.Equal(failing, explained) {
			t.Errorf("%s: fails in %v, but the text explains failures in %v (want **Fails in <stacks>:** for each)", id, failing, explained)
		}
		if want := "`TestSecurityControls/*/" + id + "`"; !strings.Contains(row.provedBy, want) {
			t.Errorf("%s: proved by %q, want it to cite %s", id, row.provedBy, want)
		}
	}
}

// TestSecurityDocCitesRealTests proves every test docs/security.md names
// exists, and every TestSecurityControls/*/<ID> it names is a control.
func TestSecurityDocCitesRealTests(t *testing.T) {
	raw, err := os.ReadFile(securityDocPath)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var source strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		source.Write(b)
	}
	ids := map[string]bool{}
	for _, c := range controls {
		ids[c.id] = true
	}
	cited := docTestName.FindAllStringSubmatch(string(raw), -1)
	if len(cited) == 0 {
		t.Fatalf("%s cites no tests", securityDocPath)
	}
	for _, m := range cited {
		if !strings.Contains(source.String(), "func "+m[1]+"(t *testing.T)") {
			t.Errorf("%s cites %s, which is not a test in infra/", securityDocPath, m[1])
		}
		if m[1] == "TestSecurityControls" && m[2] != "" {
			if id := strings.TrimPrefix(m[2], "/*/"); !ids[id] {
				t.Errorf("%s cites %s%s, want /*/<ID> of a control", securityDocPath, m[1], m[2])
			}
		}
	}
}

func TestParseSecurityDoc(t *testing.T) {
	const good = "intro\n\n## Controls\n\n" +
		"| Control | dev | prod | What the program does | Proved by |\n" +
		"| --- | --- | --- | --- | --- |\n" +
		"| **ELB.1** Redirect | fails | meets | **Fails in dev:** no certificate. | `TestSecurityControls/*/ELB.1` |\n" +
		"| **RDS.tls** TLS | meets | meets | force_ssl. | `TestSecurityControls/*/RDS.tls` |\n" +
		"\nafter the table\n| not | a | row | of | it |\n"
	rows, problems := parseSecurityDoc(good)
	if len(problems) > 0 {
		t.Fatalf("got problems %v", problems)
	}
	want := []docControl{
		{"ELB.1", "Redirect", "fails", "meets", "**Fails in dev:** no certificate.", "`TestSecurityControls/*/ELB.1`"},
		{"RDS.tls", "TLS", "meets", "meets", "force_ssl.", "`TestSecurityControls/*/RDS.tls`"},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("got rows %+v, want %+v", rows, want)
	}

	bad := []struct{ name, text, problem string }{
		{"no section", "# Title\n", "no \"## Controls\""},
		{"old header", "\n## Controls\n\n| Control | What the program does | Proved by |\n| --- | --- | --- |\n", "header"},
		{"no ID", "\n## Controls\n\n| Control | dev | prod | What the program does | Proved by |\n| --- | --- | --- | --- | --- |\n| Tagging | meets | meets | x | y |\n", "control cell"},
		{"missing cell", "\n## Controls\n\n| Control | dev | prod | What the program does | Proved by |\n| --- | --- | --- | --- | --- |\n| **ECS.2** x | meets | x | y |\n", "4 cells"},
	}
	for _, c := range bad {
		if _, problems := parseSecurityDoc(c.text); !strings.Contains(strings.Join(problems, "\n"), c.problem) {
			t.Errorf("%s: got problems %v, want one mentioning %q", c.name, problems, c.problem)
		}
	}
}
