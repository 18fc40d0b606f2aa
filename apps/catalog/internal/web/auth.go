package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/httpapi"
)

// requireAdmin lets a request through only with "Authorization: Bearer
// <token>". A missing or malformed header is 401 (with WWW-Authenticate), a
// wrong token 403. Comparing SHA-256 digests in constant time leaks neither
// the token's content nor its length through timing.
func requireAdmin(token string) gin.HandlerFunc {
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		scheme, cred, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		cred = strings.TrimSpace(cred)
		if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
			httpapi.Error(c, apperr.Errorf(apperr.Unauthorized, "this operation needs an admin bearer token"))
			return
		}
		got := sha256.Sum256([]byte(cred))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			httpapi.Error(c, apperr.Errorf(apperr.Forbidden, "the bearer token is not valid for this operation"))
			return
		}
		c.Next()
	}
}
