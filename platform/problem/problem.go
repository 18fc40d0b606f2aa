// Package problem is how services speak errors over HTTP: RFC 9457 problem
// details, the one table from apperr codes to HTTP statuses with its inverse
// beside it, a renderer from error to answer and a parser from answer back
// to error. It imports no web framework, so clients and stored answers use
// it as well as the Gin layer.
package problem

import (
	"encoding/json"
	"net/http"

	"github.com/fargateshop/shop/platform/apperr"
)

// ContentType is the media type of every problem answer.
const ContentType = "application/problem+json"

// RetryAfterSeconds is what 503 answers advise; it matches the time a
// circuit breaker stays open.
const RetryAfterSeconds = 5

// internalDetail replaces the message of every internal error: the cause is
// for the logs, the request id is what the client can quote.
const internalDetail = "an unexpected error occurred; quote the request id when reporting it"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Instance  string              `json:"instance,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
}

// statusOf is the one table from error codes to HTTP statuses; codeOf is
// its inverse, derived so that the two cannot drift apart.
var (
	statusOf = map[apperr.Code]int{
		apperr.BadRequest:   http.StatusBadRequest,
		apperr.Unauthorized: http.StatusUnauthorized,
		apperr.Forbidden:    http.StatusForbidden,
		apperr.NotFound:     http.StatusNotFound,
		apperr.Conflict:     http.StatusConflict,
		apperr.Invalid:      http.StatusUnprocessableEntity,
		apperr.TooLarge:     http.StatusRequestEntityTooLarge,
		apperr.Unsupported:  http.StatusUnsupportedMediaType,
		apperr.Unavailable:  http.StatusServiceUnavailable,
		apperr.Internal:     http.StatusInternalServerError,
	}
	codeOf = invert(statusOf)
)

func invert(m map[apperr.Code]int) map[int]apperr.Code {
	out := make(map[int]apperr.Code, len(m))
	for code, status := range m {
		out[status] = code
	}
	return out
}

// Status returns the HTTP status for err: 500 for an error without a code.
func Status(err error) int {
	if s, ok := statusOf[apperr.CodeOf(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Code returns the error code an HTTP status stands for: Internal for a
// status the table does not know.
func Code(status int) apperr.Code {
	if c, ok := codeOf[status]; ok {
		return c
	}
	return apperr.Internal
}

// New returns the problem that answers err. An internal error keeps nothing
// of its message or cause; every other *apperr.Error was written for the
// client and keeps its type, message and fields.
func New(err error, requestID string) Problem {
	status := Status(err)
	p := Problem{Status: status, RequestID: requestID}
	if e, ok := apperr.As(err); ok && status != http.StatusInternalServerError {
		p.Type, p.Detail, p.Errors = e.Type, e.Message, e.Fields
	}
	if status == http.StatusInternalServerError {
		p.Detail = internalDetail
	}
	return p
}

// Marshal returns p as JSON, with the RFC 9457 defaults for an empty type
// ("about:blank") and title (the status text).
func (p Problem) Marshal() []byte {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	b, _ := json.Marshal(p) // strings, ints and string slices always marshal
	return append(b, '\n')
}

// Render returns the status and body that answer err; stored answers and
// live ones are the same bytes.
func Render(err error, requestID string) (status int, body []byte) {
	p := New(err, requestID)
	return p.Status, p.Marshal()
}

// Parse turns a problem answer back into the error it was rendered from:
// the code from the status, and type, message and fields from the body.
// A body that is not a problem keeps the code and a generic message.
func Parse(status int, body []byte) *apperr.Error {
	var p Problem
	_ = json.Unmarshal(body, &p) // a non-problem body still has its status
	e := &apperr.Error{Code: Code(status), Message: p.Detail, Fields: p.Errors}
	if p.Type != "about:blank" {
		e.Type = p.Type
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}
