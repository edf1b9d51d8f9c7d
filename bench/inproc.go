package main

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"cadbox/app"
	"cadbox/app/api"
	"cadbox/app/codec"
	"cadbox/store"

	bolt "go.etcd.io/bbolt"
)

// batchDocs is how many documents one bulk transaction, one NDJSON body
// and one bleve batch hold: cadbox's default (CADBOX_BATCH_SIZE) and the
// search index's batch size.
const batchDocs = 1000

// decodeStdlibAny is the plainest possible decode: encoding/json into
// any, on every core.
func (r *runner) decodeStdlibAny() (*Measurement, error) {
	docs := r.corpus.docs
	start := time.Now()
	err := parallel(len(docs), func(i int) error {
		var v any
		return stdjson.Unmarshal(docs[i], &v)
	})
	el := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("decode into any: %w", err)
	}
	return &Measurement{Name: "encoding/json into any", Raw: true, Unit: unitDocs, Values: []float64{rate(len(docs), el)},
		How: fmt.Sprintf("`json.Unmarshal` of each of the %s documents into an `any` (maps and slices), one worker per core (%d), no validation, nothing kept.", formatCount(len(docs)), r.cores)}, nil
}

// decodeStdlibTyped is encoding/json into cadbox's own structs.
func (r *runner) decodeStdlibTyped() (*Measurement, error) {
	docs := r.corpus.docs
	start := time.Now()
	err := parallel(len(docs), func(i int) error {
		var inc app.Incident
		return stdjson.Unmarshal(docs[i], &inc)
	})
	el := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("decode into app.Incident: %w", err)
	}
	return &Measurement{Name: "encoding/json into app.Incident", Raw: true, Unit: unitDocs, Values: []float64{rate(len(docs), el)},
		How: fmt.Sprintf("`json.Unmarshal` of each document into the typed `app.Incident`, one worker per core (%d), no validation.", r.cores)}, nil
}

// decodeCodec is cadbox's decoder: the json v2 prototype plus validation.
func (r *runner) decodeCodec() (*Measurement, error) {
	docs := r.corpus.docs
	dec := codec.NewDecoder()
	start := time.Now()
	err := parallel(len(docs), func(i int) error {
		_, err := dec.Decode(docs[i])
		return err
	})
	el := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("codec decode: %w", err)
	}
	return &Measurement{Name: "decode + validate (app/codec)", Unit: unitDocs, Values: []float64{rate(len(docs), el)},
		How: fmt.Sprintf("`codec.Decoder.Decode` (encoding/json/v2 prototype, null dropping, validation) of each document, one worker per core (%d).", r.cores)}, nil
}

// boltBatched writes the same bytes into a bare bbolt bucket, batchDocs
// per transaction, fsync on: the storage limit of bulk ingest. It also
// returns the file's size per raw byte.
func (r *runner) boltBatched() (*Measurement, *Measurement, error) {
	docs := r.corpus.docs
	path := filepath.Join(r.dir, "raw-bbolt.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("open raw bbolt: %w", err)
	}
	start := time.Now()
	for i := 0; i < len(docs) && err == nil; i += batchDocs {
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("docs"))
			if err != nil {
				return err
			}
			// Keys only ever grow: fill pages completely, as bbolt
			// advises for appends.
			b.FillPercent = 1.0
			for j := i; j < min(i+batchDocs, len(docs)); j++ {
				if err := b.Put(fmt.Appendf(nil, "%09d", j), docs[j]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	el := time.Since(start)
	var size int64
	if err == nil {
		size, err = boltSize(db)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("raw bbolt puts: %w", err)
	}
	thr := &Measurement{Name: "bbolt puts, 1,000 per transaction", Raw: true, Unit: unitDocs, Values: []float64{rate(len(docs), el)},
		How: "the same compact JSON bytes `Put` into one bbolt bucket under 9-digit sequential keys (fill percent 1.0, as for appends), 1,000 per `Update` transaction (one fsync each), no decoding, new file."}
	sz := &Measurement{Name: "bbolt file holding the raw JSON", Raw: true, Unit: unitPerRaw, Values: []float64{float64(size) / float64(r.corpus.raw)},
		How: "data size of that bbolt file (`Tx.Size`: the pages in use or free, without the preallocated tail of the file) ÷ raw NDJSON bytes (the documents as they are, uncompressed)."}
	return thr, sz, nil
}

// boltSize is the data size of a bbolt file: its pages in use or free,
// without the tail bbolt preallocates (what store.DB.Size reports).
func boltSize(db *bolt.DB) (int64, error) {
	var n int64
	err := db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}

// storeIngest is bulk ingest into cadbox's store alone, the way the HTTP
// bulk path does it: a batch decodes on every core while the previous
// one commits.
func (r *runner) storeIngest(ctx context.Context) (*Measurement, error) {
	db, err := store.Open(filepath.Join(r.dir, "store-ingest", "cadbox.db"), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	start := time.Now()
	err = ingest(ctx, db, r.corpus.docs)
	el := time.Since(start)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return &Measurement{Name: "bulk ingest into the store", Unit: unitDocs, Values: []float64{rate(len(r.corpus.docs), el)},
		How: "`store.DB.Upsert` of the documents in batches of 1,000 (one transaction and fsync each), each batch decoded and validated by `app/codec` on every core while the previous one commits; new store file, no search index, no HTTP."}, nil
}

// ingest decodes batches in parallel and commits them in order.
func ingest(ctx context.Context, db *store.DB, docs [][]byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dec := codec.NewDecoder()
	type part struct {
		incs []*app.Incident
		err  error
	}
	ch := make(chan part, 1)
	go func() {
		defer close(ch)
		for i := 0; i < len(docs); i += batchDocs {
			src := docs[i:min(i+batchDocs, len(docs))]
			out := make([]*app.Incident, len(src))
			err := parallel(len(src), func(j int) error {
				inc, err := dec.Decode(src[j])
				out[j] = inc
				return err
			})
			select {
			case ch <- part{out, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for p := range ch {
		if p.err != nil {
			return fmt.Errorf("decode: %w", p.err)
		}
		res, err := db.Upsert(ctx, p.incs, app.WriteOptions{})
		if err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
		for _, wr := range res {
			if wr.Err != nil {
				return fmt.Errorf("upsert %v: %w", wr.ID, wr.Err)
			}
		}
	}
	return nil
}

// localServer serves h on a loopback port until closed.
type localServer struct {
	url string
	hs  *http.Server
}

func serveLocal(h http.Handler) (*localServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &localServer{url: "http://" + ln.Addr().String(), hs: hs}, nil
}

func (s *localServer) Close() error { return s.hs.Close() }

// httpBulkStore is bulk NDJSON over HTTP into an in-process API server
// over a store alone (no search index, no analysis).
func (r *runner) httpBulkStore(ctx context.Context) (bulk, single, singleLat *Measurement, err error) {
	db, err := store.Open(filepath.Join(r.dir, "http-store", "cadbox.db"), store.Options{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	key, token, err := app.NewAPIKey("bench", app.RoleAdmin, nil, time.Now())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("api key: %w", err)
	}
	if err := db.CreateKey(ctx, key); err != nil {
		return nil, nil, nil, fmt.Errorf("api key: %w", err)
	}
	srv, err := api.NewServer(api.Deps{Store: db, Keys: db}, api.Config{RateLimit: 0})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("api server: %w", err)
	}
	ls, err := serveLocal(srv)
	if err != nil {
		return nil, nil, nil, err
	}
	defer ls.Close()
	c := newClient(ls.url, token)
	start := time.Now()
	for _, body := range r.corpus.bodies {
		if err := c.bulk(ctx, body); err != nil {
			return nil, nil, nil, err
		}
	}
	el := time.Since(start)
	bulk = &Measurement{Name: "bulk NDJSON over HTTP, store only", Unit: unitDocs, Values: []float64{rate(len(r.corpus.docs), el)},
		How: "`POST /api/v1/incidents` of NDJSON bodies of 1,000 documents, one client, one after another, to `api.NewServer` in the benchmark's process over loopback TCP with a store alone (no search index, no analysis)."}

	posts := r.corpus.posts
	lats, el, err := concurrent(r.cfg.clients, len(posts), func(i int) error { return c.single(ctx, posts[i]) })
	if err != nil {
		return nil, nil, nil, fmt.Errorf("single POST, store only: %w", err)
	}
	how := fmt.Sprintf("the %s single-POST documents, one `POST /api/v1/incidents` (application/json) each, from %d concurrent clients, to that in-process server with a store alone: each 201 once the incident is on disk (group commit).",
		formatCount(len(posts)), r.cfg.clients)
	single = &Measurement{Name: "single-document POST, store only", Unit: unitDocs, Values: []float64{rate(len(lats), el)}, How: how}
	singleLat = &Measurement{Name: "single-document POST, store only (latency)", Unit: unitLatency, Values: latencyFigure(lats), How: how}
	return bulk, single, singleLat, nil
}

// httpFloor is the HTTP round trip alone: a net/http handler that reads
// the body and answers 201, posted the single-POST documents by the same
// clients. No JSON, no storage.
func (r *runner) httpFloor(ctx context.Context) (*Measurement, *Measurement, error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"status":"created"}`)
	})
	ls, err := serveLocal(h)
	if err != nil {
		return nil, nil, err
	}
	defer ls.Close()
	c := newClient(ls.url, "")
	posts := r.corpus.posts
	lats, el, err := concurrent(r.cfg.clients, len(posts), func(i int) error { return c.single(ctx, posts[i]) })
	if err != nil {
		return nil, nil, fmt.Errorf("HTTP floor: %w", err)
	}
	how := fmt.Sprintf("a bare `net/http` handler that reads the body and answers 201, in the benchmark's process over loopback TCP; the same %s documents, one per POST, from %d clients.", formatCount(len(posts)), r.cfg.clients)
	return &Measurement{Name: "net/http POST, no work", Raw: true, Unit: unitDocs, Values: []float64{rate(len(lats), el)}, How: how},
		&Measurement{Name: "net/http POST, no work (latency)", Raw: true, Unit: unitLatency, Values: latencyFigure(lats), How: how}, nil
}

// boltSingle writes the single-POST documents into bare bbolt from
// concurrent writers, one document per transaction (update) or through
// bbolt's own batching (DB.Batch).
func (r *runner) boltSingle(useBatch bool) (*Measurement, *Measurement, error) {
	name := "bbolt-update"
	if useBatch {
		name = "bbolt-batch"
	}
	path := filepath.Join(r.dir, name+".db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("open raw bbolt: %w", err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("docs"))
		return err
	}); err != nil {
		return nil, nil, fmt.Errorf("raw bbolt: %w", err)
	}
	posts := r.corpus.posts
	put := func(i int) error {
		fn := func(tx *bolt.Tx) error { return tx.Bucket([]byte("docs")).Put([]byte(strconv.Itoa(i)), posts[i]) }
		if useBatch {
			return db.Batch(fn)
		}
		return db.Update(fn)
	}
	lats, el, err := concurrent(r.cfg.clients, len(posts), put)
	if err != nil {
		return nil, nil, fmt.Errorf("raw bbolt writes: %w", err)
	}
	if useBatch {
		how := fmt.Sprintf("the same %s documents `Put` by %d concurrent writers through bbolt's `DB.Batch` (its own group commit: up to 1,000 calls or 10 ms per transaction, the defaults), fsync on, no decoding.", formatCount(len(posts)), r.cfg.clients)
		return &Measurement{Name: "bbolt DB.Batch, concurrent writers", Raw: true, Unit: unitDocs, Values: []float64{rate(len(lats), el)}, How: how},
			&Measurement{Name: "bbolt DB.Batch, concurrent writers (latency)", Raw: true, Unit: unitLatency, Values: latencyFigure(lats), How: how}, nil
	}
	how := fmt.Sprintf("the same %s documents `Put` by %d concurrent writers, one `Update` transaction (one fsync) per document, no decoding.", formatCount(len(posts)), r.cfg.clients)
	return &Measurement{Name: "bbolt one Update per document, concurrent writers", Raw: true, Unit: unitDocs, Values: []float64{rate(len(lats), el)}, How: how},
		&Measurement{Name: "bbolt one Update per document (latency)", Raw: true, Unit: unitLatency, Values: latencyFigure(lats), How: how}, nil
}

// client talks to a cadbox API (or the HTTP floor server).
type client struct {
	base  string
	token string
	hc    *http.Client
}

func newClient(base, token string) *client {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DisableCompression: true, IdleConnTimeout: time.Minute}
	return &client{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: 10 * time.Minute}}
}

// do sends a request and returns the status and body.
func (c *client) do(ctx context.Context, method, path, ctype string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("request: %w", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return resp.StatusCode, b, nil
}

// get expects 200.
func (c *client) get(ctx context.Context, path string) error {
	st, b, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.300s", path, st, b)
	}
	return nil
}

// searchTotal runs a search and returns its "total" (found in the body
// without decoding it all, to keep the client's work out of the
// latency).
func (c *client) searchTotal(ctx context.Context, path string) (uint64, error) {
	st, b, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return 0, err
	}
	if st != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d: %.300s", path, st, b)
	}
	return jsonTotal(b)
}

// jsonTotal reads the number after the first "total": of a JSON body.
func jsonTotal(b []byte) (uint64, error) {
	_, rest, ok := bytes.Cut(b, []byte(`"total":`))
	if !ok {
		return 0, fmt.Errorf("no total in %.100s", b)
	}
	rest = bytes.TrimLeft(rest, " ")
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("total in %.100s: %w", b, err)
	}
	return n, nil
}

// bulk posts an NDJSON body and expects every record stored.
func (c *client) bulk(ctx context.Context, body []byte) error {
	st, b, err := c.do(ctx, http.MethodPost, "/api/v1/incidents", "application/x-ndjson", body)
	if err != nil {
		return err
	}
	if st/100 != 2 {
		return fmt.Errorf("bulk POST: status %d: %.300s", st, b)
	}
	var out struct {
		Failed int `json:"failed"`
	}
	if err := stdjson.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("bulk POST: response: %w", err)
	}
	if out.Failed > 0 {
		return fmt.Errorf("bulk POST: %d records failed: %.300s", out.Failed, b)
	}
	return nil
}

// single posts one document and expects 2xx.
func (c *client) single(ctx context.Context, doc []byte) error {
	st, b, err := c.do(ctx, http.MethodPost, "/api/v1/incidents", "application/json", doc)
	if err != nil {
		return err
	}
	if st/100 != 2 {
		return fmt.Errorf("POST: status %d: %.300s", st, b)
	}
	return nil
}
