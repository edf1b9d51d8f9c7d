// Package e2e drives the web UI in real headless Chromium against an
// in-process cadbox server (store, search index and analysis engine in a
// temp directory).
//
//	go test ./web/e2e/ -run TestUI -v
//
// Skips when testing.Short() or when Chromium is not installed
// (apt-get install -y chromium; CADBOX_CHROMIUM overrides the path).
// Screenshots go to test-output/e2e/ at the repository root.
package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/analysis"
	"cadbox/app/api"
	"cadbox/search"
	"cadbox/store"
	"cadbox/web"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const (
	samplesDir = "../../../shared/samples/incidents"
	fallback   = "../../app/api/testdata/example_incident.json"
	shotsDir   = "../../test-output/e2e"
	phrase     = `"OLD BOX OF CHEMICALS"`
	incidentNo = "F01705150050"
)

func chromiumPath() string {
	if p := os.Getenv("CADBOX_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// newServer starts cadbox with the UI on 127.0.0.1:0 and returns its URL
// and an admin key.
func newServer(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := search.Open(context.Background(), filepath.Join(dir, "index"), db, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := analysis.New(db, analysis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv, err := api.NewServer(api.Deps{
		Store: app.NewService(db, ix, eng), Search: ix, Keys: db, Analysis: eng, Backup: db.Backup,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), UI: web.Handler(),
	}, api.Config{Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); ix.Close(); db.Close() })
	k, token, err := app.NewAPIKey("e2e admin", app.RoleAdmin, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return hs.URL, token
}

// uploadFiles are the real samples, or the committed example without them.
func uploadFiles(t *testing.T) []string {
	var files []string
	if ents, err := os.ReadDir(samplesDir); err == nil {
		for _, e := range ents {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".json") || strings.HasSuffix(e.Name(), ".ndjson") || strings.HasSuffix(e.Name(), ".gz")) {
				p, _ := filepath.Abs(filepath.Join(samplesDir, e.Name()))
				files = append(files, p)
			}
		}
	}
	if len(files) == 0 {
		t.Logf("no samples in %s; uploading %s", samplesDir, fallback)
		p, _ := filepath.Abs(fallback)
		files = []string{p}
	}
	return files
}

func TestUI(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped with -short")
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		t.Skipf("e2e: no Chromium at %s (apt-get install -y chromium)", chromiumPath())
	}
	base, token := newServer(t)
	host := strings.TrimPrefix(base, "http://")
	if err := os.MkdirAll(shotsDir, 0o755); err != nil {
		t.Fatal(err)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath()),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1400, 1000), chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelC := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelC()

	// Page errors fail the test; requests leaving the server are recorded
	// (only map tiles may). Listen starts the browser, on a context
	// without a timeout.
	var mu sync.Mutex
	var jsErrors, foreign []string
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			jsErrors = append(jsErrors, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
		case *network.EventRequestWillBeSent:
			if u, err := url.Parse(ev.Request.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != host {
				foreign = append(foreign, ev.Request.URL)
			}
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelT := context.WithTimeout(bctx, 120*time.Second)
	defer cancelT()

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
			buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				return chromedp.Void{}, err
			}
			p := filepath.Join(shotsDir, name+".png")
			t.Logf("screenshot %s", p)
			return chromedp.Void{}, os.WriteFile(p, buf, 0o644)
		}
	}
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			_ = chromedp.Do(ctx, shot("failed-"+step))
			t.Fatalf("%s: %v (at %s)", step, err, loc)
		}
	}

	// Sign in: the UI sends an unauthenticated visitor to the sign-in page.
	do("signin",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("apikey")),
		chromedp.SendKeys(chromedp.ID("apikey"), token),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("results")), // back to incidents
		chromedp.Navigate(base+"/ui/signin"),
		chromedp.WaitVisible(chromedp.ID("role")),
		shot("1-signin"),
	)
	role := get(t, ctx, "role", chromedp.Text(chromedp.ID("role")))
	if !strings.Contains(role, "admin") {
		t.Errorf("role shown: %q", role)
	}

	// Upload the samples.
	files := uploadFiles(t)
	do("upload",
		chromedp.Navigate(base+"/ui/upload"),
		chromedp.WaitVisible(chromedp.ID("drop")),
		chromedp.SetUploadFiles(chromedp.ID("files"), files),
		chromedp.WaitEnabled(chromedp.ID("send")),
		chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(chromedp.ID("n-created")),
		shot("2-upload"),
	)
	created := get(t, ctx, "created", chromedp.Text(chromedp.ID("n-created")))
	failed := get(t, ctx, "failed", chromedp.Text(chromedp.ID("n-failed")))
	t.Logf("upload: %d files, created %s, failed %s", len(files), created, failed)
	if created == "0" || created == "" {
		t.Fatalf("nothing created")
	}

	// Search for a phrase from the comments.
	do("search",
		chromedp.Navigate(base+"/ui/incidents"),
		chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), phrase),
		chromedp.Submit(chromedp.ID("q")),
		chromedp.WaitVisible(chromedp.ID("results-table")),
		chromedp.WaitVisible(chromedp.CSS(`#map path.leaflet-interactive`)), // markers on the (possibly blank) map
		chromedp.Sleep(300*time.Millisecond),
		shot("3-incidents"),
	)
	resultText := get(t, ctx, "results", chromedp.Text(chromedp.ID("results-table")))
	marks := get(t, ctx, "marks", chromedp.Evaluate[int](`document.querySelectorAll('#results-table mark').length`))
	if !strings.Contains(resultText, incidentNo) || marks == 0 {
		t.Fatalf("search results: %q (marks %d)", resultText, marks)
	}

	// Open the incident: four units in the apparatus table and timeline.
	do("incident",
		chromedp.Click(chromedp.Search(fmt.Sprintf(`//table[@id="results-table"]//a[text()=%q]`, incidentNo))),
		chromedp.WaitVisible(chromedp.CSS(`#apparatus tbody tr`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline svg`)),
		chromedp.WaitVisible(chromedp.CSS(`#imap path.leaflet-interactive`)),
		chromedp.Sleep(300*time.Millisecond),
		shot("4-incident"),
	)
	rows := get(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#apparatus tbody tr').length`))
	units := get(t, ctx, "units", chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#apparatus tbody th')).map(t => t.textContent).sort().join(',')`))
	timeline := get(t, ctx, "timeline", chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#timeline svg text[font-weight]')).map(t => t.textContent).sort().join(',')`))
	if rows != 4 || units != "E22,H2,H3,T22" || timeline != "E22,H2,H3,T22" {
		t.Fatalf("incident: %d apparatus rows %q, timeline units %q", rows, units, timeline)
	}
	if n := get(t, ctx, "comment marks", chromedp.Evaluate[int](`document.querySelectorAll('#comments mark').length`)); n == 0 {
		t.Errorf("comments: the search phrase is not highlighted")
	}

	// Analysis: non-empty tiles and charts.
	do("analysis",
		chromedp.Navigate(base+"/ui/analysis"),
		chromedp.WaitVisible(chromedp.CSS(`[data-tile]`)),
		shot("5-analysis"),
	)
	tiles := get(t, ctx, "tiles", chromedp.Evaluate[int](`document.querySelectorAll('[data-tile]').length`))
	bars := get(t, ctx, "bars", chromedp.Evaluate[int](`document.querySelectorAll('.chart svg rect').length`))
	tileText := get(t, ctx, "tile text", chromedp.Text(chromedp.CSS(`.tiles`)))
	if tiles != 4 || bars < 10 || !strings.Contains(tileText, "%") {
		t.Fatalf("analysis: %d tiles, %d chart rects, tiles %q", tiles, bars, tileText)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(jsErrors) > 0 {
		t.Errorf("page errors: %v", jsErrors)
	}
	for _, u := range foreign {
		if !strings.HasPrefix(u, "https://tile.openstreetmap.org/") {
			t.Errorf("request left the server (not a map tile): %s", u)
		}
	}
}

func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("read %s: %v", what, err)
	}
	return v
}
