package systemtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/dbsecret/dbsecrettest"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
	"github.com/fargateshop/shop/systemtest/harness"
)

// TestDatabasePasswordRotation runs catalog as its own LOGIN role under
// steady load (50 requests a second, one in five a write) and rotates the
// role's password the way RDS rotates its managed secret: the new password
// goes into an AWSPENDING version, the database gets it (ALTER ROLE), the
// secret's AWSCURRENT label moves to it. Then the role's sessions are
// ended, so catalog's pool must open new connections, as it does when
// connections reach their idle or lifetime limit.
//
// Ending a session under a request that is using it fails that request
// whatever the password, so one 5xx is allowed; none may come from a
// refused password. With the password read once at start (PGPASSWORD
// injected by ECS, the old behaviour) the same sequence must give 5xx
// until the end, or this test could not tell the two apart.
func TestDatabasePasswordRotation(t *testing.T) {
	tests := []struct {
		name       string
		fromSecret bool
	}{
		{"password from PGPASSWORD_SECRET_ARN", true},
		{"password read once at start", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := postgrestest.NewDatabase(t)
			role := postgrestest.NewRole(t, dsn, "password-before-rotation")
			fake := dbsecrettest.New(t, dbsecrettest.ARN)
			fake.Put(dbsecrettest.Credentials(role.Name, "password-before-rotation"), "AWSCURRENT")

			env := map[string]string{"DATABASE_URL": role.URL("password-before-rotation")}
			if tt.fromSecret {
				env = fake.Env()
				env["DATABASE_URL"] = role.URL("") // host and database; user and password come from the secret
				env["PGPASSWORD_SECRET_ARN"] = dbsecrettest.ARN
			}
			sys, _ := startSystem(t, dsn, harness.Options{Env: map[string]map[string]string{"catalog": env}})
			pid := sys.PID("catalog")
			c := &shopClient{t: t, sys: sys, hc: &http.Client{Timeout: 10 * time.Second}}
			product := c.product("ROTATE-1", 100)
			readsAtStart := len(fake.Requests())

			type result struct {
				status  int
				rotated bool
			}
			var (
				mu      sync.Mutex
				rotated bool
				results []result
			)
			// The load runs until stopped, so that however slow the machine,
			// as many requests meet the rotated password as the checks need.
			stop := make(chan struct{})
			load := func() {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					mu.Lock()
					n := len(results)
					mu.Unlock()
					req, _ := http.NewRequest(http.MethodGet, sys.CatalogURL+"/api/catalog/products", nil)
					if n%5 == 4 {
						req, _ = http.NewRequest(http.MethodPut, sys.CatalogURL+"/api/catalog/products/"+product+"/stock",
							bytes.NewReader(fmt.Appendf(nil, `{"stock":%d}`, 100+n)))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer "+sys.AdminToken)
					}
					status := 0
					if resp, err := c.hc.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						status = resp.StatusCode
					}
					mu.Lock()
					results = append(results, result{status, rotated})
					mu.Unlock()
				}
			}

			var wg sync.WaitGroup
			wg.Go(load)
			defer func() {
				select {
				case <-stop:
				default:
					close(stop)
				}
				wg.Wait()
			}()
			waitUntil(t, 60*time.Second, "100 requests before the rotation", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(results) >= 100
			})
			pending := fake.Put(dbsecrettest.Credentials(role.Name, "password-after-rotation"), "AWSPENDING")
			role.SetPassword(t, "password-after-rotation")
			fake.Promote(pending)
			mu.Lock()
			rotated = true
			mu.Unlock()
			if n := role.TerminateSessions(t); n == 0 {
				t.Fatal("catalog had no database session to end")
			}
			waitUntil(t, 60*time.Second, "200 requests after the rotation", func() bool {
				mu.Lock()
				defer mu.Unlock()
				after := 0
				for _, r := range results {
					if r.rotated {
						after++
					}
				}
				return after >= 200
			})
			close(stop)
			wg.Wait()

			failed := map[bool]int{} // 5xx (or no answer) by before/after the rotation
			answers := map[int]int{} // every status
			lastFailure := -1
			for i, r := range results {
				answers[r.status]++
				if r.status == 0 || r.status >= 500 {
					failed[r.rotated]++
					lastFailure = i
				}
			}
			t.Logf("%d requests, answers %v, reads of the secret %d at start and %d in all",
				len(results), answers, readsAtStart, len(fake.Requests()))
			if failed[false] != 0 {
				t.Fatalf("%d requests failed before the rotation, want none", failed[false])
			}
			for _, line := range strings.Split(sys.AllLogs(), "\n") {
				if strings.Contains(line, "password-before-rotation") || strings.Contains(line, "password-after-rotation") {
					t.Errorf("a log line holds a database password: %.300s", line)
				}
			}
			if got := sys.PID("catalog"); got != pid {
				t.Errorf("catalog's PID is %d, was %d: it must survive the rotation without a restart", got, pid)
			}
			refused := 0
			for _, line := range strings.Split(sys.Logs("catalog"), "\n") {
				// A request's error log line, not the pool's note that it reads
				// the credentials again.
				if strings.Contains(line, "SQLSTATE 28P01") && !strings.Contains(line, "reading them again") {
					refused++
				}
			}

			if !tt.fromSecret {
				// The old behaviour: every request that needs a new
				// connection fails, to the end of the load.
				if failed[true] < 10 || lastFailure != len(results)-1 || refused == 0 {
					t.Errorf("got %d failures after the rotation (last at %d of %d), %d refused passwords in the log; "+
						"want the rotation to break catalog for good", failed[true], lastFailure, len(results), refused)
				}
				return
			}
			if failed[true] > 1 {
				t.Errorf("got %d failed requests after the rotation, want at most 1 (the one whose session was ended)", failed[true])
			}
			if refused != 0 {
				t.Errorf("got %d requests failed for a refused password, want none", refused)
			}
			if got := len(fake.Requests()); got <= readsAtStart {
				t.Errorf("the fake Secrets Manager got %d requests in all, %d at start: want the secret read again", got, readsAtStart)
			}
			if !strings.Contains(sys.Logs("catalog"), "reading them again") {
				t.Error("catalog did not log that it read the credentials again: did the test meet the rotation at all?")
			}
		})
	}
}
