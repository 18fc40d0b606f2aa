package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

// readmePath is the repository's README, seen from apps/edge.
const readmePath = "../../README.md"

// mermaidNodeID matches the start of a node definition: `  name["label...`.
var mermaidNodeID = regexp.MustCompile(`(?m)^\s*([A-Za-z0-9_]+)\[`)

// TestReadmeDiagramShowsTheDeclaration: the architecture picture on the
// README's first screen draws every declared service, routes each one's
// paths to it, and shows every topic, so adding a service or an event
// without drawing it fails here.
func TestReadmeDiagramShowsTheDeclaration(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```mermaid\n")
	if !ok {
		t.Fatalf("%s has no mermaid diagram", readmePath)
	}
	chart, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("%s: the mermaid block is not closed", readmePath)
	}
	nodes := map[string]bool{}
	for _, m := range mermaidNodeID.FindAllStringSubmatch(chart, -1) {
		nodes[m[1]] = true
	}
	for _, s := range routing.Services {
		if !nodes[s.Name] {
			t.Errorf("the README diagram has no node %q for declared service %s", s.Name, s.Name)
		}
		if len(s.Paths) > 0 {
			route := `"` + strings.Join(s.Paths, ", ") + `" --> ` + s.Name
			if !strings.Contains(chart, route) {
				t.Errorf("the README diagram does not route %s: want an edge labelled %s", s.Name, route)
			}
		}
		if s.Default && !strings.Contains(chart, `"default route" --> `+s.Name) {
			t.Errorf("the README diagram does not show %s as the default route", s.Name)
		}
	}
	for _, topic := range routing.Topics(routing.Services) {
		if !strings.Contains(chart, "topic "+topic) {
			t.Errorf("the README diagram does not show topic %s", topic)
		}
	}
}
