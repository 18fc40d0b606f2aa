package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// docControl is one row of the controls table in docs/security.md.
type docControl struct {
	id, title string
	// dev and prod are "meets" or "fails".
	dev, prod string
	what      string
	provedBy  string
}

var (
	// "**ECS.2** ECS services should not ..."
	docControlCell = regexp.MustCompile(`^\*\*([A-Za-z0-9]+\.[A-Za-z0-9]+)\*\* (.+)$`)
	// "**Fails in dev:**", "**Fails in prod:**", "**Fails in dev and prod:**"
	docFailReason = regexp.MustCompile(`\*\*Fails in (dev|prod|dev and prod):\*\*`)
)

// parseSecurityDoc reads the table under "## Controls": one row per control,
// columns Control, dev, prod, What the program does, Proved by.
func parseSecurityDoc(text string) ([]docControl, []string) {
	var rows []docControl
	var problems []string
	_, after, found := strings.Cut(text, "\n## Controls\n")
	if !found {
		return nil, []string{`no "## Controls" section`}
	}
	lines := strings.Split(after, "\n")
	i := 0
	for i < len(lines) && !strings.HasPrefix(lines[i], "|") {
		i++
	}
	if i+1 >= len(lines) {
		return nil, []string{"no table under ## Controls"}
	}
	header := splitRow(lines[i])
	if want := []string{"Control", "dev", "prod", "What the program does", "Proved by"}; !slices.Equal(header, want) {
		problems = append(problems, "got table header "+strings.Join(header, " | ")+", want "+strings.Join(want, " | "))
	}
	for _, line := range lines[i+2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := splitRow(line)
		if len(cells) != 5 {
			problems = append(problems, fmt.Sprintf("got a row with %d cells, want 5: %s", len(cells), line))
			continue
		}
		m := docControlCell.FindStringSubmatch(cells[0])
		if m == nil {
			problems = append(problems, "got control cell "+cells[0]+`, want "**<ID>** <title>"`)
			continue
		}
		rows = append(rows, docControl{id: m[1], title: m[2], dev: cells[1], prod: cells[2], what: cells[3], provedBy: cells[4]})
	}
	return rows, problems
}

func splitRow(line string) []string {
	cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}
