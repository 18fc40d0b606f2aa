-- Orders and their lines. Lines are written when the order is created
-- (product and quantity as requested) and completed with catalog's sku,
-- name and price when catalog reserves the stock.
CREATE TABLE orders.orders (
    id          uuid PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('pending', 'reserved', 'confirmed', 'failed')),
    email       text NOT NULL,
    currency    text,
    total_cents bigint,
    failure     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (status IN ('pending', 'failed') OR (currency IS NOT NULL AND total_cents IS NOT NULL))
);

-- The reconciler looks for orders that are neither confirmed nor failed.
CREATE INDEX orders_unsettled ON orders.orders (updated_at) WHERE status IN ('pending', 'reserved');

CREATE TABLE orders.order_items (
    order_id         uuid NOT NULL REFERENCES orders.orders (id) ON DELETE CASCADE,
    line             int NOT NULL,
    product_id       uuid NOT NULL,
    quantity         int NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    sku              text,
    name             text,
    unit_price_cents bigint,
    PRIMARY KEY (order_id, line),
    UNIQUE (order_id, product_id)
);

-- One row per Idempotency-Key. While a request runs, locked_until is its
-- lease and lease_id names the holder; response_* hold the stored answer
-- once the request completed. The row and its pending order are inserted
-- in one transaction, hence the deferred foreign key.
CREATE TABLE orders.idempotency_keys (
    key             text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint     bytea NOT NULL,
    order_id        uuid NOT NULL REFERENCES orders.orders (id) DEFERRABLE INITIALLY DEFERRED,
    lease_id        uuid,
    locked_until    timestamptz,
    response_status int,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    CHECK ((response_status IS NULL) = (completed_at IS NULL))
);

CREATE INDEX idempotency_keys_order ON orders.idempotency_keys (order_id);
CREATE INDEX idempotency_keys_completed ON orders.idempotency_keys (created_at) WHERE completed_at IS NOT NULL;
