package order

import (
	"time"

	"github.com/google/uuid"
)

// KeyRetention is how long completed Idempotency-Keys are kept; the draft
// asks servers to publish it, and clients retry well within a day.
const KeyRetention = 24 * time.Hour

// Attempt is one POST /api/orders as the idempotency store sees it.
type Attempt struct {
	Key         string
	Fingerprint []byte
	Request     Request   // validated
	NewOrderID  uuid.UUID // used when the attempt starts a new order
	Lease       time.Duration
}

// Claim is the result of registering an Attempt. Exactly one of these holds:
//   - Replay != nil: the key completed earlier; answer with Replay as is.
//   - otherwise the caller holds the key's lease (LeaseID) and must drive
//     Order to an end, then complete the key or release the lease.
//     Resumed says the order was started by an earlier attempt that died
//     or gave up.
type Claim struct {
	Key     string
	LeaseID uuid.UUID
	Order   Order
	Resumed bool
	Replay  *Response
}

// Response is a stored answer: status and the exact body bytes.
type Response struct {
	Status int
	Body   []byte
}
