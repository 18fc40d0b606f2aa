package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/apperr"
)

// allCodes lists every code apperr declares; a new code without a status
// fails TestStatusTableAndInverse.
var allCodes = []apperr.Code{apperr.Invalid, apperr.BadRequest, apperr.NotFound, apperr.Conflict,
	apperr.Unauthorized, apperr.Forbidden, apperr.TooLarge, apperr.Unsupported, apperr.Unavailable, apperr.Internal}

func TestStatusTableAndInverse(t *testing.T) {
	seen := map[int]apperr.Code{}
	for _, code := range allCodes {
		status, ok := statusOf[code]
		if !ok {
			t.Errorf("code %q has no status", code)
			continue
		}
		if other, dup := seen[status]; dup {
			t.Errorf("codes %q and %q share status %d, so the inverse is ambiguous", other, code, status)
		}
		seen[status] = code
		if got := Code(status); got != code {
			t.Errorf("Code(%d) = %q, want %q", status, got, code)
		}
		if got := Status(&apperr.Error{Code: code}); got != status {
			t.Errorf("Status(%q) = %d, want %d", code, got, status)
		}
	}
	for _, tt := range []struct {
		status int
		want   apperr.Code
	}{{http.StatusMethodNotAllowed, apperr.Internal}, {http.StatusTeapot, apperr.Internal}, {http.StatusBadGateway, apperr.Internal}} {
		if got := Code(tt.status); got != tt.want {
			t.Errorf("Code(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
	if got := Status(errors.New("plain")); got != http.StatusInternalServerError {
		t.Errorf("Status(plain error) = %d, want 500", got)
	}
}

func TestRenderAndParseRoundTrip(t *testing.T) {
	fields := []apperr.FieldError{{Field: "items[1].quantity", Message: "only 2 left"}}
	tests := []struct {
		name string
		err  error
		want apperr.Error // what Parse gives back
	}{
		{"typed conflict", fmt.Errorf("reserve: %w", &apperr.Error{Code: apperr.Conflict, Type: "/problems/out-of-stock", Message: "not enough stock", Fields: fields}),
			apperr.Error{Code: apperr.Conflict, Type: "/problems/out-of-stock", Message: "not enough stock", Fields: fields}},
		{"untyped not found", apperr.Errorf(apperr.NotFound, "no such order"),
			apperr.Error{Code: apperr.NotFound, Message: "no such order"}},
		{"unavailable keeps its message, not its cause", apperr.Wrap(apperr.Unavailable, errors.New("dial tcp 10.0.0.7"), "catalog is unavailable"),
			apperr.Error{Code: apperr.Unavailable, Message: "catalog is unavailable"}},
		{"internal hides everything", &apperr.Error{Code: apperr.Internal, Type: "/problems/x", Message: "password=hunter2", Fields: fields},
			apperr.Error{Code: apperr.Internal, Message: internalDetail}},
		{"plain error is internal", errors.New("scan: password=hunter2"),
			apperr.Error{Code: apperr.Internal, Message: internalDetail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := Render(tt.err, "rid-1")
			if status != statusOf[tt.want.Code] {
				t.Errorf("status %d, want %d", status, statusOf[tt.want.Code])
			}
			if strings.Contains(string(body), "hunter2") || strings.Contains(string(body), "10.0.0.7") {
				t.Errorf("body leaks the cause: %s", body)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if p.Status != status || p.RequestID != "rid-1" || p.Title != http.StatusText(status) || p.Type == "" {
				t.Errorf("problem %+v, want status %d, request id, title and type filled", p, status)
			}
			got := Parse(status, body)
			if fmt.Sprint(*got) != fmt.Sprint(tt.want) {
				t.Errorf("Parse = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestParseNonProblemBody(t *testing.T) {
	got := Parse(http.StatusNotFound, []byte("<html>not found</html>"))
	if got.Code != apperr.NotFound || got.Type != "" || got.Message != "Not Found" {
		t.Errorf("Parse = %+v, want NotFound with the status text", *got)
	}
}
