package web

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
)

// fakeStore is an in-memory Store for handler tests; the PostgreSQL store
// has its own tests against a real database.
type fakeStore struct {
	mu           sync.Mutex
	products     map[uuid.UUID]catalog.Product
	reservations map[uuid.UUID]catalog.Reservation
	err          error // when set, every call fails with it
}

func newFakeStore(products ...catalog.Product) *fakeStore {
	s := &fakeStore{products: map[uuid.UUID]catalog.Product{}, reservations: map[uuid.UUID]catalog.Reservation{}}
	for _, p := range products {
		s.products[p.ID] = p
	}
	return s
}

func (s *fakeStore) Ping(context.Context) error { return s.err }

func (s *fakeStore) ListProducts(_ context.Context, after string, limit int) ([]catalog.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []catalog.Product
	for _, p := range s.products {
		if p.SKU > after {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b catalog.Product) int { return strings.Compare(a.SKU, b.SKU) })
	return out[:min(limit, len(out))], nil
}

func (s *fakeStore) Product(_ context.Context, id uuid.UUID) (catalog.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return catalog.Product{}, s.err
	}
	p, ok := s.products[id]
	if !ok {
		return catalog.Product{}, catalog.ErrProductNotFound
	}
	return p, nil
}

func (s *fakeStore) CreateProduct(_ context.Context, np catalog.NewProduct) (catalog.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return catalog.Product{}, s.err
	}
	for _, p := range s.products {
		if p.SKU == np.SKU {
			return catalog.Product{}, catalog.DuplicateSKU(np.SKU)
		}
	}
	now := time.Now()
	p := catalog.Product{ID: uuid.New(), SKU: np.SKU, Name: np.Name, Description: np.Description,
		PriceCents: np.PriceCents, Currency: np.Currency, Stock: np.Stock, CreatedAt: now, UpdatedAt: now}
	s.products[p.ID] = p
	return p, nil
}

func (s *fakeStore) UpdateProduct(_ context.Context, id uuid.UUID, patch catalog.ProductPatch) (catalog.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.products[id]
	if !ok {
		return catalog.Product{}, catalog.ErrProductNotFound
	}
	if patch.Name != nil {
		p.Name = *patch.Name
	}
	if patch.Description != nil {
		p.Description = *patch.Description
	}
	if patch.PriceCents != nil {
		p.PriceCents = *patch.PriceCents
	}
	s.products[id] = p
	return p, nil
}

func (s *fakeStore) SetStock(_ context.Context, id uuid.UUID, stock int) (catalog.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.products[id]
	if !ok {
		return catalog.Product{}, catalog.ErrProductNotFound
	}
	p.Stock = stock
	s.products[id] = p
	return p, nil
}

// Reserve is simplistic: enough to test the HTTP mapping, not the rules.
func (s *fakeStore) Reserve(_ context.Context, req catalog.ReservationRequest) (catalog.Reservation, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return catalog.Reservation{}, false, s.err
	}
	if r, ok := s.reservations[req.OrderID]; ok {
		return r, false, nil
	}
	r := catalog.Reservation{OrderID: req.OrderID, Status: catalog.Reserved, ExpiresAt: time.Now().Add(time.Minute)}
	for _, l := range req.Lines {
		p, ok := s.products[l.ProductID]
		if !ok {
			return catalog.Reservation{}, false, catalog.UnknownProducts(nil)
		}
		r.Lines = append(r.Lines, catalog.ReservedLine{ProductID: p.ID, SKU: p.SKU, Name: p.Name,
			Quantity: l.Quantity, UnitPriceCents: p.PriceCents, Currency: p.Currency})
	}
	s.reservations[req.OrderID] = r
	return r, true, nil
}

func (s *fakeStore) Confirm(_ context.Context, id uuid.UUID) (catalog.Reservation, error) {
	return s.setStatus(id, catalog.Confirmed, catalog.ErrReservationReleased)
}

func (s *fakeStore) Release(_ context.Context, id uuid.UUID) (catalog.Reservation, error) {
	return s.setStatus(id, catalog.Released, catalog.ErrReservationConfirmed)
}

func (s *fakeStore) setStatus(id uuid.UUID, to catalog.Status, conflict error) (catalog.Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reservations[id]
	switch {
	case !ok:
		return catalog.Reservation{}, catalog.ErrReservationNotFound
	case r.Status != catalog.Reserved && r.Status != to:
		return catalog.Reservation{}, conflict
	}
	r.Status = to
	s.reservations[id] = r
	return r, nil
}
