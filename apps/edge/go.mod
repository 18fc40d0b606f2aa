module github.com/fargateshop/shop/apps/edge

go 1.26

toolchain go1.26.10

require (
	github.com/fargateshop/shop/platform v0.0.0
	github.com/goccy/go-yaml v1.19.2
)

replace github.com/fargateshop/shop/platform => ../../platform
