package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// The image build stamps main.version with the linker; a service built that
// way logs the version at start and serves it at VersionPath.
func TestVersionStamp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stamped")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v1.2.3", "-o", bin, "./testdata/stamped")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close() // the program opens its own listener on the port

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	// The log says which version started; "listening" means it serves.
	var started string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		var rec struct{ Msg, Version string }
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", lines.Text(), err)
		}
		if rec.Msg == "starting" {
			started = rec.Version
		}
		if rec.Msg == "listening" {
			break
		}
	}
	if started != "v1.2.3" {
		t.Errorf("start log version %q, want v1.2.3", started)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	resp, err := http.Get("http://127.0.0.1:" + port + VersionPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != `{"version":"v1.2.3"}`+"\n" {
		t.Errorf("GET %s = %d %q, want the stamped version", VersionPath, resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want a clean exit", err)
	}
}
