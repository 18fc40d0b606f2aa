// Package catalogtest is an in-memory catalog implementing the reservation
// contract over real HTTP, for the orders service's tests.
package catalogtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// Product is a fake catalog product.
type Product struct {
	ID             string
	SKU            string
	Name           string
	UnitPriceCents int64
	Currency       string
	Stock          int
}

type line struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

type reservation struct {
	status string
	lines  []line
}

// Server is a fake catalog. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu           sync.Mutex
	products     map[string]*Product
	reservations map[string]*reservation
	hang         bool
	hangDone     chan struct{}
	hung         chan struct{}
	calls        map[string]int
}

// New starts a fake catalog that is closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{products: map[string]*Product{}, reservations: map[string]*reservation{},
		hangDone: make(chan struct{}), hung: make(chan struct{}, 64), calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /internal/reservations", s.reserve)
	mux.HandleFunc("POST /internal/reservations/{id}/confirm", s.transition("confirm", s.confirm))
	mux.HandleFunc("POST /internal/reservations/{id}/release", s.transition("release", s.release))
	s.Server = httptest.NewServer(s.hanging(mux))
	t.Cleanup(s.Close)
	return s
}

// Close stops the server; later calls are refused.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.hangDone:
	default:
		close(s.hangDone)
	}
	s.mu.Unlock()
	s.Server.Close()
}

// Hang makes every later request block until its client gives up.
func (s *Server) Hang(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = on
}

// Hung receives once for every request that starts to hang, so a test can
// wait for a request to be in flight instead of polling for its effects.
func (s *Server) Hung() <-chan struct{} { return s.hung }

func (s *Server) hanging(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		hang, done := s.hang, s.hangDone
		s.mu.Unlock()
		if hang {
			select {
			case s.hung <- struct{}{}:
			default: // nobody is counting
			}
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// AddProduct adds a product and returns its id.
func (s *Server) AddProduct(p Product) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ID == "" {
		p.ID = uuid.NewString()
	}
	if p.Currency == "" {
		p.Currency = "EUR"
	}
	s.products[p.ID] = &p
	return p.ID
}

// Stock returns a product's available stock.
func (s *Server) Stock(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.products[id].Stock
}

// Status returns a reservation's status, or "" when there is none.
func (s *Server) Status(orderID uuid.UUID) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reservations[orderID.String()]; ok {
		return r.status
	}
	return ""
}

// Expire releases a reserved reservation as catalog's sweeper would.
func (s *Server) Expire(orderID uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reservations[orderID.String()]; ok && r.status == "reserved" {
		s.restock(r)
		r.status = "released"
	}
}

// Calls returns how often an endpoint ("reserve", "confirm", "release") was called.
func (s *Server) Calls(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *Server) restock(r *reservation) {
	for _, l := range r.lines {
		s.products[l.ProductID].Stock += l.Quantity
	}
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func problem(w http.ResponseWriter, status int, typ string, fields []fieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": typ, "title": http.StatusText(status),
		"status": status, "detail": typ, "errors": fields})
}

func (s *Server) answer(w http.ResponseWriter, status int, orderID string, r *reservation) {
	items := []map[string]any{}
	for _, l := range r.lines {
		p := s.products[l.ProductID]
		items = append(items, map[string]any{"product_id": l.ProductID, "sku": p.SKU, "name": p.Name,
			"quantity": l.Quantity, "unit_price_cents": p.UnitPriceCents, "currency": p.Currency})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"order_id": orderID, "status": r.status,
		"expires_at": "2030-01-01T00:00:00Z", "items": items})
}

func (s *Server) reserve(w http.ResponseWriter, req *http.Request) {
	var body struct {
		OrderID string `json:"order_id"`
		Items   []line `json:"items"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		problem(w, http.StatusBadRequest, "about:blank", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["reserve"]++
	if r, ok := s.reservations[body.OrderID]; ok {
		if r.status != "released" && fmt.Sprint(r.lines) != fmt.Sprint(body.Items) {
			problem(w, http.StatusConflict, "/problems/reservation-mismatch", nil)
			return
		}
		s.answer(w, http.StatusOK, body.OrderID, r)
		return
	}
	var unknown, short []fieldError
	for i, l := range body.Items {
		p, ok := s.products[l.ProductID]
		switch {
		case !ok:
			unknown = append(unknown, fieldError{fmt.Sprintf("items[%d].product_id", i), "no such product"})
		case p.Stock < l.Quantity:
			short = append(short, fieldError{fmt.Sprintf("items[%d].quantity", i), fmt.Sprintf("only %d left", p.Stock)})
		}
	}
	if unknown != nil {
		problem(w, http.StatusNotFound, "/problems/unknown-product", unknown)
		return
	}
	if short != nil {
		problem(w, http.StatusConflict, "/problems/out-of-stock", short)
		return
	}
	r := &reservation{status: "reserved", lines: body.Items}
	for _, l := range body.Items {
		s.products[l.ProductID].Stock -= l.Quantity
	}
	s.reservations[body.OrderID] = r
	s.answer(w, http.StatusCreated, body.OrderID, r)
}

// transition handles confirm and release: to moves a reservation on, and
// returns the refusal (status and problem type) when its state forbids it.
func (s *Server) transition(name string, to func(id string, r *reservation, ok bool) (int, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("id")
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls[name]++
		r, ok := s.reservations[id]
		if status, typ := to(id, r, ok); status != 0 {
			problem(w, status, typ, nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"order_id":%q,"status":%q}`, id, s.reservations[id].status)
	}
}

func (s *Server) confirm(_ string, r *reservation, ok bool) (int, string) {
	switch {
	case !ok:
		return http.StatusNotFound, "about:blank"
	case r.status == "released":
		return http.StatusConflict, "/problems/reservation-released"
	}
	r.status = "confirmed"
	return 0, ""
}

func (s *Server) release(id string, r *reservation, ok bool) (int, string) {
	switch {
	case !ok:
		s.reservations[id] = &reservation{status: "released"} // tombstone
	case r.status == "confirmed":
		return http.StatusConflict, "/problems/reservation-confirmed"
	case r.status == "reserved":
		s.restock(r)
		r.status = "released"
	}
	return 0, ""
}
