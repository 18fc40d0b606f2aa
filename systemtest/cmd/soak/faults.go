package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// faultWindow is one injected fault on the timeline: from the first
// command until every probe passed again.
type faultWindow struct {
	name  string
	start time.Time
	end   time.Time
	note  string // what the fault caught in flight
	err   string // the fault could not be injected or the system did not recover
}

// defaultFaults is the order faults are injected in; a short run gets the
// first few, so the event faults come early, between the older ones.
// stop-shipping comes last: it lasts a minute (-shipping-down), which only
// a long run has room for.
var defaultFaults = []string{
	"kill-orders", "kill-catalog", "kill-shipping", "pause-catalog",
	"restart-postgres", "pause-broker", "restart-orders", "restart-catalog",
	"pause-postgres", "restart-web", "restart-edge", "stop-shipping",
}

// pauseFor is how long a paused container stays frozen: long enough that
// callers hit their timeouts, short enough that the edge's own 30 s
// response timeout is not what answers.
const pauseFor = 8 * time.Second

// faultEnv is what a fault acts on: the Compose project, and the broker,
// whose queues tell what a fault caught in flight.
type faultEnv struct {
	dc           *composeCLI
	broker       *broker
	shippingDown time.Duration
}

// faultActions inject one fault and bring the system back. The note says
// what the fault caught, for the timeline.
var faultActions = map[string]func(ctx context.Context, f *faultEnv) (note string, err error){
	"kill-catalog": func(ctx context.Context, f *faultEnv) (string, error) { return "", kill(ctx, f.dc, "catalog") },
	// SIGKILL between commit and publish. The relay publishes within a
	// fraction of a second, so a kill at a random moment rarely finds an
	// event unsent: the broker is paused first, orders keep confirming
	// and their events wait in the outbox (a relay's publish hangs inside
	// its claim), then orders dies. The next process's relay must send
	// them all. Counted right after the kill, when no relay runs, so the
	// count is exactly what the crash left.
	"kill-orders": func(ctx context.Context, f *faultEnv) (string, error) {
		if err := f.dc.run(ctx, "pause", "broker"); err != nil {
			return "", err
		}
		sleep(ctx, 3*time.Second)
		killErr := f.dc.run(ctx, "kill", "orders")
		note := ""
		if rows, err := f.dc.psql(ctx, "SELECT count(*) FROM orders.outbox WHERE sent_at IS NULL"); err == nil && len(rows) == 1 {
			note = rows[0][0] + " events committed but not published at the kill"
		}
		// Unpause even when ctx ended: never leave the stack frozen.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := errors.Join(killErr, f.dc.run(uctx, "unpause", "broker")); err != nil {
			return note, err
		}
		sleep(ctx, 2*time.Second)
		return note, f.dc.run(ctx, "start", "orders")
	},
	// SIGKILL while shipping holds deliveries: a message received and not
	// yet deleted comes back after its visibility timeout, whether its
	// shipment committed or not; the shipment must still be one.
	"kill-shipping": func(ctx context.Context, f *faultEnv) (string, error) {
		if err := f.dc.run(ctx, "kill", "shipping"); err != nil {
			return "", err
		}
		note := ""
		if d, err := f.broker.depth(ctx, shippingQueue); err == nil {
			note = fmt.Sprintf("%d deliveries received and not deleted at the kill (delivered again)", d.inFlight)
		}
		sleep(ctx, 3*time.Second)
		return note, f.dc.run(ctx, "start", "shipping")
	},
	// Orders keep confirming while shipping is away; the backlog waits in
	// the queue and drains when shipping returns.
	"stop-shipping": func(ctx context.Context, f *faultEnv) (string, error) {
		if err := f.dc.run(ctx, "stop", "shipping"); err != nil {
			return "", err
		}
		sleep(ctx, f.shippingDown)
		backlog, err := f.broker.depth(ctx, shippingQueue)
		if err != nil {
			return "", err
		}
		started := time.Now()
		if err := f.dc.run(ctx, "start", "shipping"); err != nil {
			return "", err
		}
		for ctx.Err() == nil {
			d, err := f.broker.depth(ctx, shippingQueue)
			if err == nil && d.empty() {
				return fmt.Sprintf("backlog of %d messages after %s down, drained %s after the start",
					backlog.waiting, f.shippingDown, time.Since(started).Round(100*time.Millisecond)), nil
			}
			sleep(ctx, 500*time.Millisecond)
		}
		return "", fmt.Errorf("backlog of %d messages not drained: %w", backlog.waiting, ctx.Err())
	},
	// The relay and the consumer wait for the broker; the order path must
	// not notice.
	"pause-broker":   func(ctx context.Context, f *faultEnv) (string, error) { return "", pause(ctx, f.dc, "broker") },
	"pause-catalog":  func(ctx context.Context, f *faultEnv) (string, error) { return "", pause(ctx, f.dc, "catalog") },
	"pause-postgres": func(ctx context.Context, f *faultEnv) (string, error) { return "", pause(ctx, f.dc, "postgres") },
	"restart-postgres": func(ctx context.Context, f *faultEnv) (string, error) {
		return "", f.dc.run(ctx, "restart", "postgres")
	},
	"restart-orders":  func(ctx context.Context, f *faultEnv) (string, error) { return "", f.dc.run(ctx, "restart", "orders") },
	"restart-catalog": func(ctx context.Context, f *faultEnv) (string, error) { return "", f.dc.run(ctx, "restart", "catalog") },
	"restart-web":     func(ctx context.Context, f *faultEnv) (string, error) { return "", f.dc.run(ctx, "restart", "web") },
	"restart-edge":    func(ctx context.Context, f *faultEnv) (string, error) { return "", f.dc.run(ctx, "restart", "edge") },
}

// kill sends SIGKILL to svc and starts it again after 5 s.
func kill(ctx context.Context, dc *composeCLI, svc string) error {
	if err := dc.run(ctx, "kill", svc); err != nil {
		return err
	}
	sleep(ctx, 5*time.Second)
	return dc.run(ctx, "start", svc)
}

func pause(ctx context.Context, dc *composeCLI, svc string) error {
	if err := dc.run(ctx, "pause", svc); err != nil {
		return err
	}
	sleep(ctx, pauseFor)
	// Unpause even when ctx ended: never leave the stack frozen.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return dc.run(uctx, "unpause", svc)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// injectFaults runs one fault per slot of cfg.faultEvery while load runs.
// A fault in progress when the load ends is completed (with root, the
// run's own context) so the stack is left whole.
func injectFaults(load, root context.Context, cfg config, f *faultEnv, c *client, rec *record) {
	next := time.Now().Add(cfg.faultEvery)
	deadline, _ := load.Deadline()
	for i := 0; ; i++ {
		sleep(load, time.Until(next))
		// Leave room for recovery inside the run.
		if load.Err() != nil || time.Until(deadline) < 15*time.Second {
			return
		}
		name := cfg.faults[i%len(cfg.faults)]
		w := faultWindow{name: name, start: time.Now()}
		logf("fault %s: start", name)
		fctx, cancel := context.WithTimeout(root, 2*time.Minute+cfg.shippingDown)
		note, err := faultActions[name](fctx, f)
		w.note = note
		if err == nil {
			err = waitRecovered(fctx, c)
		}
		cancel()
		w.end = time.Now()
		if err != nil {
			w.err = err.Error()
			logf("fault %s: %v", name, err)
		}
		logf("fault %s: recovered after %s %s", name, w.end.Sub(w.start).Round(100*time.Millisecond), note)
		rec.addFault(w)
		next = w.start.Add(cfg.faultEvery)
		if until := time.Until(next); until < 5*time.Second {
			next = time.Now().Add(5 * time.Second)
		}
	}
}

// waitRecovered polls every probe until all pass (the fault window's end).
func waitRecovered(ctx context.Context, c *client) error {
	var last error
	for ctx.Err() == nil {
		last = nil
		for _, p := range []string{"edge", "catalog", "orders", "web", "shipping"} {
			if err := c.probe(ctx, p); err != nil {
				last = fmt.Errorf("%s: %w", p, err)
				break
			}
		}
		if last == nil {
			return nil
		}
		sleep(ctx, 250*time.Millisecond)
	}
	return fmt.Errorf("not recovered: %v", last)
}

// composeCLI runs `docker compose` in the stack's directory.
type composeCLI struct {
	dir   string
	dbURL string // query this database instead of the compose postgres
}

func (dc *composeCLI) run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"compose"}, args...)...)
	cmd.Dir = dc.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker compose %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// psql runs SQL in the stack's database and returns the rows, fields split
// on '|'. The SQL goes through stdin, so it may be long. With -database-url
// it queries that database directly instead (a shop run on the host).
func (dc *composeCLI) psql(ctx context.Context, sql string) ([][]string, error) {
	if dc.dbURL != "" {
		return queryDirect(ctx, dc.dbURL, sql)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "compose", "exec", "-T", "postgres",
		"psql", "-U", "shop", "-d", "shop", "-v", "ON_ERROR_STOP=1", "-At", "-f", "-")
	cmd.Dir = dc.dir
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("psql: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows, nil
}

func queryDirect(ctx context.Context, dsn, sql string) ([][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			switch x := v.(type) {
			case pgtype.Numeric:
				f, _ := x.Float64Value()
				row[i] = strconv.FormatFloat(f.Float64, 'f', -1, 64)
			case [16]byte: // uuid
				row[i] = fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
			default:
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
