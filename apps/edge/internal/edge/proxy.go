package edge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/fargateshop/shop/platform/requestid"
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
		Transport:  transport,
		BufferPool: copyBuffers,
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
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
