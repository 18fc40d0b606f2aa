package edge_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fargateshop/shop/apps/edge/internal/edge"
)

// logBuffer collects log lines written from the server's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveTCP serves e the way main does, on a loopback port, and returns the
// address. readTimeout is the server's; zero leaves it unbounded.
func serveTCP(t *testing.T, e http.Handler, readTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e, ReadTimeout: readTimeout}
	go func() { _ = srv.Serve(edge.FramingListener(srv, ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// exchange writes raw on a new connection, then reads answers until the
// edge closes it. An edge still holding the connection open after 10 s
// fails the test.
func exchange(t *testing.T, addr, raw string, halfClose bool) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for {
		res, err := http.ReadResponse(br, nil)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the connection is still open after %d answers", len(out))
		case err != nil: // EOF or reset: closed
			return out
		}
		body, _ := io.ReadAll(res.Body)
		res.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, res)
	}
}

const smuggled = "GET /smuggled HTTP/1.1\r\nHost: shop.test\r\n\r\n"

// TestAmbiguousFramingClosesConnection: each shape is answered 400 and the
// connection closed, so the request in its body is never answered and
// nothing reaches a service. net/http answers OPTIONS * itself, before the
// edge sees it: then the request after it is the suspect one, refused.
func TestAmbiguousFramingClosesConnection(t *testing.T) {
	f, ups := newFleet(t)
	addr := serveTCP(t, newEdge(t, ups, edge.Options{}), 0)
	post := "POST /api/orders HTTP/1.1\r\nHost: shop.test\r\n"
	options := "OPTIONS * HTTP/1.1\r\nHost: shop.test\r\n"
	for _, tc := range []struct {
		name, head string
		before     int // answers given before the 400, by net/http itself
	}{
		{"Content-Length and Transfer-Encoding", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"Transfer-Encoding and Content-Length", post + "Transfer-Encoding: chunked\r\nContent-Length: 36\r\n\r\n", 0},
		{"folded Transfer-Encoding", post + "Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 0},
		{"Transfer-Encoding folded into a header", post + "Content-Length: 5\r\nX-Pad: a\r\n Transfer-Encoding: chunked\r\n\r\n", 0},
		{"bare LF after Transfer-Encoding", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\n\r\n", 0},
		{"bare LF lines", "POST /api/orders HTTP/1.1\nHost: shop.test\nContent-Length: 5\nTransfer-Encoding: chunked\n\n", 0},
		{"HTTP/1.0 with Transfer-Encoding", "POST /api/orders HTTP/1.0\r\nHost: shop.test\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"HTTP/1.0 with both", "POST /api/orders HTTP/1.0\r\nHost: shop.test\r\nConnection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"OPTIONS * with both lengths", options + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 1},
		{"OPTIONS * with bare LF", "OPTIONS * HTTP/1.1\nHost: shop.test\nContent-Length: 5\nTransfer-Encoding: chunked\n\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.reset()
			got := exchange(t, addr, tc.head+"0\r\n\r\n"+smuggled, false)
			if len(got) != tc.before+1 {
				t.Fatalf("%d answers on the connection, want %d (the last a 400)", len(got), tc.before+1)
			}
			last := got[tc.before]
			if last.StatusCode != http.StatusBadRequest || !last.Close {
				t.Errorf("answer %d, Connection close %v; want 400 closing", last.StatusCode, last.Close)
			}
			if p := decodeProblem(t, last); !strings.Contains(p["detail"].(string), "framing") {
				t.Errorf("problem = %v", p)
			}
			for name := range ups {
				if seen, ok := f.got(name); ok {
					t.Errorf("%s received %s", name, seen.Path)
				}
			}
		})
	}
}

// TestClearFramingKeepsConnection is the control: well-framed requests,
// chunked ones included, share one connection.
func TestClearFramingKeepsConnection(t *testing.T) {
	_, ups := newFleet(t)
	addr := serveTCP(t, newEdge(t, ups, edge.Options{}), 0)
	last := "GET /last HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n"
	stream := "POST /api/orders HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 2\r\n\r\n{}" +
		"POST /api/orders HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n2;ext\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n" +
		"OPTIONS * HTTP/1.1\r\nHost: shop.test\r\n\r\n" + // answered by net/http itself
		last
	got := exchange(t, addr, stream, false)
	var statuses []int
	for i, res := range got {
		statuses = append(statuses, res.StatusCode)
		if res.Close && i < len(got)-1 {
			t.Errorf("answer %d closes the connection", i+1)
		}
	}
	if len(got) != 4 || !slices.Equal(statuses, []int{200, 200, 200, 200}) {
		t.Errorf("statuses %v, want four 200s", statuses)
	}
}

// TestOversizedHeadIsAnswered: net/http refuses a head over its limit and
// half-closes before closing; through the edge's connections too, so the
// client reads the 431 rather than a reset.
func TestOversizedHeadIsAnswered(t *testing.T) {
	_, ups := newFleet(t)
	srv := &http.Server{Handler: newEdge(t, ups, edge.Options{}), MaxHeaderBytes: 1 << 10}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(edge.FramingListener(srv, ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Big: "+strings.Repeat("b", 64<<10)+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The answer has no length: its body ends at the server's FIN, which
	// only a half-close sends before the close.
	if _, err := io.ReadAll(res.Body); err != nil || res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("answer %d, reading its body: %v; want 431 read to its end", res.StatusCode, err)
	}
}

// TestClientFaults: a body the client fails to deliver is the client's
// fault, answered like the ALB (400, 408) and never logged as a failure of
// the service.
func TestClientFaults(t *testing.T) {
	_, ups := newFleet(t)
	logs := &logBuffer{}
	e := newEdgeLogging(t, ups, slog.New(slog.NewJSONHandler(logs, nil)))
	// The read timeout is what a trickling body runs into.
	addr := serveTCP(t, e, 500*time.Millisecond)
	post := "POST /api/orders HTTP/1.1\r\nHost: shop.test\r\n"
	for _, tc := range []struct {
		name      string
		raw       string
		halfClose bool
		want      int
	}{
		{"malformed chunk size", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", false, http.StatusBadRequest},
		{"chunk without its CRLF", post + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n", false, http.StatusBadRequest},
		{"body cut short", post + "Content-Length: 100\r\n\r\n{\"email\":", true, http.StatusBadRequest},
		{"body slower than the read timeout", post + "Content-Length: 100\r\n\r\n{\"email\":", false, http.StatusRequestTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(logs.String())
			got := exchange(t, addr, tc.raw, tc.halfClose)
			if len(got) != 1 {
				t.Fatalf("%d answers, want 1", len(got))
			}
			if got[0].StatusCode != tc.want || !got[0].Close {
				t.Errorf("answer %d, Connection close %v; want %d closing", got[0].StatusCode, got[0].Close, tc.want)
			}
			if p := decodeProblem(t, got[0]); p["status"] != float64(tc.want) {
				t.Errorf("problem = %v", p)
			}
			logged := logs.String()[before:]
			if !strings.Contains(logged, `"msg":"client fault"`) || strings.Contains(logged, "upstream failed") {
				t.Errorf("logged %s, want a client fault and no upstream failure", logged)
			}
		})
	}
}
