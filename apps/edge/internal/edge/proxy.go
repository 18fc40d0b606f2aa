package edge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/fargateshop/shop/platform/requestid"
	"github.com/fargateshop/shop/platform/telemetry"
)

// Timeouts of the connection to a service.
const (
	// DialTimeout is short: services are on the same network, so a
	// connection that takes longer than a second will not come.
	DialTimeout = time.Second
	// ResponseHeaderTimeout bounds the wait for a service's answer. The
	// services' own write timeout is 30 s, so this never cuts an answer a
	// service could still give.
	ResponseHeaderTimeout = 30 * time.Second
)

// ReadMargin is how much sooner than a service the edge gives up on a
// request still arriving (the edge's read timeout is the services' less
// this). A body trickling in reaches the service as slowly as it reaches
// the edge, so with equal timeouts the service could give up first and
// answer 400 for a body cut short, where the client earned a 408.
const ReadMargin = time.Second

func newTransport(dial, header time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // never send service traffic through an HTTP_PROXY
		DialContext:           (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       50 * time.Second, // below the services' 75 s, so we close first
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false, // the services speak HTTP/1.1, like ALB targets by default
		// Pass Accept-Encoding through as the client sent it. Without this,
		// a request that asked for no compression reaches the service
		// asking for gzip, and the edge would unzip the answer itself.
		DisableCompression: true,
	}
}

// newProxy returns the reverse proxy to one service at target (scheme and
// host only).
func newProxy(log *slog.Logger, service string, target *url.URL, transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Path and query stay exactly as checked and matched.
			pr.Out.URL.Scheme = target.Scheme
			pr.Out.URL.Host = target.Host
			// The ALB keeps the client's Host header.
			pr.Out.Host = pr.In.Host

			// Like the ALB in its default "append" mode: keep what the
			// client sent and add the client's address.
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()                    // X-Forwarded-For and X-Forwarded-Proto from the TLS state
			pr.Out.Header.Del("X-Forwarded-Host") // the ALB does not send it
			pr.Out.Header.Set("X-Forwarded-Port", localPort(pr.In))
			pr.Out.Header.Set(requestid.Header, requestid.From(pr.In.Context()))
		},
		// The edge set the id on the answer already and the service echoes
		// the same one: a second copy would make the header a list. The
		// service's traceresponse names its own span; the edge's, set
		// already, names the request's root.
		ModifyResponse: func(res *http.Response) error {
			res.Header.Del(requestid.Header)
			res.Header.Del(telemetry.ResponseHeader)
			return nil
		},
		Transport:  transport,
		BufferPool: copyBuffers,
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// r is the outgoing request here, its body wrapped again.
			if body, ok := r.Context().Value(clientBodyKey{}).(*clientBody); ok {
				if berr := body.Err(); berr != nil {
					status, detail := classifyClient(berr)
					// The client's own fault: not the service's, and what
					// is left of the body cannot be found on the connection.
					log.InfoContext(r.Context(), "client fault", "service", service, "status", status, "error", berr.Error())
					w.Header().Set("Connection", "close")
					writeProblem(w, r, status, detail)
					return
				}
			}
			status, detail := classify(err)
			level := slog.LevelWarn
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				level = slog.LevelDebug // the client went away; nothing is wrong upstream
			}
			log.Log(r.Context(), level, "upstream failed", "service", service, "status", status, "error", err.Error())
			writeProblem(w, r, status, detail)
		},
	}
}

// copyBuffers are the proxies' body copy buffers. Without a pool,
// ReverseProxy allocates and zeroes a new 32 KiB buffer for every
// response: two thirds of the edge's bytes allocated per request (bench/).
var copyBuffers = &bufferPool{}

type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10) // ReverseProxy's own size
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

// clientBody is a request body as the proxy reads it, keeping the first
// error of its own: when the round trip fails, that error tells a client
// fault (a malformed chunk, a body slower than the read timeout) from a
// failure of the service.
type clientBody struct {
	io.ReadCloser
	eof bool       // only the transport's writer reads
	mu  sync.Mutex // err is read by the error handler
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		// Once the end is seen, reads answer it again. The server closes a
		// drained body as soon as the answer starts, and the transport's
		// last look for more would otherwise fail and cut a streamed answer.
		b.eof = true
	case err != nil && !errors.Is(err, http.ErrBodyReadAfterClose):
		// (After a close the transport made itself, because the service
		// answered or failed first, the reason is not the client's.)
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

type clientBodyKey struct{}

// Err is the first failure reading the body from the client, or nil.
func (b *clientBody) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// classifyClient maps a failure to read the client's body to what the
// ALB answers: 408 when it came too slowly, 400 when it was malformed or
// cut short.
func classifyClient(err error) (int, string) {
	var netErr net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout() {
		return http.StatusRequestTimeout, "the request body did not arrive in time"
	}
	return http.StatusBadRequest, "the request body is malformed or incomplete"
}

// classify maps a failed round trip to the status the ALB would answer:
// 503 when the service has no reachable address, 504 when it did not answer
// in time, 502 when the connection was refused, reset or broken.
func classify(err error) (int, string) {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return http.StatusServiceUnavailable, "the service has no reachable instance; try again shortly"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return http.StatusGatewayTimeout, "the service did not answer in time"
	default:
		return http.StatusBadGateway, "the service failed to answer"
	}
}

// localPort is the edge's own port for this request, which is what the ALB
// reports as X-Forwarded-Port (its listener port).
func localPort(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(a.String()); err == nil {
			return port
		}
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}
