-- Products, and the reservations that hold their stock for orders.
-- The CHECK constraints repeat the domain rules so that no code path, not
-- even a bug or a manual fix, can store a negative stock.

CREATE TABLE catalog.products (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- "C" collation: byte order, so keyset pagination by sku is the same on
    -- every server whatever its locale.
    sku         text COLLATE "C" NOT NULL UNIQUE CHECK (sku ~ '^[A-Za-z0-9_-]{1,64}$'),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    stock       integer NOT NULL CHECK (stock >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per order_id, ever: "released" rows double as tombstones so that a
-- reserve arriving after its release takes nothing.
CREATE TABLE catalog.reservations (
    order_id   uuid PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('reserved', 'confirmed', 'released')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The sweeper's query: reservations still holding stock, oldest expiry first.
CREATE INDEX reservations_reserved_expires_at_idx
    ON catalog.reservations (expires_at) WHERE status = 'reserved';

-- Product details are copied at reservation time: the order's price is the
-- price when it was placed, whatever an administrator changes later.
CREATE TABLE catalog.reservation_items (
    order_id         uuid NOT NULL REFERENCES catalog.reservations (order_id) ON DELETE CASCADE,
    product_id       uuid NOT NULL REFERENCES catalog.products (id),
    line             integer NOT NULL, -- position in the request, to answer in the client's order
    quantity         integer NOT NULL CHECK (quantity > 0),
    sku              text NOT NULL,
    name             text NOT NULL,
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents > 0),
    currency         text NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- For the foreign key's checks and for "which reservations hold product X".
CREATE INDEX reservation_items_product_id_idx ON catalog.reservation_items (product_id);
