package outbox

import (
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
