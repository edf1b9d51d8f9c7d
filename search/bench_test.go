package search_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/app/fixture"
	"cadbox/search"
	"cadbox/store"
)

// benchCorpus is a store and index of CADBOX_BENCH_DOCS generated
// incidents (default 20,000), built once per benchmark run.
type benchCorpus struct {
	dir  string
	db   *store.DB
	ix   *search.Index
	raw  int64
	n    int
	took time.Duration
}

var (
	corpusOnce sync.Once
	corpus     *benchCorpus
	corpusErr  error
)

func getCorpus(b *testing.B) *benchCorpus {
	b.Helper()
	corpusOnce.Do(func() {
		n := 20000
		if v := os.Getenv("CADBOX_BENCH_DOCS"); v != "" {
			fmt.Sscan(v, &n)
		}
		dir, err := os.MkdirTemp("", "cadbox-search-bench-")
		if err != nil {
			corpusErr = err
			return
		}
		c := &benchCorpus{dir: dir, n: n}
		if c.db, err = store.Open(filepath.Join(dir, "cadbox.db"), store.Options{}); err != nil {
			corpusErr = err
			return
		}
		if c.ix, err = search.Open(context.Background(), filepath.Join(dir, "index"), c.db, search.Options{}); err != nil {
			corpusErr = err
			return
		}
		svc := app.NewService(c.db, c.ix)
		g := fixture.New(42)
		start := time.Now()
		for i := 0; i < n; i += 1000 {
			var docs []*app.Incident
			for j := i; j < min(i+1000, n); j++ {
				inc := g.Incident(j)
				js, _ := codec.Marshal(inc)
				c.raw += int64(len(js)) + 1
				docs = append(docs, inc)
			}
			if _, err := svc.Upsert(context.Background(), docs, app.WriteOptions{DeferFollow: i+1000 < n}); err != nil {
				corpusErr = err
				return
			}
		}
		c.took = time.Since(start)
		corpus = c
	})
	if corpusErr != nil {
		b.Fatal(corpusErr)
	}
	return corpus
}

// latencies runs fn count times and reports p50 and p99 in ms.
func latencies(b *testing.B, fn func(i int)) {
	var d []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		fn(i)
		d = append(d, time.Since(start))
		i++
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	pct := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

var words = []string{"SMOKE", "PAIN", "BREATHING", "ALARM", "FALL", "CHEST", "CONSCIOUS", "FIRE", "ODOR", "MVA"}

// BenchmarkSearchMatchRangeTerm: a text match, a date range and a term
// filter, one client.
func BenchmarkSearchMatchRangeTerm(b *testing.B) {
	c := getCorpus(b)
	from := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)
	latencies(b, func(i int) {
		_, err := c.ix.Search(context.Background(), app.SearchRequest{Query: words[i%len(words)], Department: "76000",
			From: from.Add(time.Duration(i%30) * 24 * time.Hour), To: from.AddDate(1, 0, 0), Limit: 20})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkSearchFaceted: a match with four facets.
func BenchmarkSearchFaceted(b *testing.B) {
	c := getCorpus(b)
	latencies(b, func(i int) {
		_, err := c.ix.Search(context.Background(), app.SearchRequest{Query: words[i%len(words)],
			Facets: []string{"type", "unit_id", "hour", "weekday"}, Limit: 20})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkSearchParallel8 is throughput with 8 concurrent clients.
func BenchmarkSearchParallel8(b *testing.B) {
	c := getCorpus(b)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			if _, err := c.ix.Search(context.Background(), app.SearchRequest{Query: words[r.IntN(len(words))], Department: "76000", Limit: 20}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// BenchmarkIndexBuild reports the ingest rate with search on (store and
// index, the index following the store) and the index size per raw byte.
func BenchmarkIndexBuild(b *testing.B) {
	c := getCorpus(b)
	for b.Loop() {
		time.Sleep(time.Millisecond) // the corpus is built once; this reports it
	}
	b.ReportMetric(float64(c.n)/c.took.Seconds(), "docs/s")
	b.ReportMetric(float64(c.ix.Size())/float64(c.raw), "index/raw")
	// Scorch merges segments in the background; closing waits for none,
	// so reopen and let it settle to see the steady size too.
	if err := c.ix.Close(); err != nil {
		b.Fatal(err)
	}
	ix, err := search.Open(context.Background(), filepath.Join(c.dir, "index"), c.db, search.Options{})
	if err != nil {
		b.Fatal(err)
	}
	c.ix = ix
	time.Sleep(5 * time.Second)
	b.ReportMetric(float64(c.ix.Size())/float64(c.raw), "settled-index/raw")
}

// BenchmarkStartupReady closes and reopens an intact index and measures
// the time until it is ready.
func BenchmarkStartupReady(b *testing.B) {
	c := getCorpus(b)
	for b.Loop() {
		if err := c.ix.Close(); err != nil {
			b.Fatal(err)
		}
		ix, err := search.Open(context.Background(), filepath.Join(c.dir, "index"), c.db, search.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for ix.Ready(context.Background()) != nil {
			time.Sleep(time.Millisecond)
		}
		c.ix = ix
	}
}

// TestMain removes the benchmark corpus after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if corpus != nil {
		corpus.ix.Close()
		corpus.db.Close()
		os.RemoveAll(corpus.dir)
	}
	os.Exit(code)
}
