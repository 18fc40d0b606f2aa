-- One shipment per confirmed order. order_id and event_id are both unique:
-- applying an order.confirmed event is one INSERT ... ON CONFLICT DO
-- NOTHING, so the same event delivered twice, or a second event for the
-- same order, has no second effect, even when both arrive at once.
CREATE TABLE shipping.shipments (
    order_id   uuid PRIMARY KEY,
    event_id   uuid NOT NULL UNIQUE,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending')),
    email      text NOT NULL,
    -- [{"product_id","sku","quantity"}], as the event carried them.
    items      jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array' AND jsonb_array_length(items) > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
