package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	platformconfig "github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/oteltest"
	"github.com/fargateshop/shop/platform/telemetry"
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

// TestTelemetryEnvIsWhatServicesRead: the end-to-end modes set telemetry
// as the services read it: off exports nothing, the others send traces
// and metrics to the sink at their ratio.
func TestTelemetryEnvIsWhatServicesRead(t *testing.T) {
	for _, m := range e2eModes {
		vars := telemetryEnv(m.ratio, "http://127.0.0.1:4318")
		e := platformconfig.New(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
		s := telemetry.FromEnv(e, "catalog")
		if err := e.Err(); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if m.ratio < 0 {
			if s.Enabled() {
				t.Errorf("%s: exports to %q and %q, want nothing", m.name, s.TracesURL, s.MetricsURL)
			}
			continue
		}
		if s.TracesURL != "http://127.0.0.1:4318/v1/traces" || s.MetricsURL != "http://127.0.0.1:4318/v1/metrics" {
			t.Errorf("%s: exports to %q and %q, want the sink", m.name, s.TracesURL, s.MetricsURL)
		}
		if s.Sampler != telemetry.ParentBasedTraceIDRatio || s.Ratio != m.ratio {
			t.Errorf("%s: sampler %s at %v, want %s at %v", m.name, s.Sampler, s.Ratio, telemetry.ParentBasedTraceIDRatio, m.ratio)
		}
	}
}
