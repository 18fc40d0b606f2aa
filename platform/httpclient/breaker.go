package httpclient

import (
	"errors"

	"github.com/sony/gobreaker/v2"
)

// newBreaker returns the breaker for one dependency. It counts what the
// dependency did; calls the caller gave up on are left out.
func newBreaker(cfg Config) *gobreaker.CircuitBreaker[*result] {
	return gobreaker.NewCircuitBreaker[*result](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpen,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= cfg.BreakerFailures },
		IsExcluded:  func(err error) bool { return errors.As(err, new(*callerGone)) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			cfg.Log.Warn("circuit breaker", "dependency", name, "from", from.String(), "to", to.String())
		},
	})
}

// callerGone marks an attempt that ended because the caller gave up
// (cancelled, or its own deadline passed); the breaker ignores it.
type callerGone struct{ err error }

func (e *callerGone) Error() string { return e.err.Error() }
func (e *callerGone) Unwrap() error { return e.err }
