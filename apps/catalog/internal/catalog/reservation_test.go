package catalog

import (
	"testing"

	"github.com/google/uuid"
)

const (
	order = "0b6a9a8e-3f0a-4c1e-9d57-2f3e1c0a0001"
	prodA = "00000000-0000-4000-8000-00000000000a"
	prodB = "00000000-0000-4000-8000-00000000000b"
)

func TestReservationInputParse(t *testing.T) {
	many := make([]LineInput, MaxReservationLines+1)
	for i := range many {
		many[i] = LineInput{ProductID: uuid.NewString(), Quantity: 1}
	}
	tests := []struct {
		name   string
		in     ReservationInput
		fields []string
	}{
		{"valid", ReservationInput{OrderID: order, Items: []LineInput{{prodB, 2}, {prodA, 1}}}, nil},
		{"order id missing", ReservationInput{Items: []LineInput{{prodA, 1}}}, []string{"order_id"}},
		{"order id not a uuid", ReservationInput{OrderID: "42", Items: []LineInput{{prodA, 1}}}, []string{"order_id"}},
		{"order id without hyphens", ReservationInput{OrderID: "0b6a9a8e3f0a4c1e9d572f3e1c0a0001",
			Items: []LineInput{{prodA, 1}}}, []string{"order_id"}},
		{"no items", ReservationInput{OrderID: order}, []string{"items"}},
		{"too many items", ReservationInput{OrderID: order, Items: many}, []string{"items"}},
		{"bad product and quantities", ReservationInput{OrderID: order,
			Items: []LineInput{{"nope", 1}, {prodA, 0}, {prodB, MaxLineQuantity + 1}}},
			[]string{"items[0].product_id", "items[1].quantity", "items[2].quantity"}},
		{"duplicate product", ReservationInput{OrderID: order, Items: []LineInput{{prodA, 1}, {prodA, 2}}},
			[]string{"items[1].product_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.in.Parse()
			got := fieldsOf(t, err)
			if !sameKeys(got, tt.fields) {
				t.Errorf("got bad fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestReservationRequestKeepsClientOrderAndSortsIDs(t *testing.T) {
	req, err := ReservationInput{OrderID: order, Items: []LineInput{{prodB, 2}, {prodA, 1}}}.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Lines[0].ProductID.String(); got != prodB {
		t.Errorf("got first line %s, want %s (the client's order)", got, prodB)
	}
	ids := req.ProductIDs()
	if ids[0].String() != prodA || ids[1].String() != prodB {
		t.Errorf("got ProductIDs %v, want ascending [%s %s]", ids, prodA, prodB)
	}
}

func TestSameLines(t *testing.T) {
	a, b := uuid.MustParse(prodA), uuid.MustParse(prodB)
	res := Reservation{Lines: []ReservedLine{{ProductID: a, Quantity: 1}, {ProductID: b, Quantity: 2}}}
	tests := []struct {
		name  string
		lines []Line
		want  bool
	}{
		{"same order", []Line{{a, 1}, {b, 2}}, true},
		{"other order", []Line{{b, 2}, {a, 1}}, true},
		{"other quantity", []Line{{a, 1}, {b, 3}}, false},
		{"fewer lines", []Line{{a, 1}}, false},
		{"other product", []Line{{a, 1}, {uuid.New(), 2}}, false},
	}
	for _, tt := range tests {
		if got := res.SameLines(ReservationRequest{Lines: tt.lines}); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
