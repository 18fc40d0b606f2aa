// Package messagingtest fakes Amazon SQS for tests of consumers: an
// httptest server the AWS SDK's SQS client talks to as it would to AWS.
package messagingtest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQS speaks the SQS JSON protocol as the SDK (service/sqs v1.53) sends
// it: POST / with X-Amz-Target: AmazonSQS.<Operation> and an
// application/x-amz-json-1.0 body, answered with the operation's output
// shape, errors as {"__type","message"} (Amazon SQS Developer Guide,
// "Making query API requests using AWS JSON protocol"). ReceiveMessage
// long-polls: it answers when a message is pending, else when one is
// added or the client gives up.
//
// It holds one queue of messages to hand out, each handed out once (the
// visibility timeout and redelivery are not faked), and records every
// DeleteMessage ("delete <receipt handle>") and ChangeMessageVisibility
// ("visibility <receipt handle> <seconds>") in an ordered log that tests
// may append to (Record), so the order of a handler's work and the
// message's settlement can be checked.
type SQS struct {
	t        testing.TB
	srv      *httptest.Server
	queueURL string

	mu           sync.Mutex
	pending      []Message
	arrived      chan struct{} // closed and replaced when a message is added
	failReceives int
	receives     []map[string]any
	log          []string
	changed      chan struct{} // closed and replaced on every log entry
}

// Message is a message waiting in the fake queue. Its receipt handle is
// "rh-" + ID.
type Message struct {
	ID, Body     string
	ReceiveCount int               // the ApproximateReceiveCount it is handed out with
	Attributes   map[string]string // String message attributes
}

// NewSQS starts a fake of the queue at queueURL, closed when t ends.
// Requests naming another queue fail t.
func NewSQS(t testing.TB, queueURL string) *SQS {
	s := &SQS{t: t, queueURL: queueURL, arrived: make(chan struct{}), changed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL_SQS, BaseEndpoint).
func (s *SQS) URL() string { return s.srv.URL }

// Client is an SDK client of the fake without retries, so every failure
// the fake answers reaches the caller.
func (s *SQS) Client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(s.srv.URL),
		Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{},
	})
}

// Add queues m for the next receive.
func (s *SQS) Add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// FailReceives makes the next n receives fail with a server error, as a
// broker that is down does.
func (s *SQS) FailReceives(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failReceives = n
}

// Receives returns the bodies of the ReceiveMessage requests so far.
func (s *SQS) Receives() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.receives)
}

// Record appends an entry to the ordered log.
func (s *SQS) Record(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, fmt.Sprintf(format, args...))
	close(s.changed)
	s.changed = make(chan struct{})
}

// Log returns the ordered log.
func (s *SQS) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// hangGuard only turns a hang into a failure; nothing waits it out.
const hangGuard = 30 * time.Second

// Await blocks until the log holds n entries and returns it.
func (s *SQS) Await(n int) []string {
	s.t.Helper()
	guard := time.After(hangGuard)
	for {
		s.mu.Lock()
		log, changed := slices.Clone(s.log), s.changed
		s.mu.Unlock()
		if len(log) >= n {
			return log
		}
		select {
		case <-changed:
		case <-guard:
			s.t.Fatalf("waited %s for %d log entries, have %q", hangGuard, n, log)
		}
	}
}

func (s *SQS) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if r.Method != http.MethodPost || !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		s.t.Errorf("request %s %s, target %q, content type %q: not the SQS JSON protocol",
			r.Method, r.URL, r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		// A body cut short is a client that gave up while sending (a
		// consumer stopping); anything else is a malformed request.
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			s.t.Errorf("%s: body: %v", op, err)
		}
		return
	}
	if in["QueueUrl"] != s.queueURL {
		s.t.Errorf("%s: QueueUrl %v, want %s", op, in["QueueUrl"], s.queueURL)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch op {
	case "ReceiveMessage":
		s.receive(w, r, in)
	case "DeleteMessage":
		s.Record("delete %s", in["ReceiptHandle"])
		io.WriteString(w, "{}")
	case "ChangeMessageVisibility":
		s.Record("visibility %s %v", in["ReceiptHandle"], in["VisibilityTimeout"])
		io.WriteString(w, "{}")
	default:
		s.t.Errorf("unexpected operation %s", op)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"com.amazonaws.sqs#UnsupportedOperation","message":"not faked"}`)
	}
}

func (s *SQS) receive(w http.ResponseWriter, r *http.Request, in map[string]any) {
	limit := 1
	if n, ok := in["MaxNumberOfMessages"].(float64); ok {
		limit = int(n)
	}
	s.mu.Lock()
	s.receives = append(s.receives, in)
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if s.failReceives > 0 {
			s.failReceives--
			s.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"__type":"com.amazonaws.sqs#InternalError","message":"broker down"}`)
			return
		}
		batch := s.pending[:min(len(s.pending), limit)]
		s.pending = s.pending[len(batch):]
		arrived := s.arrived
		s.mu.Unlock()
		if len(batch) > 0 {
			out := make([]map[string]any, len(batch))
			for i, m := range batch {
				sum := md5.Sum([]byte(m.Body)) // the SDK checks MD5OfBody
				attrs := map[string]any{}
				for k, v := range m.Attributes {
					attrs[k] = map[string]string{"DataType": "String", "StringValue": v}
				}
				out[i] = map[string]any{
					"MessageId": m.ID, "ReceiptHandle": "rh-" + m.ID, "Body": m.Body,
					"MD5OfBody":         hex.EncodeToString(sum[:]),
					"Attributes":        map[string]string{"ApproximateReceiveCount": fmt.Sprint(m.ReceiveCount)},
					"MessageAttributes": attrs,
				}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"Messages": out})
			return
		}
		select {
		case <-arrived:
		case <-r.Context().Done():
			return
		}
	}
}
