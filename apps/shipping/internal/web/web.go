// Package web is shipping's HTTP API: its routes in one place, the handlers
// and their response types.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/fargateshop/shop/platform/httpapi"
)

// Prefix is the path the load balancer and the edge route to this service
// (its entry in platform/routing). They forward the whole path, so the
// routes live under it.
const Prefix = "/api/shipping"

// New returns the service's handler. ready reports whether the dependencies
// the service owns answer; nil when it has none.
func New(log *slog.Logger, ready func(context.Context) error) *gin.Engine {
	r := httpapi.NewEngine(log, httpapi.Options{})
	httpapi.Health(r, ready)
	r.GET(Prefix+"/hello", hello)
	return r
}

type helloResponse struct {
	Service string `json:"service"`
	Message string `json:"message"`
}

func hello(c *gin.Context) {
	c.JSON(http.StatusOK, helloResponse{Service: "shipping", Message: "hello"})
}
