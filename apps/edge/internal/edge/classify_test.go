package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	for _, tc := range []struct {
		err  error
		want int
	}{
		{dial(&net.DNSError{Err: "no such host", Name: "catalog", IsNotFound: true}), http.StatusServiceUnavailable},
		{dial(&os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH}), http.StatusServiceUnavailable},
		{dial(&os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH}), http.StatusServiceUnavailable},
		{dial(timeoutErr{}), http.StatusGatewayTimeout}, // the ALB answers 504 when it cannot connect in time
		{fmt.Errorf("round trip: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{dial(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), http.StatusBadGateway},
		{&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, http.StatusBadGateway},
		{io.ErrUnexpectedEOF, http.StatusBadGateway},
		{errors.New("something else"), http.StatusBadGateway},
	} {
		if got, _ := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
