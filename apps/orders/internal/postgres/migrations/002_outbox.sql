-- The transactional outbox. An event is inserted in the transaction that
-- causes it (order.confirmed: the one that marks the order confirmed), so
-- it exists exactly when its cause committed; the relay (internal/outbox)
-- publishes it afterwards, at least once. traceparent and tracestate are
-- the W3C trace context of the confirming request or reconciler span, so
-- the published message continues the order's trace.
CREATE TABLE orders.outbox (
    id              uuid PRIMARY KEY,  -- the event's id, in its body too
    order_id        uuid NOT NULL REFERENCES orders.orders (id),
    topic           text NOT NULL,
    type            text NOT NULL,
    body            bytea NOT NULL,    -- published byte for byte
    traceparent     text,
    tracestate      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz,
    -- One event of each type per order: a confirmation replayed can never
    -- add a second order.confirmed.
    UNIQUE (order_id, type)
);

-- The relay's claim: due, unsent rows in next_attempt_at order.
CREATE INDEX outbox_unsent ON orders.outbox (next_attempt_at) WHERE sent_at IS NULL;
-- The retention sweep of sent rows.
CREATE INDEX outbox_sent ON orders.outbox (sent_at) WHERE sent_at IS NOT NULL;
