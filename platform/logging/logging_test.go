package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/fargateshop/shop/platform/requestid"
)

func TestRequestIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "debug", "orders").With("k", "v")
	log.InfoContext(requestid.With(context.Background(), "rid-7"), "hello")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON line: %v: %s", err, buf.String())
	}
	for k, want := range map[string]string{"request_id": "rid-7", "service": "orders", "k": "v", "msg": "hello", "level": "INFO"} {
		if got := rec[k]; got != want {
			t.Errorf("%s = %v, want %q", k, got, want)
		}
	}
}

func TestLevel(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, "warn", "x").Info("dropped")
	if buf.Len() != 0 {
		t.Errorf("info logged at warn level: %s", buf.String())
	}
}
