package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// floorProduct has the fields of catalog's product answer in the same
// order, so encoding/json writes the same bytes.
type floorProduct struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"price_cents"`
	Currency    string    `json:"currency"`
	Stock       int       `json:"stock"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// floorEnv carries the product JSON to the floor process.
const floorEnv = "BENCH_FLOOR_PRODUCT"

// floorHandler is the framework floor: plain net/http, the product held in
// memory and encoded on every request, like a handler whose store is free.
// No middleware, no logging, no database.
func floorHandler(p floorProduct) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/catalog/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != p.ID {
			http.NotFound(w, r)
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(b)
	})
	return mux
}

// serveFloor is the body of `bench floor`: serve the product from
// BENCH_FLOOR_PRODUCT on a free loopback port, print the address, and
// stop on SIGTERM.
func serveFloor() error {
	var p floorProduct
	if err := json.Unmarshal([]byte(os.Getenv(floorEnv)), &p); err != nil {
		return fmt.Errorf("floor: %s: %w", floorEnv, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The same timeouts as platform/server, so only the handler differs.
	srv := &http.Server{Handler: floorHandler(p), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 75 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Println("listening", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// floorProcess is the floor server running as its own process, like the
// catalog, so neither shares a Go runtime with the load generator.
type floorProcess struct {
	URL string
	cmd *exec.Cmd
}

func startFloor(ctx context.Context, productJSON []byte) (*floorProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "floor")
	cmd.Env = append(os.Environ(), floorEnv+"="+string(productJSON))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening ")
		if !ok {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("floor server did not start: %q", s)
		}
		return &floorProcess{URL: "http://" + addr, cmd: cmd}, nil
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, errors.New("floor server did not start within 10 s")
}

func (f *floorProcess) PID() int { return f.cmd.Process.Pid }

func (f *floorProcess) Close() {
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = f.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-done
	}
}
