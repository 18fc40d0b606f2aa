// Package apperr is the small vocabulary of failures that business code
// returns. Package problem maps each Code to an HTTP status in one table
// (and back), so domain packages never import a web framework.
package apperr

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients.
type Code string

// The codes. Add one only when clients must react to it differently.
const (
	Invalid      Code = "invalid"      // input failed validation (422)
	BadRequest   Code = "bad_request"  // request is malformed (400)
	NotFound     Code = "not_found"    // 404
	Conflict     Code = "conflict"     // state forbids it, e.g. duplicate sku (409)
	Unauthorized Code = "unauthorized" // no credentials (401)
	Forbidden    Code = "forbidden"    // wrong credentials (403)
	TooLarge     Code = "too_large"    // request body over the limit (413)
	Unsupported  Code = "unsupported"  // wrong Content-Type (415)
	Unavailable  Code = "unavailable"  // a dependency is down; retry later (503)
	Internal     Code = "internal"     // a bug or an unexpected failure (500)
)

// FieldError is one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error a client may see. Message is safe to show; the wrapped
// cause is for logs only.
type Error struct {
	Code    Code
	Type    string // optional problem type URI, e.g. "/problems/out-of-stock"
	Message string
	Fields  []FieldError
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error that keeps cause for logging.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Cause: cause}
}

// Validation returns an Invalid error listing each bad field, or nil when
// fields is empty.
func Validation(fields []FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Code: Invalid, Message: "the request has invalid fields", Fields: fields}
}

// CodeOf returns the Code of the first *Error in err's chain, Internal when
// there is none, and "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
