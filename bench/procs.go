package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Startup is one measured start of a service.
type Startup struct {
	Ready time.Duration // exec to the first 200 on /readyz
	First time.Duration // the first real request after that
}

// startProcess starts bin with args and a clean environment (like the
// harness, so nothing from the caller's shell leaks in) plus vars, in its
// own process group. Its output goes to logs.
func startProcess(bin string, args []string, vars map[string]string, logs io.Writer) (*exec.Cmd, chan struct{}, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(), "LOG_LEVEL=info"}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return cmd, done, nil
}

func stopProcess(cmd *exec.Cmd, done chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// service is a program startService started and found ready.
type service struct {
	base  string        // http://127.0.0.1:<port>
	ready time.Duration // exec to the first 200 on /readyz
	cmd   *exec.Cmd
	done  chan struct{}
	logs  func() string // the tail of its output
}

// startService starts bin on a free port with vars and polls /readyz every
// millisecond until it answers 200. Its output goes to the file logPath
// when set (the kernel writes it, so a service logging under load costs
// the load generator nothing), else to memory.
func startService(ctx context.Context, bin string, vars map[string]string, logPath string) (*service, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	vars["PORT"] = strconv.Itoa(port)
	s := &service{base: "http://127.0.0.1:" + strconv.Itoa(port)}
	var w io.Writer
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the service has its own copy of the descriptor
		w = f
		s.logs = func() string { b, _ := os.ReadFile(logPath); return tail(string(b), 2000) }
	} else {
		var logs bytes.Buffer
		var mu sync.Mutex
		w = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
		s.logs = func() string { mu.Lock(); defer mu.Unlock(); return tail(logs.String(), 2000) }
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	start := time.Now()
	s.cmd, s.done, err = startProcess(bin, nil, vars, w)
	if err != nil {
		return nil, err
	}
	deadline := start.Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.ready = time.Since(start)
				return s, nil
			}
		}
		var failed error
		select {
		case <-s.done:
			failed = fmt.Errorf("%s exited before it was ready:\n%s", bin, s.logs())
		case <-ctx.Done():
			failed = ctx.Err()
		default:
			if time.Now().After(deadline) {
				failed = fmt.Errorf("%s not ready within 30 s:\n%s", bin, s.logs())
			}
		}
		if failed != nil {
			s.stop()
			return nil, failed
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *service) stop() { stopProcess(s.cmd, s.done) }

// measureStartup starts bin on a free port with vars and returns the time
// from exec to the first 200 on /readyz, and the latency of first(base),
// the first real request, on a new connection.
func measureStartup(ctx context.Context, bin string, vars map[string]string, first func(client *http.Client, base string) error) (Startup, error) {
	s, err := startService(ctx, bin, vars, "")
	if err != nil {
		return Startup{}, err
	}
	defer s.stop()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	t := time.Now()
	if err := first(client, s.base); err != nil {
		return Startup{}, fmt.Errorf("first request: %w\n%s", err, s.logs())
	}
	return Startup{Ready: s.ready, First: time.Since(t)}, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
