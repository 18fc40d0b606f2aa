// Package dbsecret reads database credentials from an AWS Secrets Manager
// secret, such as the master user secret RDS manages and rotates, for
// platform/postgres to use whenever it opens a connection.
package dbsecret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// CurrentStage is the staging label of the version the database accepts.
// During a rotation AWSPENDING holds a password the database may not have
// yet; Secrets Manager moves AWSCURRENT to it once the database has it.
const CurrentStage = "AWSCURRENT"

// Defaults for Options.
const (
	// DefaultTTL bounds how long a password is used without asking Secrets
	// Manager again (each GetSecretValue is billed; connections open often).
	DefaultTTL = 5 * time.Minute
	// DefaultMinAge: a rejection of a value younger than this does not
	// read it again, so a burst of refused connections (e.g. in the seconds
	// between RDS changing the password and moving AWSCURRENT) costs one
	// GetSecretValue a second, not one per connection.
	DefaultMinAge = time.Second
	// DefaultRetryAfter: when a read fails and the cached value was never
	// refused, the cached value is used this long before asking again.
	DefaultRetryAfter = 10 * time.Second
	// DefaultTimeout bounds one read, retries included.
	DefaultTimeout = 5 * time.Second
)

// GetSecretValueAPI is the one call Source makes; *secretsmanager.Client
// has it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Options tune a Source; zero fields take the defaults above.
type Options struct {
	TTL, MinAge, RetryAfter, Timeout time.Duration
	Now                              func() time.Time // time.Now
	// Log hears of reads that failed while a cached password was still in
	// use: nothing else fails then, and a task role that lost its access
	// would otherwise go unnoticed until the next rotation.
	Log *slog.Logger
}

// Source returns the user and password of one secret, from a short cache.
// It is safe for concurrent use; concurrent callers share one read.
type Source struct {
	client GetSecretValueAPI
	arn    string
	opts   Options

	mu       sync.Mutex // held during a read, so callers wait for it
	user     string
	password string
	readAt   time.Time // when user and password were read
	expires  time.Time // when to read again
	refused  bool      // the database refused password
}

// New returns a Source for the secret arn read through client.
func New(client GetSecretValueAPI, arn string, opts Options) *Source {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.MinAge <= 0 {
		opts.MinAge = DefaultMinAge
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Source{client: client, arn: arn, opts: opts}
}

// Load returns a Source for secretARN with the SDK's default configuration:
// the ECS task role's credentials, and AWS_ENDPOINT_URL_SECRETS_MANAGER or
// AWS_ENDPOINT_URL when set. It asks the secret's own region, from the ARN,
// whatever AWS_REGION says: that is where the secret lives.
func Load(ctx context.Context, log *slog.Logger, secretARN string) (*Source, error) {
	a, err := arn.Parse(secretARN)
	if err != nil || a.Service != "secretsmanager" {
		return nil, fmt.Errorf("dbsecret: %q is not the ARN of a Secrets Manager secret", secretARN)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(a.Region))
	if err != nil {
		return nil, fmt.Errorf("dbsecret: load AWS configuration: %w", err)
	}
	return New(secretsmanager.NewFromConfig(cfg), secretARN, Options{Log: log}), nil
}

// Credentials returns the secret's username ("" when it has none) and
// password, from the cache while it is fresh and not refused.
func (s *Source) Credentials(ctx context.Context) (user, password string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.password != "" && !s.refused && now.Before(s.expires) {
		return s.user, s.password, nil
	}
	user, password, err = s.read(ctx)
	if err != nil {
		if s.password != "" && !s.refused {
			// The database has not refused the old password: keep using it
			// while Secrets Manager cannot answer, and ask again later.
			s.expires = now.Add(s.opts.RetryAfter)
			s.opts.Log.WarnContext(ctx, "database secret unreadable; using the cached password",
				"retry_in", s.opts.RetryAfter.String(), "error", err.Error())
			return s.user, s.password, nil
		}
		return "", "", err
	}
	s.user, s.password, s.refused = user, password, false
	s.readAt, s.expires = now, now.Add(s.opts.TTL)
	return user, password, nil
}

// Rejected marks the cached password as refused by the database, so the
// next Credentials call reads the secret again, unless the cached value
// was read less than MinAge ago (then it is likely already the new one).
func (s *Source) Rejected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Now().Sub(s.readAt) >= s.opts.MinAge {
		s.refused = true
	}
}

// secretValue is the JSON RDS keeps in the secrets it manages; other keys
// (engine, host, port, ...) may be there too and are ignored.
type secretValue struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// read asks Secrets Manager for the AWSCURRENT version. Its errors never
// carry the secret's value: the SDK's name the operation and the service's
// error; JSON errors are replaced, as they can quote the text.
func (s *Source) read(ctx context.Context) (user, password string, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(s.arn),
		VersionStage: aws.String(CurrentStage),
	})
	if err != nil {
		return "", "", fmt.Errorf("dbsecret: read %s: %w", s.arn, err)
	}
	if out.SecretString == nil {
		return "", "", fmt.Errorf("dbsecret: secret %s has no SecretString", s.arn)
	}
	var v secretValue
	if err := json.Unmarshal([]byte(*out.SecretString), &v); err != nil {
		return "", "", fmt.Errorf("dbsecret: secret %s: %w", s.arn, errNotJSON)
	}
	if v.Password == "" {
		return "", "", fmt.Errorf("dbsecret: secret %s: %w", s.arn, errNoPassword)
	}
	return v.Username, v.Password, nil
}

var (
	errNotJSON    = errors.New(`SecretString is not a JSON object like {"username":"...","password":"..."}`)
	errNoPassword = errors.New(`SecretString has no "password"`)
)
