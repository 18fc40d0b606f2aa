package main

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// otlpSink is an OTLP/HTTP collector that costs next to nothing: it reads
// each export to its end, answers 200 with an empty response, and counts
// the bytes. The tracing-e2e section has the services export to it, so a
// run measures what telemetry costs the services themselves, with no
// collector's work on the same cores (a real one, Jaeger, took a share
// that skewed the comparison). It runs in the bench process: its CPU is
// the load generator's, not the services'.
type otlpSink struct {
	srv   *http.Server
	URL   string
	bytes atomic.Int64
}

func startOTLPSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{URL: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.bytes.Add(n)
		// An empty ExportTraceServiceResponse or
		// ExportMetricsServiceResponse: full success.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *otlpSink) Close() error { return s.srv.Close() }
