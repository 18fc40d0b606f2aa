package postgres

// AuthFailed lets the external tests, which need postgrestest (and so
// import this package), reach authFailed.
var AuthFailed = authFailed
