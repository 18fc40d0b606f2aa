package outbox

import (
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempts int
		jitter   float64
		want     time.Duration
	}{
		{attempts: 1, jitter: 0, want: 250 * time.Millisecond},
		{attempts: 1, jitter: 0.999999, want: 499999750 * time.Nanosecond},
		{attempts: 2, jitter: 0, want: 500 * time.Millisecond},
		{attempts: 3, jitter: 0.5, want: 1500 * time.Millisecond},
		{attempts: 7, jitter: 0, want: 15 * time.Second},  // 32 s capped at 30 s
		{attempts: 7, jitter: 1, want: 30 * time.Second},  // never above the cap
		{attempts: 60, jitter: 0, want: 15 * time.Second}, // no overflow
		{attempts: 0, jitter: 0, want: 15 * time.Second},  // nonsense counts as long
	}
	for _, tt := range tests {
		if got := backoff(tt.attempts, tt.jitter); got != tt.want {
			t.Errorf("backoff(%d, %v) = %v, want %v", tt.attempts, tt.jitter, got, tt.want)
		}
	}
}

func TestPause(t *testing.T) {
	r := NewRelay(slog.New(slog.DiscardHandler), nil, nil, Config{Batch: 50, Idle: 100 * time.Millisecond})
	r.jitter = func() float64 { return 0 }
	dbDown := errors.New("database down")
	// One relay's rounds in sequence: down carries over from row to row.
	rounds := []struct {
		name            string
		claimed, failed int
		err             error
		want            time.Duration
		wantDown        int
	}{
		{name: "nothing due", want: 100 * time.Millisecond},
		{name: "some sent", claimed: 3, want: 100 * time.Millisecond},
		{name: "a full batch: a backlog", claimed: 50, want: 0},
		{name: "a full batch, some failed", claimed: 50, failed: 10, want: 0},
		{name: "all failed: broker down", claimed: 7, failed: 7, want: 250 * time.Millisecond, wantDown: 1},
		{name: "again", claimed: 50, failed: 50, want: 500 * time.Millisecond, wantDown: 2},
		{name: "database down too", err: dbDown, want: time.Second, wantDown: 3},
		{name: "still", err: dbDown, want: 2 * time.Second, wantDown: 4},
		{name: "still", err: dbDown, want: 4 * time.Second, wantDown: 5},
		{name: "capped", err: dbDown, want: 5 * time.Second, wantDown: 6},
		{name: "back: one sent", claimed: 2, failed: 1, want: 100 * time.Millisecond},
	}
	down := 0
	for i, tt := range rounds {
		if got := r.pause(tt.claimed, tt.failed, tt.err, &down); got != tt.want || down != tt.wantDown {
			t.Errorf("round %d (%s): pause %v, down %d; want %v, %d", i, tt.name, got, down, tt.want, tt.wantDown)
		}
	}
}
