package dbsecret_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/dbsecret"
	"github.com/fargateshop/shop/platform/dbsecret/dbsecrettest"
)

// clock is a settable time for the cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)} }

// newSource serves a secret whose AWSCURRENT version is current and returns
// a Source reading it on a clock the test moves.
func newSource(t *testing.T, current string) (*dbsecrettest.Server, *dbsecret.Source, *clock) {
	t.Helper()
	fake := dbsecrettest.New(t, dbsecrettest.ARN)
	fake.Put(current, "AWSCURRENT")
	c := newClock()
	src := dbsecret.New(fake.Client(), dbsecrettest.ARN, dbsecret.Options{
		TTL: 5 * time.Minute, MinAge: time.Second, RetryAfter: 10 * time.Second, Now: c.Now,
	})
	return fake, src, c
}

type want struct {
	user, password string
	requests       int // GetSecretValue calls so far
}

func check(t *testing.T, step string, src *dbsecret.Source, fake *dbsecrettest.Server, w want) {
	t.Helper()
	user, password, err := src.Credentials(context.Background())
	if err != nil {
		t.Fatalf("%s: Credentials: %v", step, err)
	}
	if user != w.user || password != w.password {
		t.Errorf("%s: got %q/%q, want %q/%q", step, user, password, w.user, w.password)
	}
	reqs := fake.Requests()
	if len(reqs) != w.requests {
		t.Errorf("%s: got %d GetSecretValue requests, want %d", step, len(reqs), w.requests)
	}
	for _, r := range reqs {
		if r.SecretID != dbsecrettest.ARN || r.VersionStage != "AWSCURRENT" || r.VersionID != "" {
			t.Errorf("%s: request %+v, want SecretId %s and VersionStage AWSCURRENT only", step, r, dbsecrettest.ARN)
		}
	}
}

// TestRotation walks a secret through an RDS rotation. The fake serves
// each version by the label asked for, so reading AWSPENDING would show.
func TestRotation(t *testing.T) {
	fake, src, clk := newSource(t, dbsecrettest.Credentials("shop_admin", "old-password"))

	check(t, "first read", src, fake, want{"shop_admin", "old-password", 1})
	clk.Add(time.Minute)
	check(t, "within the TTL: from the cache", src, fake, want{"shop_admin", "old-password", 1})

	// createSecret: the new password is AWSPENDING. setSecret changes it in
	// the database, whose connections now refuse the old one; AWSCURRENT
	// still holds the old password until finishSecret.
	pending := fake.Put(dbsecrettest.Credentials("shop_admin", "new-password"), "AWSPENDING")
	src.Rejected()
	check(t, "refused during the rotation: AWSCURRENT read again, never AWSPENDING", src, fake, want{"shop_admin", "old-password", 2})

	// finishSecret: AWSCURRENT moves to the new version. The next refusal
	// reads it at once, long before the TTL ends.
	fake.Promote(pending)
	clk.Add(2 * time.Second)
	check(t, "label moved, not yet refused: still the cache", src, fake, want{"shop_admin", "old-password", 2})
	src.Rejected()
	check(t, "refused after the rotation", src, fake, want{"shop_admin", "new-password", 3})
	check(t, "then from the cache", src, fake, want{"shop_admin", "new-password", 3})

	clk.Add(5 * time.Minute)
	check(t, "after the TTL: read again", src, fake, want{"shop_admin", "new-password", 4})
}

// TestRejectedBurst: many connections refused at once (each reports it)
// cost one read, and a value read less than MinAge ago is not read again.
func TestRejectedBurst(t *testing.T) {
	fake, src, clk := newSource(t, dbsecrettest.Credentials("u", "p1"))
	check(t, "first read", src, fake, want{"u", "p1", 1})

	clk.Add(time.Minute)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			src.Rejected()
			if _, _, err := src.Credentials(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// The first read after the burst makes the value young; the refusals
	// that arrive after it are about connections opened before it.
	if got := len(fake.Requests()); got < 2 || got > 3 {
		t.Errorf("20 refusals at once: got %d requests in all, want 2 or 3", got)
	}
	n := len(fake.Requests())
	clk.Add(500 * time.Millisecond)
	src.Rejected()
	check(t, "refused within MinAge of the read", src, fake, want{"u", "p1", n})
}

func TestCacheHitsMakeNoRequest(t *testing.T) {
	fake, src, clk := newSource(t, `{"password":"no-username-here"}`)
	for i := range 100 {
		check(t, "read", src, fake, want{"", "no-username-here", 1})
		if i%10 == 0 {
			clk.Add(29 * time.Second) // 290 s in all, under the 5 min TTL
		}
	}
}

// TestErrors: failures surface as errors naming the secret and the
// service's error, never a password, and a refused or missing value is
// never handed out.
func TestErrors(t *testing.T) {
	const cached = "cached-password-must-not-leak"
	tests := []struct {
		name     string
		arn      string
		value    string // "" means no version at all
		fail     string // error type the fake answers with, after a first good read when warm
		code     int
		warm     bool // a value was read before the failure
		rejected bool // and the database refused it
		wantErr  string
		wantPass string // when no error is wanted
	}{
		{name: "no such secret", arn: dbsecrettest.ARN + "-other", value: `{"password":"x"}`, wantErr: "ResourceNotFoundException"},
		{name: "no AWSCURRENT version", arn: dbsecrettest.ARN, wantErr: "staging label: AWSCURRENT"},
		{name: "throttled, nothing cached", arn: dbsecrettest.ARN, value: dbsecrettest.Credentials("u", cached),
			fail: "ThrottlingException", code: http.StatusBadRequest, wantErr: "ThrottlingException"},
		{name: "throttled after the TTL: the cached value goes on", arn: dbsecrettest.ARN, value: dbsecrettest.Credentials("u", cached),
			fail: "ThrottlingException", code: http.StatusBadRequest, warm: true, wantPass: cached},
		{name: "service down after a refusal: no stale value", arn: dbsecrettest.ARN, value: dbsecrettest.Credentials("u", cached),
			fail: "InternalServiceError", code: http.StatusInternalServerError, warm: true, rejected: true, wantErr: "InternalServiceError"},
		{name: "not JSON", arn: dbsecrettest.ARN, value: "plain-" + cached, wantErr: "not a JSON object"},
		{name: "JSON without a password", arn: dbsecrettest.ARN, value: `{"username":"u","pass":"` + cached + `"}`, wantErr: `no "password"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := dbsecrettest.New(t, dbsecrettest.ARN)
			if tt.value != "" {
				fake.Put(tt.value, "AWSCURRENT")
			}
			clk := newClock()
			var logs strings.Builder
			src := dbsecret.New(fake.Client(), tt.arn, dbsecret.Options{
				Now: clk.Now, Log: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if tt.warm {
				if _, _, err := src.Credentials(context.Background()); err != nil {
					t.Fatal(err)
				}
				clk.Add(dbsecret.DefaultTTL)
				if tt.rejected {
					src.Rejected()
				}
			}
			if tt.fail != "" {
				fake.Fail(tt.fail, tt.code, "Rate exceeded")
			}
			_, password, err := src.Credentials(context.Background())
			if tt.wantErr == "" {
				if err != nil || password != tt.wantPass {
					t.Fatalf("got %q, %v; want %q", password, err, tt.wantPass)
				}
				// The failed read is not swallowed: nothing else would
				// show a task role that lost its access.
				if got := logs.String(); !strings.Contains(got, "database secret unreadable") ||
					!strings.Contains(got, tt.fail) || strings.Contains(got, cached) {
					t.Errorf("got log %q, want a warning naming %s and not the value", got, tt.fail)
				}
				// Served from the cache, the service is asked again only
				// after RetryAfter.
				n := len(fake.Requests())
				clk.Add(dbsecret.DefaultRetryAfter / 2)
				_, _, _ = src.Credentials(context.Background())
				if got := len(fake.Requests()); got != n {
					t.Errorf("got %d requests within RetryAfter, want none", got-n)
				}
				clk.Add(dbsecret.DefaultRetryAfter)
				_, _, _ = src.Credentials(context.Background())
				if got := len(fake.Requests()); got != n+1 {
					t.Errorf("got %d requests after RetryAfter, want 1", got-n)
				}
				return
			}
			if err == nil {
				t.Fatalf("got password %q and no error, want an error about %s", password, tt.wantErr)
			}
			if password != "" {
				t.Errorf("got password %q with the error, want none", password)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.arn) {
				t.Errorf("error %q, want it to name %s and %s", err, tt.arn, tt.wantErr)
			}
			if strings.Contains(err.Error(), cached) {
				t.Errorf("error %q holds the secret's value", err)
			}
		})
	}
}

// TestLoadUsesTheEnvironment: Load finds the endpoint, region and
// credentials the way an ECS task (or the system test) gives them.
func TestLoadUsesTheEnvironment(t *testing.T) {
	fake := dbsecrettest.New(t, dbsecrettest.ARN)
	fake.Put(dbsecrettest.Credentials("shop_admin", "from-env"), "AWSCURRENT")
	for k, v := range fake.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_REGION", "") // the secret's region comes from its ARN
	src, err := dbsecret.Load(context.Background(), nil, dbsecrettest.ARN)
	if err != nil {
		t.Fatal(err)
	}
	user, password, err := src.Credentials(context.Background())
	if err != nil || user != "shop_admin" || password != "from-env" {
		t.Fatalf("got %q/%q, %v; want shop_admin/from-env", user, password, err)
	}
	if _, err := dbsecret.Load(context.Background(), nil, "arn:aws:ssm:eu-west-1:123456789012:parameter/db"); err == nil {
		t.Error("Load accepted an ARN that is not a secret's")
	}
}
