package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

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
//
// A key repeated in one object, or repeated in another case, is refused:
// encoding/json keeps the last one and matches field names ignoring case,
// so {"quantity":1,"QUANTITY":3} would sell 3 while another JSON reader on
// the path (a WAF, a log pipeline) sees 1.
func Decode(r io.Reader, v any) error {
	// The decoder reads through a pooled copy, so the bytes it decoded can
	// be scanned for repeated keys afterwards without reading r twice.
	tee := tees.Get().(*teeReader)
	tee.r = r
	tee.buf.Reset()
	defer tee.release()
	dec := json.NewDecoder(tee)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil && IsBodyTooLarge(err) {
			return decodeError(err)
		}
		return apperr.Errorf(apperr.BadRequest, "the body must hold a single JSON value")
	}
	if path, key, ok := repeatedKey(tee.buf.Bytes()[:end]); ok {
		return &apperr.Error{Code: apperr.BadRequest,
			Message: fmt.Sprintf("the body repeats the key %q (keys are matched ignoring case)", key),
			Fields:  []apperr.FieldError{{Field: path, Message: "repeated key"}}}
	}
	return nil
}

// tees are pooled so a request allocates nothing for its copy.
var tees = sync.Pool{New: func() any { return new(teeReader) }}

// teeReader keeps what is read through it.
type teeReader struct {
	r   io.Reader
	buf bytes.Buffer
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf.Write(p[:n])
	return n, err
}

func (t *teeReader) release() {
	t.r = nil
	if t.buf.Cap() <= 64<<10 { // a rare large body is not kept alive
		tees.Put(t)
	}
}

// repeatedKey reports the first key of data, a valid JSON value, that
// repeats an earlier key of the same object under bytes.EqualFold, the
// comparison encoding/json matches field names with. path locates it, e.g.
// items[0].QUANTITY. data is known to be valid: only the structure is
// followed, nothing is validated again.
func repeatedKey(data []byte) (path, key string, found bool) {
	// Both live on the stack for every body this repository takes, so the
	// scan allocates nothing; keys[top.start:] are the innermost object's.
	var (
		frameArr  [16]frame
		keyArr    [64][]byte
		frames    = frameArr[:0]
		keys      = keyArr[:0]
		expectKey bool
	)
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			frames = append(frames, frame{object: true, start: len(keys)})
			expectKey = true
		case '[':
			frames = append(frames, frame{})
		case '}', ']':
			if top := frames[len(frames)-1]; top.object {
				keys = keys[:top.start]
			}
			frames = frames[:len(frames)-1]
			expectKey = false // set by an empty object's '{'
		case ',':
			if top := &frames[len(frames)-1]; top.object {
				expectKey = true
			} else {
				top.index++
			}
		case '"':
			start := i + 1
			i = start + bytes.IndexByte(data[start:], '"')
			escaped := bytes.IndexByte(data[start:i], '\\') >= 0
			if escaped { // the quote found may be escaped: walk instead
				for i = start; data[i] != '"'; i++ {
					if data[i] == '\\' {
						i++
					}
				}
			}
			if !expectKey {
				continue
			}
			expectKey = false
			k := data[start:i]
			if escaped {
				k = unquote(data[start-1 : i+1])
			}
			top := &frames[len(frames)-1]
			top.key = k
			if top.folded != nil {
				if top.folded.repeats(k) {
					return pathOf(frames), string(k), true
				}
				continue
			}
			for _, seen := range keys[top.start:] {
				if bytes.EqualFold(seen, k) {
					return pathOf(frames), string(k), true
				}
			}
			if len(keys)-top.start < pairwiseKeys {
				keys = append(keys, k)
				continue
			}
			top.folded = foldedKeys{}
			for _, seen := range keys[top.start:] {
				top.folded.repeats(seen)
			}
			top.folded.repeats(k)
			keys = keys[:top.start]
		}
	}
	return "", "", false
}

// frame is one open object or array.
type frame struct {
	object bool
	index  int    // current element of an array
	key    []byte // current key of an object
	start  int    // the object's first key in repeatedKey's keys
	folded foldedKeys
}

// pairwiseKeys is how many keys of one object are compared pairwise;
// beyond, they go to a map, so one object of many keys costs linear, not
// quadratic, time.
const pairwiseKeys = 16

type foldedKeys map[string]struct{}

// repeats adds k and reports whether it was there already.
func (m foldedKeys) repeats(k []byte) bool {
	f := fold(k)
	if _, ok := m[f]; ok {
		return true
	}
	m[f] = struct{}{}
	return false
}

func pathOf(frames []frame) string {
	var b strings.Builder
	for i, f := range frames {
		switch {
		case f.object && i > 0:
			b.WriteByte('.')
			b.Write(f.key)
		case f.object:
			b.Write(f.key)
		default:
			fmt.Fprintf(&b, "[%d]", f.index)
		}
	}
	return b.String()
}

// fold maps k to one representative of its bytes.EqualFold class: every
// rune becomes the smallest rune of its case-folding orbit.
func fold(k []byte) string {
	out := make([]byte, 0, len(k))
	for _, r := range string(k) {
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		out = utf8.AppendRune(out, lo)
	}
	return string(out)
}

// unquote decodes a JSON string literal known to be valid.
func unquote(lit []byte) []byte {
	var s string
	_ = json.Unmarshal(lit, &s)
	return []byte(s)
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
