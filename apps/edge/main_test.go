package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server"
	"github.com/fargateshop/shop/platform/server/servertest"
)

// TestProgram starts the real edge on a free port in front of one fake per
// declared service and talks to it over TCP, so the request line reaches
// the edge exactly as written.
func TestProgram(t *testing.T) {
	env := map[string]string{}
	for _, s := range routing.Services {
		name := s.Name
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "internal") {
				t.Errorf("%s reached at %q", name, r.URL.Path)
			}
			fmt.Fprintf(w, "%s %s xff=%s port=%s", name, r.URL.Path, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Port"))
		}))
		defer up.Close()
		env[UpstreamEnv(name)] = up.URL
	}
	prog := servertest.Start(t, run, env)
	addr := strings.TrimPrefix(prog.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)

	raw := func(target string) (int, string) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n", target)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	for _, tc := range []struct {
		target string
		status int
		prefix string
	}{
		{"/livez", 200, `{"status":"ok"}`},
		{"/", 200, "web / xff=127.0.0.1 port=" + port},
		{"/api/catalog/products", 200, "catalog /api/catalog/products"},
		{"/api/orders", 200, "orders /api/orders"},
		{"/internal/reservations", 404, "{"},
		{"/api/catalog/../../internal/reservations", 404, "{"},
		{"/api/catalog/%2e%2e/%2e%2e/internal", 404, "{"},
		{"/api/catalog%2F..%2F..%2Finternal", 404, "{"},
		{"//internal/x", 404, "{"},
	} {
		status, body := raw(tc.target)
		if status != tc.status || !strings.HasPrefix(body, tc.prefix) {
			t.Errorf("GET %s = %d %q, want %d starting %q", tc.target, status, body, tc.status, tc.prefix)
		}
	}
	// The program checks framing on the wire: the request smuggled in the
	// body of an ambiguous one is never answered.
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "POST /api/orders HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+
		"GET /smuggled HTTP/1.1\r\nHost: shop.test\r\n\r\n")
	var statuses []int
	for br := bufio.NewReader(conn); ; {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			break // closed, or the deadline: the statuses tell which
		}
		statuses = append(statuses, res.StatusCode)
		_, _ = io.Copy(io.Discard, res.Body)
	}
	_ = conn.Close()
	if !slices.Equal(statuses, []int{http.StatusBadRequest}) {
		t.Errorf("ambiguous framing answered %v, want [400] and the connection closed", statuses)
	}

	if code := server.Healthcheck(port); code != 0 {
		t.Errorf("healthcheck against the edge = %d, want 0", code)
	}

	if err := prog.Stop(); err != nil {
		t.Errorf("run returned %v after shutdown, want nil", err)
	}
}

func TestUpstreams(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	ups, err := Upstreams(routing.Services, none)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range routing.Services {
		if got, want := ups[s.Name].String(), fmt.Sprintf("http://%s:%d", s.Name, s.Port); got != want {
			t.Errorf("default upstream of %s = %q, want %q", s.Name, got, want)
		}
	}

	ups, err = Upstreams(routing.Services, func(k string) (string, bool) {
		if k == "UPSTREAM_CATALOG" {
			return "http://localhost:8081/", true
		}
		return "", false
	})
	if err != nil || ups["catalog"].String() != "http://localhost:8081" {
		t.Errorf("UPSTREAM_CATALOG override = %v, %v", ups["catalog"], err)
	}

	for _, bad := range []string{"catalog:8080", "ftp://catalog", "http://catalog:8080/api", "http://catalog:8080?x=1"} {
		_, err := Upstreams(routing.Services, func(k string) (string, bool) {
			if k == "UPSTREAM_CATALOG" {
				return bad, true
			}
			return "", false
		})
		if err == nil || !strings.Contains(err.Error(), "UPSTREAM_CATALOG") {
			t.Errorf("UPSTREAM_CATALOG=%q: err = %v, want one naming the variable", bad, err)
		}
	}
	if got := UpstreamEnv("order-history"); got != "UPSTREAM_ORDER_HISTORY" {
		t.Errorf("UpstreamEnv(order-history) = %q", got)
	}
}
