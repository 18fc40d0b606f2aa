// Package dbsecrettest is a fake AWS Secrets Manager endpoint holding one
// secret with versions and staging labels, for tests of code that reads
// database credentials through the AWS SDK (in process, or in a program
// started with AWS_ENDPOINT_URL_SECRETS_MANAGER pointing at it).
//
// It speaks GetSecretValue as the service documents it, and nothing else:
//   - https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
//     (POST, X-Amz-Target: secretsmanager.GetSecretValue, Content-Type
//     application/x-amz-json-1.1; request {"SecretId","VersionId",
//     "VersionStage"}, AWSCURRENT when neither is given; response {"ARN",
//     "Name","SecretString","VersionId","VersionStages","CreatedDate"})
//   - https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html
//     (errors as HTTP 400 with {"__type":"ResourceNotFoundException",
//     "message":...}; ThrottlingException when the request rate is exceeded)
//   - https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_how.html
//     (a rotation puts the new password in a version labelled AWSPENDING,
//     sets it in the database, tests it, then moves AWSCURRENT to it and
//     AWSPREVIOUS to the old one; a label is on one version at a time)
//   - https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html
//     (RDS keeps the master user's credentials as JSON
//     {"username":"...","password":"..."} in a secret it rotates, every 7
//     days by default)
package dbsecrettest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// ARN is a secret ARN in the form RDS gives the secrets it manages.
const ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f0c2a4e-8f1b-4c7d-9a6e-2b5d1c0e7f93-Xy12Ab"

// Request is one GetSecretValue the fake answered (or refused).
type Request struct {
	SecretID, VersionID, VersionStage string
}

type version struct {
	id      string
	value   string
	stages  []string
	created time.Time
}

// Server is the fake endpoint. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	arn string

	mu        sync.Mutex
	versions  []*version
	requests  []Request
	failType  string // when set, every request fails with this error type
	failCode  int
	failMsg   string
	versionNo int
}

// New starts a fake holding the secret arn, with no versions yet, and stops
// it when the test ends.
func New(t testing.TB, arn string) *Server {
	s := &Server{arn: arn}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Credentials returns the JSON RDS keeps in its secrets.
func Credentials(username, password string) string {
	b, _ := json.Marshal(map[string]string{"username": username, "password": password, "engine": "postgres"})
	return string(b)
}

// Put adds a version holding value with the given staging labels, taking
// each label off the version that had it. It returns the version id.
func (s *Server) Put(value string, stages ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versionNo++
	v := &version{id: fmt.Sprintf("00000000-0000-4000-8000-%012d", s.versionNo), value: value, created: time.Now()}
	for _, st := range stages {
		s.label(v, st)
	}
	s.versions = append(s.versions, v)
	return v.id
}

// Promote ends a rotation: AWSCURRENT moves to the version id, AWSPREVIOUS
// to the version that was current, and AWSPENDING comes off.
func (s *Server) Promote(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next *version
	for _, v := range s.versions {
		if v.id == id {
			next = v
		}
	}
	if next == nil {
		panic("dbsecrettest: no version " + id)
	}
	for _, v := range s.versions {
		if slices.Contains(v.stages, "AWSCURRENT") && v != next {
			s.label(v, "AWSPREVIOUS")
		}
	}
	s.label(next, "AWSCURRENT")
	next.stages = slices.DeleteFunc(next.stages, func(st string) bool { return st == "AWSPENDING" })
}

// label puts stage on v and takes it off every other version.
func (s *Server) label(v *version, stage string) {
	for _, o := range s.versions {
		o.stages = slices.DeleteFunc(o.stages, func(st string) bool { return st == stage })
	}
	if !slices.Contains(v.stages, stage) {
		v.stages = append(v.stages, stage)
	}
}

// Fail makes every request fail with the service error errType (e.g.
// "ThrottlingException") and HTTP status code, until Fail("", 0, "").
func (s *Server) Fail(errType string, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failType, s.failCode, s.failMsg = errType, code, message
}

// Requests returns every request so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Client returns an SDK client for the fake: BaseEndpoint, static
// credentials, and no retries, so each call is one request.
func (s *Server) Client() *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		BaseEndpoint:     aws.String(s.URL),
		Region:           "eu-west-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "test-secret-key", ""),
		RetryMaxAttempts: 1,
	})
}

// Env returns the variables a program started by the test needs to reach
// the fake through the SDK's default configuration.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": s.URL,
		"AWS_REGION":                       "eu-west-1",
		"AWS_ACCESS_KEY_ID":                "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":            "test-secret-key",
		// No shared config or IMDS lookups on the test machine.
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	switch {
	case r.Method != http.MethodPost:
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "only POST")
		return
	case r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue":
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "this fake serves GetSecretValue only, got "+r.Header.Get("X-Amz-Target"))
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		writeError(w, http.StatusBadRequest, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") ||
		!strings.Contains(r.Header.Get("Authorization"), "/secretsmanager/aws4_request"):
		writeError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "request not signed with SigV4 for secretsmanager")
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "body is not JSON")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{SecretID: in.SecretID, VersionID: in.VersionID, VersionStage: in.VersionStage})
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("fake-%d", len(s.requests)))
	if s.failType != "" {
		writeError(w, s.failCode, s.failType, s.failMsg)
		return
	}
	if in.SecretID != s.arn {
		writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	stage := in.VersionStage
	if stage == "" && in.VersionID == "" {
		stage = "AWSCURRENT"
	}
	var found *version
	for _, v := range s.versions {
		if (in.VersionID == "" || v.id == in.VersionID) && (stage == "" || slices.Contains(v.stages, stage)) {
			found = v
		}
	}
	if found == nil {
		writeError(w, http.StatusBadRequest, "ResourceNotFoundException",
			"Secrets Manager can't find the specified secret value for staging label: "+stage)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ARN":           s.arn,
		"Name":          s.arn[strings.LastIndex(s.arn, ":")+1:],
		"SecretString":  found.value,
		"VersionId":     found.id,
		"VersionStages": found.stages,
		"CreatedDate":   float64(found.created.UnixMilli()) / 1000, // epoch seconds, as the JSON protocol encodes timestamps
	})
}

func writeError(w http.ResponseWriter, code int, errType, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": errType, "message": message})
}
