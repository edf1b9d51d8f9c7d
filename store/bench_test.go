package store_test

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/app/fixture"
	"cadbox/store"

	bolt "go.etcd.io/bbolt"
)

// benchDocs is how many generated incidents each ingest benchmark
// iteration writes (override with CADBOX_BENCH_DOCS).
func benchDocs() int {
	n := 20000
	if v := os.Getenv("CADBOX_BENCH_DOCS"); v != "" {
		fmt.Sscan(v, &n)
	}
	return n
}

var (
	corpusOnce sync.Once
	corpus     [][]byte
)

// generated returns n compact JSON incidents from the fixture generator.
func generated(n int) [][]byte {
	corpusOnce.Do(func() {
		g := fixture.New(42)
		corpus = make([][]byte, benchDocs())
		for i := range corpus {
			corpus[i] = g.JSON(i)
		}
	})
	return corpus[:n]
}

func rawBytes(docs [][]byte) int64 {
	var n int64
	for _, d := range docs {
		n += int64(len(d)) + 1 // NDJSON newline
	}
	return n
}

func perSecond(b *testing.B, docs int) {
	b.ReportMetric(float64(docs*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkDecodeStdlib is the baseline: encoding/json into the same
// structs, one core.
func BenchmarkDecodeStdlib(b *testing.B) {
	docs := generated(benchDocs())
	b.SetBytes(rawBytes(docs))
	for b.Loop() {
		for _, d := range docs {
			var inc app.Incident
			if err := stdjson.Unmarshal(d, &inc); err != nil {
				b.Fatal(err)
			}
		}
	}
	perSecond(b, len(docs))
}

// BenchmarkDecodeCodec is cadbox's decoder (json v2 + validation), one
// core.
func BenchmarkDecodeCodec(b *testing.B) {
	docs := generated(benchDocs())
	b.SetBytes(rawBytes(docs))
	dec := codec.NewDecoder()
	for b.Loop() {
		for _, d := range docs {
			if _, err := dec.Decode(d); err != nil {
				b.Fatal(err)
			}
		}
	}
	perSecond(b, len(docs))
}

// BenchmarkBoltRaw is the storage limit: raw bbolt puts of the same
// documents, 1000 per transaction, fsync on.
func BenchmarkBoltRaw(b *testing.B) {
	docs := generated(benchDocs())
	b.SetBytes(rawBytes(docs))
	for b.Loop() {
		b.StopTimer()
		db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < len(docs); i += 1000 {
			err := db.Update(func(tx *bolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists([]byte("x"))
				if err != nil {
					return err
				}
				for j := i; j < min(i+1000, len(docs)); j++ {
					if err := bk.Put(fmt.Appendf(nil, "%09d", j), docs[j]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	perSecond(b, len(docs))
}

// BenchmarkIngest is bulk ingest into the store alone: decode on every
// core, commit in batches of 1000 while the next batch decodes, fsync on.
// It reports the store's size per raw JSON byte.
func BenchmarkIngest(b *testing.B) {
	docs := generated(benchDocs())
	b.SetBytes(rawBytes(docs))
	var ratio float64
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "cadbox.db")
		db, err := store.Open(path, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		ingest(b, db, docs)
		b.StopTimer()
		size, _ := db.Size()
		ratio = float64(size) / float64(rawBytes(docs))
		db.Close()
		b.StartTimer()
	}
	perSecond(b, len(docs))
	b.ReportMetric(ratio, "disk/raw")
}

// ingest decodes batches in parallel and commits them in order, as the
// HTTP bulk path does.
func ingest(tb testing.TB, db *store.DB, docs [][]byte) {
	const batch = 1000
	dec := codec.NewDecoder()
	ch := make(chan []*app.Incident, 1)
	go func() {
		defer close(ch)
		for i := 0; i < len(docs); i += batch {
			part := docs[i:min(i+batch, len(docs))]
			out := make([]*app.Incident, len(part))
			var wg sync.WaitGroup
			w := runtime.GOMAXPROCS(0)
			for k := range w {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := k; j < len(part); j += w {
						inc, err := dec.Decode(part[j])
						if err != nil {
							panic(err)
						}
						out[j] = inc
					}
				}()
			}
			wg.Wait()
			ch <- out
		}
	}()
	for incs := range ch {
		if _, err := db.Upsert(context.Background(), incs, app.WriteOptions{}); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkUnfold resends each incident as it unfolds (four versions
// each) and reports the store's size per raw byte sent: revisions must
// not multiply the size of unchanged data.
func BenchmarkUnfold(b *testing.B) {
	n := benchDocs() / 4
	g := fixture.New(7)
	var sent [][]byte
	for i := range n {
		inc := g.Incident(i)
		sent = append(sent, mustJSON(b, inc))
		for step := range 3 {
			sent = append(sent, mustJSON(b, g.Update(inc, step)))
		}
	}
	var ratio float64
	for b.Loop() {
		b.StopTimer()
		db, err := store.Open(filepath.Join(b.TempDir(), "cadbox.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		ingest(b, db, sent)
		b.StopTimer()
		size, _ := db.Size()
		ratio = float64(size) / float64(rawBytes(sent))
		db.Close()
		b.StartTimer()
	}
	perSecond(b, len(sent))
	b.ReportMetric(ratio, "disk/raw")
}

func mustJSON(tb testing.TB, inc *app.Incident) []byte {
	b, err := codec.Marshal(inc)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Clone(b)
}

// BenchmarkGet reads one incident with its units.
func BenchmarkGet(b *testing.B) {
	docs := generated(min(benchDocs(), 5000))
	db, err := store.Open(filepath.Join(b.TempDir(), "cadbox.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ingest(b, db, docs)
	ids := make([]app.IncidentID, len(docs))
	for i, d := range docs {
		inc, _ := codec.DecodeIncident(d)
		ids[i] = inc.ID()
	}
	ctx := context.Background()
	i := 0
	start := time.Now()
	for b.Loop() {
		if _, err := db.Incident(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	_ = start
}
