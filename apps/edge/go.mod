module github.com/fargateshop/shop/apps/edge

go 1.26.0

toolchain go1.26.10

require (
	github.com/fargateshop/shop/platform v0.0.0
	github.com/goccy/go-yaml v1.19.2
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
)

replace github.com/fargateshop/shop/platform => ../../platform
