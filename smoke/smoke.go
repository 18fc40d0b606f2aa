// Package smoke checks the shop's public contract over HTTP against a running
// system: the local Compose stack (http://localhost:8080) or a deployed ALB.
// It only reads, creates its own orders, and buys single units of products
// that have stock, so it is safe to run against a live stack. It needs such
// products: the local stack's demo ones (DEMO_DATA=true on catalog), or on a
// deployed stack those its administrator added.
//
//	SMOKE_BASE_URL=http://localhost:8080 go test -tags smoke ./smoke/...
package smoke
