package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"cadbox/app"
	"cadbox/app/analysis"
	"cadbox/app/codec"
	"cadbox/search"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// memLog is a change log over the corpus's compact JSON: it lets the
// search index and the analysis engine be built without a store. Scan
// decodes each document as it hands it out (holding a million decoded
// incidents would take more memory than the machine has) and adds the
// time spent decoding to decoding, for the callers to leave out of
// their figures. It is used by one goroutine at a time.
type memLog struct {
	sets     [][][]byte
	decoding time.Duration
}

func newMemLog(sets ...[][]byte) *memLog { return &memLog{sets: sets} }

func (l *memLog) Changes(context.Context, uint64, int) ([]app.Change, error) { return nil, nil }
func (l *memLog) LastSeq(context.Context) (uint64, error)                    { return 0, nil }
func (l *memLog) Count(context.Context) (int, error)                         { return l.count(), nil }

func (l *memLog) count() int {
	n := 0
	for _, set := range l.sets {
		n += len(set)
	}
	return n
}

func (l *memLog) Scan(ctx context.Context, fn func(*app.Incident) error) error {
	dec := codec.NewDecoder()
	for _, set := range l.sets {
		for _, d := range set {
			if err := ctx.Err(); err != nil {
				return err
			}
			start := time.Now()
			inc, err := dec.Decode(d)
			l.decoding += time.Since(start)
			if err != nil {
				return fmt.Errorf("decode: %w", err)
			}
			if err := fn(inc); err != nil {
				return err
			}
		}
	}
	return nil
}

// commentWords are the words the search workloads look for, in turn.
func commentWords() []string {
	return []string{"SMOKE", "PAIN", "BREATHING", "ALARM", "FALL", "CHEST", "CONSCIOUS", "FIRE", "ODOR", "MVA"}
}

// searchKind is one search workload, as a cadbox request and as the
// equivalent hand-built bleve request.
type searchKind struct {
	name   string
	req    func(i int) app.SearchRequest
	params func(i int) string
	bleve  func(i int) *bleve.SearchRequest
}

// firstYear is the first year of the generated data (the workloads'
// range).
func firstYear() (from, to time.Time) {
	return time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
}

func searchKinds() []searchKind {
	words := commentWords()
	yearFrom, yearTo := firstYear()
	term := func(field, v string) query.Query {
		t := bleve.NewTermQuery(v)
		t.SetField(field)
		return t
	}
	// The index has no _all field: a bare word is matched on each text
	// field, as the search package expands it.
	match := func(i int) query.Query {
		var alts []query.Query
		for _, f := range search.TextFields() {
			m := bleve.NewMatchQuery(words[i%len(words)])
			m.SetField(f)
			alts = append(alts, m)
		}
		return bleve.NewDisjunctionQuery(alts...)
	}
	from := func(i int) time.Time { return yearFrom.Add(time.Duration(i%30) * 24 * time.Hour) }
	return []searchKind{
		{
			name: "match + department",
			req: func(i int) app.SearchRequest {
				return app.SearchRequest{Query: words[i%len(words)], Department: "76000", Limit: 20}
			},
			params: func(i int) string { return "q=" + words[i%len(words)] + "&department=76000&limit=20" },
			bleve: func(i int) *bleve.SearchRequest {
				return bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(match(i), term("department", "76000")), 20, 0, false)
			},
		},
		{
			name: "match + date range + department",
			req: func(i int) app.SearchRequest {
				return app.SearchRequest{Query: words[i%len(words)], Department: "76000", From: from(i), To: yearTo, Limit: 20}
			},
			params: func(i int) string {
				return "q=" + words[i%len(words)] + "&department=76000&limit=20&from=" + from(i).Format(time.RFC3339) + "&to=" + yearTo.Format(time.RFC3339)
			},
			bleve: func(i int) *bleve.SearchRequest {
				incl, excl := true, false
				dr := bleve.NewDateRangeInclusiveQuery(from(i), yearTo, &incl, &excl)
				dr.SetField("event_opened")
				return bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(match(i), term("department", "76000"), dr), 20, 0, false)
			},
		},
		{
			name: "match + 4 facets",
			req: func(i int) app.SearchRequest {
				return app.SearchRequest{Query: words[i%len(words)], Facets: []string{"type", "unit_id", "hour", "weekday"}, Limit: 20}
			},
			params: func(i int) string { return "q=" + words[i%len(words)] + "&facets=type,unit_id,hour,weekday&limit=20" },
			bleve: func(i int) *bleve.SearchRequest {
				sr := bleve.NewSearchRequestOptions(match(i), 20, 0, false)
				for _, f := range []string{"type", "unit_id", "hour", "weekday"} {
					sr.AddFacet(f, bleve.NewFacetRequest(f, 25))
				}
				return sr
			},
		},
	}
}

// searchFigures are the latencies of each search kind and one throughput.
type searchFigures struct {
	latency    []*Measurement
	throughput *Measurement
}

// runSearches measures each kind's latency (one client, r.cfg.queries
// each) and the throughput of the first kind from r.cfg.clients clients.
// fn runs one query and returns its total hits; a kind whose queries
// all find nothing is an error (a broken query, not a fast one).
func (r *runner) runSearches(prefix string, raw bool, how string, fn func(k searchKind, i int) (uint64, error)) (searchFigures, error) {
	var out searchFigures
	kinds, words := searchKinds(), commentWords()
	for _, k := range kinds {
		// A few warm-up queries so that the first ones do not measure
		// page faults of a freshly opened index.
		for i := range 20 {
			if _, err := fn(k, i); err != nil {
				return out, fmt.Errorf("%s %s: %w", prefix, k.name, err)
			}
		}
		var hits uint64
		lats, err := serial(r.cfg.queries, func(i int) error {
			n, err := fn(k, i)
			hits += n
			return err
		})
		if err != nil {
			return out, fmt.Errorf("%s %s: %w", prefix, k.name, err)
		}
		if hits == 0 {
			return out, fmt.Errorf("%s %s: no query found anything", prefix, k.name)
		}
		m := &Measurement{Name: prefix + ": " + k.name, Raw: raw, Unit: unitLatency, Values: latencyFigure(lats),
			How: fmt.Sprintf("%s; %s queries one after another, the word cycling through %d comment words, 20 hits a page, %s total hits per query on average.",
				how, formatCount(r.cfg.queries), len(words), formatSig(float64(hits)/float64(r.cfg.queries), 3))}
		r.done(m)
		out.latency = append(out.latency, m)
	}
	lats, el, err := concurrent(r.cfg.clients, r.cfg.queries, func(i int) error {
		_, err := fn(kinds[0], i)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("%s throughput: %w", prefix, err)
	}
	out.throughput = &Measurement{Name: prefix + ": " + kinds[0].name + ", " + fmt.Sprint(r.cfg.clients) + " clients", Raw: raw, Unit: unitQueries,
		Values: []float64{rate(len(lats), el)},
		How:    fmt.Sprintf("%s; %s queries of the kind \"%s\" from %d concurrent clients, queries ÷ wall time.", how, formatCount(r.cfg.queries), kinds[0].name, r.cfg.clients)}
	r.done(out.throughput)
	return out, nil
}

// rawBleve builds an index of the slim projection with search's own
// mapping and bleve batches straight from decoded incidents (no store, no
// change log), then queries it with hand-built bleve requests and with
// cadbox's search package.
type rawBleveFigures struct {
	build      *Measurement
	rawSearch  searchFigures
	pkgSearch  searchFigures
	indexBytes int64 // once it stopped changing
	indexPath  string
}

func (r *runner) rawBleve(ctx context.Context, log *memLog) (*rawBleveFigures, error) {
	out := &rawBleveFigures{indexPath: filepath.Join(r.dir, "raw-bleve", "incidents.bleve")}
	start := time.Now()
	log.decoding = 0
	n, err := search.Rebuild(ctx, out.indexPath, log, nil)
	el := time.Since(start) - log.decoding
	if err != nil {
		return nil, fmt.Errorf("raw bleve build: %w", err)
	}
	out.build = &Measurement{Name: "bleve batch indexing of the slim projection", Raw: true, Unit: unitDocs, Values: []float64{rate(n, el)},
		How: "`search.Rebuild` fed from the documents (bulk and single-POST ones) in memory: search's own mapping and projection, `bleve.Batch` of 1,000, one goroutine, no store and no change log. Each document is decoded as it is handed over and the time spent decoding is subtracted; the time includes waiting, at the end, until scorch has written every batch to disk."}
	r.done(out.build)

	idx, err := bleve.Open(out.indexPath)
	if err != nil {
		return nil, fmt.Errorf("open raw bleve index: %w", err)
	}
	out.rawSearch, err = r.runSearches("bleve", true, "hand-built bleve requests (the word as a match query on each text field, term and date-range queries, facets of 25) on that index via `SearchInContext`, in process, ids only: no sort by id, no highlight locations, no store lookups", func(k searchKind, i int) (uint64, error) {
		res, err := idx.SearchInContext(ctx, k.bleve(i))
		if err != nil {
			return 0, err
		}
		return res.Total, nil
	})
	if cerr := idx.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	ix, err := search.Open(ctx, out.indexPath, log, search.Options{})
	if err != nil {
		return nil, fmt.Errorf("open index with the search package: %w", err)
	}
	out.pkgSearch, err = r.runSearches("search package", false, "`search.Index.Search` (cadbox's query building, relevance then id sort, comment match locations, cursor) on the same index files, in process, ids only: no HTTP, no store", func(k searchKind, i int) (uint64, error) {
		res, err := ix.Search(ctx, k.req(i))
		if err != nil {
			return 0, err
		}
		return res.Total, nil
	})
	if err == nil {
		// Measured while open: scorch merges segments in the
		// background, as it does in the appliance.
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out.indexBytes, err = settledSize(sctx, out.indexPath)
		cancel()
	}
	if cerr := ix.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// statsKind is one analysis workload, as a route and as an engine call.
type statsKind struct {
	name   string
	path   string
	engine func(ctx context.Context, e *analysis.Engine) error
}

func statsKinds() []statsKind {
	yearFrom, yearTo := firstYear()
	year := analysis.Filter{From: yearFrom, To: yearTo}
	rng := "from=" + yearFrom.Format(time.RFC3339) + "&to=" + yearTo.Format(time.RFC3339)
	return []statsKind{
		{name: "p50/p90 turnout by unit, one year", path: "/api/v1/stats/durations?metrics=turnout&group_by=unit&" + rng,
			engine: func(ctx context.Context, e *analysis.Engine) error {
				_, err := e.Durations(ctx, analysis.Query{Filter: year, GroupBy: []analysis.Dimension{analysis.ByUnit}}, []analysis.Metric{analysis.Turnout})
				return err
			}},
		{name: "hour × weekday heatmap, everything", path: "/api/v1/stats/workload/heatmap",
			engine: func(ctx context.Context, e *analysis.Engine) error {
				_, err := e.Heatmap(ctx, analysis.Filter{}, false)
				return err
			}},
		{name: "NFPA 1710 by station, one year", path: "/api/v1/stats/nfpa1710?group_by=station&" + rng,
			engine: func(ctx context.Context, e *analysis.Engine) error {
				_, err := e.NFPA1710(ctx, analysis.Query{Filter: year, GroupBy: []analysis.Dimension{analysis.ByStation}}, analysis.Thresholds{})
				return err
			}},
		{name: "concurrency, one year", path: "/api/v1/stats/workload/concurrency?" + rng,
			engine: func(ctx context.Context, e *analysis.Engine) error {
				_, err := e.Concurrency(ctx, analysis.Query{Filter: year})
				return err
			}},
	}
}

// engineStats builds the analysis engine from the incidents in memory and
// times the stats workloads as direct engine calls.
func (r *runner) engineStats(ctx context.Context, log *memLog) ([]*Measurement, error) {
	e, err := analysis.New(log, analysis.Config{})
	if err != nil {
		return nil, fmt.Errorf("analysis engine: %w", err)
	}
	if err := e.Build(ctx); err != nil {
		return nil, fmt.Errorf("analysis build: %w", err)
	}
	var out []*Measurement
	for _, k := range statsKinds() {
		for range 5 {
			if err := k.engine(ctx, e); err != nil {
				return nil, fmt.Errorf("engine %s: %w", k.name, err)
			}
		}
		lats, err := serial(r.cfg.queries, func(int) error { return k.engine(ctx, e) })
		if err != nil {
			return nil, fmt.Errorf("engine %s: %w", k.name, err)
		}
		m := &Measurement{Name: "engine call: " + k.name, Unit: unitLatency, Values: latencyFigure(lats),
			How: fmt.Sprintf("the `analysis.Engine` method behind the route, called in process %s times one after another, on an engine built from the same %s incidents in memory (no HTTP, no JSON).", formatCount(r.cfg.queries), formatCount(log.count()))}
		r.done(m)
		out = append(out, m)
	}
	return out, nil
}
