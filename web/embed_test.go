package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, ctype, body string
		status            int
	}{
		{"/", "text/html", `<div id="status"`, 200},
		{"/ui/incidents", "text/html", `src="/ui/assets/app.js"`, 200},
		{"/ui/incidents/76000/F01705150050", "text/html", `<main id="main"`, 200},
		{"/ui/assets/app.js", "javascript", "", 200},
		{"/ui/assets/style.css", "text/css", ".leaflet-container", 200},
		{"/ui/assets/missing.js", "", "", 404},
		{"/ui/../../etc/passwd", "text/html", "", 200}, // cleaned to a client route
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s: %d %q %.80q", tc.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
		if tc.status == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Errorf("%s: CSP %q", tc.path, rec.Header().Get("Content-Security-Policy"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// TestNoRemoteAssets checks that the built page loads nothing from another
// origin (no CDN): only the tile URL default may name one.
func TestNoRemoteAssets(t *testing.T) {
	for _, name := range []string{"index.html", "assets/app.js", "assets/style.css"} {
		b, err := dist.ReadFile("dist/" + name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"unpkg.com", "cdn.jsdelivr", "cdnjs.", "googleapis.com"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s references %s", name, bad)
			}
		}
		if name == "index.html" && strings.Contains(s, "http") && !strings.Contains(s, "http-equiv") {
			for _, line := range strings.Split(s, "\n") {
				if strings.Contains(line, "src=\"http") || strings.Contains(line, "href=\"http") {
					t.Errorf("index.html loads a remote resource: %s", line)
				}
			}
		}
	}
}
