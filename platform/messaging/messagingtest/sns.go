// Package messagingtest holds a fake SNS for tests: an httptest server
// speaking the protocol the AWS SDK for Go v2 uses for Publish, so that a
// test points the real SDK at it (BaseEndpoint, or AWS_ENDPOINT_URL_SNS)
// and asserts what was sent.
package messagingtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Published is one Publish call as SNS received it.
type Published struct {
	TopicARN string
	Message  string
	// Attributes maps each message attribute's name to its
	// "DataType=StringValue".
	Attributes map[string]string
}

// SNS is a fake SNS with one topic. It speaks the Query protocol: a
// form-encoded POST with Action=Publish&Version=2010-03-31, answered with
// XML (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html; errors
// as in https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html). A
// Publish to another topic is answered 404 NotFound, as SNS answers a
// topic that does not exist.
type SNS struct {
	URL   string
	topic string

	mu        sync.Mutex
	published []Published
	changed   *sync.Cond
}

// NewSNS starts a fake SNS holding the topic topicARN, stopped when t ends.
func NewSNS(t testing.TB, topicARN string) *SNS {
	f := &SNS{topic: topicARN}
	f.changed = sync.NewCond(&f.mu)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *SNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "want a form POST", http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("Action") != "Publish" || r.PostForm.Get("Version") != "2010-03-31" {
		http.Error(w, "unexpected action "+r.PostForm.Get("Action"), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	p := Published{TopicARN: r.PostForm.Get("TopicArn"), Message: r.PostForm.Get("Message"), Attributes: attributes(r.PostForm)}
	if p.TopicARN != f.topic {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>`+
			`<Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>r-0</RequestId></ErrorResponse>`)
		return
	}
	f.mu.Lock()
	f.published = append(f.published, p)
	n := len(f.published)
	f.changed.Broadcast()
	f.mu.Unlock()
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>`+
		`<MessageId>m-%d</MessageId></PublishResult><ResponseMetadata><RequestId>r-%d</RequestId>`+
		`</ResponseMetadata></PublishResponse>`, n, n)
}

// attributes decodes MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue}.
func attributes(form url.Values) map[string]string {
	attrs := map[string]string{}
	for i := 1; ; i++ {
		prefix := fmt.Sprintf("MessageAttributes.entry.%d.", i)
		name := form.Get(prefix + "Name")
		if name == "" {
			return attrs
		}
		attrs[name] = form.Get(prefix+"Value.DataType") + "=" + form.Get(prefix+"Value.StringValue")
	}
}

// Published returns the messages published so far.
func (f *SNS) Published() []Published {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Published(nil), f.published...)
}

// Await blocks until n messages were published and returns them; it fails
// t if they do not come.
func (f *SNS) Await(t testing.TB, n int) []Published {
	t.Helper()
	timedOut := false
	guard := time.AfterFunc(hangGuard, func() {
		f.mu.Lock()
		timedOut = true
		f.changed.Broadcast()
		f.mu.Unlock()
	})
	defer guard.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.published) < n {
		if timedOut {
			t.Fatalf("waited %s for %d published messages, got %d", hangGuard, n, len(f.published))
		}
		f.changed.Wait()
	}
	return append([]Published(nil), f.published...)
}
