package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"cadbox/app"
	"cadbox/app/api"
	"cadbox/search"
	"cadbox/store"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// series is one scrape: "name{label="value",...}" -> value, labels
// sorted; a histogram gives name_count and name_sum.
type series map[string]float64

func seriesKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func parseSeries(t *testing.T, body []byte) series {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, body)
	}
	out := series{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[seriesKey(name, labels)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[seriesKey(name, labels)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[seriesKey(name+"_count", labels)] = float64(m.GetHistogram().GetSampleCount())
				out[seriesKey(name+"_sum", labels)] = m.GetHistogram().GetSampleSum()
			default:
				out[seriesKey(name, labels)] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// req sends a request from remote (host:port) with an optional token.
func req(t *testing.T, h http.Handler, method, target, remote, token, ctype string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if remote != "" {
		r.RemoteAddr = remote
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func scrape(t *testing.T, h http.Handler, token string) series {
	t.Helper()
	rec := req(t, h, "GET", "/metrics", "", token, "", nil)
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q", ct)
	}
	return parseSeries(t, rec.Body.Bytes())
}

// metricsEnv is a server over a real store and search index, wired the
// way cmd serve wires it.
type metricsEnv struct {
	srv    *api.Server
	db     *store.DB
	reader string
	writer string
}

func newMetricsEnv(t *testing.T, cfg api.Config, log *slog.Logger) *metricsEnv {
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
	t.Cleanup(func() { ix.Close(); db.Close() })
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := api.NewServer(api.Deps{
		Store: app.NewService(db, ix), Search: ix, Keys: db, Log: log,
		Gauges: api.Gauges{StoreSeq: db.LastSeq, IndexedSeq: ix.Applied, StoreBytes: db.Size, IndexBytes: ix.Size, Incidents: ix.DocCount},
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &metricsEnv{srv: srv, db: db, reader: mustKey(t, db, app.RoleReader), writer: mustKey(t, db, app.RoleWriter)}
}

func mustNets(t *testing.T, cidrs ...string) []*net.IPNet {
	t.Helper()
	var out []*net.IPNet
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

const incidentRoute = "/api/v1/departments/:fd_id/incidents/:incident_number"

func TestMetricsCountRequestsAndIngest(t *testing.T) {
	e := newMetricsEnv(t, api.Config{}, nil)
	h := e.srv
	before := scrape(t, h, e.reader)

	for range 3 {
		if rec := req(t, h, "GET", "/api/v1/incidents", "", e.reader, "", nil); rec.Code != 200 {
			t.Fatalf("list: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := req(t, h, "GET", "/api/v1/departments/1/incidents/NOPE", "", e.reader, "", nil); rec.Code != 404 {
		t.Fatalf("missing incident: %d", rec.Code)
	}
	for i := range 20 { // random paths must not become series
		if rec := req(t, h, "GET", fmt.Sprintf("/scan/%d/x", i), "", "", "", nil); rec.Code != 404 {
			t.Fatalf("unmatched: %d", rec.Code)
		}
	}
	// Ingest: two single documents (created), one invalid single one
	// (failed), then a bulk upload of one unchanged, one updated, one
	// created and two failed documents.
	docA := doc("76000", "A1", "2017-05-15T00:50:00-04:00", "")
	docD := doc("76000", "D1", "2017-05-16T00:50:00-04:00", "")
	for _, d := range [][]byte{docA, docD} {
		if rec := req(t, h, "POST", "/api/v1/incidents", "", e.writer, "application/json", d); rec.Code != 201 {
			t.Fatalf("single: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := req(t, h, "POST", "/api/v1/incidents", "", e.writer, "application/json", []byte(`{"description":{"incident_number":"X"}}`)); rec.Code != 422 {
		t.Fatalf("invalid single: %d %s", rec.Code, rec.Body)
	}
	bulk := bytes.Join([][]byte{
		compact(t, docA),
		compact(t, doc("76000", "D1", "2017-05-16T00:50:00-04:00", `,"weather":{"summary":"rain"}`)),
		compact(t, doc("76000", "B1", "2017-05-17T00:50:00-04:00", "")),
		[]byte(`{not json`),
		[]byte(`{"description":{"incident_number":"Z1"},"fire_department":{"fd_id":"76000"}}`),
	}, []byte("\n"))
	rec := req(t, h, "POST", "/api/v1/incidents", "", e.writer, "application/x-ndjson", bulk)
	var br api.BulkResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &br); err != nil || rec.Code != 200 {
		t.Fatalf("bulk: %d %s", rec.Code, rec.Body)
	}
	if br.Created != 1 || br.Updated != 1 || br.Unchanged != 1 || br.Failed != 2 {
		t.Fatalf("bulk report %+v", br)
	}

	after := scrape(t, h, e.reader)
	delta := func(key string) float64 { return after[key] - before[key] }
	want := map[string]float64{
		`cadbox_http_requests_total{method="GET",route="/api/v1/incidents",status="200"}`:                 3,
		`cadbox_http_request_duration_seconds_count{method="GET",route="/api/v1/incidents",status="200"}`: 3,
		`cadbox_http_requests_total{method="GET",route="` + incidentRoute + `",status="404"}`:             1,
		`cadbox_http_requests_total{method="GET",route="unmatched",status="404"}`:                         20,
		`cadbox_http_requests_total{method="POST",route="/api/v1/incidents",status="201"}`:                2,
		`cadbox_http_requests_total{method="POST",route="/api/v1/incidents",status="422"}`:                1,
		`cadbox_http_requests_total{method="POST",route="/api/v1/incidents",status="200"}`:                1,
		// The first scrape is counted once it has been answered.
		`cadbox_http_requests_total{method="GET",route="/metrics",status="200"}`: 1,
		`cadbox_ingest_documents_total{outcome="created"}`:                       3,
		`cadbox_ingest_documents_total{outcome="updated"}`:                       1,
		`cadbox_ingest_documents_total{outcome="unchanged"}`:                     1,
		`cadbox_ingest_documents_total{outcome="failed"}`:                        3,
	}
	for key, w := range want {
		if _, ok := after[key]; !ok {
			t.Errorf("%s missing", key)
			continue
		}
		if got := delta(key); got != w {
			t.Errorf("%s went up by %g, want %g", key, got, w)
		}
	}
	if s := delta(`cadbox_http_request_duration_seconds_sum{method="GET",route="/api/v1/incidents",status="200"}`); s <= 0 {
		t.Errorf("latency sum went up by %g", s)
	}
	for key := range after {
		if strings.Contains(key, "/scan/") || strings.Contains(key, "NOPE") {
			t.Errorf("raw path in a label: %s", key)
		}
	}
	// Scrape-time gauges: the service answers once the index holds the
	// write, so the index has caught up.
	seq := after["cadbox_store_sequence"]
	if seq < 4 || after["cadbox_index_sequence"] != seq || after["cadbox_index_lag"] != 0 {
		t.Errorf("store sequence %g, index sequence %g, lag %g", seq, after["cadbox_index_sequence"], after["cadbox_index_lag"])
	}
	if _, ok := after["cadbox_index_lag"]; !ok {
		t.Error("cadbox_index_lag missing")
	}
	if after["cadbox_incidents"] != 3 {
		t.Errorf("cadbox_incidents = %g, want 3", after["cadbox_incidents"])
	}
	size, err := e.db.Size()
	if err != nil {
		t.Fatal(err)
	}
	if after["cadbox_store_size_bytes"] != float64(size) || after["cadbox_index_size_bytes"] <= 0 {
		t.Errorf("store size %g (file %d), index size %g", after["cadbox_store_size_bytes"], size, after["cadbox_index_size_bytes"])
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	if after[`cadbox_build_info{goversion="`+runtime.Version()+`",version="dev"}`] != 1 {
		t.Errorf("cadbox_build_info missing")
	}
}

func TestMetricsGaugesAtScrapeTime(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	storeSeq, indexed := uint64(10), uint64(7)
	var gotCtx context.Context
	srv, err := api.NewServer(api.Deps{Store: db, Keys: db, Gauges: api.Gauges{
		StoreSeq: func(ctx context.Context) (uint64, error) {
			mu.Lock()
			defer mu.Unlock()
			gotCtx = ctx
			return storeSeq, nil
		},
		IndexedSeq: func() uint64 { mu.Lock(); defer mu.Unlock(); return indexed },
		StoreBytes: func() (int64, error) { return 0, errors.New("disk gone") },
		IndexBytes: func() int64 { return 4096 },
		Incidents:  func() (uint64, error) { return 42, nil },
	}}, api.Config{Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	tok := mustKey(t, db, app.RoleReader)
	s := scrape(t, srv, tok)
	if s["cadbox_index_lag"] != 3 || s["cadbox_store_sequence"] != 10 || s["cadbox_index_sequence"] != 7 {
		t.Errorf("lag %g, store %g, index %g", s["cadbox_index_lag"], s["cadbox_store_sequence"], s["cadbox_index_sequence"])
	}
	if s["cadbox_index_size_bytes"] != 4096 || s["cadbox_incidents"] != 42 {
		t.Errorf("index size %g, incidents %g", s["cadbox_index_size_bytes"], s["cadbox_incidents"])
	}
	if _, ok := s["cadbox_store_size_bytes"]; ok {
		t.Error("a gauge whose function failed was served")
	}
	if gotCtx == nil || gotCtx == context.Background() {
		t.Error("the store sequence was not read under the request's context")
	}
	// Read at every scrape, not cached; an index ahead of the reading
	// (a write between the two reads) is no negative lag.
	mu.Lock()
	storeSeq, indexed = 20, 25
	mu.Unlock()
	s = scrape(t, srv, tok)
	if s["cadbox_store_sequence"] != 20 || s["cadbox_index_lag"] != 0 {
		t.Errorf("second scrape: store %g, lag %g", s["cadbox_store_sequence"], s["cadbox_index_lag"])
	}
	if s[`cadbox_build_info{goversion="`+runtime.Version()+`",version="1.2.3"}`] != 1 {
		t.Error("cadbox_build_info has not the configured version")
	}
}

func TestMetricsWithoutGauges(t *testing.T) {
	srv := newServer(t) // no Gauges
	s := scrape(t, srv, srv.token)
	for key := range s {
		if strings.HasPrefix(key, "cadbox_index_") || strings.HasPrefix(key, "cadbox_store_") || key == "cadbox_incidents" {
			t.Errorf("%s served without a gauge function", key)
		}
	}
	if _, ok := s[`cadbox_ingest_documents_total{outcome="failed"}`]; !ok {
		t.Error("ingest counters are not present before the first upload")
	}
}

func TestMetricsAccess(t *testing.T) {
	e := newMetricsEnv(t, api.Config{
		MetricsAllow:   mustNets(t, "10.0.0.0/8", "2001:db8::/32"),
		TrustedProxies: mustNets(t, "192.168.1.1/32"),
	}, nil)
	bad := "cbx_" + strings.Repeat("A", 43)
	cases := []struct {
		name, remote, token string
		hdr                 []string
		want                int
	}{
		{"no key, untrusted address", "203.0.113.5:4000", "", nil, 401},
		{"no key, allowed address", "10.1.2.3:4000", "", nil, 200},
		{"no key, allowed IPv6 address", "[2001:db8::7]:4000", "", nil, 200},
		{"no key, untrusted peer claiming an allowed address", "203.0.113.5:4000", "", []string{"X-Forwarded-For", "10.1.2.3"}, 401},
		{"no key, trusted proxy for an allowed client", "192.168.1.1:4000", "", []string{"X-Forwarded-For", "10.1.2.3"}, 200},
		{"no key, trusted proxy for an outside client", "192.168.1.1:4000", "", []string{"X-Forwarded-For", "203.0.113.5"}, 401},
		{"no key, trusted proxy for a spoofed chain", "192.168.1.1:4000", "", []string{"X-Forwarded-For", "10.1.2.3, 203.0.113.5"}, 401},
		{"no key, the proxy itself", "192.168.1.1:4000", "", nil, 401},
		{"reader key, untrusted address", "203.0.113.5:4000", e.reader, nil, 200},
		{"writer key, untrusted address", "203.0.113.5:4000", e.writer, nil, 200},
		{"bad key, allowed address", "10.1.2.3:4000", bad, nil, 401},
		{"malformed header, allowed address", "10.1.2.3:4000", "", []string{"Authorization", "Basic eDp5"}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := req(t, e.srv, "GET", "/metrics", c.remote, c.token, "", nil, c.hdr...)
			if rec.Code != c.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.want, rec.Body)
			}
			if c.want == 401 && (rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("WWW-Authenticate") == "") {
				t.Fatalf("401 without problem+json or WWW-Authenticate: %v", rec.Header())
			}
			if c.want == 200 && !strings.Contains(rec.Body.String(), "cadbox_http_requests_total") {
				t.Fatalf("no metrics in the body")
			}
		})
	}
	// The allow-list opens /metrics only.
	if rec := req(t, e.srv, "GET", "/api/v1/incidents", "10.1.2.3:4000", "", "", nil); rec.Code != 401 {
		t.Fatalf("an allowed address read incidents without a key: %d", rec.Code)
	}
}

func TestMetricsClosedByDefault(t *testing.T) {
	e := newMetricsEnv(t, api.Config{}, nil)
	for _, remote := range []string{"127.0.0.1:4000", "[::1]:4000", "10.1.2.3:4000"} {
		if rec := req(t, e.srv, "GET", "/metrics", remote, "", "", nil); rec.Code != 401 {
			t.Errorf("from %s without a key: %d, want 401", remote, rec.Code)
		}
	}
}

func TestMetricsRouteDecisionAndSpec(t *testing.T) {
	srv := newServer(t)
	var found []api.Decision
	for _, d := range srv.Decisions() {
		if d.Path == "/metrics" {
			found = append(found, d)
		}
		if d.AllowList && d.Path != "/metrics" {
			t.Errorf("%s %s is open to the metrics allow-list", d.Method, d.Path)
		}
	}
	if len(found) != 1 || found[0].Method != "GET" || found[0].Access != "reader" || !found[0].AllowList {
		t.Fatalf("decisions for /metrics: %+v", found)
	}
	var spec struct {
		Paths map[string]map[string]struct {
			Security  []map[string][]string `json:"security"`
			Responses map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(srv.Spec(), &spec); err != nil {
		t.Fatal(err)
	}
	op, ok := spec.Paths["/metrics"]["get"]
	if !ok {
		t.Fatal("GET /metrics is not in the OpenAPI spec")
	}
	if _, ok := op.Responses["200"].Content["text/plain"]; !ok {
		t.Errorf("200 of /metrics is not text/plain: %v", op.Responses["200"].Content)
	}
	if len(op.Security) == 0 {
		t.Error("/metrics has no security requirement in the spec")
	}
}

func TestRateLimitRejectionsCounted(t *testing.T) {
	e := newMetricsEnv(t, api.Config{RateLimit: 1, RateBurst: 2, MetricsAllow: mustNets(t, "10.0.0.0/8")}, nil)
	scrapeFrom := func() series {
		t.Helper()
		rec := req(t, e.srv, "GET", "/metrics", "10.9.9.9:1", "", "", nil)
		if rec.Code != 200 {
			t.Fatalf("scrape: %d", rec.Code)
		}
		return parseSeries(t, rec.Body.Bytes())
	}
	before := scrapeFrom()
	if v, ok := before["cadbox_rate_limited_requests_total"]; !ok || v != 0 {
		t.Fatalf("before: %v %v", v, ok)
	}
	var codes []int
	for range 5 {
		codes = append(codes, req(t, e.srv, "GET", "/api/v1/incidents", "", e.reader, "", nil).Code)
	}
	limited := 0
	for _, c := range codes {
		if c == 429 {
			limited++
		}
	}
	if limited == 0 || codes[0] != 200 {
		t.Fatalf("codes %v", codes)
	}
	after := scrapeFrom()
	if got := after["cadbox_rate_limited_requests_total"]; got != float64(limited) {
		t.Fatalf("rate-limited counter %g, want %d (codes %v)", got, limited, codes)
	}
	if got := after[`cadbox_http_requests_total{method="GET",route="/api/v1/incidents",status="429"}`]; got != float64(limited) {
		t.Fatalf("429 request counter %g, want %d", got, limited)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLogHasKeyIDNeverToken checks the access log of an
// authenticated request and of failed authentications: request_id,
// key_id, status and latency are there; the token is not.
func TestAccessLogHasKeyIDNeverToken(t *testing.T) {
	var logs syncBuffer
	e := newMetricsEnv(t, api.Config{}, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	k, err := e.db.KeyByHash(context.Background(), app.HashToken(e.reader))
	if err != nil {
		t.Fatal(err)
	}
	revoked := mustKey(t, e.db, app.RoleReader)
	rk, err := e.db.KeyByHash(context.Background(), app.HashToken(revoked))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RevokeKey(context.Background(), rk.ID, rk.Created); err != nil {
		t.Fatal(err)
	}
	unknown := "cbx_" + strings.Repeat("Q", 43)
	type sent struct {
		name, token, auth string
		status            int
		keyID             string
	}
	requests := []sent{
		{"authenticated", e.reader, "", 200, k.ID},
		{"writer role needed", e.reader, "", 403, k.ID},
		{"unknown key", unknown, "", 401, ""},
		{"revoked key", revoked, "", 401, ""},
		{"malformed header", "", "Bearer " + unknown + " trailing", 401, ""},
	}
	ids := map[string]sent{}
	for _, r := range requests {
		method, target := "GET", "/api/v1/incidents?token="+r.token
		var body []byte
		ctype := ""
		if r.status == 403 {
			method, target, ctype, body = "POST", "/api/v1/incidents", "application/json", doc("76000", "L1", "2017-05-15T00:50:00-04:00", "")
		}
		var hdr []string
		if r.auth != "" {
			hdr = []string{"Authorization", r.auth}
		}
		rec := req(t, e.srv, method, target, "", r.token, ctype, body, hdr...)
		if rec.Code != r.status {
			t.Fatalf("%s: %d, want %d: %s", r.name, rec.Code, r.status, rec.Body)
		}
		id := rec.Header().Get("X-Request-ID")
		if id == "" {
			t.Fatalf("%s: no X-Request-ID", r.name)
		}
		ids[id] = r
	}
	out := logs.String()
	for _, tok := range []string{e.reader, unknown, revoked} {
		for _, part := range []string{tok, strings.TrimPrefix(tok, "cbx_")} {
			if strings.Contains(out, part) {
				t.Fatalf("a token is in the log:\n%s", out)
			}
		}
	}
	seen := map[string]bool{}
	authFailures := 0
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "authentication failed" {
			authFailures++
			if _, ok := ids[fmt.Sprint(rec["request_id"])]; !ok {
				t.Errorf("authentication failure without the request's id: %s", line)
			}
			continue
		}
		if rec["msg"] != "request" {
			continue
		}
		id, _ := rec["request_id"].(string)
		r, ok := ids[id]
		if !ok {
			t.Errorf("access log line with an unknown request_id: %s", line)
			continue
		}
		seen[id] = true
		if status, _ := rec["status"].(float64); int(status) != r.status {
			t.Errorf("%s: logged status %v, want %d", r.name, rec["status"], r.status)
		}
		keyID, present := rec["key_id"]
		if !present {
			t.Errorf("%s: no key_id member", r.name)
		}
		if got, _ := keyID.(string); got != r.keyID {
			t.Errorf("%s: key_id %v, want %q", r.name, keyID, r.keyID)
		}
		if lat, ok := rec["latency"].(float64); !ok || lat <= 0 {
			t.Errorf("%s: latency %v", r.name, rec["latency"])
		}
		if strings.Contains(fmt.Sprint(rec["path"]), "token") {
			t.Errorf("%s: the query string is logged: %v", r.name, rec["path"])
		}
	}
	if len(seen) != len(requests) {
		t.Errorf("%d of %d requests in the access log:\n%s", len(seen), len(requests), out)
	}
	if authFailures != 3 {
		t.Errorf("%d authentication failures logged, want 3", authFailures)
	}
}
