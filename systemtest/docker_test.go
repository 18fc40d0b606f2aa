//go:build docker

package systemtest

// Run with the Compose stack up (scripts/stack.sh up):
//
//	go test -count=1 -tags docker -run TestContainers ./systemtest/
//
// It reads the compose model, the built images and the running containers,
// and the container processes' own /proc entries on the host.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/systemtest/harness"
)

// appServices are the programs Compose runs from apps/: every declared
// service (make new-service adds to them) and the edge.
var appServices = func() []string {
	var names []string
	for _, s := range routing.Services {
		names = append(names, s.Name)
	}
	return append(names, "edge")
}()

// The trace store runs the Jaeger image's own user (the public image's USER,
// which the stand-in copies), not the apps' distroless nonroot. The broker
// (goaws) runs as the apps' user.
const (
	jaegerService = "jaeger"
	jaegerUID     = "10001"
	brokerService = "broker"
)

// containerUsers is the uid each hardened container runs as.
func containerUsers() map[string]string {
	users := map[string]string{jaegerService: jaegerUID, brokerService: "65532"}
	for _, name := range appServices {
		users[name] = "65532"
	}
	return users
}

func dockerOut(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// uidOf returns the numeric user of a "uid", "uid:gid" or "nonroot" user.
func uidOf(user string) string {
	u, _, _ := strings.Cut(user, ":")
	if u == "nonroot" {
		return "65532"
	}
	return u
}

func TestContainersComposeModel(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var model struct {
		Services map[string]struct {
			Image       string   `json:"image"`
			User        string   `json:"user"`
			ReadOnly    bool     `json:"read_only"`
			CapDrop     []string `json:"cap_drop"`
			SecurityOpt []string `json:"security_opt"`
			Ports       []any    `json:"ports"`
		} `json:"services"`
	}
	if err := json.Unmarshal(dockerOut(t, root, "compose", "config", "--format", "json"), &model); err != nil {
		t.Fatal(err)
	}
	users := containerUsers()
	for _, name := range slices.Sorted(maps.Keys(users)) {
		s, ok := model.Services[name]
		if !ok {
			t.Errorf("compose has no service %s", name)
			continue
		}
		if uidOf(s.User) != users[name] {
			t.Errorf("%s: user %q, want %s", name, s.User, users[name])
		}
		if !s.ReadOnly {
			t.Errorf("%s: read_only is not set", name)
		}
		if len(s.CapDrop) == 0 || !strings.EqualFold(s.CapDrop[0], "ALL") {
			t.Errorf("%s: cap_drop %v, want [ALL]", name, s.CapDrop)
		}
		if !strings.Contains(strings.Join(s.SecurityOpt, ","), "no-new-privileges") {
			t.Errorf("%s: security_opt %v lacks no-new-privileges", name, s.SecurityOpt)
		}
		switch name {
		case "edge":
		case jaegerService, brokerService:
			// Jaeger's UI and metrics, and the broker's queues (the system
			// tests read their depth), are for this machine only.
			for _, p := range s.Ports {
				if m, ok := p.(map[string]any); !ok || fmt.Sprint(m["host_ip"]) != "127.0.0.1" {
					t.Errorf("%s publishes %v beyond 127.0.0.1", name, p)
				}
			}
		default:
			if len(s.Ports) > 0 {
				t.Errorf("%s publishes ports %v; only the edge may", name, s.Ports)
			}
		}
	}
	if pg, ok := model.Services["postgres"]; ok && len(pg.Ports) > 0 {
		t.Errorf("postgres publishes ports %v", pg.Ports)
	}
}

func TestContainersImages(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var model struct {
		Name     string `json:"name"`
		Services map[string]struct {
			Image string `json:"image"`
		} `json:"services"`
	}
	if err := json.Unmarshal(dockerOut(t, root, "compose", "config", "--format", "json"), &model); err != nil {
		t.Fatal(err)
	}
	for _, name := range appServices {
		// Compose names a built image <project>-<service> unless image: is set.
		img := model.Services[name].Image
		if img == "" {
			img = model.Name + "-" + name
		}
		var images []struct {
			Config struct {
				User       string
				Entrypoint []string
				Cmd        []string
				Labels     map[string]string
			}
		}
		if err := json.Unmarshal(dockerOut(t, root, "image", "inspect", img), &images); err != nil || len(images) != 1 {
			t.Fatalf("inspect image %s: %v", img, err)
		}
		c := images[0].Config
		if uidOf(c.User) != "65532" {
			t.Errorf("image %s: User %q, want 65532 (distroless nonroot)", img, c.User)
		}
		// One Dockerfile builds every service to a fixed path; the title
		// says which service the SERVICE build argument put there.
		if len(c.Entrypoint) == 0 || c.Entrypoint[0] != "/usr/local/bin/app" {
			t.Errorf("image %s: Entrypoint %v, want exec form /usr/local/bin/app", img, c.Entrypoint)
		}
		if got := c.Labels["org.opencontainers.image.title"]; got != name {
			t.Errorf("image %s: title label %q, want %q", img, got, name)
		}
	}
}

func TestContainersRunning(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	users := containerUsers()
	for _, name := range slices.Sorted(maps.Keys(users)) {
		want := users[name]
		id := strings.TrimSpace(string(dockerOut(t, root, "compose", "ps", "-q", name)))
		if id == "" {
			t.Fatalf("%s is not running: start the stack with scripts/stack.sh up", name)
		}
		var cs []struct {
			State      struct{ Pid int }
			Config     struct{ User string }
			HostConfig struct {
				ReadonlyRootfs bool
				Privileged     bool
				CapDrop        []string
			}
		}
		if err := json.Unmarshal(dockerOut(t, root, "inspect", id), &cs); err != nil || len(cs) != 1 {
			t.Fatalf("inspect %s: %v", name, err)
		}
		c := cs[0]
		if !c.HostConfig.ReadonlyRootfs {
			t.Errorf("%s: root filesystem is writable", name)
		}
		if c.HostConfig.Privileged {
			t.Errorf("%s: privileged", name)
		}
		if uidOf(c.Config.User) != want {
			t.Errorf("%s: runs as %q, want %s", name, c.Config.User, want)
		}
		// What the kernel says about the process itself (we are on the
		// Docker host; skipped where /proc of the container is not visible).
		status, err := os.ReadFile("/proc/" + strconv.Itoa(c.State.Pid) + "/status")
		if err != nil {
			t.Logf("%s: cannot read the process's /proc entry (%v); checked docker inspect only", name, err)
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "Uid:" && (f[1] != want || f[2] != want) {
				t.Errorf("%s: process uid %v, want %s", name, f[1:], want)
			}
			if f := strings.Fields(line); len(f) == 2 && f[0] == "CapEff:" && f[1] != "0000000000000000" {
				t.Errorf("%s: effective capabilities %s, want none", name, f[1])
			}
		}
		mounts, err := os.ReadFile("/proc/" + strconv.Itoa(c.State.Pid) + "/mounts")
		if err == nil {
			for _, line := range strings.Split(string(mounts), "\n") {
				f := strings.Fields(line)
				if len(f) >= 4 && f[1] == "/" && !strings.HasPrefix(f[3], "ro") && !strings.Contains(","+f[3]+",", ",ro,") {
					t.Errorf("%s: / is mounted %s, want ro", name, f[3])
				}
			}
		}
	}
}
