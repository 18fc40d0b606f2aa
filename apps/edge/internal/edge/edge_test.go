package edge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/routing"

	"github.com/fargateshop/shop/apps/edge/internal/edge"
)

// seen is what a fake service received.
type seen struct {
	Service string
	Path    string
	RawPath string
	Host    string
	Header  http.Header
}

// fleet is one fake upstream per declared service. Each fails the test if
// anything reaches a path under /internal, however it is spelled.
type fleet struct {
	mu   sync.Mutex
	last map[string]seen
}

func (f *fleet) got(service string) (seen, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.last[service]
	return s, ok
}

func (f *fleet) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = map[string]seen{}
}

// reachesInternal is deliberately broad: no routed path in these tests
// contains "internal" in lower case, so any sign of it (decoded once or
// twice) means a trick got through.
func reachesInternal(r *http.Request) bool {
	candidates := []string{r.URL.Path, r.URL.RawPath}
	if p, err := url.PathUnescape(r.URL.Path); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		if strings.Contains(c, "internal") {
			return true
		}
	}
	return false
}

func newFleet(t *testing.T) (*fleet, map[string]*url.URL) {
	t.Helper()
	f := &fleet{last: map[string]seen{}}
	ups := map[string]*url.URL{}
	for _, s := range routing.Services {
		name := s.Name
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if reachesInternal(r) {
				t.Errorf("service %s reached at internal path %q (raw %q)", name, r.URL.Path, r.URL.RawPath)
			}
			f.mu.Lock()
			f.last[name] = seen{Service: name, Path: r.URL.Path, RawPath: r.URL.RawPath, Host: r.Host, Header: r.Header.Clone()}
			f.mu.Unlock()
			w.Header().Set("X-Service", name)
			w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id")) // as the services echo it
			_, _ = io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "hello from %s", name)
		}))
		t.Cleanup(srv.Close)
		ups[name], _ = url.Parse(srv.URL)
	}
	return f, ups
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEdge(t *testing.T, ups map[string]*url.URL, opts edge.Options) *edge.Edge {
	t.Helper()
	e, err := edge.New(quietLog(), routing.Services, ups, opts)
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	return e
}

// newEdgeLogging is newEdge logging to log.
func newEdgeLogging(t *testing.T, ups map[string]*url.URL, log *slog.Logger) *edge.Edge {
	t.Helper()
	e, err := edge.New(log, routing.Services, ups, edge.Options{})
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	return e
}

// do sends a request whose target is parsed exactly as a server reads it
// off the wire (no cleaning, no re-encoding).
func do(h http.Handler, method, target string, hdr http.Header) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// samplePaths expands an ALB pattern into paths it must match.
func samplePaths(pattern string) []string {
	var out []string
	for _, star := range []string{"", "x", "x/y/z.json"} {
		p := strings.ReplaceAll(pattern, "*", star)
		p = strings.ReplaceAll(p, "?", "q")
		out = append(out, p)
	}
	return out
}

func TestRoutesEveryDeclaredPattern(t *testing.T) {
	f, ups := newFleet(t)
	e := newEdge(t, ups, edge.Options{})

	type row struct{ path, want string }
	var table []row
	for _, s := range routing.Services {
		for _, p := range s.Paths {
			for _, path := range samplePaths(p) {
				table = append(table, row{path, s.Name})
			}
		}
	}
	def, _ := routing.DefaultService(routing.Services)
	for _, p := range []string{"/", "/static/app.js", "/favicon.ico", "/api", "/api/", "/apix", "/INTERNAL", "/Internal/x", "/livezz"} {
		table = append(table, row{p, def.Name})
	}
	if len(table) < 2*len(routing.Services) {
		t.Fatalf("table has only %d rows", len(table))
	}
	for _, tc := range table {
		t.Run(tc.path, func(t *testing.T) {
			f.reset()
			if got := e.Route(tc.path); got != tc.want {
				t.Errorf("Route(%q) = %q, want %q", tc.path, got, tc.want)
			}
			if got := routing.Route(routing.Services, tc.path); got != tc.want {
				t.Errorf("routing.Route(%q) = %q, want %q (a pattern is shadowed?)", tc.path, got, tc.want)
			}
			res := do(e, http.MethodGet, tc.path, nil)
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Service") != tc.want {
				t.Fatalf("GET %s answered %d by %q, want 200 by %q", tc.path, res.StatusCode, res.Header.Get("X-Service"), tc.want)
			}
			if s, _ := f.got(tc.want); s.Path != tc.path {
				t.Errorf("%s received path %q, want %q", tc.want, s.Path, tc.path)
			}
		})
	}
}

func TestInternalIsNeverReached(t *testing.T) {
	f, ups := newFleet(t)
	e := newEdge(t, ups, edge.Options{})
	for _, tc := range []struct {
		target string
		want   int // 404 from the edge, or 200 from web for case variants
	}{
		{"/internal", 404},
		{"/internal/", 404},
		{"/internal/reservations", 404},
		{"/internal/reservations/x/confirm", 404},
		{"/internal?x=1", 404},
		{"/internalx", 404},
		{"//internal/x", 404},
		{"///internal/x", 404},
		{"/./internal/x", 404},
		{"/api/catalog/../internal/x", 404},
		{"/api/catalog/../../internal/x", 404},
		{"/api/orders/../internal/reservations", 404},
		{"/api/catalog/%2e%2e/internal", 404},
		{"/api/catalog/%2e%2e/%2e%2e/internal/x", 404},
		{"/api/catalog%2F..%2F..%2Finternal%2Fx", 404},
		{"/api/catalog/%252e%252e/%252e%252e/internal", 404},
		{"/api/catalog/%2E%2E/internal", 404},
		{"/api/catalog/.%2e/internal", 404},
		{"/api/catalog%2F..%2Finternal", 404},
		{"/api/catalog%2f..%2finternal", 404},
		{"/api/catalog/..%2finternal", 404},
		{"/api/catalog/%5c..%5cinternal", 404},
		{`/api/catalog/\..\internal`, 404},
		{"/api/catalog/%252e%252e/internal", 404},
		{"/api/catalog/..;/internal", 404},
		{"/api/catalog/%00/../internal", 404},
		{"/%69nternal/x", 404},
		{"/api/catalog//internal", 404},
		{"/api/catalog/.", 404},
		{"/INTERNAL", 200},
		{"/INTERNAL/reservations", 200},
	} {
		t.Run(tc.target, func(t *testing.T) {
			f.reset()
			res := do(e, http.MethodGet, tc.target, nil)
			if res.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.want)
			}
			if tc.want == 404 {
				if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type = %q, want application/problem+json", ct)
				}
				for _, s := range routing.Services {
					if got, ok := f.got(s.Name); ok {
						t.Errorf("request reached %s at %q", s.Name, got.Path)
					}
				}
			} else if svc := res.Header.Get("X-Service"); svc != "web" {
				t.Errorf("answered by %q, want web (ALB matching is case-sensitive)", svc)
			}
		})
	}
}

func TestProxyHeaders(t *testing.T) {
	f, ups := newFleet(t)
	e := newEdge(t, ups, edge.Options{})

	req := httptest.NewRequest(http.MethodGet, "/api/catalog/products?limit=5", nil)
	req.Host = "shop.example.com"
	req.RemoteAddr = "192.0.2.10:51000"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Proto", "https") // a client's claim; the ALB overwrites it
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Request-Id", "req-123")
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(172, 18, 0, 5), Port: 8080}))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	got, _ := f.got("catalog")
	for k, want := range map[string]string{
		"X-Forwarded-For":   "203.0.113.7, 192.0.2.10",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Port":  "8080",
		"X-Forwarded-Host":  "",
		"X-Request-Id":      "req-123",
		"Accept-Encoding":   "", // the client asked for none; the ALB adds none
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("upstream %s = %q, want %q", k, v, want)
		}
	}
	if got.Host != "shop.example.com" {
		t.Errorf("upstream Host = %q, want the client's shop.example.com", got.Host)
	}
	if v := rec.Result().Header.Values("X-Request-Id"); len(v) != 1 || v[0] != "req-123" {
		t.Errorf("response X-Request-Id = %q, want just req-123", v)
	}

	// No id, or an unsafe one: the edge makes one and sends it both ways.
	for _, in := range []string{"", "bad id\twith spaces"} {
		f.reset()
		res := do(e, http.MethodGet, "/api/orders/1", http.Header{"X-Request-Id": {in}})
		got, _ := f.got("orders")
		ids := res.Header.Values("X-Request-Id")
		if len(ids) != 1 || len(ids[0]) != 32 || got.Header.Get("X-Request-Id") != ids[0] {
			t.Errorf("X-Request-Id %q: response %q, upstream %q, want one, the same new 32-hex id", in, ids, got.Header.Get("X-Request-Id"))
		}
	}

	// TLS from the client shows as https.
	f.reset()
	req = httptest.NewRequest(http.MethodGet, "https://shop.example.com/api/orders/1", nil)
	e.ServeHTTP(httptest.NewRecorder(), req)
	if got, _ := f.got("orders"); got.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("X-Forwarded-Proto over TLS = %q, want https", got.Header.Get("X-Forwarded-Proto"))
	}
}

func decodeProblem(t *testing.T, res *http.Response) map[string]any {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatalf("problem body: %v", err)
	}
	return p
}

func TestUpstreamFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL, _ := url.Parse(closed.URL)
	closed.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	slowURL, _ := url.Parse(slow.URL)

	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST instead of FIN
			}
			_ = conn.Close()
		}
	}))
	t.Cleanup(reset.Close)
	resetURL, _ := url.Parse(reset.URL)

	for _, tc := range []struct {
		name     string
		upstream *url.URL
		want     int
	}{
		{"connection refused", closedURL, http.StatusBadGateway},
		{"connection reset", resetURL, http.StatusBadGateway},
		{"no answer in time", slowURL, http.StatusGatewayTimeout},
		{"no address", &url.URL{Scheme: "http", Host: "no-such-service.invalid:8080"}, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ups := newFleet(t)
			ups["catalog"] = tc.upstream
			e := newEdge(t, ups, edge.Options{ResponseHeaderTimeout: 200 * time.Millisecond})
			start := time.Now()
			res := do(e, http.MethodGet, "/api/catalog/products", http.Header{"X-Request-Id": {"fail-1"}})
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			if res.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.want)
			}
			p := decodeProblem(t, res)
			if p["status"] != float64(tc.want) || p["request_id"] != "fail-1" {
				t.Errorf("problem = %v", p)
			}
			if tc.want == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
		})
	}
}

func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d bytes\n", n)
		http.NewResponseController(w).Flush()
		<-release
		fmt.Fprintln(w, "done")
	}))
	t.Cleanup(up.Close)
	_, ups := newFleet(t)
	ups["orders"], _ = url.Parse(up.URL)
	front := httptest.NewServer(newEdge(t, ups, edge.Options{}))
	t.Cleanup(front.Close)

	body := strings.NewReader(strings.Repeat("x", 3<<20))
	res, err := http.Post(front.URL+"/api/orders", "application/octet-stream", body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != fmt.Sprintf("got %d bytes\n", 3<<20) {
		t.Fatalf("first chunk = %q, %v; want it before the upstream finished", line, err)
	}
	close(release)
	if rest, _ := io.ReadAll(br); string(rest) != "done\n" {
		t.Errorf("rest = %q", rest)
	}
}

func TestEdgeHealth(t *testing.T) {
	f, ups := newFleet(t)
	e := newEdge(t, ups, edge.Options{})
	for _, p := range []string{"/livez", "/readyz"} {
		res := do(e, http.MethodGet, p, nil)
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(b), `"ok"`) {
			t.Errorf("GET %s = %d %s", p, res.StatusCode, b)
		}
		if _, ok := f.got("web"); ok {
			t.Errorf("GET %s was forwarded to web; the edge answers it itself", p)
		}
	}
	if res := do(e, http.MethodPost, "/livez", nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /livez = %d, want 405", res.StatusCode)
	}
}

func TestNewRejectsMissingUpstream(t *testing.T) {
	_, ups := newFleet(t)
	delete(ups, "orders")
	if _, err := edge.New(quietLog(), routing.Services, ups, edge.Options{}); err == nil || !strings.Contains(err.Error(), "orders") {
		t.Errorf("New without an orders upstream = %v, want an error naming orders", err)
	}
	bad := append([]routing.Service(nil), routing.Services...)
	bad = append(bad, routing.Service{Name: "leaky", Port: 8080, Paths: []string{"/internal/*"}, Priority: 900})
	if _, err := edge.New(quietLog(), bad, ups, edge.Options{}); err == nil {
		t.Errorf("New with a service exposing /internal succeeded")
	}
}
