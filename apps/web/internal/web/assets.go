package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/gin-gonic/gin"
)

//go:embed static
var staticFS embed.FS

// contentTypes is explicit because the runtime image has no /etc/mime.types
// and a wrong type plus nosniff means a blocked script.
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".webp": "image/webp",
}

type asset struct {
	body        []byte
	hash        string // first 16 hex digits of the SHA-256 of body
	contentType string
}

type assets map[string]asset

func loadAssets() (assets, error) {
	a := assets{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("static asset %s: no content type for its extension", p)
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a[path.Base(p)] = asset{body: b, hash: hex.EncodeToString(sum[:])[:16], contentType: ct}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load static assets: %w", err)
	}
	return a, nil
}

// url is the template function that names an asset with its content hash,
// so pages can let browsers cache assets for a year and still pick up a new
// release at once.
func (a assets) url(name string) (string, error) {
	f, ok := a[name]
	if !ok {
		return "", fmt.Errorf("unknown static asset %q", name)
	}
	return "/static/" + name + "?v=" + f.hash, nil
}

func (a assets) serve(c *gin.Context) {
	f, ok := a[c.Param("name")]
	if !ok {
		renderError(c, http.StatusNotFound, "Page not found", "There is nothing at this address.")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", `"`+f.hash+`"`)
	if c.Query("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// Unversioned or stale links: short enough that a release shows
		// within minutes.
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(f.body))
}
