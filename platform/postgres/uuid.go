package postgres

import (
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// RegisterUUID teaches m to move github.com/google/uuid values as their 16
// bytes. pgx does not know that type: it sends a uuid.UUID through its
// driver.Valuer (formatted as 36 characters of text, which pgx then parses
// back into 16 bytes) and scans one through sql.Scanner (the reverse).
// That round trip through text was 5 to 6 % of the catalog's and the
// orders service's CPU per request (docs/performance.md). Open registers
// it on every connection; uuid[] parameters use it too.
func RegisterUUID(m *pgtype.Map) {
	elem := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}}
	m.RegisterType(elem)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: &pgtype.ArrayCodec{ElementType: elem}})
	m.RegisterDefaultPgType(uuid.UUID{}, "uuid")
	m.RegisterDefaultPgType([]uuid.UUID{}, "_uuid")
}

// uuidCodec is pgx's uuid codec plus uuid.UUID values and *uuid.UUID
// targets, which it hands to pgx's own plans as pgtype.UUID.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok {
		if next := c.UUIDCodec.PlanEncode(m, oid, format, pgtype.UUID{}); next != nil {
			return encodeUUID{next: next}
		}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok {
		if next := c.UUIDCodec.PlanScan(m, oid, format, &pgtype.UUID{}); next != nil {
			return scanUUID{next: next}
		}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeUUID struct{ next pgtype.EncodePlan }

func (p encodeUUID) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgtype.UUID{Bytes: value.(uuid.UUID), Valid: true}, buf)
}

type scanUUID struct{ next pgtype.ScanPlan }

func (p scanUUID) Scan(src []byte, target any) error {
	if src == nil {
		// Like pgx for its own non-pointer targets: a nullable column
		// scans into a *uuid.UUID target's pointer (**uuid.UUID).
		return errors.New("cannot scan NULL into *uuid.UUID")
	}
	var u pgtype.UUID
	if err := p.next.Scan(src, &u); err != nil {
		return err
	}
	*target.(*uuid.UUID) = u.Bytes
	return nil
}
