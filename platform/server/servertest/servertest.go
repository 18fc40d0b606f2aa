// Package servertest starts a service's real program (its server.Program,
// the body of main) inside a test, on a free loopback port.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/server"
)

// Env turns a map into the getenv a Program takes.
func Env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Program is a running program.
type Program struct {
	URL    string // http://127.0.0.1:<port>
	cancel context.CancelFunc
	done   chan error
}

// Start runs prog with env on 127.0.0.1:0 and waits until /readyz answers
// 200. The program is stopped when the test ends if Stop was not called.
func Start(t testing.TB, prog server.Program, env map[string]string) *Program {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Program{URL: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { p.done <- prog(ctx, log, Env(env), ln) }()
	t.Cleanup(func() { _ = p.Stop() })

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-p.done:
			p.done <- err // keep it for Stop
			t.Fatalf("program exited before it was ready: %v", err)
		default:
		}
		resp, err := client.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("program not ready within 15 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop cancels the program's context, as SIGTERM does, and returns what it
// returned. A program that has not returned within server.StopTimeout, when
// ECS or Compose would kill it, is an error.
func (p *Program) Stop() error {
	p.cancel()
	select {
	case err := <-p.done:
		p.done <- err // Stop may be called again by Cleanup
		return err
	case <-time.After(server.StopTimeout):
		return context.DeadlineExceeded
	}
}
