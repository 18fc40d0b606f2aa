package systemtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/systemtest/harness"
)

// wireAnswer is one answer read off a connection.
type wireAnswer struct {
	status int
	close  bool
	body   string
}

// TestEdgeLikeTheALB holds the edge to what the ALB does with hostile
// clients: it closes the connection after a request of ambiguous framing,
// answers a client's broken body as the client's fault, and a request id
// reaches the client once, the same one the service logged. It also holds
// every service's JSON decoder to refusing repeated keys.
func TestEdgeLikeTheALB(t *testing.T) {
	sys, dsn := startSystem(t, "", harness.Options{})
	shop := &shopClient{t: t, sys: sys, hc: &http.Client{Timeout: 30 * time.Second}}
	product := struct{ ID string }{shop.product("EDGE-1", 10)}
	edgeAddr := strings.TrimPrefix(sys.EdgeURL, "http://")
	order := fmt.Sprintf(`{"email":"ada@example.com","items":[{"product_id":%q,"quantity":1}]}`, product.ID)

	t.Run("ambiguous framing closes the connection", func(t *testing.T) {
		before := snapshot(t, dsn)
		chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(order), order)
		for i, tc := range []struct{ name, proto, framing string }{
			{"Content-Length and Transfer-Encoding", "HTTP/1.1", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"},
			{"Transfer-Encoding and Content-Length", "HTTP/1.1", "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n"},
			{"folded Transfer-Encoding", "HTTP/1.1", "Content-Length: 4\r\nTransfer-Encoding:\r\n chunked\r\n"},
			{"Transfer-Encoding folded into a header", "HTTP/1.1", "Content-Length: 4\r\nX-Pad: a\r\n\tTransfer-Encoding: chunked\r\n"},
			{"bare LF after Transfer-Encoding", "HTTP/1.1", "Content-Length: 4\r\nTransfer-Encoding: chunked\n"},
			{"HTTP/1.0 with Transfer-Encoding", "HTTP/1.0", "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// The smuggled request names a product no one else asks for,
				// so any log line with its id means it was answered.
				hidden := uuid.NewString()
				raw := "POST /api/orders " + tc.proto + "\r\nHost: shop.test\r\nContent-Type: application/json\r\n" + tc.framing +
					fmt.Sprintf("Idempotency-Key: smuggle-%d\r\n\r\n", i) + chunked +
					"GET /api/catalog/products/" + hidden + " HTTP/1.1\r\nHost: shop.test\r\n\r\n"
				got := readAnswers(t, edgeAddr, raw, false)
				if len(got) != 1 {
					t.Fatalf("%d answers on the connection, want 1", len(got))
				}
				if got[0].status != 400 || !got[0].close {
					t.Errorf("answer %d (close %v) %s, want 400 closing the connection", got[0].status, got[0].close, got[0].body)
				}
				if strings.Contains(sys.AllLogs(), hidden) {
					t.Errorf("the request smuggled in the body was served")
				}
			})
		}
		after := snapshot(t, dsn)
		for _, table := range snapshotTables {
			if before[table] != after[table] {
				t.Errorf("%s changed: before %s, after %s", table, before[table], after[table])
			}
		}
	})

	t.Run("a client's broken body is its own fault", func(t *testing.T) {
		post := "POST /api/orders HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/json\r\nIdempotency-Key: %s\r\n"
		for _, tc := range []struct {
			name      string
			raw       string
			halfClose bool
			want      int
		}{
			{"malformed chunk", post + "Transfer-Encoding: chunked\r\n\r\n" + "zz\r\n" + order + "\r\n0\r\n\r\n", false, 400},
			{"body cut short", post + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(order)) + order[:10], true, 400},
			// The edge's read timeout passes while the test waits for the
			// answer.
			{"body slower than the read timeout", post + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(order)) + order[:10], false, 408},
		} {
			t.Run(tc.name, func(t *testing.T) {
				logStart := len(sys.Logs("edge"))
				got := readAnswers(t, edgeAddr, fmt.Sprintf(tc.raw, uuid.NewString()), tc.halfClose)
				if len(got) != 1 || got[0].status != tc.want || !got[0].close {
					t.Fatalf("answers %+v, want one %d closing the connection", got, tc.want)
				}
				logs := sys.Logs("edge")[logStart:]
				if !strings.Contains(logs, `"msg":"client fault"`) || strings.Contains(logs, "upstream failed") {
					t.Errorf("edge logged:\n%s\nwant a client fault and no upstream failure", logs)
				}
			})
		}
	})

	t.Run("one request id, the one the service logged", func(t *testing.T) {
		for _, tc := range []struct{ name, sent string }{
			{"client's id", "edge-" + uuid.NewString()},
			{"edge's id", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				header := map[string]string{}
				if tc.sent != "" {
					header["X-Request-Id"] = tc.sent
				}
				res := shop.do("GET", sys.EdgeURL+"/api/catalog/products/"+product.ID, nil, header)
				ids := res.header.Values("X-Request-Id")
				if len(ids) != 1 || (tc.sent != "" && ids[0] != tc.sent) {
					t.Fatalf("X-Request-Id %q, want exactly one (%q when sent)", ids, tc.sent)
				}
				if !loggedRequest(sys.Logs("catalog"), ids[0], "/api/catalog/products/"+product.ID) {
					t.Errorf("catalog logged no request line with id %q", ids[0])
				}
			})
		}
	})

	t.Run("repeated JSON keys are refused", func(t *testing.T) {
		before := snapshot(t, dsn)
		line := `{"product_id":%q,"quantity":1,%s}`
		for i, tc := range []struct {
			name, method, path, body, field string
		}{
			{"repeated quantity", "POST", "/api/orders", fmt.Sprintf(`{"email":"ada@example.com","items":[`+line+`]}`, product.ID, `"quantity":2`), "items[0].quantity"},
			{"quantity in capitals", "POST", "/api/orders", fmt.Sprintf(`{"email":"ada@example.com","items":[`+line+`]}`, product.ID, `"QUANTITY":3`), "items[0].QUANTITY"},
			{"repeated email", "POST", "/api/orders", fmt.Sprintf(`{"email":"ada@example.com","EMAIL":"eve@example.com","items":[{"product_id":%q,"quantity":1}]}`, product.ID), "EMAIL"},
			{"stock in another case", "PUT", "/api/catalog/products/" + product.ID + "/stock", `{"stock":1,"Stock":1000}`, "Stock"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req := rawRequest{method: tc.method, target: tc.path, body: []byte(tc.body), header: []string{jsonCT,
					fmt.Sprintf("Idempotency-Key: repeated-%d", i), bearer(sys.AdminToken)}}
				resp, err := send(sys.EdgeURL, req)
				if err != nil {
					t.Fatal(err)
				}
				var p struct {
					Detail string `json:"detail"`
					Errors []struct {
						Field string `json:"field"`
					} `json:"errors"`
				}
				_ = json.Unmarshal(resp.body, &p)
				if resp.status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
					t.Errorf("%s %s = %d %s, want 400 naming %s", tc.method, tc.path, resp.status, resp.body, tc.field)
				}
			})
		}
		after := snapshot(t, dsn)
		for _, table := range snapshotTables {
			if before[table] != after[table] {
				t.Errorf("%s changed under refused bodies: before %s, after %s", table, before[table], after[table])
			}
		}
	})
	checkLogsClean(t, sys.AllLogs())
}

// readAnswers writes raw on a fresh connection and reads until the server
// closes it (a connection still open after 30 s fails the test), then
// parses the answers it sent. halfClose ends the client's side once raw is
// written.
func readAnswers(t *testing.T, addr, raw string, halfClose bool) []wireAnswer {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Deadline: time.Now().Add(30 * time.Second)}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(d.Deadline)
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	wire, err := io.ReadAll(conn)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the connection is still open after sending %q", wire)
	}
	var out []wireAnswer
	for br := bufio.NewReader(strings.NewReader(string(wire))); ; {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		body, _ := io.ReadAll(res.Body)
		out = append(out, wireAnswer{status: res.StatusCode, close: res.Close, body: string(body)})
	}
}

// loggedRequest reports whether logs hold an access-log line for path
// carrying request id id.
func loggedRequest(logs, id, path string) bool {
	for line := range strings.Lines(logs) {
		var l struct {
			Msg       string `json:"msg"`
			Path      string `json:"path"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" && l.Path == path && l.RequestID == id {
			return true
		}
	}
	return false
}
