package systemtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// rawRequest is an HTTP/1.1 request written byte for byte, so a test can
// send what net/http's client refuses to: unescaped or malformed targets,
// absolute-form request lines, control bytes in headers, duplicate headers.
type rawRequest struct {
	method  string
	target  string   // request-target exactly as on the wire
	header  []string // "Name: value" lines, in order
	body    []byte
	chunked bool // Transfer-Encoding: chunked instead of Content-Length
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// send writes r to the server at baseURL on a fresh connection and reads
// the answer. The body is written concurrently: a server may answer 413 and
// close before reading everything.
func send(baseURL string, r rawRequest) (rawResponse, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return rawResponse{}, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return rawResponse{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))

	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", r.method, r.target, u.Host)
	hasHost := false
	for _, h := range r.header {
		if strings.HasPrefix(strings.ToLower(h), "host:") {
			hasHost = true
		}
	}
	if hasHost { // the case supplies its own Host header
		head.Reset()
		fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nConnection: close\r\n", r.method, r.target)
	}
	for _, h := range r.header {
		head.WriteString(h + "\r\n")
	}
	if r.chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n")
	} else if r.body != nil {
		head.WriteString("Content-Length: " + strconv.Itoa(len(r.body)) + "\r\n")
	}
	head.WriteString("\r\n")

	go func() {
		w := bufio.NewWriterSize(conn, 64<<10)
		_, _ = w.Write(head.Bytes())
		if r.chunked {
			for b := r.body; len(b) > 0; {
				n := min(len(b), 32<<10)
				fmt.Fprintf(w, "%x\r\n", n)
				_, _ = w.Write(b[:n])
				_, _ = w.WriteString("\r\n")
				b = b[n:]
			}
			_, _ = w.WriteString("0\r\n\r\n")
		} else {
			_, _ = w.Write(r.body)
		}
		_ = w.Flush()
	}()

	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: r.method})
	if err != nil {
		return rawResponse{}, fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return rawResponse{}, fmt.Errorf("read body: %w", err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// doJSON sends a request with net/http and decodes a JSON answer into out
// (when non-nil). It returns the status.
func doJSON(t *testing.T, method, u string, header map[string]string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, u, b, err)
		}
	}
	return resp.StatusCode
}

// snapshotTables are every table a request could change.
var snapshotTables = []string{
	"catalog.products", "catalog.reservations", "catalog.reservation_items",
	"orders.orders", "orders.order_items", "orders.idempotency_keys",
}

// snapshot returns each table's row count and an MD5 of all its rows.
func snapshot(t *testing.T, dsn string) map[string]string {
	t.Helper()
	out := map[string]string{}
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) {
		for _, table := range snapshotTables {
			var n int
			var sum string
			q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t`, table)
			if err := conn.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
				t.Fatalf("snapshot %s: %v", table, err)
			}
			out[table] = fmt.Sprintf("%d rows, md5 %s", n, sum)
		}
	})
	return out
}

// queryInt runs a query returning one integer.
func queryInt(t *testing.T, dsn, q string, args ...any) int {
	t.Helper()
	var n int
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) {
		if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	})
	return n
}

// withConn runs f on a new connection to dsn, closed afterwards, within
// 30 s for the whole of it.
func withConn(t *testing.T, dsn string, f func(ctx context.Context, conn *pgx.Conn)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	f(ctx, conn)
}
