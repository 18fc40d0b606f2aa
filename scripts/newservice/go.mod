module github.com/fargateshop/shop/scripts/newservice

go 1.26.0

toolchain go1.26.10

require github.com/fargateshop/shop/platform v0.0.0

replace github.com/fargateshop/shop/platform => ../../platform
