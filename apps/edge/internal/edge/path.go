package edge

import (
	"errors"
	"strings"
)

// errUnclean is why a path is refused; the client sees only a 404.
var errUnclean = errors.New("path is not in canonical form")

// refusedEscapes are percent-encodings that let a path mean one thing to a
// path matcher and another to the router behind it: encoded '/', '\', '.',
// NUL, and '%' itself (double encoding).
var refusedEscapes = []string{"%2f", "%5c", "%2e", "%00", "%25"}

// CheckPath reports whether a request path is safe to route by prefix.
// decoded is the request's URL.Path, raw its wire form (URL.RawPath, or ""
// when it equals the default encoding of decoded).
//
// The ALB normalises such paths before matching; the edge refuses them
// instead, so the path the rules matched is exactly the path the upstream
// routes on, and no "..", "//" or encoded slash can turn a public prefix
// into /internal on the service behind it.
func CheckPath(decoded, raw string) error {
	if decoded == "" || decoded[0] != '/' {
		return errUnclean
	}
	for i := 0; i < len(decoded); i++ {
		// '%' left after decoding means the wire had %25: double encoding.
		if c := decoded[i]; c < 0x20 || c == 0x7f || c == '\\' || c == '%' {
			return errUnclean
		}
	}
	if strings.Contains(decoded, "..") || strings.Contains(decoded, "//") ||
		strings.Contains(decoded, "/./") || strings.HasSuffix(decoded, "/.") {
		return errUnclean
	}
	lower := strings.ToLower(raw)
	for _, esc := range refusedEscapes {
		if strings.Contains(lower, esc) {
			return errUnclean
		}
	}
	return nil
}
