package systemtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/systemtest/harness"
)

// hostileCase is one request that every service must refuse cleanly.
type hostileCase struct {
	name string
	req  rawRequest
	// want is the exact status expected; 0 accepts any 4xx.
	want int
	// html accepts web's HTML error page (text/html with the error-page
	// marker) instead of problem+json: the request is routed to web.
	html bool
	// plain accepts net/http's own text/plain 400/431, written before any
	// handler runs (malformed request line or header). The ALB answers
	// those itself too.
	plain bool
}

// fixtures are the ids and secrets the table refers to.
type fixtures struct {
	productID string // an existing product
	token     string // the real admin token
}

const jsonCT = "Content-Type: application/json"

func bearer(tok string) string { return "Authorization: Bearer " + tok }

// order builds a POST /api/orders through the edge with its own key.
func orderReq(n int, body string, header ...string) rawRequest {
	h := append([]string{jsonCT, fmt.Sprintf("Idempotency-Key: hostile-%d", n)}, header...)
	return rawRequest{method: http.MethodPost, target: "/api/orders", header: h, body: []byte(body)}
}

func hostileCases(fx fixtures) []hostileCase {
	id := fx.productID
	good := func(email string, items string) string {
		return fmt.Sprintf(`{"email":%q,"items":%s}`, email, items)
	}
	line := func(pid string, q any) string { return fmt.Sprintf(`[{"product_id":%q,"quantity":%v}]`, pid, q) }
	one := line(id, 1)
	n := 0
	next := func() int { n++; return n }
	ord := func(name, body string, want int, header ...string) hostileCase {
		return hostileCase{name: "orders/" + name, req: orderReq(next(), body, header...), want: want}
	}
	// ordNoKey sends an order body with exactly the given headers.
	ordHdr := func(name, body string, want int, header ...string) hostileCase {
		return hostileCase{name: "orders/" + name, want: want,
			req: rawRequest{method: http.MethodPost, target: "/api/orders", header: header, body: []byte(body)}}
	}
	validOrder := good("ada@example.com", one)

	many := func(k int) string {
		var b strings.Builder
		b.WriteString(`{"email":"ada@example.com","items":[`)
		for i := 0; i < k; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"product_id":%q,"quantity":1}`, uuid.NewString())
		}
		b.WriteString(`]}`)
		return b.String()
	}
	mb := strings.Repeat("a", 1_000_000)
	over := strings.Repeat("a", 2<<20)

	injections := []string{
		`' OR '1'='1`,
		`'; DROP TABLE catalog.products; --`,
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(1)>`,
		`${jndi:ldap://127.0.0.1/x}`,
		`{{7*7}}`,
	}

	cases := []hostileCase{
		// --- orders: body syntax ---
		ord("truncated JSON", `{"email":"ada@example.com","items":[{"product_id":`, 400),
		ord("lone brace", `{`, 400),
		ord("not JSON", `email=ada@example.com`, 400),
		ord("empty body", ``, 400),
		ord("array body", `[]`, 400),
		ord("null body", `null`, 422),
		ord("string body", `"order"`, 400),
		ord("trailing data", validOrder+`{}`, 400),
		ord("unknown field", `{"email":"ada@example.com","items":`+one+`,"coupon":"FREE"}`, 400),
		ord("unknown line field", good("ada@example.com", fmt.Sprintf(`[{"product_id":%q,"quantity":1,"unit_price_cents":1}]`, id)), 400),
		ord("repeated key", good("ada@example.com", fmt.Sprintf(`[{"product_id":%q,"quantity":1,"quantity":2}]`, id)), 400),
		ord("key repeated in another case", good("ada@example.com", fmt.Sprintf(`[{"product_id":%q,"quantity":1,"QUANTITY":3}]`, id)), 400),
		ord("key repeated escaped", `{"email":"ada@example.com","\u0065mail":"eve@example.com","items":`+one+`}`, 400),
		ord("email number", `{"email":42,"items":`+one+`}`, 400),
		ord("items object", `{"email":"ada@example.com","items":{"product_id":"x"}}`, 400),
		ord("quantity string", good("ada@example.com", line(id, `"1"`)), 400),
		ord("quantity float", good("ada@example.com", line(id, 1.5)), 400),
		ord("quantity exponent", good("ada@example.com", line(id, "1e3")), 400),
		ord("quantity beyond int64", good("ada@example.com", line(id, "99999999999999999999999")), 400),
		ord("quantity max int64", good("ada@example.com", line(id, "9223372036854775807")), 422),
		ord("quantity negative", good("ada@example.com", line(id, -1)), 422),
		ord("quantity zero", good("ada@example.com", line(id, 0)), 422),
		ord("quantity 101", good("ada@example.com", line(id, 101)), 422),
		ord("quantity null", good("ada@example.com", line(id, "null")), 422),
		ord("duplicated lines", good("ada@example.com", fmt.Sprintf(`[{"product_id":%q,"quantity":1},{"product_id":%q,"quantity":2}]`, id, id)), 422),
		ord("duplicated lines differing in case", good("ada@example.com", fmt.Sprintf(`[{"product_id":%q,"quantity":1},{"product_id":%q,"quantity":2}]`, id, strings.ToUpper(id))), 422),
		ord("10000 items", many(10_000), 422),
		ord("51 items", many(51), 422),
		ord("no items", good("ada@example.com", `[]`), 422),
		ord("items null", `{"email":"ada@example.com","items":null}`, 422),
		ord("missing email", `{"items":`+one+`}`, 422),
		ord("email of 1 MB", good(mb+"@example.com", one), 422),
		ord("body over the cap", good(over+"@example.com", one), 413),
		{name: "orders/chunked body over the cap", want: 413, req: rawRequest{method: http.MethodPost, target: "/api/orders",
			header: []string{jsonCT, "Idempotency-Key: hostile-chunked"}, body: []byte(good(over+"@example.com", one)), chunked: true}},
		{name: "orders/invalid UTF-8 in email", want: 422, req: orderReq(next(), `{"email":"ada`+"\xff\xfe"+`@example.com","items":`+one+`}`)},
		ord("invalid UTF-8 in product id", good("ada@example.com", `[{"product_id":"`+"\xc3\x28"+id[2:]+`","quantity":1}]`), 422),
		ord("escaped NUL in email", `{"email":"ada\u0000@example.com","items":`+one+`}`, 422),
		ord("raw NUL byte in body", "{\"email\":\"ada\x00@example.com\",\"items\":"+one+"}", 400),
		ord("deeply nested items", `{"email":"ada@example.com","items":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`, 400),
		ord("bad UUID", good("ada@example.com", line("not-a-uuid", 1)), 422),
		ord("UUID in braces", good("ada@example.com", line("{"+id+"}", 1)), 422),
		ord("URN UUID", good("ada@example.com", line("urn:uuid:"+id, 1)), 422),
		ord("UUID without dashes", good("ada@example.com", line(strings.ReplaceAll(id, "-", ""), 1)), 422),
		ord("nil UUID wrong length", good("ada@example.com", line("0000", 1)), 422),
		// --- orders: headers ---
		ordHdr("text/plain", validOrder, 415, "Content-Type: text/plain", "Idempotency-Key: hostile-text"),
		ordHdr("form content type", validOrder, 415, "Content-Type: application/x-www-form-urlencoded", "Idempotency-Key: hostile-form"),
		ordHdr("garbage content type", validOrder, 415, "Content-Type: ;;;", "Idempotency-Key: hostile-ct"),
		ordHdr("XML content type", `<order/>`, 415, "Content-Type: application/xml", "Idempotency-Key: hostile-xml"),
		ordHdr("UTF-16 body", "\xff\xfe{\x00}\x00", 400, "Content-Type: application/json; charset=utf-16", "Idempotency-Key: hostile-utf16"),
		ordHdr("missing Idempotency-Key", validOrder, 400, jsonCT),
		ordHdr("empty Idempotency-Key", validOrder, 400, jsonCT, "Idempotency-Key: "),
		ordHdr("Idempotency-Key of 256 chars", validOrder, 400, jsonCT, "Idempotency-Key: "+strings.Repeat("k", 256)),
		ordHdr("two Idempotency-Keys", validOrder, 400, jsonCT, "Idempotency-Key: a1", "Idempotency-Key: a2"),
		ordHdr("non-ASCII Idempotency-Key", validOrder, 400, jsonCT, "Idempotency-Key: ключ"),
		ordHdr("unterminated quoted key", validOrder, 400, jsonCT, `Idempotency-Key: "abc`),
		ordHdr("bad escape in quoted key", validOrder, 400, jsonCT, `Idempotency-Key: "a\b"`),
		ordHdr("empty quoted key", validOrder, 400, jsonCT, `Idempotency-Key: ""`),
		{name: "orders/control byte in key", plain: true, req: rawRequest{method: http.MethodPost, target: "/api/orders",
			header: []string{jsonCT, "Idempotency-Key: a\x01b"}, body: []byte(validOrder)}},
		// --- orders: reads ---
		{name: "orders/get bad id", want: 404, req: rawRequest{method: "GET", target: "/api/orders/not-a-uuid"}},
		{name: "orders/get unknown id", want: 404, req: rawRequest{method: "GET", target: "/api/orders/" + uuid.NewString()}},
		{name: "orders/get SQL in id", want: 404, req: rawRequest{method: "GET", target: "/api/orders/" + url.PathEscape(uuid.NewString()+"' OR '1'='1")}},
		{name: "orders/get braced id", want: 404, req: rawRequest{method: "GET", target: "/api/orders/" + url.PathEscape("{"+uuid.NewString()+"}")}},
		{name: "orders/get empty id", want: 404, req: rawRequest{method: "GET", target: "/api/orders/"}},
		{name: "orders/get 8 KB id", want: 404, req: rawRequest{method: "GET", target: "/api/orders/" + strings.Repeat("9", 8192)}},
		{name: "orders/get collection", want: 405, req: rawRequest{method: "GET", target: "/api/orders"}},
		{name: "orders/PUT collection", want: 405, req: rawRequest{method: "PUT", target: "/api/orders", header: []string{jsonCT}, body: []byte(validOrder)}},
		{name: "orders/DELETE order", want: 405, req: rawRequest{method: "DELETE", target: "/api/orders/" + uuid.NewString()}},

		// --- catalog: public reads ---
		{name: "catalog/limit 0", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?limit=0"}},
		{name: "catalog/limit negative", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?limit=-1"}},
		{name: "catalog/limit 101", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?limit=101"}},
		{name: "catalog/limit text", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?limit=abc"}},
		{name: "catalog/limit huge", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?limit=99999999999999999999"}},
		{name: "catalog/limit exponent", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?limit=1e2"}},
		{name: "catalog/cursor garbage", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?cursor=%21%21garbage"}},
		{name: "catalog/cursor wrong version", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("v2:MUG-001"))}},
		{name: "catalog/cursor padded", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?cursor=" + base64.URLEncoding.EncodeToString([]byte("v1:MUG-001x"))}},
		{name: "catalog/cursor 1 KB", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("v1:"+strings.Repeat("A", 1024)))}},
		{name: "catalog/cursor NUL", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("v1:\x00"))}},
		{name: "catalog/cursor with newline", want: 400, req: rawRequest{method: "GET", target: "/api/catalog/products?cursor=djE6TVVH%0ALTAwMQ"}},
		{name: "catalog/get bad id", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/products/not-a-uuid"}},
		{name: "catalog/get nil uuid", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/products/00000000-0000-0000-0000-000000000000"}},
		{name: "catalog/get unknown id", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/products/" + uuid.NewString()}},
		{name: "catalog/get id with trailing junk", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/products/" + id + "x"}},
		{name: "catalog/get uppercase id with braces", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/products/" + url.PathEscape("{"+strings.ToUpper(id)+"}")}},
		{name: "catalog/group root", want: 404, req: rawRequest{method: "GET", target: "/api/catalog"}},
		{name: "catalog/unknown resource", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/stock"}},
		{name: "catalog/DELETE product", want: 405, req: rawRequest{method: "DELETE", target: "/api/catalog/products/" + id}},
		{name: "catalog/POST product by id", want: 405, req: rawRequest{method: "POST", target: "/api/catalog/products/" + id, header: []string{jsonCT, bearer(fx.token)}, body: []byte(`{}`)}},

		// --- catalog: admin tokens ---
		{name: "admin/create without token", want: 401, req: adminReq("POST", "/api/catalog/products", validProduct("T-NOAUTH"))},
		{name: "admin/create wrong token", want: 403, req: adminReq("POST", "/api/catalog/products", validProduct("T-WRONG"), bearer("wrong-token-wrong-token"))},
		{name: "admin/create token minus last char", want: 403, req: adminReq("POST", "/api/catalog/products", validProduct("T-MINUS"), bearer(fx.token[:len(fx.token)-1]))},
		{name: "admin/create token plus a char", want: 403, req: adminReq("POST", "/api/catalog/products", validProduct("T-PLUS"), bearer(fx.token+"x"))},
		{name: "admin/create token upper-cased", want: 403, req: adminReq("POST", "/api/catalog/products", validProduct("T-UPPER"), bearer(strings.ToUpper(fx.token)))},
		{name: "admin/create token with one char changed", want: 403, req: adminReq("POST", "/api/catalog/products", validProduct("T-CHANGED"), bearer(flipLast(fx.token)))},
		{name: "admin/create Basic scheme", want: 401, req: adminReq("POST", "/api/catalog/products", validProduct("T-BASIC"), "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("admin:"+fx.token)))},
		{name: "admin/create bare token", want: 401, req: adminReq("POST", "/api/catalog/products", validProduct("T-BARE"), "Authorization: "+fx.token)},
		{name: "admin/create Bearer without token", want: 401, req: adminReq("POST", "/api/catalog/products", validProduct("T-EMPTY"), "Authorization: Bearer")},
		{name: "admin/create Bearer and spaces", want: 401, req: adminReq("POST", "/api/catalog/products", validProduct("T-SPACES"), "Authorization: Bearer    ")},
		{name: "admin/create token in query", want: 401, req: adminReq("POST", "/api/catalog/products?access_token="+url.QueryEscape(fx.token), validProduct("T-QUERY"))},
		{name: "admin/create wrong token first of two", want: 403, req: adminReq("POST", "/api/catalog/products", validProduct("T-TWO"), bearer("wrong-token-wrong-token"), bearer(fx.token))},
		{name: "admin/create token in X-Admin-Token", want: 401, req: adminReq("POST", "/api/catalog/products", validProduct("T-XHDR"), "X-Admin-Token: "+fx.token)},
		{name: "admin/patch without token", want: 401, req: adminReq("PATCH", "/api/catalog/products/"+id, `{"name":"Pwned"}`)},
		{name: "admin/patch wrong token", want: 403, req: adminReq("PATCH", "/api/catalog/products/"+id, `{"name":"Pwned"}`, bearer("nope-nope-nope-nope"))},
		{name: "admin/stock without token", want: 401, req: adminReq("PUT", "/api/catalog/products/"+id+"/stock", `{"stock":0}`)},
		{name: "admin/stock wrong token", want: 403, req: adminReq("PUT", "/api/catalog/products/"+id+"/stock", `{"stock":0}`, bearer(flipLast(fx.token)))},

		// --- catalog: admin bodies, with the real token ---
		{name: "admin/create malformed JSON", want: 400, req: adminReq("POST", "/api/catalog/products", `{"sku":"X-1",`, bearer(fx.token))},
		{name: "admin/create unknown field id", want: 400, req: adminReq("POST", "/api/catalog/products", strings.TrimSuffix(validProduct("T-ID"), "}")+`,"id":"`+uuid.NewString()+`"}`, bearer(fx.token))},
		{name: "admin/create NUL in name", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-NUL","name":"a\u0000b","price_cents":100,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/create NUL in description", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-NULD","name":"ok","description":"x\u0000y","price_cents":100,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/create name of 1 MB", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-BIG","name":"`+mb[:900_000]+`","price_cents":100,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/create body over the cap", want: 413, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-OVER","name":"`+over+`"}`, bearer(fx.token))},
		{name: "admin/create invalid UTF-8 sku", want: 422, req: adminReq("POST", "/api/catalog/products", "{\"sku\":\"T-\xff\xfe\",\"name\":\"ok\",\"price_cents\":100,\"currency\":\"USD\",\"stock\":1}", bearer(fx.token))},
		{name: "admin/create price negative", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-NEG","name":"ok","price_cents":-1,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/create price zero", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-ZERO","name":"ok","price_cents":0,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/create price 1e30", want: 400, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-E30","name":"ok","price_cents":1e30,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/create price max int64", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-MAX","name":"ok","price_cents":9223372036854775807,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/create price float", want: 400, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-FLT","name":"ok","price_cents":12.5,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/create stock negative", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-SNEG","name":"ok","price_cents":100,"currency":"USD","stock":-1}`, bearer(fx.token))},
		{name: "admin/create stock too high", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-SBIG","name":"ok","price_cents":100,"currency":"USD","stock":10000001}`, bearer(fx.token))},
		{name: "admin/create lower-case currency", want: 422, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-CUR","name":"ok","price_cents":100,"currency":"usd","stock":1}`, bearer(fx.token))},
		{name: "admin/create duplicate sku", want: 409, req: adminReq("POST", "/api/catalog/products", validProduct("MUG-001"), bearer(fx.token))},
		{name: "admin/create text/plain", want: 415, req: rawRequest{method: "POST", target: "/api/catalog/products", header: []string{"Content-Type: text/plain", bearer(fx.token)}, body: []byte(validProduct("T-CT"))}},
		{name: "admin/create wrong type for name", want: 400, req: adminReq("POST", "/api/catalog/products", `{"sku":"T-TYPE","name":["a"],"price_cents":100,"currency":"USD","stock":1}`, bearer(fx.token))},
		{name: "admin/patch name repeated in another case", want: 400, req: adminReq("PATCH", "/api/catalog/products/"+id, `{"name":"ok","Name":"Pwned"}`, bearer(fx.token))},
		{name: "admin/patch empty", want: 422, req: adminReq("PATCH", "/api/catalog/products/"+id, `{}`, bearer(fx.token))},
		{name: "admin/patch null name", want: 422, req: adminReq("PATCH", "/api/catalog/products/"+id, `{"name":null}`, bearer(fx.token))},
		{name: "admin/patch negative price", want: 422, req: adminReq("PATCH", "/api/catalog/products/"+id, `{"price_cents":-5}`, bearer(fx.token))},
		{name: "admin/patch stock field", want: 400, req: adminReq("PATCH", "/api/catalog/products/"+id, `{"stock":5}`, bearer(fx.token))},
		{name: "admin/patch NUL in name", want: 422, req: adminReq("PATCH", "/api/catalog/products/"+id, `{"name":"x\u0000"}`, bearer(fx.token))},
		{name: "admin/patch empty name", want: 422, req: adminReq("PATCH", "/api/catalog/products/"+id, `{"name":""}`, bearer(fx.token))},
		{name: "admin/patch bad id", want: 404, req: adminReq("PATCH", "/api/catalog/products/not-a-uuid", `{"name":"ok"}`, bearer(fx.token))},
		{name: "admin/patch unknown id", want: 404, req: adminReq("PATCH", "/api/catalog/products/"+uuid.NewString(), `{"name":"ok"}`, bearer(fx.token))},
		{name: "admin/stock missing", want: 422, req: adminReq("PUT", "/api/catalog/products/"+id+"/stock", `{}`, bearer(fx.token))},
		{name: "admin/stock negative", want: 422, req: adminReq("PUT", "/api/catalog/products/"+id+"/stock", `{"stock":-1}`, bearer(fx.token))},
		{name: "admin/stock string", want: 400, req: adminReq("PUT", "/api/catalog/products/"+id+"/stock", `{"stock":"5"}`, bearer(fx.token))},
		{name: "admin/stock beyond int64", want: 400, req: adminReq("PUT", "/api/catalog/products/"+id+"/stock", `{"stock":9223372036854775808}`, bearer(fx.token))},
		{name: "admin/stock too high", want: 422, req: adminReq("PUT", "/api/catalog/products/"+id+"/stock", `{"stock":1000001}`, bearer(fx.token))},
		{name: "admin/stock unknown product", want: 404, req: adminReq("PUT", "/api/catalog/products/"+uuid.NewString()+"/stock", `{"stock":5}`, bearer(fx.token))},
		{name: "admin/stock null", want: 422, req: adminReq("PUT", "/api/catalog/products/"+id+"/stock", `{"stock":null}`, bearer(fx.token))},

		// --- edge: /internal and path tricks ---
		{name: "edge/internal reservations", want: 404, req: internalReq("/internal/reservations")},
		{name: "edge/internal confirm", want: 404, req: internalReq("/internal/reservations/" + uuid.NewString() + "/confirm")},
		{name: "edge/internal release", want: 404, req: internalReq("/internal/reservations/" + uuid.NewString() + "/release")},
		{name: "edge/internal root", want: 404, req: rawRequest{method: "GET", target: "/internal"}},
		{name: "edge/internal slash", want: 404, req: rawRequest{method: "GET", target: "/internal/"}},
		{name: "edge/dot-dot from catalog", want: 404, req: internalReq("/api/catalog/../../internal/reservations")},
		{name: "edge/encoded dot-dot", want: 404, req: internalReq("/api/catalog/%2e%2e/%2e%2e/internal/reservations")},
		{name: "edge/encoded slashes", want: 404, req: internalReq("/api/orders/..%2f..%2finternal/reservations")},
		{name: "edge/encoded slash in prefix", want: 404, req: rawRequest{method: "GET", target: "/api/catalog%2fproducts"}},
		{name: "edge/encoded letter of internal", want: 404, req: internalReq("/%69nternal/reservations")},
		{name: "edge/double slash", want: 404, req: internalReq("//internal/reservations")},
		{name: "edge/dot segment", want: 404, req: internalReq("/./internal/reservations")},
		{name: "edge/encoded NUL", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/products/%00"}},
		{name: "edge/encoded backslashes", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/products%5c..%5c..%5cinternal"}},
		{name: "edge/double encoding", want: 404, req: rawRequest{method: "GET", target: "/%2561pi/catalog/products"}},
		{name: "edge/semicolon dot-dot", want: 404, req: rawRequest{method: "GET", target: "/api/catalog/products/..;/..;/internal/reservations"}},
		{name: "edge/encoded slash after internal", want: 404, req: internalReq("/internal%2freservations")},
		{name: "edge/absolute-form request line", want: 404, req: rawRequest{method: "POST", target: "http://catalog:8080/internal/reservations", header: []string{jsonCT}, body: []byte(`{}`)}},
		{name: "edge/Host of catalog", want: 404, req: rawRequest{method: "POST", target: "/internal/reservations", header: []string{"Host: catalog:8080", jsonCT}, body: []byte(`{}`)}},
		{name: "edge/upper-case INTERNAL goes to web", want: 404, html: true, req: rawRequest{method: "GET", target: "/INTERNAL/reservations"}},
		{name: "edge/invalid escape", plain: true, req: rawRequest{method: "GET", target: "/api/catalog/products/%zz"}},
		{name: "edge/health path with POST", want: 405, req: rawRequest{method: "POST", target: "/livez", header: []string{jsonCT}, body: []byte(`{}`)}},

		// --- web ---
		{name: "web/POST page", want: 405, html: true, req: rawRequest{method: "POST", target: "/", header: []string{"Content-Type: application/x-www-form-urlencoded"}, body: []byte("a=b")}},
		{name: "web/PUT page", want: 405, html: true, req: rawRequest{method: "PUT", target: "/", body: []byte("x")}},
		{name: "web/DELETE page", want: 405, html: true, req: rawRequest{method: "DELETE", target: "/"}},
		{name: "web/unknown asset", want: 404, html: true, req: rawRequest{method: "GET", target: "/static/nope.js"}},
		{name: "web/static root", want: 404, html: true, req: rawRequest{method: "GET", target: "/static/"}},
		{name: "web/static traversal", want: 404, req: rawRequest{method: "GET", target: "/static/../../etc/passwd"}},
		{name: "web/static encoded traversal", want: 404, req: rawRequest{method: "GET", target: "/static/..%2f..%2fetc%2fpasswd"}},
		{name: "web/static NUL", want: 404, req: rawRequest{method: "GET", target: "/static/app.js%00.png"}},
		{name: "web/unknown page, JSON client", want: 404, req: rawRequest{method: "GET", target: "/nothing-here", header: []string{"Accept: application/json"}}},
		{name: "web/unknown page, browser", want: 404, html: true, req: rawRequest{method: "GET", target: "/nothing-here", header: []string{"Accept: text/html"}}},
		{name: "web/script in path", want: 404, html: true, req: rawRequest{method: "GET", target: "/" + url.PathEscape("<script>alert(1)</script>")}},
		{name: "web/favicon", want: 404, html: true, req: rawRequest{method: "GET", target: "/favicon.ico"}},
		{name: "web/header over 64 KB", plain: true, req: rawRequest{method: "GET", target: "/", header: []string{"X-Big: " + strings.Repeat("b", 100<<10)}}},
	}

	// Injection strings in every place a client can put text.
	for i, s := range injections {
		if s != "{{7*7}}" { // a valid RFC 5322 local part or domain: accepting it is right
			cases = append(cases, ord(fmt.Sprintf("injection %d in email", i), good("x@example.com"+s, one), 422))
		}
		cases = append(cases,
			ord(fmt.Sprintf("injection %d in product id", i), good("ada@example.com", line(s, 1)), 422),
			hostileCase{name: fmt.Sprintf("orders/injection %d in key, bad body", i),
				req: rawRequest{method: "POST", target: "/api/orders", header: []string{jsonCT, "Idempotency-Key: " + s}, body: []byte(good("", one))}},
			hostileCase{name: fmt.Sprintf("catalog/injection %d in product path", i), want: 404,
				req: rawRequest{method: "GET", target: "/api/catalog/products/" + url.PathEscape(s)}},
			hostileCase{name: fmt.Sprintf("catalog/injection %d in cursor", i), want: 400,
				req: rawRequest{method: "GET", target: "/api/catalog/products?cursor=" + url.QueryEscape(s)}},
			hostileCase{name: fmt.Sprintf("catalog/injection %d in encoded cursor", i), want: 400,
				req: rawRequest{method: "GET", target: "/api/catalog/products?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("v1:"+s))}},
			hostileCase{name: fmt.Sprintf("admin/injection %d in sku", i), want: 422,
				req: adminReq("POST", "/api/catalog/products", validProduct(s), bearer(fx.token))},
		)
	}
	return cases
}

func adminReq(method, target, body string, header ...string) rawRequest {
	return rawRequest{method: method, target: target, header: append([]string{jsonCT}, header...), body: []byte(body)}
}

func internalReq(target string) rawRequest {
	body := fmt.Sprintf(`{"order_id":%q,"items":[{"product_id":%q,"quantity":1}]}`, uuid.NewString(), uuid.NewString())
	return rawRequest{method: "POST", target: target, header: []string{jsonCT}, body: []byte(body)}
}

func validProduct(sku string) string {
	b, _ := json.Marshal(map[string]any{"sku": sku, "name": "Hostile", "price_cents": 100, "currency": "USD", "stock": 5})
	return string(b)
}

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-1] == 'a' {
		b[len(b)-1] = 'b'
	} else {
		b[len(b)-1] = 'a'
	}
	return string(b)
}

// TestHostileRequests sends every case through the edge of a running system
// and checks the answer, the logs and the database.
func TestHostileRequests(t *testing.T) {
	sys, dsn := startSystem(t, "", harness.Options{})

	var page struct {
		Items []struct {
			ID  string `json:"id"`
			SKU string `json:"sku"`
		} `json:"items"`
	}
	if got := doJSON(t, "GET", sys.EdgeURL+"/api/catalog/products", nil, nil, &page); got != 200 || len(page.Items) == 0 {
		t.Fatalf("list products = %d with %d items, want 200 with the demo products", got, len(page.Items))
	}
	fx := fixtures{productID: page.Items[0].ID, token: sys.AdminToken}
	cases := hostileCases(fx)
	if len(cases) < 100 {
		t.Fatalf("the table has %d cases, want at least 100", len(cases))
	}
	t.Logf("%d hostile requests", len(cases))

	before := snapshot(t, dsn)
	logStart := len(sys.AllLogs())
	run := func(tc hostileCase) {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := send(sys.EdgeURL, tc.req)
			if err != nil {
				t.Fatalf("%s %.80s: %v", tc.req.method, tc.req.target, err)
			}
			checkRejected(t, tc, resp)
		})
	}
	for _, tc := range cases {
		run(tc)
	}
	after := snapshot(t, dsn)
	for _, table := range snapshotTables {
		if before[table] != after[table] {
			t.Errorf("%s changed under rejected requests: before %s, after %s", table, before[table], after[table])
		}
	}
	checkLogsClean(t, sys.AllLogs()[logStart:])
}

func checkRejected(t *testing.T, tc hostileCase, resp rawResponse) {
	t.Helper()
	ct := resp.header.Get("Content-Type")
	if resp.status < 400 || resp.status > 499 {
		t.Errorf("%s %.80s = %d (%s) %.300s, want a 4xx", tc.req.method, tc.req.target, resp.status, ct, resp.body)
		return
	}
	if tc.want != 0 && resp.status != tc.want {
		t.Errorf("%s %.80s = %d %.300s, want %d", tc.req.method, tc.req.target, resp.status, resp.body, tc.want)
	}
	switch {
	case strings.HasPrefix(ct, "application/problem+json"):
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(resp.body, &p); err != nil {
			t.Errorf("problem body %.200q: %v", resp.body, err)
		} else if p.Status != resp.status || p.Type == "" || p.Title == "" {
			t.Errorf("problem %+v for HTTP %d: want status, type and title set", p, resp.status)
		}
	case tc.html && strings.HasPrefix(ct, "text/html"):
		if !strings.Contains(string(resp.body), `data-testid="error-page"`) {
			t.Errorf("HTML answer is not web's error page: %.300s", resp.body)
		}
		if strings.Contains(string(resp.body), "<script>alert") {
			t.Errorf("error page reflects the request's script: %.300s", resp.body)
		}
	case tc.plain && strings.HasPrefix(ct, "text/plain") && (resp.status == 400 || resp.status == 431):
		// net/http refused the request before any handler ran.
	default:
		t.Errorf("%s %.80s = %d with Content-Type %q (%.200q), want application/problem+json", tc.req.method, tc.req.target, resp.status, ct, resp.body)
	}
	if strings.Contains(strings.ToLower(string(resp.body)), "goroutine ") || strings.Contains(string(resp.body), "panic") {
		t.Errorf("answer leaks a panic: %.300s", resp.body)
	}
}

// checkLogsClean fails on any panic or error-level line: a hostile request
// must be a client error, never a server one.
func checkLogsClean(t *testing.T, logs string) {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		l := strings.ToLower(line)
		if strings.Contains(l, "panic") || strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("log line: %.500s", line)
		}
	}
}

// TestDomainRejections covers requests that are valid but refused by
// catalog. Orders stores them as failed orders under their key (so a retry
// gets the same answer), but no stock moves and nothing is reserved.
func TestDomainRejections(t *testing.T) {
	sys, dsn := startSystem(t, "", harness.Options{})
	admin := map[string]string{"Authorization": "Bearer " + sys.AdminToken}
	var p struct {
		ID string `json:"id"`
	}
	if got := doJSON(t, "POST", sys.EdgeURL+"/api/catalog/products", admin,
		map[string]any{"sku": "SCARCE-1", "name": "Scarce", "price_cents": 100, "currency": "USD", "stock": 1}, &p); got != 201 {
		t.Fatalf("create product = %d, want 201", got)
	}
	before := snapshot(t, dsn)
	cases := []struct {
		name, key, body string
		want            int
		wantType        string
	}{
		{"out of stock", "dom-1", fmt.Sprintf(`{"email":"ada@example.com","items":[{"product_id":%q,"quantity":2}]}`, p.ID), 409, "/problems/out-of-stock"},
		{"unknown product", "dom-2", fmt.Sprintf(`{"email":"ada@example.com","items":[{"product_id":%q,"quantity":1}]}`, uuid.NewString()), 422, "/problems/unknown-product"},
	}
	for _, tc := range cases {
		for attempt := 1; attempt <= 2; attempt++ {
			resp, err := send(sys.EdgeURL, orderRaw(tc.key, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			checkRejected(t, hostileCase{name: tc.name, want: tc.want, req: orderRaw(tc.key, tc.body)}, resp)
			var prob struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(resp.body, &prob)
			if prob.Type != tc.wantType {
				t.Errorf("%s attempt %d: problem type %q, want %q", tc.name, attempt, prob.Type, tc.wantType)
			}
			if replayed := resp.header.Get("Idempotent-Replayed") == "true"; replayed != (attempt == 2) {
				t.Errorf("%s attempt %d: Idempotent-Replayed=%v", tc.name, attempt, replayed)
			}
		}
	}
	after := snapshot(t, dsn)
	for _, table := range []string{"catalog.products", "catalog.reservations", "catalog.reservation_items"} {
		if before[table] != after[table] {
			t.Errorf("%s changed: before %s, after %s", table, before[table], after[table])
		}
	}
	if n := queryInt(t, dsn, `SELECT count(*) FROM orders.orders WHERE status <> 'failed'`); n != 0 {
		t.Errorf("%d orders are not failed, want 0", n)
	}
	if n := queryInt(t, dsn, `SELECT count(*) FROM orders.idempotency_keys WHERE response_status IS NOT NULL`); n != len(cases) {
		t.Errorf("%d stored answers, want %d", n, len(cases))
	}
	checkLogsClean(t, sys.AllLogs())
}

func orderRaw(key, body string) rawRequest {
	return rawRequest{method: "POST", target: "/api/orders", header: []string{jsonCT, "Idempotency-Key: " + key}, body: []byte(body)}
}
