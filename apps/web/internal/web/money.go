package web

import (
	"strconv"
	"strings"
)

// symbols are shown before the amount; other currencies show their code,
// the way the browser's Intl.NumberFormat("en") does in the order script.
var symbols = map[string]string{"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}

// zeroDecimal currencies have no minor unit (ISO 4217 exponent 0).
var zeroDecimal = map[string]bool{"JPY": true, "KRW": true, "ISK": true, "CLP": true, "VND": true}

// FormatPrice formats an amount in minor units: 123456 EUR → "€1,234.56".
func FormatPrice(minor int64, currency string) string {
	cur := strings.ToUpper(currency)
	sign := ""
	if minor < 0 {
		sign = "-"
		minor = -minor
	}
	var amount string
	if zeroDecimal[cur] {
		amount = group(minor)
	} else {
		frac := minor % 100
		amount = group(minor/100) + "." + string([]byte{'0' + byte(frac/10), '0' + byte(frac%10)})
	}
	if s, ok := symbols[cur]; ok {
		return sign + s + amount
	}
	if cur == "" {
		return sign + amount
	}
	return sign + cur + "\u00a0" + amount
}

// group inserts thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
