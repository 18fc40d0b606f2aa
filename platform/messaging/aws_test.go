package messaging

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// recordingClient keeps the request it was given.
type recordingClient struct{ got *http.Request }

func (c *recordingClient) Do(r *http.Request) (*http.Response, error) {
	c.got = r
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

// writerToBody is a request body that, like the SDK's, has a WriteTo.
type writerToBody struct{ *bytes.Reader }

func (writerToBody) Close() error { return nil }

// TestLoadAWSGivesTheTransportPlainBodies: the SDK's clients from LoadAWS
// send bodies net/http can only Read, so a drain after the SDK closed the
// body ends cleanly instead of closing the connection (plainBodies).
func TestLoadAWSGivesTheTransportPlainBodies(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	// Without AWS_CA_BUNDLE (a container's environment) the SDK's
	// configuration names no HTTP client; with it, one of its own.
	t.Setenv("AWS_CA_BUNDLE", "")
	for _, bundle := range []string{"", "/etc/ssl/certs/ca-certificates.crt"} {
		if bundle == "" {
			os.Unsetenv("AWS_CA_BUNDLE")
		} else {
			os.Setenv("AWS_CA_BUNDLE", bundle)
		}
		cfg, err := LoadAWS(t.Context())
		if err != nil {
			if _, statErr := os.Stat(bundle); bundle != "" && statErr != nil {
				continue // no CA bundle on this machine to name
			}
			t.Fatal(err)
		}
		if p, ok := cfg.HTTPClient.(plainBodies); !ok || p.client == nil {
			t.Fatalf("AWS_CA_BUNDLE=%q: LoadAWS's HTTP client is %#v, want plainBodies around a client", bundle, cfg.HTTPClient)
		}
	}

	rec := &recordingClient{}
	req, err := http.NewRequest(http.MethodPost, "http://broker:4100/", writerToBody{bytes.NewReader([]byte(`{"QueueUrl":"q"}`))})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := req.Body.(io.WriterTo); !ok {
		t.Fatal("the test's body has no WriteTo: it proves nothing")
	}
	if _, err := (plainBodies{rec}).Do(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.got.Body.(io.WriterTo); ok {
		t.Error("the transport got a body with WriteTo")
	}
	if b, err := io.ReadAll(rec.got.Body); err != nil || string(b) != `{"QueueUrl":"q"}` {
		t.Errorf("the transport read %q, %v; want the body unchanged", b, err)
	}

	empty, err := http.NewRequest(http.MethodGet, "http://broker:4100/", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (plainBodies{rec}).Do(empty); err != nil || rec.got.Body != http.NoBody {
		t.Errorf("an empty body became %T (%v), want http.NoBody kept", rec.got.Body, err)
	}
}

// TestLoadAWSRefusesNoRegion: without AWS_REGION the SDK would sign for an
// empty region; the service says what is missing instead.
func TestLoadAWSRefusesNoRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	if _, err := LoadAWS(t.Context()); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("got %v, want an error naming AWS_REGION", err)
	}
}
