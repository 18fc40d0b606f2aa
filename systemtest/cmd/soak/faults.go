package main

import (
	"bytes"
	"context"
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
	err   string // the fault could not be injected or the system did not recover
}

// defaultFaults is the order faults are injected in; a short run gets the
// first few.
var defaultFaults = []string{
	"kill-catalog", "pause-catalog", "restart-postgres", "restart-orders",
	"restart-catalog", "pause-postgres", "restart-web", "restart-edge",
}

// pauseFor is how long a paused container stays frozen: long enough that
// callers hit their timeouts, short enough that the edge's own 30 s
// response timeout is not what answers.
const pauseFor = 8 * time.Second

// faultActions inject one fault and bring the system back.
var faultActions = map[string]func(ctx context.Context, dc *composeCLI) error{
	"kill-catalog": func(ctx context.Context, dc *composeCLI) error {
		if err := dc.run(ctx, "kill", "catalog"); err != nil {
			return err
		}
		sleep(ctx, 5*time.Second)
		return dc.run(ctx, "start", "catalog")
	},
	"pause-catalog":    func(ctx context.Context, dc *composeCLI) error { return pause(ctx, dc, "catalog") },
	"pause-postgres":   func(ctx context.Context, dc *composeCLI) error { return pause(ctx, dc, "postgres") },
	"restart-postgres": func(ctx context.Context, dc *composeCLI) error { return dc.run(ctx, "restart", "postgres") },
	"restart-orders":   func(ctx context.Context, dc *composeCLI) error { return dc.run(ctx, "restart", "orders") },
	"restart-catalog":  func(ctx context.Context, dc *composeCLI) error { return dc.run(ctx, "restart", "catalog") },
	"restart-web":      func(ctx context.Context, dc *composeCLI) error { return dc.run(ctx, "restart", "web") },
	"restart-edge":     func(ctx context.Context, dc *composeCLI) error { return dc.run(ctx, "restart", "edge") },
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
func injectFaults(load, root context.Context, cfg config, dc *composeCLI, c *client, rec *record) {
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
		fctx, cancel := context.WithTimeout(root, 2*time.Minute)
		err := faultActions[name](fctx, dc)
		if err == nil {
			err = waitRecovered(fctx, c)
		}
		cancel()
		w.end = time.Now()
		if err != nil {
			w.err = err.Error()
			logf("fault %s: %v", name, err)
		}
		logf("fault %s: recovered after %s", name, w.end.Sub(w.start).Round(100*time.Millisecond))
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
		for _, p := range []string{"edge", "catalog", "orders", "web"} {
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
