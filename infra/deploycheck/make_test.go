package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeDeploy runs the repository's `make deploy` with a stand-in for the
// Pulumi CLI first on PATH: `pulumi up` exits with upExit, and `pulumi stack
// output --json` prints outputs. The check itself talks to the fake AWS
// started by the caller (its environment is inherited).
func makeDeploy(t *testing.T, upExit string, outputs string) (int, string) {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "outputs.json"), []byte(outputs), 0o644); err != nil {
		t.Fatal(err)
	}
	stub := `#!/bin/sh
# Stand-in for the Pulumi CLI: only what make deploy calls.
case "$1 $2" in
"up --yes") echo "pulumi $*"; exit ` + upExit + ` ;;
"stack output") cat "` + filepath.Join(bin, "outputs.json") + `" ;;
*) echo "unexpected pulumi $*" >&2; exit 99 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "pulumi"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "--no-print-directory", "-C", filepath.Join("..", ".."), "deploy", "STACK=dev", "DEPLOY_TIMEOUT=0s")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("make deploy: %v", err)
	}
	return code, string(out)
}

// make deploy is what users and CI run: it must fail whenever the check
// fails, and also when pulumi up failed, yet still print the check's reasons.
func TestMakeDeploy(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make deploy needs make on PATH")
	}
	for _, tc := range []struct {
		name     string
		rollback bool
		upExit   string
		wantOK   bool
		want     []string
	}{
		{"healthy", false, "0", true, []string{"pulumi up --yes --stack dev", "ok   orders:"}},
		{"rolled back", true, "0", false, []string{"FAIL orders: rolled back to shop-dev-orders:7", "deploycheck: 1 of 1 services failed: orders"}},
		{"up failed", false, "255", false, []string{"pulumi up --yes --stack dev", "ok   orders:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAWS(t)
			world(f, "orders")
			if tc.rollback {
				rollbackAfterHealthChecks(f)
			}
			f.start()
			code, out := makeDeploy(t, tc.upExit, stackOutputs("orders"))
			if (code == 0) != tc.wantOK {
				t.Errorf("got exit %d, want success %v\noutput:\n%s", code, tc.wantOK, out)
			}
			if missing := containsAll(out, tc.want...); len(missing) > 0 {
				t.Errorf("output lacks %q\noutput:\n%s", missing, out)
			}
			if strings.Contains(out, "unexpected pulumi") {
				t.Errorf("make deploy called the Pulumi CLI in a way the stand-in does not know:\n%s", out)
			}
		})
	}
}
