package postgres

import (
	"context"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// inTrace traces database work only inside a trace that something else
// started (a request, a reconciler pass with work to do). Alone, every
// background poll every few seconds would start a trace of its own: noise in
// the trace store and, on AWS, traces billed by the million.
type inTrace struct{ t *otelpgx.Tracer }

func newTracer() inTrace { return inTrace{otelpgx.NewTracer()} }

func traced(ctx context.Context) bool { return trace.SpanContextFromContext(ctx).IsValid() }

// Each End finds its span in ctx: after a Start that did not trace, that is
// the no-op span, which ignores what End does to it.

func (t inTrace) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if !traced(ctx) {
		return ctx
	}
	return t.t.TraceQueryStart(ctx, c, d)
}

func (t inTrace) TraceQueryEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	t.t.TraceQueryEnd(ctx, c, d)
}

func (t inTrace) TraceBatchStart(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	if !traced(ctx) {
		return ctx
	}
	return t.t.TraceBatchStart(ctx, c, d)
}

func (t inTrace) TraceBatchQuery(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchQueryData) {
	if traced(ctx) {
		t.t.TraceBatchQuery(ctx, c, d)
	}
}

func (t inTrace) TraceBatchEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchEndData) {
	t.t.TraceBatchEnd(ctx, c, d)
}

func (t inTrace) TraceCopyFromStart(ctx context.Context, c *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	if !traced(ctx) {
		return ctx
	}
	return t.t.TraceCopyFromStart(ctx, c, d)
}

func (t inTrace) TraceCopyFromEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceCopyFromEndData) {
	t.t.TraceCopyFromEnd(ctx, c, d)
}

func (t inTrace) TracePrepareStart(ctx context.Context, c *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	if !traced(ctx) {
		return ctx
	}
	return t.t.TracePrepareStart(ctx, c, d)
}

func (t inTrace) TracePrepareEnd(ctx context.Context, c *pgx.Conn, d pgx.TracePrepareEndData) {
	t.t.TracePrepareEnd(ctx, c, d)
}

func (t inTrace) TraceConnectStart(ctx context.Context, d pgx.TraceConnectStartData) context.Context {
	if !traced(ctx) {
		return ctx
	}
	return t.t.TraceConnectStart(ctx, d)
}

func (t inTrace) TraceConnectEnd(ctx context.Context, d pgx.TraceConnectEndData) {
	t.t.TraceConnectEnd(ctx, d)
}

func (t inTrace) TraceAcquireStart(ctx context.Context, p *pgxpool.Pool, d pgxpool.TraceAcquireStartData) context.Context {
	if !traced(ctx) {
		return ctx
	}
	return t.t.TraceAcquireStart(ctx, p, d)
}

func (t inTrace) TraceAcquireEnd(ctx context.Context, p *pgxpool.Pool, d pgxpool.TraceAcquireEndData) {
	t.t.TraceAcquireEnd(ctx, p, d)
}

var (
	_ pgx.QueryTracer       = inTrace{}
	_ pgx.BatchTracer       = inTrace{}
	_ pgx.CopyFromTracer    = inTrace{}
	_ pgx.PrepareTracer     = inTrace{}
	_ pgx.ConnectTracer     = inTrace{}
	_ pgxpool.AcquireTracer = inTrace{}
)
