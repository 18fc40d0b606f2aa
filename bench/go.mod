module github.com/fargateshop/shop/bench

go 1.26.0

toolchain go1.26.10

require (
	github.com/fargateshop/shop/systemtest v0.0.0
	github.com/jackc/pgx/v5 v5.13.0
	github.com/tsenart/vegeta/v12 v12.13.0
)

require (
	github.com/fargateshop/shop/platform v0.0.0
	github.com/influxdata/tdigest v0.0.1 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/josharian/intern v1.0.0 // indirect
	github.com/mailru/easyjson v0.7.7 // indirect
	github.com/rs/dnscache v0.0.0-20230804202142-fc85eb664529 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

replace (
	github.com/fargateshop/shop/platform => ../platform
	github.com/fargateshop/shop/systemtest => ../systemtest
)
