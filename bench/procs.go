package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rssKB returns a process's resident set size (VmRSS) in KiB.
func rssKB(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v) // "12345 kB"
			if len(fields) == 2 && fields[1] == "kB" {
				return strconv.Atoi(fields[0])
			}
		}
	}
	return 0, errors.New("no VmRSS line")
}

// rssSampler records the highest VmRSS of some processes while it runs.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak map[string]int
}

func sampleRSS(pids map[string]int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{}), peak: map[string]int{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			for name, pid := range pids {
				if kb, err := rssKB(pid); err == nil {
					s.mu.Lock()
					s.peak[name] = max(s.peak[name], kb)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak per process in KiB.
func (s *rssSampler) Stop() map[string]int {
	close(s.stop)
	<-s.done
	return s.peak
}

// Startup is one measured start of a service.
type Startup struct {
	Ready time.Duration // exec to the first 200 on /readyz
	First time.Duration // the first real request after that
}

// startProcess starts bin with a clean environment (like the harness, so
// nothing from the caller's shell leaks in) plus vars, in its own process
// group. Its output goes to logs.
func startProcess(bin string, vars map[string]string, logs io.Writer) (*exec.Cmd, chan struct{}, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(), "LOG_LEVEL=info"}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(bin)
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

// measureStartup starts bin on a free port with vars and returns the time
// from exec to the first 200 on /readyz, polled every millisecond, and the
// latency of first(base), the first real request, on a new connection.
func measureStartup(ctx context.Context, bin string, vars map[string]string, first func(client *http.Client, base string) error) (Startup, error) {
	port, err := freePort()
	if err != nil {
		return Startup{}, err
	}
	vars["PORT"] = strconv.Itoa(port)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var logs bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	logsText := func() string { mu.Lock(); defer mu.Unlock(); return tail(logs.String(), 2000) }

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	start := time.Now()
	cmd, done, err := startProcess(bin, vars, w)
	if err != nil {
		return Startup{}, err
	}
	defer stopProcess(cmd, done)
	deadline := start.Add(30 * time.Second)
	var s Startup
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Ready = time.Since(start)
				break
			}
		}
		select {
		case <-done:
			return Startup{}, fmt.Errorf("%s exited before it was ready:\n%s", bin, logsText())
		case <-ctx.Done():
			return Startup{}, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return Startup{}, fmt.Errorf("%s not ready within 30 s:\n%s", bin, logsText())
		}
		time.Sleep(time.Millisecond)
	}
	t := time.Now()
	if err := first(client, base); err != nil {
		return Startup{}, fmt.Errorf("first request: %w\n%s", err, logsText())
	}
	s.First = time.Since(t)
	return s, nil
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

// imageSizes returns the size in bytes of each service's image built by
// Compose (a repository named <service>, or ending in -<service> or
// /<service>), newest first. ok is false when no Docker engine answers.
func imageSizes(ctx context.Context, services []string) (sizes map[string]int64, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "image", "ls", "--format", "{{.Repository}}\t{{.Tag}}\t{{.ID}}").Output()
	if err != nil {
		return nil, false
	}
	sizes = map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[1] == "<none>" {
			continue
		}
		repo := f[0]
		for _, svc := range services {
			if _, seen := sizes[svc]; seen {
				continue
			}
			if repo == svc || strings.HasSuffix(repo, "-"+svc) || strings.HasSuffix(repo, "/"+svc) {
				b, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Size}}", f[2]).Output()
				if err != nil {
					continue
				}
				if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
					sizes[svc] = n
				}
			}
		}
	}
	return sizes, true
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time a process has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

func parseStatCPU(stat string) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces;
	// fields are counted after its closing parenthesis. utime and stime
	// are fields 14 and 15, so the 12th and 13th after it.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// Pseudo-process names a cpuMeter always reports besides its pids.
const (
	cpuPostgres = "postgres" // every process named postgres on this machine: the backends serving the load
	cpuLoad     = "load"     // this process: vegeta sending the load and reading the answers
)

// cpuMeter measures the CPU time some processes use between its start and
// Stop, plus PostgreSQL's and the load generator's: on a shared machine,
// throughput is the cores divided by the CPU every party spends on a request.
type cpuMeter struct {
	pids     map[string]int
	start    map[string]time.Duration
	postgres map[int]time.Duration
}

func meterCPU(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]time.Duration{}, postgres: postgresCPU()}
	for name, pid := range pids {
		m.start[name], _ = cpuTime(pid)
	}
	m.start[cpuLoad], _ = cpuTime(os.Getpid())
	return m
}

// Stop returns the CPU time each process used since meterCPU.
func (m *cpuMeter) Stop() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		if t, err := cpuTime(pid); err == nil {
			out[name] = t - m.start[name]
		}
	}
	if t, err := cpuTime(os.Getpid()); err == nil {
		out[cpuLoad] = t - m.start[cpuLoad]
	}
	// A backend that started during the run counts whole; one that ended
	// during it is lost (the services' pools keep theirs open).
	var pg time.Duration
	for pid, t := range postgresCPU() {
		pg += t - m.postgres[pid]
	}
	if pg > 0 {
		out[cpuPostgres] = pg
	}
	return out
}

// postgresCPU returns the CPU time of every process named "postgres" on
// this machine, by pid. A database elsewhere shows no process here, and
// the table then leaves PostgreSQL's share out.
func postgresCPU() map[int]time.Duration {
	out := map[int]time.Duration{}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil || !bytes.Contains(b, []byte("(postgres)")) {
			continue
		}
		if t, err := parseStatCPU(string(b)); err == nil {
			out[pid] = t
		}
	}
	return out
}
