//go:build smoke

package smoke

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds the headless browser: CHROME_PATH, else Debian's chromium.
func browserPath(t *testing.T) string {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install it (apt-get install chromium) or set CHROME_PATH")
	return ""
}

// artifactDir is where screenshots go (SMOKE_ARTIFACTS, default out/smoke
// at the repository root).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("SMOKE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "out", "smoke")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBrowserPlacesAnOrder(t *testing.T) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.WindowSize(1280, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	// Only products with stock have an order form; take the first one. Its
	// button is enabled by the page's script, so waiting for that also
	// proves the script loaded under the Content-Security-Policy.
	const form = `[data-testid="order-form"]`
	err := chromedp.Do(ctx,
		chromedp.Navigate(baseURL()+"/"),
		chromedp.WaitEnabled(chromedp.CSS(form+` button[type="submit"]`)),
		chromedp.SetValue(chromedp.CSS(form+` input[name="email"]`), "browser@example.com"),
		chromedp.SetValue(chromedp.CSS(form+` input[name="quantity"]`), "1"),
		chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="order-confirmation"]`)),
	)
	if err != nil {
		t.Fatalf("drive the shop page: %v", err)
	}
	orderID, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="order-id"]`)))
	if err != nil {
		t.Fatalf("read the order id: %v", err)
	}
	// The shipment follows the order through the order.confirmed event;
	// the page polls for it and shows its status once it exists.
	const shipment = `[data-testid="shipment-status"][data-status="pending"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(shipment))); err != nil {
		t.Fatalf("wait for the shipment of order %s on the page: %v", orderID, err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(shipment)))
	if err != nil {
		t.Fatalf("read the shipment status: %v", err)
	}
	if status != "Shipment: pending" {
		t.Errorf("shipment status on the page: got %q, want %q", status, "Shipment: pending")
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(t), "order-confirmation.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	r := do(t, "GET", "/api/orders/"+orderID, "", nil)
	var o order
	decode(t, r, &o)
	if r.status != 200 || o.Status != "confirmed" || o.Email != "browser@example.com" {
		t.Fatalf("order %q from the page: %d %+v, want a confirmed order for browser@example.com", orderID, r.status, o)
	}
}
