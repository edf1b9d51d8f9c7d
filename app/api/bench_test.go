package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"cadbox/app"
	"cadbox/app/api"
	"cadbox/app/fixture"
	"cadbox/search"
	"cadbox/store"
)

func benchN() int {
	n := 20000
	if v := os.Getenv("CADBOX_BENCH_DOCS"); v != "" {
		fmt.Sscan(v, &n)
	}
	return n
}

// benchServer is a real HTTP server over a fresh store (and index, when
// withSearch) with an admin key and no rate limit.
func benchServer(b *testing.B, withSearch bool) (url, token string) {
	b.Helper()
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	deps := api.Deps{Store: db, Keys: db}
	var ix *search.Index
	if withSearch {
		if ix, err = search.Open(context.Background(), filepath.Join(dir, "index"), db, search.Options{}); err != nil {
			b.Fatal(err)
		}
		deps.Store, deps.Search = app.NewService(db, ix), ix
	}
	srv, err := api.NewServer(deps, api.Config{})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() {
		hs.Close()
		if ix != nil {
			ix.Close()
		}
		db.Close()
	})
	return hs.URL, mustKey(b, db, app.RoleAdmin)
}

func post(b *testing.B, url, token, ctype string, body []byte) {
	req, _ := http.NewRequest("POST", url+"/api/v1/incidents", bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// ndjsonBodies returns n generated incidents as NDJSON bodies of per docs.
func ndjsonBodies(n, per int) ([][]byte, int64) {
	g := fixture.New(42)
	var bodies [][]byte
	var buf bytes.Buffer
	var raw int64
	for i := range n {
		j := g.JSON(i)
		raw += int64(len(j)) + 1
		buf.Write(j)
		buf.WriteByte('\n')
		if (i+1)%per == 0 || i == n-1 {
			bodies = append(bodies, bytes.Clone(buf.Bytes()))
			buf.Reset()
		}
	}
	return bodies, raw
}

func benchBulk(b *testing.B, withSearch bool) {
	n := benchN()
	bodies, raw := ndjsonBodies(n, 1000)
	b.SetBytes(raw)
	for b.Loop() {
		b.StopTimer()
		url, token := benchServer(b, withSearch)
		b.StartTimer()
		for _, body := range bodies {
			post(b, url, token, "application/x-ndjson", body)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkHTTPBulk is bulk NDJSON ingest over HTTP into the store alone.
func BenchmarkHTTPBulk(b *testing.B) { benchBulk(b, false) }

// BenchmarkHTTPBulkSearch is the same with the search index kept up to
// date (every response waits until its incidents are searchable).
func BenchmarkHTTPBulkSearch(b *testing.B) { benchBulk(b, true) }

// BenchmarkHTTPSinglePOST is one incident per request from 8 concurrent
// clients (parallelism 4 on 2 cores).
func BenchmarkHTTPSinglePOST(b *testing.B) {
	url, token := benchServer(b, false)
	g := fixture.New(43)
	docs := make([][]byte, 20000)
	for i := range docs {
		docs[i] = g.JSON(i)
	}
	var next atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) % len(docs)
			post(b, url, token, "application/json", docs[i])
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
