// Package systemtest holds the tests that run the whole shop: the real
// catalog, orders, web and edge programs started as processes by package
// harness, against a real PostgreSQL database (TEST_DATABASE_URL).
//
//   - hostile_test.go: more than 100 hostile requests through the edge; every
//     answer is a 4xx problem (or web's HTML error page), nothing panics and
//     no rejected request changes a database row.
//   - invariants_test.go: 50 concurrent orders for 10 units, a retried
//     key, catalog killed under load and started again, then no unit lost
//     or sold twice once quiet.
//   - rotation_test.go: catalog as its own database role, reading its
//     password from a fake Secrets Manager, keeps answering while the
//     password is rotated under load; with the password read once at start
//     the same rotation breaks it.
//   - security_test.go: admin tokens, /internal behind the edge, the web
//     page's security headers, and secrets kept out of the logs.
//   - docker_test.go (build tag docker): images run as non-root with a
//     read-only root filesystem.
//
// The soak command (cmd/soak) drives the Compose stack under faults.
package systemtest
