package servertest

import (
	"strings"
	"testing"
)

// ErrorMentions fails t unless err is an error whose text contains every
// one of wants: configuration errors are reported all at once, and each
// one must name the setting at fault.
func ErrorMentions(t testing.TB, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
