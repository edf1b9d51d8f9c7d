package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"cadbox/app"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Gauges are the values GET /metrics reads at scrape time. Each may be
// nil; its series is then absent.
type Gauges struct {
	// StoreSeq returns the sequence number of the newest store write.
	StoreSeq func(ctx context.Context) (uint64, error)
	// IndexedSeq returns the newest write the search index holds.
	IndexedSeq func() uint64
	// StoreBytes returns the size of the store file.
	StoreBytes func() (int64, error)
	// IndexBytes returns the bytes the search index takes on disk.
	IndexBytes func() int64
	// Incidents returns how many incidents there are. It is called on
	// every scrape, so it must be cheap (the index's document count, not
	// a walk of the store).
	Incidents func() (uint64, error)
}

// ingest outcomes, the values of cadbox_ingest_documents_total's label.
const (
	outcomeCreated   = "created"
	outcomeUpdated   = "updated"
	outcomeUnchanged = "unchanged"
	outcomeFailed    = "failed"
)

// routeUnmatched labels requests that matched no route (404, 405), so
// that a scan of random paths cannot add series.
const routeUnmatched = "unmatched"

// metrics are the server's Prometheus collectors, in a registry the
// server owns.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	ingest      *prometheus.CounterVec
	rateLimited prometheus.Counter
	gauges      Gauges
	errLog      promhttp.Logger
	// routes are the registered "METHOD path" pairs; set once when the
	// server is built, read-only afterwards.
	routes map[string]bool
	// series caches the request counter and histogram of each label set
	// (seriesKey -> *requestSeries): a lookup in the vectors hashes and
	// checks the label values, twice per request.
	series sync.Map

	storeSeq, indexSeq, indexLag, storeBytes, indexBytes, incidents *prometheus.Desc
}

func newMetrics(version string, g Gauges, log *slog.Logger) (*metrics, error) {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cadbox", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by method, route (the route pattern, or \"unmatched\") and status code.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cadbox", Subsystem: "http", Name: "request_duration_seconds",
			Help: "Time from routing a request to the end of its response, by method, route and status code.",
			// From a cached read (1 ms) to a large bulk upload or a
			// backup download (5 min).
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"method", "route", "status"}),
		ingest: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cadbox", Subsystem: "ingest", Name: "documents_total",
			Help: "Incident documents uploaded with POST /api/v1/incidents, by outcome (created, updated, unchanged, failed); each document of a bulk upload counts.",
		}, []string{"outcome"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "cadbox", Name: "rate_limited_requests_total",
			Help: "Requests refused with 429 because their API key exceeded its rate limit.",
		}),
		gauges: g,
		errLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		storeSeq: prometheus.NewDesc("cadbox_store_sequence",
			"Sequence number of the newest store write (its rate is writes per second).", nil, nil),
		indexSeq: prometheus.NewDesc("cadbox_index_sequence",
			"Sequence number of the newest store write the search index holds.", nil, nil),
		indexLag: prometheus.NewDesc("cadbox_index_lag",
			"Store writes the search index has not applied yet (store sequence - index sequence).", nil, nil),
		storeBytes: prometheus.NewDesc("cadbox_store_size_bytes", "Size of the store file.", nil, nil),
		indexBytes: prometheus.NewDesc("cadbox_index_size_bytes", "Bytes the search index takes on disk.", nil, nil),
		incidents:  prometheus.NewDesc("cadbox_incidents", "Incidents held by the search index.", nil, nil),
	}
	for _, o := range []string{outcomeCreated, outcomeUpdated, outcomeUnchanged, outcomeFailed} {
		m.ingest.WithLabelValues(o) // present (as 0) before the first upload
	}
	if version == "" {
		version = "dev"
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "cadbox", Name: "build_info", Help: "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	for _, c := range []prometheus.Collector{
		m.requests, m.latency, m.ingest, m.rateLimited, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// setRoutes records the registered routes, so that observe can tell a
// route pattern from an unmatched path.
func (m *metrics) setRoutes(routes []*echo.Route) {
	m.routes = make(map[string]bool, len(routes))
	for _, r := range routes {
		m.routes[r.Method+" "+r.Path] = true
	}
}

// ingested counts the outcome of uploaded documents.
func (m *metrics) ingested(created, updated, unchanged, failed int) {
	for o, n := range map[string]int{outcomeCreated: created, outcomeUpdated: updated, outcomeUnchanged: unchanged, outcomeFailed: failed} {
		if n > 0 {
			m.ingest.WithLabelValues(o).Add(float64(n))
		}
	}
}

// ingestedOne counts one uploaded document.
func (m *metrics) ingestedOne(status app.WriteStatus) {
	switch status {
	case app.StatusCreated:
		m.ingest.WithLabelValues(outcomeCreated).Inc()
	case app.StatusUpdated:
		m.ingest.WithLabelValues(outcomeUpdated).Inc()
	case app.StatusUnchanged:
		m.ingest.WithLabelValues(outcomeUnchanged).Inc()
	default:
		m.ingest.WithLabelValues(outcomeFailed).Inc()
	}
}

// metricsRoutes are the routes of this file, for the route table.
func (s *Server) metricsRoutes() []route {
	return []route{{
		method: http.MethodGet, path: "/metrics", handler: s.handleMetrics, access: accessReaderOrAllowed,
		id: "metrics", tag: "Operations", summary: "Prometheus metrics",
		doc: "Request counts and latency histograms by route and status, ingest outcomes, rate-limit refusals, " +
			"search-index lag, store and index sizes, the incident count, Go runtime and process metrics, in the " +
			"Prometheus text format. Addresses in CADBOX_METRICS_ALLOW may scrape it without a key (and without an " +
			"Authorization header); anyone else needs a key.",
		responses: []response{
			{status: 200, contentType: "text/plain", schema: new(string), doc: "The metrics in the Prometheus text exposition format."},
			{status: 401, contentType: problemContentType, schema: new(Problem), doc: statusText(401)},
		},
	}}
}

// observe counts every request and its latency by route pattern and
// status. It runs outside the access log, which turns handler errors into
// responses, so the status it sees is the one sent.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		req := c.Request()
		route := c.Path()
		if !s.metrics.routes[req.Method+" "+route] {
			route = routeUnmatched
		}
		rs := s.metrics.requestSeries(seriesKey{methodLabel(req.Method), route, c.Response().Status})
		rs.count.Inc()
		rs.latency.Observe(time.Since(start).Seconds())
		return nil
	}
}

// seriesKey is the labels of a request.
type seriesKey struct {
	method, route string
	status        int
}

type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

func (m *metrics) requestSeries(k seriesKey) *requestSeries {
	if v, ok := m.series.Load(k); ok {
		return v.(*requestSeries)
	}
	status := strconv.Itoa(k.status)
	v, _ := m.series.LoadOrStore(k, &requestSeries{
		count:   m.requests.WithLabelValues(k.method, k.route, status),
		latency: m.latency.WithLabelValues(k.method, k.route, status),
	})
	return v.(*requestSeries)
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// handleMetrics serves the registry in the Prometheus text format (or
// another format the scraper asks for in Accept), with the gauges read
// now under the request's context.
func (s *Server) handleMetrics(c echo.Context) error {
	state := prometheus.NewRegistry()
	if err := state.Register(stateCollector{ctx: c.Request().Context(), m: s.metrics}); err != nil {
		return err
	}
	h := promhttp.HandlerFor(prometheus.Gatherers{s.metrics.reg, state}, promhttp.HandlerOpts{
		ErrorLog:      s.metrics.errLog,
		ErrorHandling: promhttp.ContinueOnError, // a failing gauge must not hide the rest
	})
	h.ServeHTTP(c.Response(), c.Request())
	return nil
}

// stateCollector reads the Gauges; it lives for one scrape.
type stateCollector struct {
	ctx context.Context
	m   *metrics
}

func (sc stateCollector) Describe(ch chan<- *prometheus.Desc) {
	g, m := sc.m.gauges, sc.m
	if g.StoreSeq != nil {
		ch <- m.storeSeq
	}
	if g.IndexedSeq != nil {
		ch <- m.indexSeq
	}
	if g.StoreSeq != nil && g.IndexedSeq != nil {
		ch <- m.indexLag
	}
	if g.StoreBytes != nil {
		ch <- m.storeBytes
	}
	if g.IndexBytes != nil {
		ch <- m.indexBytes
	}
	if g.Incidents != nil {
		ch <- m.incidents
	}
}

func (sc stateCollector) Collect(ch chan<- prometheus.Metric) {
	g, m := sc.m.gauges, sc.m
	gauge := func(d *prometheus.Desc, v float64, err error) {
		if err != nil {
			ch <- prometheus.NewInvalidMetric(d, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	var indexed uint64
	if g.IndexedSeq != nil {
		// Read before the store's sequence, so that a write between the
		// two reads shows as lag rather than as a negative one.
		indexed = g.IndexedSeq()
		gauge(m.indexSeq, float64(indexed), nil)
	}
	if g.StoreSeq != nil {
		last, err := g.StoreSeq(sc.ctx)
		gauge(m.storeSeq, float64(last), err)
		if g.IndexedSeq != nil {
			gauge(m.indexLag, float64(last-min(indexed, last)), err)
		}
	}
	if g.StoreBytes != nil {
		n, err := g.StoreBytes()
		gauge(m.storeBytes, float64(n), err)
	}
	if g.IndexBytes != nil {
		gauge(m.indexBytes, float64(g.IndexBytes()), nil)
	}
	if g.Incidents != nil {
		n, err := g.Incidents()
		gauge(m.incidents, float64(n), err)
	}
}

// allowedWithoutKey reports whether a request may read /metrics without
// a key: it sends none and comes from an address in Config.MetricsAllow.
// The address is the connection's, or the client's as a trusted proxy
// reports it (the server's IPExtractor), never a header from anyone else.
func (s *Server) allowedWithoutKey(c echo.Context) bool {
	if len(s.cfg.MetricsAllow) == 0 || c.Request().Header.Get(echo.HeaderAuthorization) != "" {
		return false
	}
	ip := net.ParseIP(c.RealIP())
	if ip == nil {
		return false
	}
	for _, n := range s.cfg.MetricsAllow {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
