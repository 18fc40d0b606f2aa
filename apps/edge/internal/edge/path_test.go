package edge_test

import (
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fargateshop/shop/platform/routing"

	"github.com/fargateshop/shop/apps/edge/internal/edge"
)

// parseTarget reads a request target the way net/http does.
func parseTarget(target string) (*url.URL, error) { return url.ParseRequestURI(target) }

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"/", true},
		{"/api/catalog", true},
		{"/api/catalog/products", true},
		{"/api/catalog/products/", true},
		{"/api/catalog/products?cursor=a%2Fb&q=..", true}, // the query is not routed on
		{"/static/app.js", true},
		{"/a.b/c.d", true},
		{"/caf%C3%A9", true},
		{"/a%20b", true},
		{"/.well-known/security.txt", true},
		{"", false},
		{"*", false},
		{"api/catalog", false},
		{"//", false},
		{"//internal", false},
		{"/a//b", false},
		{"/a/./b", false},
		{"/a/.", false},
		{"/.", false},
		{"/..", false},
		{"/a/../b", false},
		{"/a/..", false},
		{"/a..b", false},
		{"/a/%2e%2e/b", false},
		{"/a/%2E/b", false},
		{"/a%2fb", false},
		{"/a%2Fb", false},
		{"/a%5cb", false},
		{`/a\b`, false},
		{"/a%00b", false},
		{"/a%0ab", false},
		{"/a%7fb", false},
		{"/a%252fb", false},
		{"/a%25b", false},
	} {
		u, err := parseTarget(tc.target)
		got := err == nil && edge.CheckPath(u.Path, u.RawPath) == nil
		if got != tc.ok {
			t.Errorf("CheckPath(%q) ok = %v, want %v", tc.target, got, tc.ok)
		}
	}
}

// FuzzCheckPath: whatever the cleaner accepts is canonical, so the path the
// edge matched is the path any router behind it sees, even one that decodes
// twice or cleans.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{
		"/", "/api/catalog/products", "/api/catalog/../internal", "/api/catalog/%2e%2e/internal",
		"/api/catalog%2F..%2Finternal", "//internal/x", "/a/./b", `/a\b`, "/a%00", "/%252e%252e/",
		"/internal", "/caf%C3%A9", "/a%20b?x=1", "/api/orders/..;/internal", "/.%2e/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := parseTarget(target)
		if err != nil || edge.CheckPath(u.Path, u.RawPath) != nil {
			return
		}
		p := u.Path
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("accepted %q: path %q does not start with /", target, p)
		}
		if c := path.Clean(p); c != p && c+"/" != p {
			t.Fatalf("accepted %q: path %q is not clean (%q)", target, p, c)
		}
		if strings.ContainsAny(p, "\\%\x00") {
			t.Fatalf("accepted %q: path %q has a backslash, %% or NUL", target, p)
		}
		if twice, err := url.PathUnescape(p); err == nil && twice != p {
			t.Fatalf("accepted %q: decoding again changes %q to %q", target, p, twice)
		}
		if strings.Count(u.EscapedPath(), "/") != strings.Count(p, "/") {
			t.Fatalf("accepted %q: an encoded slash became a separator", target)
		}
		if !strings.HasPrefix(p, routing.InternalPrefix) && strings.HasPrefix(path.Clean(p), routing.InternalPrefix) {
			t.Fatalf("accepted %q: reaches %s only after cleaning", target, routing.InternalPrefix)
		}
	})
}

// referenceMatch is the ALB pattern semantics written the obvious way, as a
// regular expression. Each byte is mapped to one rune first so that '?'
// means one byte in both implementations.
func referenceMatch(pattern, s string) bool {
	var re strings.Builder
	re.WriteString(`(?s)\A`)
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			re.WriteString(`.*`)
		case '?':
			re.WriteString(`.`)
		default:
			re.WriteString(regexp.QuoteMeta(string(rune(c))))
		}
	}
	re.WriteString(`\z`)
	return regexp.MustCompile(re.String()).MatchString(bytesAsRunes(s))
}

func bytesAsRunes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// TestMatchAgreesWithReference: routing.Match and the regular expression
// agree on every declared pattern and on wildcard corner cases, over paths
// around them. (platform/routing holds Match to expected answers.)
func TestMatchAgreesWithReference(t *testing.T) {
	patterns := []string{"*", "/a?c", "/*/x/*", "/*.js", "/a*b*c"}
	paths := []string{"", "/", "/abc", "/ac", "/a/c", "/a/b/x/c", "/static/app.js", "/aXbYbZ", "/api/catalogue", "/API/catalog/x", "/internal/x"}
	for _, r := range routing.Rules(routing.Services) {
		patterns = append(patterns, r.Pattern)
		paths = append(paths, r.Pattern, strings.ReplaceAll(r.Pattern, "*", "a/b"), strings.TrimSuffix(r.Pattern, "*"))
	}
	answers := map[bool]int{}
	for _, p := range patterns {
		for _, s := range paths {
			got, want := routing.Match(p, s), referenceMatch(p, s)
			if got != want {
				t.Errorf("Match(%q, %q) = %v, reference says %v", p, s, got, want)
			}
			answers[got]++
		}
	}
	if answers[true] == 0 || answers[false] == 0 {
		t.Errorf("answers %v: a comparison that never matches (or always does) proves nothing", answers)
	}
}

// FuzzMatch compares routing.Match with the regular-expression reference.
func FuzzMatch(f *testing.F) {
	for _, r := range routing.Rules(routing.Services) {
		for _, p := range []string{"/", r.Pattern, strings.ReplaceAll(r.Pattern, "*", "x/y"), "/internal/x", "/api/catalogue"} {
			f.Add(r.Pattern, p)
		}
	}
	f.Add("/a?c*d", "/abcxxd")
	f.Add("**?*", "ab")
	f.Add("/*a*a*a*a*b", strings.Repeat("/a", 40))
	f.Add("?", "é")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 128 || len(s) > 1024 {
			return // ALB's pattern limit; long paths only slow the regexp down
		}
		if got, want := routing.Match(pattern, s), referenceMatch(pattern, s); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v (utf8 valid: %v)", pattern, s, got, want, utf8.ValidString(s))
		}
	})
}
