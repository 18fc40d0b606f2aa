package systemtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/platform/postgres/postgrestest"
	"github.com/fargateshop/shop/systemtest/harness"
)

// TestAdminEndpointsNeedTheToken proves the admin writes reject a missing
// or wrong token through the edge, and accept the right one (so the
// rejections are not a broken route).
func TestAdminEndpointsNeedTheToken(t *testing.T) {
	sys, _ := startSystem(t, "", harness.Options{})
	var p struct {
		ID string `json:"id"`
	}
	body := map[string]any{"sku": "SEC-1", "name": "Sec", "price_cents": 100, "currency": "USD", "stock": 5}
	if got := doJSON(t, "POST", sys.EdgeURL+"/api/catalog/products", map[string]string{"Authorization": "Bearer " + sys.AdminToken}, body, &p); got != 201 {
		t.Fatalf("create with the real token = %d, want 201", got)
	}
	endpoints := []struct{ method, path, body string }{
		{"POST", "/api/catalog/products", `{"sku":"SEC-2","name":"Sec","price_cents":100,"currency":"USD","stock":5}`},
		{"PATCH", "/api/catalog/products/" + p.ID, `{"name":"Pwned"}`},
		{"PUT", "/api/catalog/products/" + p.ID + "/stock", `{"stock":999}`},
	}
	tokens := []struct {
		name, header string
		want         int
	}{
		{"missing", "", 401},
		{"wrong", "Bearer not-the-admin-token", 403},
		{"almost right", "Bearer " + flipLast(sys.AdminToken), 403},
		{"prefix", "Bearer " + sys.AdminToken[:len(sys.AdminToken)/2], 403},
		{"other scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte(sys.AdminToken)), 401},
	}
	for _, ep := range endpoints {
		for _, tok := range tokens {
			h := []string{jsonCT}
			if tok.header != "" {
				h = append(h, "Authorization: "+tok.header)
			}
			resp, err := send(sys.EdgeURL, rawRequest{method: ep.method, target: ep.path, header: h, body: []byte(ep.body)})
			if err != nil {
				t.Fatal(err)
			}
			if resp.status != tok.want {
				t.Errorf("%s %s with %s token = %d, want %d", ep.method, ep.path, tok.name, resp.status, tok.want)
			}
			if resp.status == 401 && !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with %s token: 401 without a Bearer challenge", ep.method, ep.path, tok.name)
			}
		}
	}
	var got struct {
		Name  string `json:"name"`
		Stock int    `json:"stock"`
	}
	doJSON(t, "GET", sys.EdgeURL+"/api/catalog/products/"+p.ID, nil, nil, &got)
	if got.Name != "Sec" || got.Stock != 5 {
		t.Errorf("product after rejected writes = %+v, want name Sec and stock 5", got)
	}
}

// TestInternalUnreachableThroughEdge proves /internal answers on catalog's
// own port (so the test is not vacuous) and never through the edge.
func TestInternalUnreachableThroughEdge(t *testing.T) {
	sys, _ := startSystem(t, "", harness.Options{})
	orderID := uuid.NewString()
	body := []byte(fmt.Sprintf(`{"order_id":%q,"items":[]}`, orderID))

	direct, err := send(sys.CatalogURL, rawRequest{method: "POST", target: "/internal/reservations/" + orderID + "/release", header: []string{jsonCT}, body: []byte{}})
	if err != nil {
		t.Fatal(err)
	}
	if direct.status != 200 {
		t.Fatalf("release directly on catalog = %d %s, want 200 (the internal API exists)", direct.status, direct.body)
	}
	paths := []string{
		"/internal/reservations",
		"/internal/reservations/" + orderID + "/confirm",
		"/internal/reservations/" + orderID + "/release",
		"/api/catalog/../internal/reservations",
		"/api/catalog/%2e%2e/internal/reservations",
		"/api/catalog/..%2finternal/reservations",
		"/api/orders/..%2F..%2Finternal/reservations",
		"/%2finternal/reservations",
		"//internal/reservations",
		"/./internal/reservations",
		"/%69nternal/reservations",
		"/internal%2freservations",
		"/api/catalog%2f..%2f..%2finternal/reservations",
		"/%252e%252e/internal/reservations",
		"http://catalog:8080/internal/reservations",
	}
	for _, p := range paths {
		resp, err := send(sys.EdgeURL, rawRequest{method: "POST", target: p, header: []string{jsonCT}, body: body})
		if err != nil {
			t.Fatal(err)
		}
		if resp.status != 404 {
			t.Errorf("POST %s through the edge = %d %s, want 404", p, resp.status, resp.body)
		}
	}
	if n := strings.Count(sys.Logs("catalog"), `"path":"/internal`); n != 1 {
		t.Errorf("catalog saw %d /internal requests, want 1 (the direct one): the edge forwarded some", n)
	}
}

var inlineScript = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)

// TestWebSecurityHeaders checks the page, an error page and an asset.
func TestWebSecurityHeaders(t *testing.T) {
	sys, _ := startSystem(t, "", harness.Options{})
	for _, path := range []string{"/", "/no-such-page", "/static/app.js"} {
		resp, err := http.Get(sys.EdgeURL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		directives := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			d = strings.TrimSpace(d)
			name, value, _ := strings.Cut(d, " ")
			directives[name] = value
		}
		script, ok := directives["script-src"]
		if !ok {
			script, ok = directives["default-src"]
		}
		if !ok {
			t.Errorf("%s: CSP %q sets neither script-src nor default-src", path, csp)
		}
		if strings.Contains(script, "'unsafe-inline'") || strings.Contains(script, "'unsafe-eval'") || strings.Contains(script, "*") {
			t.Errorf("%s: CSP script source %q allows inline, eval or any host", path, script)
		}
		if v := h.Get("X-Content-Type-Options"); v != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", path, v)
		}
		if v := h.Get("Referrer-Policy"); v == "" || v == "unsafe-url" {
			t.Errorf("%s: Referrer-Policy = %q", path, v)
		}
		if h.Get("X-Frame-Options") != "DENY" && directives["frame-ancestors"] != "'none'" {
			t.Errorf("%s: no frame protection (X-Frame-Options %q, frame-ancestors %q)", path, h.Get("X-Frame-Options"), directives["frame-ancestors"])
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			for _, m := range inlineScript.FindAllSubmatch(body, -1) {
				if !bytes.Contains(bytes.ToLower(m[1]), []byte("src=")) || len(bytes.TrimSpace(m[2])) > 0 {
					t.Errorf("%s: inline script %.100q; CSP allows none unless hashed", path, m[0])
				}
			}
			if bytes.Contains(bytes.ToLower(body), []byte(" onclick=")) || bytes.Contains(bytes.ToLower(body), []byte(" onload=")) {
				t.Errorf("%s: inline event handler attribute", path)
			}
		}
	}
}

// TestSecretsNeverLogged runs the system with a database URL that carries a
// password (a role created for the test) and sends requests carrying the
// admin token and the password in every place a client can put them, then
// searches every captured log line. The password is in DATABASE_URL,
// which is what a careless log line would print.
func TestSecretsNeverLogged(t *testing.T) {
	dsn := postgrestest.NewDatabase(t)
	password := "pw-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	secretDSN := postgrestest.NewRole(t, dsn, password).URL(password)
	token := "tok-" + strings.ReplaceAll(uuid.NewString(), "-", "")

	sys, _ := startSystem(t, secretDSN, harness.Options{AdminToken: token, LogLevel: "debug"})
	admin := "Authorization: Bearer " + token
	var reqs []rawRequest
	add := func(method, target string, body string, header ...string) {
		reqs = append(reqs, rawRequest{method: method, target: target, header: append([]string{jsonCT}, header...), body: []byte(body)})
	}
	add("POST", "/api/catalog/products", validProduct("LOG-1"), admin)                                    // accepted
	add("POST", "/api/catalog/products", validProduct("LOG-2"), "Authorization: Bearer "+flipLast(token)) // almost right
	add("POST", "/api/catalog/products", validProduct("LOG-3"), "Authorization: Bearer "+token+" ")
	add("POST", "/api/catalog/products", validProduct("LOG-4"), "Authorization: "+token)
	add("POST", "/api/catalog/products", validProduct(token), admin) // token as a bad sku: 422
	add("POST", "/api/catalog/products", `{"`+token+`":1}`, admin)   // token as an unknown field name
	add("POST", "/api/catalog/products?token="+url.QueryEscape(token)+"&pw="+url.QueryEscape(password), validProduct("LOG-5"))
	add("GET", "/api/catalog/products", "", admin, "X-Api-Key: "+token, "Cookie: session="+password)
	add("POST", "/api/orders", `{"email":"`+password+`","items":[]}`, admin, "Idempotency-Key: "+token)
	add("POST", "/api/orders", `{"email":"ada@example.com","items":[{"product_id":"`+uuid.NewString()+`","quantity":1}]}`, "Idempotency-Key: k-"+token)
	add("GET", "/", "", admin)
	add("PATCH", "/api/catalog/products/"+uuid.NewString(), `{"name":"x"}`, admin)
	for _, r := range reqs {
		if _, err := send(sys.EdgeURL, r); err != nil {
			t.Fatal(err)
		}
	}
	// Restarts log configuration and connection attempts.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range []string{"catalog", "orders"} {
		if err := sys.Restart(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// Orders with catalog down logs the dependency error.
	if err := sys.Stop("catalog"); err != nil {
		t.Fatal(err)
	}
	if _, err := send(sys.EdgeURL, rawRequest{method: "POST", target: "/api/orders", header: []string{jsonCT, "Idempotency-Key: down-1", admin},
		body: []byte(`{"email":"ada@example.com","items":[{"product_id":"` + uuid.NewString() + `","quantity":1}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := send(sys.EdgeURL, rawRequest{method: "GET", target: "/", header: []string{admin}}); err != nil {
		t.Fatal(err)
	}
	logs := sys.AllLogs()

	// A catalog that cannot reach its database logs its retries.
	logs += runUnreachableDatabase(t, password)

	if !strings.Contains(logs, `"status":201`) || !strings.Contains(logs, `"status":403`) {
		t.Fatalf("the logs lack the requests this test sent:\n%s", tailLines(logs, 50))
	}
	for _, secret := range []struct{ name, value string }{
		{"admin token", token},
		{"admin token, URL-encoded", url.QueryEscape(token)},
		{"admin token prefix", token[:12]},
		{"database password", password},
		{"database password prefix", password[:12]},
	} {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, secret.value) {
				t.Errorf("a log line contains the %s: %.400s", secret.name, line)
			}
		}
	}
}

// runUnreachableDatabase runs catalog for a few seconds against a port where
// no database listens, with the password in DATABASE_URL, and returns what
// it printed.
func runUnreachableDatabase(t *testing.T, password string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binaries["catalog"])
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = []string{"PORT=" + port, "ADMIN_TOKEN=" + strings.Repeat("z", 32),
		"DATABASE_URL=postgres://shop:" + url.QueryEscape(password) + "@127.0.0.1:1/shop?sslmode=disable&connect_timeout=1"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	if !strings.Contains(out.String(), "database") {
		t.Fatalf("catalog against an unreachable database printed nothing about it:\n%s", out.String())
	}
	return out.String()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}
