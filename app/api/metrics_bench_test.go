package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/store"

	"github.com/labstack/echo/v4"
)

// BenchmarkMetricsOverhead serves the same requests through a server
// with and without the metrics middleware (in process, no network, so
// the middleware's share is as large as it gets):
//
//	go test -run '^$' -bench BenchmarkMetricsOverhead -benchmem ./app/api/
func BenchmarkMetricsOverhead(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "cadbox.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	k, token, err := app.NewAPIKey("bench", app.RoleReader, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := db.CreateKey(context.Background(), k); err != nil {
		b.Fatal(err)
	}
	for _, target := range []struct{ name, path, token string }{
		{"healthz", "/healthz", ""},
		{"list", "/api/v1/incidents?limit=10", token},
	} {
		for _, observe := range []bool{false, true} {
			name := target.name + "/without"
			if observe {
				name = target.name + "/with"
			}
			b.Run(name, func(b *testing.B) {
				srv, err := newServer(Deps{Store: db, Keys: db}, Config{}, observe)
				if err != nil {
					b.Fatal(err)
				}
				req := httptest.NewRequest(http.MethodGet, target.path, nil)
				if target.token != "" {
					req.Header.Set("Authorization", "Bearer "+target.token)
				}
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					srv.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

// BenchmarkObserve is the metrics middleware alone, around a handler
// that does nothing, against the handler alone: the difference is its
// cost per request.
func BenchmarkObserve(b *testing.B) {
	srv, err := NewServer(Deps{Store: nopStore{}}, Config{})
	if err != nil {
		b.Fatal(err)
	}
	bare := func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	for name, h := range map[string]echo.HandlerFunc{"bare": bare, "observed": srv.observe(bare)} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			rec := httptest.NewRecorder()
			c := srv.echo.NewContext(req, rec)
			b.ReportAllocs()
			for b.Loop() {
				c.Reset(req, rec)
				c.SetPath("/healthz")
				if err := h(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// nopStore is a store the benchmark never calls.
type nopStore struct{ app.IncidentStore }

func (nopStore) Ping(context.Context) error { return nil }
