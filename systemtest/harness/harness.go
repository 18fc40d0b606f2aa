// Package harness starts the shop's real programs (catalog, orders, web and
// edge) as separate processes on free 127.0.0.1 ports, for system tests and
// benchmarks. It is the only code in the repository that knows how to run
// the whole system without Docker.
//
// API (kept small and stable; bench/ imports it):
//
//	root, err := harness.RepoRoot()                       // dir holding go.work
//	bins, err := harness.Build(ctx, dir, "catalog", ...)  // name -> binary path; no names = all four
//	dsn, drop, err := harness.CreateDatabase(ctx, "")     // fresh database on TEST_DATABASE_URL / DATABASE_URL
//	sys, err := harness.Start(ctx, harness.Options{DatabaseURL: dsn})
//	defer sys.Close()
//	sys.EdgeURL, sys.CatalogURL, sys.OrdersURL, sys.WebURL, sys.AdminToken
//	sys.URL(name), sys.PID(name), sys.Logs(name), sys.AllLogs()
//	sys.Stop(name), sys.Restart(ctx, name), sys.Signal(name, sig)
//
// Tests get their database from postgrestest.NewDatabase(t) instead of
// CreateDatabase. Names are "catalog", "orders", "web" and "edge".
//
// Every process gets a clean environment (PATH, HOME, TMPDIR, then the
// service's own settings) so nothing from the caller's shell leaks in, e.g.
// PG* variables.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Services are the programs Start runs, in start order.
var Services = []string{"catalog", "orders", "web", "edge"}

// RepoRoot walks up from the working directory to the directory holding go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 64; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("harness: no go.work above the working directory")
}

// Build compiles apps/<svc> for each named service (all four when none) into
// dir with CGO_ENABLED=0, in one `go build` so packages compile in parallel
// and come from the build cache. It returns each service's binary path.
func Build(ctx context.Context, dir string, services ...string) (map[string]string, error) {
	if len(services) == 0 {
		services = Services
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	args := []string{"build", "-o", abs + string(filepath.Separator)}
	out := map[string]string{}
	for _, s := range services {
		args = append(args, "./apps/"+s)
		out[s] = filepath.Join(abs, s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("harness: go build %s: %w\n%s", strings.Join(services, " "), err, b)
	}
	return out, nil
}

// Options configure Start. Only DatabaseURL is required.
type Options struct {
	// DatabaseURL is the database catalog and orders share (each migrates
	// its own schema), e.g. from postgrestest.NewDatabase or CreateDatabase.
	DatabaseURL string
	// AdminToken is catalog's ADMIN_TOKEN; a random one when empty.
	AdminToken string
	// Binaries maps service name to a prebuilt binary (from Build). Missing
	// ones are built into a temporary directory removed by Close.
	Binaries map[string]string
	// Env adds or overrides variables per service, e.g.
	// {"catalog": {"RESERVATION_TTL": "3s"}}. Catalog gets DEMO_DATA=true
	// unless overridden: {"catalog": {"DEMO_DATA": "false"}} starts it empty.
	Env map[string]map[string]string
	// LogLevel is every service's LOG_LEVEL; "info" when empty.
	LogLevel string
	// ReadyTimeout bounds the wait for each /readyz; 30 s when zero.
	ReadyTimeout time.Duration
	// Output, when set, also receives every log line, prefixed by the
	// service name (e.g. os.Stderr while debugging).
	Output io.Writer
}

// System is a running shop.
type System struct {
	EdgeURL, CatalogURL, OrdersURL, WebURL string
	AdminToken                             string

	opts   Options
	tmpDir string
	mu     sync.Mutex
	procs  map[string]*process
}

type process struct {
	name string
	bin  string
	port int
	env  []string
	// logPath is the file the service writes its stdout and stderr to,
	// appended to across restarts. A file and not a pipe: the kernel writes
	// it, so reading every log line costs the test process (and the load
	// generator in bench/) nothing. Close keeps its content in closedLogs.
	logPath    string
	closedLogs string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start builds what is missing, then starts catalog, orders, web and edge
// on free ports and waits until each answers 200 on /readyz. On error,
// everything already started is stopped.
func Start(ctx context.Context, opts Options) (*System, error) {
	if opts.DatabaseURL == "" {
		return nil, errors.New("harness: Options.DatabaseURL is required")
	}
	if opts.AdminToken == "" {
		opts.AdminToken = "admin-" + randomHex(16)
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	s := &System{AdminToken: opts.AdminToken, opts: opts, procs: map[string]*process{}}

	bins := map[string]string{}
	var missing []string
	for _, name := range Services {
		if b := opts.Binaries[name]; b != "" {
			bins[name] = b
		} else {
			missing = append(missing, name)
		}
	}
	dir, err := os.MkdirTemp("", "shop-harness-")
	if err != nil {
		return nil, err
	}
	s.tmpDir = dir
	if len(missing) > 0 {
		built, err := Build(ctx, dir, missing...)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		for k, v := range built {
			bins[k] = v
		}
	}

	free, err := freePorts(len(Services))
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	ports := map[string]int{}
	for i, name := range Services {
		ports[name] = free[i]
	}
	base := func(n string) string { return "http://127.0.0.1:" + strconv.Itoa(ports[n]) }
	s.CatalogURL, s.OrdersURL, s.WebURL, s.EdgeURL = base("catalog"), base("orders"), base("web"), base("edge")

	env := map[string]map[string]string{
		"catalog": {"DATABASE_URL": opts.DatabaseURL, "ADMIN_TOKEN": opts.AdminToken, "DEMO_DATA": "true"},
		"orders":  {"DATABASE_URL": opts.DatabaseURL, "CATALOG_URL": s.CatalogURL},
		"web":     {"CATALOG_URL": s.CatalogURL},
		"edge": {"UPSTREAM_CATALOG": s.CatalogURL, "UPSTREAM_ORDERS": s.OrdersURL,
			"UPSTREAM_WEB": s.WebURL},
	}
	for _, name := range Services {
		vars := map[string]string{
			"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "TMPDIR": os.TempDir(),
			"PORT": strconv.Itoa(ports[name]), "LOG_LEVEL": opts.LogLevel,
		}
		for k, v := range env[name] {
			vars[k] = v
		}
		for k, v := range opts.Env[name] {
			vars[k] = v
		}
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		p := &process{name: name, bin: bins[name], port: ports[name], logPath: filepath.Join(dir, name+".log")}
		for _, k := range keys {
			p.env = append(p.env, k+"="+vars[k])
		}
		s.procs[name] = p
	}
	for _, name := range Services {
		if err := s.start(ctx, s.procs[name]); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *System) start(ctx context.Context, p *process) error {
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	f, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("harness: log file of %s: %w", p.name, err)
	}
	// An *os.File is handed to the child as is; a tee needs a copying
	// goroutine, which ends with cmd.Wait.
	var w io.Writer = f
	if s.opts.Output != nil {
		w = &teeWriter{file: f, out: s.opts.Output, prefix: p.name + "| "}
	}
	cmd.Stdout, cmd.Stderr = w, w
	// Own process group: a Ctrl-C on the test does not reach the services
	// before Close stops them in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("harness: start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = f.Close(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return waitReady(ctx, p, s.opts.ReadyTimeout)
}

func waitReady(ctx context.Context, p *process, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	u := "http://127.0.0.1:" + strconv.Itoa(p.port) + "/readyz"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("harness: %s exited before it was ready; log:\n%s", p.name, tail(p.logs(), 4000))
		case <-ctx.Done():
			return fmt.Errorf("harness: %s not ready on %s: %w; log:\n%s", p.name, u, ctx.Err(), tail(p.logs(), 4000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *System) proc(name string) (*process, error) {
	p, ok := s.procs[name]
	if !ok {
		return nil, fmt.Errorf("harness: no service %q", name)
	}
	return p, nil
}

// URL returns the base URL of a service ("edge" included).
func (s *System) URL(name string) string {
	if p, ok := s.procs[name]; ok {
		return "http://127.0.0.1:" + strconv.Itoa(p.port)
	}
	return ""
}

// PID returns the process id of a running service, or 0.
func (s *System) PID(name string) int {
	p, ok := s.procs[name]
	if !ok {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil || isClosed(p.done) {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether a service's process is alive.
func (s *System) Running(name string) bool { return s.PID(name) != 0 }

// Logs returns everything a service wrote to stdout and stderr, across restarts.
func (s *System) Logs(name string) string {
	if p, ok := s.procs[name]; ok {
		return p.logs()
	}
	return ""
}

// AllLogs returns every service's logs, each line prefixed with its name.
func (s *System) AllLogs() string {
	var b strings.Builder
	for _, name := range Services {
		if p, ok := s.procs[name]; ok {
			for _, line := range strings.SplitAfter(p.logs(), "\n") {
				if line != "" {
					b.WriteString(name + "| " + line)
				}
			}
		}
	}
	return b.String()
}

// Signal sends sig to a running service.
func (s *System) Signal(name string, sig os.Signal) error {
	p, err := s.proc(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.done) {
		return fmt.Errorf("harness: %s is not running", name)
	}
	return p.cmd.Process.Signal(sig)
}

// Wait blocks until a service's process exits or ctx ends.
func (s *System) Wait(ctx context.Context, name string) error {
	p, err := s.proc(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExitCode returns the exit code of a stopped service (-1 while running or
// when killed by a signal).
func (s *System) ExitCode(name string) int {
	p, ok := s.procs[name]
	if !ok {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || !isClosed(p.done) || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// stopTimeout is how long Stop waits after SIGTERM before SIGKILL: above
// the services' own 15 s drain bound.
const stopTimeout = 20 * time.Second

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 20 s).
// Stopping a stopped service is not an error.
func (s *System) Stop(name string) error {
	p, err := s.proc(name)
	if err != nil {
		return err
	}
	return p.stop()
}

func (p *process) stop() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("harness: %s ignored SIGTERM for %s and was killed", p.name, stopTimeout)
	}
}

// Restart stops a service (if running) and starts it again on the same
// port with the same environment, then waits for /readyz.
func (s *System) Restart(ctx context.Context, name string) error {
	p, err := s.proc(name)
	if err != nil {
		return err
	}
	if err := p.stop(); err != nil {
		return err
	}
	return s.start(ctx, p)
}

// Close stops every service in reverse start order and removes the
// temporary binaries. It returns the first stop error.
func (s *System) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for i := len(Services) - 1; i >= 0; i-- {
		if p, ok := s.procs[Services[i]]; ok {
			if err := p.stop(); err != nil && first == nil {
				first = err
			}
		}
	}
	// Logs stay readable after Close, for a failing test's report.
	for _, p := range s.procs {
		p.keepLogs()
	}
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
		s.tmpDir = ""
	}
	return first
}

// logs returns everything the service wrote so far.
func (p *process) logs() string {
	p.mu.Lock()
	path, kept := p.logPath, p.closedLogs
	p.mu.Unlock()
	if path == "" {
		return kept
	}
	b, _ := os.ReadFile(path) // not yet created: nothing written
	return string(b)
}

// keepLogs reads the log file into memory before it is removed.
func (p *process) keepLogs() {
	logs := p.logs()
	p.mu.Lock()
	p.logPath, p.closedLogs = "", logs
	p.mu.Unlock()
}

// ServerURL is the PostgreSQL server for throwaway databases:
// TEST_DATABASE_URL, else DATABASE_URL.
func ServerURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return os.Getenv("DATABASE_URL")
}

// CreateDatabase creates an empty database on server (ServerURL() when
// empty) and returns its URL and a function that drops it. Commands use it;
// tests use postgrestest.NewDatabase.
func CreateDatabase(ctx context.Context, server string) (dsn string, drop func(context.Context) error, err error) {
	if server == "" {
		server = ServerURL()
	}
	if server == "" {
		return "", nil, errors.New("harness: set TEST_DATABASE_URL or DATABASE_URL to a PostgreSQL server where the user may CREATE DATABASE")
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, fmt.Errorf("harness: parse database server URL: %w", err)
	}
	name := "harness_" + randomHex(8)
	if err := exec1(ctx, server, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("harness: create database: %w", err)
	}
	u.Path = "/" + name
	drop = func(ctx context.Context) error {
		return exec1(ctx, server, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

func exec1(ctx context.Context, dsn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

type teeWriter struct {
	file   *os.File
	mu     sync.Mutex
	out    io.Writer
	prefix string
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.file.Write(p)
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line != "" {
			_, _ = io.WriteString(t.out, t.prefix+line)
		}
	}
	return n, err
}

// freePorts returns n distinct free ports. Every listener stays open until
// all n are chosen: closed one by one, the kernel may hand the same port
// out twice (two services then race for it and one fails to start).
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("harness: free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
