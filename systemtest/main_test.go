package systemtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/postgres/postgrestest"
	"github.com/fargateshop/shop/systemtest/harness"
)

// binaries are built once for every test in the package.
var binaries map[string]string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "systemtest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	binaries, err = harness.Build(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// startSystem starts the whole shop on a fresh database (or on dsn when
// given) and stops it when the test ends.
func startSystem(t *testing.T, dsn string, opts harness.Options) (*harness.System, string) {
	t.Helper()
	if dsn == "" {
		dsn = postgrestest.NewDatabase(t)
	}
	opts.DatabaseURL = dsn
	opts.Binaries = binaries
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, err := harness.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("stop the system: %v", err)
		}
		if t.Failed() {
			t.Logf("service logs:\n%s", tailLines(sys.AllLogs(), 200))
		}
	})
	return sys, dsn
}

func tailLines(s string, n int) string {
	lines := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			lines++
			if lines > n {
				return s[i+1:]
			}
		}
	}
	return s
}
