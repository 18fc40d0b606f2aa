package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBrokerConfig(t *testing.T) {
	tests := []struct {
		name, conf, env, wantErr string
	}{
		{"goaws's own layout", "# comment\nLocal:\n  Host: broker\n  Port: 4100\n  Region: us-east-1\n", "Local", ""},
		{"quoted port, another environment name", "Shop:   \n  Port: \"4100\"\n", "Shop", ""},
		{"no port", "Local:\n  SqsPort: 9324\n", "", "no environment with a Port line"},
		{"no environment", "  Port: 4100\n", "", "no environment with a Port line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "goaws.yaml")
			if err := os.WriteFile(path, []byte(tt.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			conf, env, err := brokerConfig(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env != tt.env {
				t.Errorf("environment = %q, want %q", env, tt.env)
			}
			moved := portLine.ReplaceAllString(conf, "${1}12345")
			if !strings.Contains(moved, "  Port: 12345\n") || strings.Contains(moved, "4100") {
				t.Errorf("port not moved:\n%s", moved)
			}
		})
	}
}

// The bench runs the broker with Compose's own configuration: it must keep
// a Port line the bench can move.
func TestBrokerConfigOfCompose(t *testing.T) {
	conf, env, err := brokerConfig(filepath.Join("..", goawsConfig))
	if err != nil {
		t.Fatal(err)
	}
	if env != "Local" {
		t.Errorf("environment %q, want Local (what goaws reads when told nothing)", env)
	}
	for _, name := range []string{shippingQueue, shippingQueue + "-dlq", "Name: order-events"} {
		if !strings.Contains(conf, name) {
			t.Errorf("%s does not name %s", goawsConfig, name)
		}
	}
}

func TestEventRunOver(t *testing.T) {
	r := eventRun{lags: []time.Duration{100 * time.Millisecond, time.Second, time.Second + 1, 30 * time.Second}}
	if got := r.over(time.Second); got != 2 {
		t.Errorf("over 1 s = %d, want 2 (exactly 1 s is within the budget)", got)
	}
	if got := (eventRun{}).over(time.Second); got != 0 {
		t.Errorf("over 1 s of no lags = %d, want 0", got)
	}
}
