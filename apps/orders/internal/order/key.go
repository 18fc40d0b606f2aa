package order

import (
	"strings"

	"github.com/fargateshop/shop/platform/apperr"
)

// MaxKeyLen bounds an Idempotency-Key.
const MaxKeyLen = 255

// ParseKey reads the Idempotency-Key header values. The IETF draft defines
// the header as a Structured Field string ("abc", quoted); the bare form
// (abc) that most clients send is accepted too. The key must be 1 to 255
// printable ASCII characters; a missing, repeated or malformed header is a
// BadRequest error.
func ParseKey(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", apperr.Errorf(apperr.BadRequest, "the Idempotency-Key header is required")
	case 1:
	default:
		return "", apperr.Errorf(apperr.BadRequest, "send exactly one Idempotency-Key header")
	}
	v := strings.Trim(values[0], " \t")
	if strings.HasPrefix(v, `"`) {
		var ok bool
		if v, ok = unquote(v); !ok {
			return "", apperr.Errorf(apperr.BadRequest, "the Idempotency-Key header is not a valid quoted string")
		}
	}
	if v == "" || len(v) > MaxKeyLen {
		return "", apperr.Errorf(apperr.BadRequest, "the Idempotency-Key must be 1 to %d characters", MaxKeyLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", apperr.Errorf(apperr.BadRequest, "the Idempotency-Key must be printable ASCII")
		}
	}
	return v, nil
}

// unquote decodes an RFC 8941 sf-string: printable ASCII between double
// quotes, where only \" and \\ are escapes.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i == len(s) || (s[i] != '"' && s[i] != '\\') {
				return "", false
			}
			b.WriteByte(s[i])
		case c == '"' || c < 0x20 || c > 0x7e:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
