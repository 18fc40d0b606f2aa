package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/fargateshop/shop/platform/apperr"
)

// DecodeJSON strictly decodes the request body into v: Content-Type must be
// JSON, unknown fields and trailing data are rejected, and type errors name
// the field. Every failure is an *apperr.Error a client can act on.
func DecodeJSON(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apperr.Errorf(apperr.Unsupported, "Content-Type must be application/json")
		}
	}
	return Decode(c.Request.Body, v)
}

// Decode is DecodeJSON without the header check, for callers and fuzz tests
// that hold a reader.
func Decode(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil && IsBodyTooLarge(err) {
			return decodeError(err)
		}
		return apperr.Errorf(apperr.BadRequest, "the body must hold a single JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case IsBodyTooLarge(err):
		return apperr.Errorf(apperr.TooLarge, "request body exceeds %d bytes", MaxBodyBytes)
	case errors.Is(err, io.EOF):
		return apperr.Errorf(apperr.BadRequest, "the request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Errorf(apperr.BadRequest, "the request body is truncated JSON")
	case errors.As(err, &syntax):
		return apperr.Errorf(apperr.BadRequest, "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return &apperr.Error{Code: apperr.BadRequest, Message: "a field has the wrong type",
			Fields: []apperr.FieldError{{Field: field, Message: fmt.Sprintf("must be %s", jsonKind(typ.Type.Kind().String()))}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apperr.Error{Code: apperr.BadRequest, Message: "the body has an unknown field",
			Fields: []apperr.FieldError{{Field: name, Message: "unknown field"}}}
	default:
		return apperr.Errorf(apperr.BadRequest, "the body is not valid JSON")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer in range"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	default:
		return "of another type"
	}
}
