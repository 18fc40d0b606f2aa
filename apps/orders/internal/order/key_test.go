package order

import (
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/apperr"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string // "" means a BadRequest error
	}{
		{"bare uuid", []string{"8e03978e-40d5-43e8-bc93-6894a57f9324"}, "8e03978e-40d5-43e8-bc93-6894a57f9324"},
		{"sf-string", []string{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`}, "8e03978e-40d5-43e8-bc93-6894a57f9324"},
		{"sf-string with escapes", []string{`"a\"b\\c"`}, `a"b\c`},
		{"inner space allowed", []string{"a b"}, "a b"},
		{"surrounding whitespace trimmed", []string{" \tabc "}, "abc"},
		{"255 chars", []string{strings.Repeat("k", 255)}, strings.Repeat("k", 255)},
		{"missing", nil, ""},
		{"repeated", []string{"a", "b"}, ""},
		{"empty", []string{""}, ""},
		{"blank", []string{"   "}, ""},
		{"empty sf-string", []string{`""`}, ""},
		{"256 chars", []string{strings.Repeat("k", 256)}, ""},
		{"control char", []string{"a\x01b"}, ""},
		{"DEL", []string{"a\x7fb"}, ""},
		{"non-ascii", []string{"clé"}, ""},
		{"unterminated sf-string", []string{`"abc`}, ""},
		{"bad escape", []string{`"a\nb"`}, ""},
		{"unescaped quote inside", []string{`"a"b"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.values)
			if tt.want == "" {
				if apperr.CodeOf(err) != apperr.BadRequest {
					t.Fatalf("ParseKey(%q) = %q, %v; want a BadRequest error", tt.values, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseKey(%q) = %q, %v; want %q", tt.values, got, err, tt.want)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"abc", `"abc"`, `"a\"b"`, `"`, `""`, " x ", "\x00", strings.Repeat("k", 256), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, err := ParseKey([]string{v})
		if err != nil {
			if apperr.CodeOf(err) != apperr.BadRequest {
				t.Fatalf("ParseKey(%q): %v, want BadRequest", v, err)
			}
			return
		}
		if key == "" || len(key) > MaxKeyLen {
			t.Fatalf("ParseKey(%q) = %q: bad length", v, key)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("ParseKey(%q) = %q: non-printable byte", v, key)
			}
		}
		// A bare key that is accepted reads the same when sent as an sf-string.
		if !strings.HasPrefix(v, `"`) {
			quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
			if again, err := ParseKey([]string{quoted}); err != nil || again != key {
				t.Fatalf("ParseKey(%q) = %q, %v; want %q", quoted, again, err, key)
			}
		}
	})
}
