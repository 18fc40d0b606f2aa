package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/oteltest"
	"github.com/fargateshop/shop/systemtest/harness"
)

// TestTracingBenchesExist: the tracing section names sub-benchmarks that
// oteltest.BenchTracing runs, in benchmarks that exist where it looks.
func TestTracingBenchesExist(t *testing.T) {
	var modes []string
	for _, s := range oteltest.Samplings {
		modes = append(modes, s.Name)
	}
	if !slices.Equal(modes, tracingModes) {
		t.Errorf("tracingModes %v, want oteltest.Samplings' %v", tracingModes, modes)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tracingBenches {
		files, err := filepath.Glob(filepath.Join(root, tb.pkg, "*_test.go"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(src), "\nfunc "+tb.name+"(b *testing.B) {\n") &&
				strings.Contains(string(src), "oteltest.BenchTracing(") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %s using oteltest.BenchTracing in its tests", tb.pkg, tb.name)
		}
	}
}
