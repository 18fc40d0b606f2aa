package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fargateshop/shop/platform/catalogapi"
)

// The floors do a catalog product read by hand with the standard library:
// the same request id, the same JSON bytes (encoding/json on every
// request) and the same JSON access-log line as the catalog, without Gin or
// its middleware. The database floor also asks PostgreSQL what the catalog
// asks, on a pgx pool of the catalog's size; the memory floor holds the
// product in memory instead. So catalog against the database floor is the
// cost of the framework alone, and the memory floor is what one HTTP
// exchange with its log line costs on this machine.

// productQuery is the query of catalog's Store.Product
// (apps/catalog/internal/postgres/store.go), which bench cannot import;
// TestFloorQueryIsCatalogs fails when the two differ.
const productQuery = `SELECT id, sku, name, description, price_cents, currency, stock, created_at, updated_at FROM catalog.products WHERE id = $1`

// catalogMaxConns is catalog's DB_MAX_CONNS default; bench gives it to the
// catalog and to the database floor alike (TestFloorPoolIsCatalogs).
const catalogMaxConns = 10

// floorProduct is a row of productQuery encoded as the catalog's answer,
// in the type catalog writes; TestDBFloorAnswersLikeCatalog compares the
// bytes with the real catalog.
type floorProduct = catalogapi.Product

var errNoProduct = errors.New("no such product")

// findProduct is where a floor gets the product with an id.
type findProduct func(ctx context.Context, id string) (floorProduct, error)

// fromMemory serves p and nothing else.
func fromMemory(p floorProduct) findProduct {
	return func(_ context.Context, id string) (floorProduct, error) {
		if id != p.ID {
			return floorProduct{}, errNoProduct
		}
		return p, nil
	}
}

// fromDatabase runs productQuery on pool, as the catalog's store does.
func fromDatabase(pool *pgxpool.Pool) findProduct {
	return func(ctx context.Context, id string) (floorProduct, error) {
		var p floorProduct
		err := pool.QueryRow(ctx, productQuery, id).Scan(&p.ID, &p.SKU, &p.Name, &p.Description,
			&p.PriceCents, &p.Currency, &p.Stock, &p.CreatedAt, &p.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return floorProduct{}, errNoProduct
		}
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		return p, err
	}
}

// floorHandler answers GET /api/catalog/products/{id} from find, with the
// catalog's request id header and access-log line (to log).
func floorHandler(log *slog.Logger, find findProduct) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/catalog/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// A new id, as platform/requestid makes one when the client sends none.
		var raw [16]byte
		_, _ = rand.Read(raw[:])
		id := hex.EncodeToString(raw[:])
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		status, n := writeProduct(w, r, find)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", r.Pattern),
			slog.Int("status", status),
			slog.Int("bytes", n),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("client_ip", clientIP(r.RemoteAddr)),
		)
	})
	return mux
}

func writeProduct(w http.ResponseWriter, r *http.Request, find findProduct) (status, n int) {
	p, err := find(r.Context(), r.PathValue("id"))
	var b []byte
	if err == nil {
		b, err = json.Marshal(p)
	}
	switch {
	case errors.Is(err, errNoProduct):
		status, b = http.StatusNotFound, []byte("no such product\n")
	case err != nil:
		status, b = http.StatusInternalServerError, []byte(err.Error()+"\n")
	default:
		status = http.StatusOK
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	n, _ = w.Write(b)
	return status, n
}

func clientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// Variables that tell `bench floor` what to serve: the product JSON (the
// memory floor) or a database and pool size (the database floor).
const (
	floorProductEnv  = "BENCH_FLOOR_PRODUCT"
	floorDatabaseEnv = "BENCH_FLOOR_DATABASE_URL"
	floorMaxConnsEnv = "BENCH_FLOOR_MAX_CONNS"
)

// serveFloor is the body of `bench floor`: serve the floor its environment
// names on a free loopback port, print the address, log every request to
// stderr as JSON, and stop on SIGTERM.
func serveFloor() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	find, closeFind, err := floorSource(ctx)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	defer closeFind()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "floor")
	// The same timeouts as platform/server, so only the handler differs.
	srv := &http.Server{Handler: floorHandler(log, find), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 75 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Println("listening", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("floor: %w", err)
	}
	return nil
}

func floorSource(ctx context.Context) (findProduct, func(), error) {
	dsn := os.Getenv(floorDatabaseEnv)
	if dsn == "" {
		var p floorProduct
		if err := json.Unmarshal([]byte(os.Getenv(floorProductEnv)), &p); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", floorProductEnv, err)
		}
		return fromMemory(p), func() {}, nil
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", floorDatabaseEnv, err)
	}
	n, err := strconv.Atoi(os.Getenv(floorMaxConnsEnv))
	if err != nil || n < 1 {
		return nil, nil, fmt.Errorf("%s: want a positive number, got %q", floorMaxConnsEnv, os.Getenv(floorMaxConnsEnv))
	}
	cfg.MaxConns = int32(n)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("ping database: %w", err)
	}
	return fromDatabase(pool), pool.Close, nil
}

// floorProcess is a floor server running as its own process, like the
// catalog, so neither shares a Go runtime with the load generator.
type floorProcess struct {
	URL string
	cmd *exec.Cmd
}

// startFloor starts `bench floor` with vars added to this environment;
// its access log goes to logs.
func startFloor(ctx context.Context, vars map[string]string, logs io.Writer) (*floorProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "floor")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = logs
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
