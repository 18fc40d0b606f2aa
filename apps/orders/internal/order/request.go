package order

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/platform/apperr"
)

// Limits of one order request.
const (
	MaxEmailLen  = 254 // RFC 5321 path limit
	MaxLines     = 50
	MaxQuantity  = 100
	minLines     = 1
	minQuantity  = 1
	uuidTextSize = 36
)

// Request is a client's order as decoded, before validation.
type Request struct {
	Email string
	Lines []Line
}

// Line is one requested product and quantity.
type Line struct {
	ProductID string
	Quantity  int
}

// Validate checks r and returns it normalised (product ids in lower-case
// canonical form). Every problem is reported at once as an Invalid error.
//
// Duplicate product lines are rejected rather than merged: merging would
// make the stored order differ from what the client sent, and a client that
// sends duplicates has a bug worth hearing about.
func Validate(r Request) (Request, error) {
	var fields []apperr.FieldError
	bad := func(field, msg string) { fields = append(fields, apperr.FieldError{Field: field, Message: msg}) }

	switch {
	case r.Email == "":
		bad("email", "is required")
	case len(r.Email) > MaxEmailLen:
		bad("email", fmt.Sprintf("must be at most %d characters", MaxEmailLen))
	case !plausibleEmail(r.Email):
		bad("email", "must be a plain email address such as ada@example.com")
	}

	switch {
	case len(r.Lines) < minLines:
		bad("items", "must list at least one product")
	case len(r.Lines) > MaxLines:
		bad("items", fmt.Sprintf("must list at most %d products", MaxLines))
	}

	out := Request{Email: r.Email, Lines: make([]Line, 0, len(r.Lines))}
	seen := make(map[string]int, len(r.Lines))
	for i, l := range r.Lines {
		if i >= MaxLines {
			break // already reported; don't build errors for a huge list
		}
		id, err := uuid.Parse(l.ProductID)
		switch {
		case l.ProductID == "":
			bad(fmt.Sprintf("items[%d].product_id", i), "is required")
		case err != nil || len(l.ProductID) != uuidTextSize:
			bad(fmt.Sprintf("items[%d].product_id", i), "must be a UUID")
		default:
			canon := id.String()
			if first, dup := seen[canon]; dup {
				bad(fmt.Sprintf("items[%d].product_id", i),
					fmt.Sprintf("duplicates items[%d]; put the whole quantity on one line", first))
			} else {
				seen[canon] = i
			}
			l.ProductID = canon
		}
		if l.Quantity < minQuantity || l.Quantity > MaxQuantity {
			bad(fmt.Sprintf("items[%d].quantity", i), fmt.Sprintf("must be between %d and %d", minQuantity, MaxQuantity))
		}
		out.Lines = append(out.Lines, l)
	}
	if err := apperr.Validation(fields); err != nil {
		return Request{}, err
	}
	return out, nil
}

// plausibleEmail accepts what net/mail parses as a bare address, with no
// display name, comments or surrounding text. encoding/json turns invalid
// UTF-8 into U+FFFD instead of failing, so that character is refused too:
// an address that arrived mangled must not be stored as if it were real.
func plausibleEmail(s string) bool {
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s, "@")
}

// Fingerprint is the SHA-256 of the canonical form of a validated request:
// a JSON document with fixed field order and lines sorted by product id. Two
// requests that mean the same order have the same fingerprint whatever
// their whitespace, key order or line order.
func Fingerprint(r Request) []byte {
	type line struct {
		P string `json:"p"`
		Q int    `json:"q"`
	}
	canon := struct {
		E string `json:"e"`
		L []line `json:"l"`
	}{E: r.Email, L: make([]line, len(r.Lines))}
	for i, l := range r.Lines {
		canon.L[i] = line{l.ProductID, l.Quantity}
	}
	sort.Slice(canon.L, func(i, j int) bool { return canon.L[i].P < canon.L[j].P })
	b, _ := json.Marshal(canon) // strings and ints always marshal
	sum := sha256.Sum256(b)
	return sum[:]
}
