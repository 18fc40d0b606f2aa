package web

import (
	"encoding/base64"
	"strings"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
)

// Page cursors are opaque to clients: base64url of a version tag and the
// last sku of the page. The tag lets the format change without
// misreading old cursors.
const cursorPrefix = "v1:"

var cursorEncoding = base64.RawURLEncoding.Strict()

func encodeCursor(lastSKU string) string {
	return cursorEncoding.EncodeToString([]byte(cursorPrefix + lastSKU))
}

// decodeCursor returns the sku a cursor points after, or ok=false when the
// cursor was not made by encodeCursor.
func decodeCursor(cursor string) (sku string, ok bool) {
	if len(cursor) > 128 {
		return "", false
	}
	b, err := cursorEncoding.DecodeString(cursor)
	if err != nil {
		return "", false
	}
	sku, ok = strings.CutPrefix(string(b), cursorPrefix)
	// The decoder skips '\r' and '\n'; insisting on the canonical form keeps
	// one cursor per position.
	if !ok || catalog.SKUProblem(sku) != "" || encodeCursor(sku) != cursor {
		return "", false
	}
	return sku, true
}
