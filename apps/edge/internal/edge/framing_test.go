package edge

import (
	"strings"
	"testing"
)

// TestFramingVerdicts feeds request streams to the framing, whole and one
// byte at a time, and checks the verdict on every head and where it stops
// following.
func TestFramingVerdicts(t *testing.T) {
	const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	type want struct {
		line, refuse string
		last         bool
	}
	post := "POST /api/orders HTTP/1.1"
	kept := func(lines ...string) []want {
		var w []want
		for _, l := range lines {
			w = append(w, want{line: l})
		}
		return w
	}
	refused := func(line, reason string) []want { return []want{{line, reason, true}} }
	const both, fold, bareLF = "both Content-Length and Transfer-Encoding", "a header folded over two lines", "a line ending in LF without CR"
	for _, tc := range []struct {
		name   string
		stream string
		want   []want
		lost   bool
	}{
		{"content length, then another", post + "\r\nContent-Length: 5\r\n\r\nhello" + next, kept(post, "GET /next HTTP/1.1"), false},
		{"no body", "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + next, kept("GET / HTTP/1.1", "GET /next HTTP/1.1"), false},
		{"repeated equal lengths", post + "\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n{}" + next, kept(post, "GET /next HTTP/1.1"), false},
		{"chunked with extension and trailer", post + "\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n" + next, kept(post, "GET /next HTTP/1.1"), false},
		{"chunk data holding a request", post + "\r\nTransfer-Encoding: chunked\r\n\r\n1f\r\n" + next[:31] + "\r\n0\r\n\r\n" + next, kept(post, "GET /next HTTP/1.1"), false},
		{"blank line before the request line", "\r\n" + next, kept("GET /next HTTP/1.1"), false},
		{"both lengths", post + "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, refused(post, both), true},
		{"both lengths, encoding first", post + "\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + next, refused(post, both), true},
		{"folded encoding", post + "\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + next, refused(post, both), true},
		{"encoding hidden in a fold", post + "\r\nContent-Length: 5\r\nX: y\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, refused(post, fold), true},
		{"bare LF after the encoding", post + "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\n\r\n0\r\n\r\n" + next, refused(post, both), true},
		{"bare LF hiding a length", post + "\r\nX: y\nContent-Length: 5\r\n\r\nhello" + next, refused(post, bareLF), true},
		{"bare LF everywhere", "GET / HTTP/1.1\nHost: x\n\n" + next, refused("GET / HTTP/1.1", bareLF), true},
		{"HTTP/1.0 with an encoding", "POST /api/orders HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next,
			refused("POST /api/orders HTTP/1.0", "Transfer-Encoding in an HTTP/1.0 request"), true},
		{"upgrade", "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + next, []want{{"GET /ws HTTP/1.1", "", true}}, true},
		{"unsupported encoding", post + "\r\nTransfer-Encoding: gzip\r\n\r\n" + next, nil, true},
		{"two encodings", post + "\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + next, nil, true},
		{"differing lengths", post + "\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab" + next, nil, true},
		{"malformed chunk size", post + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + next, kept(post), true},
		{"chunk without its CRLF", post + "\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n" + next, kept(post), true},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", nil, true},
	} {
		for _, step := range []int{len(tc.stream), 1} {
			var f framing
			for b := []byte(tc.stream); len(b) > 0; {
				n := min(step, len(b))
				f.feed(b[:n])
				b = b[n:]
			}
			var got []want
			for _, v := range f.pending {
				got = append(got, want(v))
			}
			if !equalWants(got, tc.want) || (f.state == lost) != tc.lost {
				t.Errorf("%s, fed %d bytes at a time: verdicts %+v, lost %v; want %+v, lost %v",
					tc.name, step, got, f.state == lost, tc.want, tc.lost)
			}
		}
	}
}

func equalWants[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFramingBoundsWhatItHolds(t *testing.T) {
	var f framing
	f.feed([]byte("GET /" + strings.Repeat("a", maxHeadLine)))
	if f.state != lost || len(f.line) > maxHeadLine+1 {
		t.Errorf("after a %d-byte line: state %d, holding %d bytes; want lost", maxHeadLine, f.state, len(f.line))
	}
	f = framing{}
	f.feed([]byte(strings.Repeat("GET / HTTP/1.1\r\n\r\n", maxPending+1)))
	if f.state != lost || len(f.pending) != maxPending {
		t.Errorf("after %d pipelined heads: %d pending, lost %v; want %d and lost", maxPending+1, len(f.pending), f.state == lost, maxPending)
	}
}

// BenchmarkFraming is the cost the edge's connections add per request: a
// browser-sized head and a small JSON body.
func BenchmarkFraming(b *testing.B) {
	req := []byte("POST /api/orders HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nContent-Type: application/json\r\n" +
		"Idempotency-Key: 0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f\r\nContent-Length: 96\r\n\r\n" +
		`{"email":"ada@example.com","items":[{"product_id":"0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f","quantity":1}]}`[:96])
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	var f framing
	for b.Loop() {
		f.feed(req)
		f.pending = f.pending[:0]
	}
	if f.state != inHead {
		b.Fatalf("state %d after whole requests, want inHead", f.state)
	}
}
