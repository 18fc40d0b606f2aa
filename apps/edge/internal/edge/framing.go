package edge

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Request framing, as the ALB's desync mitigation checks it.
//
// Go's server accepts a request carrying both Content-Length and
// Transfer-Encoding (it follows Transfer-Encoding), undoes obsolete line
// folding, takes a bare LF as a line end and ignores Transfer-Encoding on
// HTTP/1.0, and then keeps the connection open. By the time a handler
// runs none of this shows: Content-Length is deleted, the fold undone. But
// a client or proxy in front may have framed that body differently, so
// the bytes after it may be a second, smuggled request, and RFC 9112 §6.1
// and §6.3 say the connection must be closed after answering.
//
// So the edge's connections follow the framing of the requests that pass
// through them (never changing a byte) and note, per request, whether its
// head is ambiguous. The handler refuses those with 400 and closes the
// connection, and closes it too after any request it could not follow.

// maxHeadLine bounds one line of a request head. Go's server refuses heads
// over its MaxHeaderBytes (64 KiB) before a handler runs, so a longer line
// only means the connection is about to be refused anyway.
const maxHeadLine = 128 << 10

// maxPending bounds the heads read ahead of the handler (pipelining).
const maxPending = 64

// FramingListener returns ln with each connection following its requests'
// framing, and sets srv.ConnContext so the Edge serving on srv can see it.
func FramingListener(srv *http.Server, ln net.Listener) net.Listener {
	next := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if next != nil {
			ctx = next(ctx, c)
		}
		if fc, ok := c.(*framingConn); ok {
			ctx = context.WithValue(ctx, framingKey{}, fc)
		}
		return ctx
	}
	return framingListener{ln}
}

type framingKey struct{}

type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// framingConn passes every byte through unchanged while the framing
// follows them. Reads come from the server's reader goroutine while the
// handler claims verdicts, hence the lock.
type framingConn struct {
	net.Conn
	mu sync.Mutex
	f  framing
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.f.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// CloseWrite lets the server half-close before closing, as it does after
// refusing a head over its size limit, so that the client reads the answer
// rather than a reset.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// verdict is what the framing says about one request head.
type verdict struct {
	line   string // the request line, to pair the verdict with its request
	refuse string // why the framing is ambiguous; "" when it is not
	last   bool   // the framing stops being followed after this request
}

// framingOf returns the verdict for r. closeAfter is set when the
// connection must not carry another request: the framing is refused, or
// was not followed. A request not served through FramingListener (a test
// calling ServeHTTP) has no verdict and keeps its connection.
func framingOf(r *http.Request) (refuse string, closeAfter bool) {
	c, ok := r.Context().Value(framingKey{}).(*framingConn)
	if !ok {
		return "", false
	}
	line := r.Method + " " + r.RequestURI + " " + r.Proto
	c.mu.Lock()
	defer c.mu.Unlock()
	// Heads answered before the handler (Go's OPTIONS *, the /version route
	// wrapped around it) are skipped, unless their framing was refused or
	// stopped being followed: then this request may be the smuggled one.
	for len(c.f.pending) > 0 {
		v := c.f.pending[0]
		c.f.pending = c.f.pending[1:]
		if v.line == line {
			return v.refuse, v.refuse != "" || v.last
		}
		if v.refuse != "" {
			return "an earlier request on this connection had " + v.refuse, true
		}
		if v.last {
			break
		}
	}
	// No verdict: the framing was not followed up to this request (too many
	// pipelined heads, or an earlier request it could not follow).
	return "an earlier request on this connection could not be followed", true
}

// What the framing is reading.
const (
	inHead = iota
	inBody
	inChunkSize
	inChunkData
	inChunkEnd
	inTrailer
	lost // no longer followed: every later request closes its connection
)

// framing follows HTTP/1 message boundaries the way Go's server reads
// them: heads line by line, then a body of Content-Length bytes or of
// chunks.
type framing struct {
	state   int
	line    []byte // the current line, up to its '\n'
	remain  int64  // bytes left in the body or the chunk
	head    head
	pending []verdict
}

// head is what matters about the request head being read.
type head struct {
	line          string // request line
	contentLength []string
	te            []string
	obsFold       bool
	bareLF        bool
	upgrade       bool
}

func (f *framing) feed(b []byte) {
	for len(b) > 0 && f.state != lost {
		switch f.state {
		case inBody, inChunkData:
			n := min(f.remain, int64(len(b)))
			f.remain -= n
			b = b[n:]
			if f.remain == 0 {
				if f.state == inBody {
					f.state = inHead
				} else {
					f.state, f.remain = inChunkEnd, 2
				}
			}
		case inChunkEnd: // the CRLF after a chunk's data
			want := "\r\n"[2-f.remain]
			if b[0] != want {
				f.state = lost
				return
			}
			b = b[1:]
			if f.remain--; f.remain == 0 {
				f.state = inChunkSize
			}
		default: // line by line
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				f.line = append(f.line, b...)
				if len(f.line) > maxHeadLine {
					f.state, f.line = lost, nil
				}
				return
			}
			if len(f.line) == 0 { // the whole line is in b: no copy
				f.endLine(b[:i+1])
			} else {
				f.line = append(f.line, b[:i+1]...)
				f.endLine(f.line)
				f.line = f.line[:0]
			}
			b = b[i+1:]
		}
	}
}

// endLine handles line, complete with its '\n'.
func (f *framing) endLine(line []byte) {
	line = line[:len(line)-1]
	crlf := len(line) > 0 && line[len(line)-1] == '\r'
	if crlf {
		line = line[:len(line)-1]
	}
	switch f.state {
	case inChunkSize:
		f.chunkSize(line)
	case inTrailer:
		if len(line) == 0 {
			f.state = inHead
		}
	case inHead:
		h := &f.head
		switch {
		case h.line == "" && len(line) == 0:
			// Blank lines before a request line are skipped, by Go too.
		case h.line == "":
			h.line = string(line)
			h.bareLF = !crlf
		case len(line) == 0:
			h.bareLF = h.bareLF || !crlf
			f.endHead()
		default:
			h.bareLF = h.bareLF || !crlf
			f.headerLine(line)
		}
	}
}

func (f *framing) headerLine(line []byte) {
	h := &f.head
	if line[0] == ' ' || line[0] == '\t' {
		h.obsFold = true
		return
	}
	name, value, _ := bytes.Cut(line, []byte(":"))
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		h.contentLength = append(h.contentLength, string(bytes.Trim(value, " \t")))
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		h.te = append(h.te, string(bytes.Trim(value, " \t")))
	case bytes.EqualFold(name, []byte("Upgrade")):
		h.upgrade = true
	}
}

// endHead records the verdict on the head just read and finds where its
// body ends.
func (f *framing) endHead() {
	h := f.head
	f.head = head{}
	method, rest, ok1 := strings.Cut(h.line, " ")
	_, proto, ok2 := strings.Cut(rest, " ")
	major, minor, ok3 := http.ParseHTTPVersion(proto)
	if !ok1 || !ok2 || !ok3 || major != 1 {
		f.state = lost // Go answers 400 or 505 itself and closes
		return
	}
	v := verdict{line: h.line}
	switch {
	case len(h.te) > 0 && len(h.contentLength) > 0:
		v.refuse = "both Content-Length and Transfer-Encoding"
	case len(h.te) > 0 && minor == 0:
		v.refuse = "Transfer-Encoding in an HTTP/1.0 request"
	case h.obsFold:
		v.refuse = "a header folded over two lines"
	case h.bareLF:
		v.refuse = "a line ending in LF without CR"
	}
	if len(f.pending) == maxPending {
		f.state = lost
		return
	}
	f.state = inHead
	switch {
	case v.refuse != "", method == http.MethodConnect, h.upgrade:
		// Answered and closed, or the connection may stop being HTTP.
		v.last, f.state = true, lost
	case len(h.te) > 0:
		if len(h.te) != 1 || !strings.EqualFold(h.te[0], "chunked") {
			f.state = lost // Go answers 501 itself and closes
			return
		}
		f.state = inChunkSize
	case len(h.contentLength) > 0:
		n, err := strconv.ParseInt(h.contentLength[0], 10, 64)
		for _, other := range h.contentLength[1:] {
			if other != h.contentLength[0] {
				err = strconv.ErrSyntax // Go refuses differing lengths itself
			}
		}
		if err != nil || n < 0 {
			f.state = lost
			return
		}
		if n > 0 {
			f.state, f.remain = inBody, n
		}
	}
	f.pending = append(f.pending, v)
}

// chunkSize reads a chunk-size line as Go's chunked reader does.
func (f *framing) chunkSize(line []byte) {
	line = bytes.TrimRight(line, " \t\r")
	line, _, _ = bytes.Cut(line, []byte(";")) // extensions are ignored
	n, err := strconv.ParseUint(string(line), 16, 63)
	if err != nil || len(line) > 16 {
		f.state = lost // Go fails to read the body: a client fault, closed
		return
	}
	if n == 0 {
		f.state = inTrailer
		return
	}
	f.state, f.remain = inChunkData, int64(n)
}
