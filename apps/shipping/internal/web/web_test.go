package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/shipping/internal/shipment"
	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/problem"
)

// fakeStore holds shipments in a map; down makes every call fail as an
// unreachable database does.
type fakeStore struct {
	shipments map[uuid.UUID]shipment.Shipment
	down      bool
}

var errDown = apperr.Wrap(apperr.Unavailable, errors.New("connection refused"), "the database is unavailable; try again shortly")

func (f fakeStore) Ping(context.Context) error {
	if f.down {
		return errDown
	}
	return nil
}

func (f fakeStore) Get(_ context.Context, id uuid.UUID) (shipment.Shipment, error) {
	if f.down {
		return shipment.Shipment{}, errDown
	}
	s, ok := f.shipments[id]
	if !ok {
		return shipment.Shipment{}, shipment.ErrNotFound
	}
	return s, nil
}

func TestRoutes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	order := uuid.MustParse("6f1c2b7e-3d4a-4b5c-8d6e-7f8091a2b3c4")
	up := fakeStore{shipments: map[uuid.UUID]shipment.Shipment{order: {
		OrderID: order, EventID: uuid.New(), Status: shipment.Pending, Email: "ada@example.com",
		Items:     []shipment.Item{{ProductID: "0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f", SKU: "MUG-1", Quantity: 2}},
		CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600)),
	}}}
	down := fakeStore{down: true}
	const notFound = `{"type":"about:blank","title":"Not Found","status":404,"detail":"no shipment for this order (yet)"`
	for _, tc := range []struct {
		name        string
		store       fakeStore
		method      string
		path        string
		status      int
		contentType string
		body        string // the whole body, or its start for a problem (the request id follows)
	}{
		{"a shipment", up, http.MethodGet, Prefix + "/shipments/" + order.String(), http.StatusOK, "application/json; charset=utf-8",
			`{"order_id":"6f1c2b7e-3d4a-4b5c-8d6e-7f8091a2b3c4","status":"pending",` +
				`"items":[{"product_id":"0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f","sku":"MUG-1","quantity":2}],` +
				`"created_at":"2026-03-01T11:00:00Z"}`},
		{"none yet", up, http.MethodGet, Prefix + "/shipments/" + uuid.NewString(), http.StatusNotFound, problem.ContentType, notFound},
		{"not a UUID", up, http.MethodGet, Prefix + "/shipments/42", http.StatusNotFound, problem.ContentType, notFound},
		{"a UUID in braces", up, http.MethodGet, Prefix + "/shipments/{" + order.String() + "}", http.StatusNotFound, problem.ContentType, notFound},
		{"database down", down, http.MethodGet, Prefix + "/shipments/" + order.String(), http.StatusServiceUnavailable, problem.ContentType,
			`{"type":"about:blank","title":"Service Unavailable","status":503`},
		{"liveness ignores the database", down, http.MethodGet, "/livez", http.StatusOK, "application/json; charset=utf-8", `{"status":"ok"}`},
		{"ready", up, http.MethodGet, "/readyz", http.StatusOK, "application/json; charset=utf-8", `{"status":"ok"}`},
		{"not ready", down, http.MethodGet, "/readyz", http.StatusServiceUnavailable, problem.ContentType,
			`{"type":"about:blank","title":"Service Unavailable","status":503`},
		{"unknown path", up, http.MethodGet, Prefix + "/nothing", http.StatusNotFound, problem.ContentType,
			`{"type":"about:blank","title":"Not Found","status":404,"detail":"no such resource"`},
		{"wrong method", up, http.MethodPost, Prefix + "/shipments/" + order.String(), http.StatusMethodNotAllowed, problem.ContentType,
			`{"type":"about:blank","title":"Method Not Allowed","status":405`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			New(log, tc.store).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			body := rec.Body.String()
			if tc.contentType == problem.ContentType && len(body) > len(tc.body) {
				body = body[:len(tc.body)]
			}
			if rec.Code != tc.status || rec.Header().Get("Content-Type") != tc.contentType || body != tc.body {
				t.Errorf("%s %s: got %d %s %s, want %d %s %s", tc.method, tc.path,
					rec.Code, rec.Header().Get("Content-Type"), rec.Body, tc.status, tc.contentType, tc.body)
			}
			if rec.Header().Get("X-Request-Id") == "" {
				t.Errorf("%s %s: no X-Request-Id", tc.method, tc.path)
			}
		})
	}
}
