package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/analysis"
	"cadbox/app/api"
	"cadbox/app/fixture"
	"cadbox/store"
)

// statsEnv is a server whose writes go through a Service that keeps an
// analysis engine up to date, with an admin key.
type statsEnv struct {
	srv   *api.Server
	eng   *analysis.Engine
	db    *store.DB
	token string
}

func newStatsEnv(tb testing.TB, withEngine bool) *statsEnv {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "cadbox.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	env := &statsEnv{db: db}
	deps := api.Deps{Store: db, Keys: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if withEngine {
		eng, err := analysis.New(db, analysis.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		if err := eng.Build(context.Background()); err != nil {
			tb.Fatal(err)
		}
		env.eng = eng
		deps.Store, deps.Analysis = app.NewService(db, eng), eng
	}
	if env.srv, err = api.NewServer(deps, api.Config{BatchSize: 50}); err != nil {
		tb.Fatal(err)
	}
	if env.eng != nil {
		env.srv.AddReadyCheck("analysis", env.eng.Ready)
	}
	env.token = env.key(tb, app.RoleAdmin)
	return env
}

func (env *statsEnv) key(tb testing.TB, role app.Role, departments ...string) string {
	tb.Helper()
	k, token, err := app.NewAPIKey("stats "+string(role), role, departments, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := env.db.CreateKey(context.Background(), k); err != nil {
		tb.Fatal(err)
	}
	return token
}

// get sends a GET with the admin key unless a token is given.
func (env *statsEnv) get(tb testing.TB, url string, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+env.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	env.srv.ServeHTTP(rec, req)
	return rec
}

func (env *statsEnv) upload(tb testing.TB, docs ...[]byte) {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/incidents", bytes.NewReader(bytes.Join(docs, []byte("\n"))))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+env.token)
	rec := httptest.NewRecorder()
	env.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"failed":0`) {
		tb.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
}

func decode[T any](tb testing.TB, rec *httptest.ResponseRecorder) T {
	tb.Helper()
	var v T
	if rec.Code != http.StatusOK {
		tb.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("content type %q", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		tb.Fatalf("%v: %s", err, rec.Body)
	}
	return v
}

func readCSV(tb testing.TB, rec *httptest.ResponseRecorder) [][]string {
	tb.Helper()
	if rec.Code != http.StatusOK {
		tb.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		tb.Fatalf("content type %q", ct)
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	if len(rows) == 0 {
		tb.Fatal("no header row")
	}
	return rows
}

// hazmat is incident F01705150050 of the real samples, trimmed to two
// units: E22 (turnout 81 s, travel 688 s, cleared before it arrived) and
// H3.
const hazmat = `{"fire_department":{"fd_id":"76000","timezone":"US/Eastern","shift":"B"},
"description":{"incident_number":"F01705150050","type":"HAZMAT","subtype":"SMELL OR ODOR (NO SPILL)",
 "event_opened":"2017-05-15T13:19:12-04:00","event_closed":"2017-05-15T14:46:46-04:00",
 "extended_data":{"dispatch_duration":18,"event_duration":5254,"response_time":762}},
"apparatus":[
 {"unit_id":"H3","unit_type":"Hazmat Unit","station":"FSTA22","shift":"B","unit_status":{
  "dispatched":{"timestamp":"2017-05-15T13:19:30-04:00"},"enroute":{"timestamp":"2017-05-15T13:23:48-04:00"},
  "arrived":{"timestamp":"2017-05-15T13:32:12-04:00"},"cleared":{"timestamp":"2017-05-15T13:32:04-04:00"},
  "available":{"timestamp":"2017-05-15T14:28:24-04:00"}},
  "extended_data":{"turnout_duration":258,"travel_duration":504,"response_duration":762}},
 {"unit_id":"E22","unit_type":"Engine","station":"FSTA22","shift":"B","unit_status":{
  "dispatched":{"timestamp":"2017-05-15T13:19:31-04:00"},"enroute":{"timestamp":"2017-05-15T13:20:52-04:00"},
  "arrived":{"timestamp":"2017-05-15T13:32:20-04:00"},"cleared":{"timestamp":"2017-05-15T13:29:02-04:00"},
  "available":{"timestamp":"2017-05-15T14:46:45-04:00"}},
  "extended_data":{"turnout_duration":81,"travel_duration":688,"response_duration":769}}]}`

func compactJSON(s string) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestIncidentMetricsAPI(t *testing.T) {
	env := newStatsEnv(t, true)
	env.upload(t, compactJSON(hazmat))
	url := "/api/v1/departments/76000/incidents/F01705150050/metrics"
	m := decode[api.IncidentMetricsResponse](t, env.get(t, url))
	if m.FirstArrivingUnit != "H3" || m.FirstArrivingEngine != "E22" || m.NFPAType != "fire" || m.Units != 2 ||
		m.Local != (api.LocalTime{Hour: 13, Weekday: "Monday", Month: "2017-05"}) {
		t.Fatalf("incident %+v", m)
	}
	var e22 *api.UnitMetricsJSON
	for i := range m.Apparatus {
		if m.Apparatus[i].UnitID == "E22" {
			e22 = &m.Apparatus[i]
		}
	}
	if e22 == nil {
		t.Fatal("no E22")
	}
	sec := func(v api.MetricValue) int64 {
		if v.Seconds == nil {
			t.Fatalf("missing %+v", v)
		}
		return *v.Seconds
	}
	if sec(e22.Metrics["turnout"]) != 81 || sec(e22.Metrics["travel"]) != 688 || !e22.Metrics["turnout"].Included {
		t.Fatalf("E22 %+v", e22.Metrics)
	}
	os := e22.Metrics["on_scene"]
	if sec(os) != -198 || os.Included || len(os.Flags) != 1 || os.Flags[0].Reason != "negative" || !strings.Contains(os.Flags[0].Detail, "cleared") {
		t.Fatalf("E22 on_scene %+v", os)
	}
	if sec(m.Metrics["alarm_processing"]) != 18 || sec(m.Metrics["first_response"]) != 762 || m.Metrics["alarm_answering"].Seconds != nil {
		t.Fatalf("incident metrics %+v", m.Metrics)
	}
	// NFPA: E22 turnout 81 s > 80 s (fire); engine travel 688 > 240.
	checks := map[string]api.NFPACheck{}
	for _, c := range m.NFPA1710 {
		checks[c.Measure+"/"+c.UnitID] = c
	}
	if c := checks["turnout_fire/E22"]; c.Compliant == nil || *c.Compliant || c.Threshold != 80 {
		t.Fatalf("E22 turnout check %+v", c)
	}
	if c := checks["first_engine_travel/E22"]; c.Compliant == nil || *c.Compliant {
		t.Fatalf("engine travel check %+v", c)
	}

	rows := readCSV(t, env.get(t, url, "Accept", "text/csv"))
	if !slices.Equal(rows[0], []string{"scope", "unit_id", "metric", "seconds", "from", "to", "included", "flags", "provided"}) {
		t.Fatalf("header %v", rows[0])
	}
	found := false
	for _, r := range rows[1:] {
		if r[1] == "E22" && r[2] == "on_scene" {
			found = r[3] == "-198" && r[6] == "false" && r[7] == "negative"
		}
	}
	if !found || len(rows) != 1+9+2*5 {
		t.Fatalf("csv rows %v", rows)
	}

	if rec := env.get(t, "/api/v1/departments/76000/incidents/NOPE/metrics"); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown incident: %d", rec.Code)
	}
	// A key of another department does not learn the incident exists.
	other := env.key(t, app.RoleReader, "99999")
	if rec := env.get(t, url, "Authorization", "Bearer "+other); rec.Code != http.StatusNotFound {
		t.Fatalf("other department: %d %s", rec.Code, rec.Body)
	}
}

func TestStatsAPI(t *testing.T) {
	env := newStatsEnv(t, true)
	g := fixture.New(3)
	var docs [][]byte
	for i := range 600 {
		docs = append(docs, g.JSON(i))
	}
	env.upload(t, docs...)

	// JSON equals what the engine computes, with the extra percentiles.
	url := "/api/v1/stats/durations?metrics=turnout&group_by=unit&percentiles=75,95&department=76000"
	res := decode[api.DurationsResponse](t, env.get(t, url))
	want, err := env.eng.Durations(context.Background(), analysis.Query{Filter: analysis.Filter{Department: "76000"},
		GroupBy: []analysis.Dimension{analysis.ByUnit}, Percentiles: []float64{75, 95}}, []analysis.Metric{analysis.Turnout})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(want.Rows) || len(res.Rows) < 10 || !slices.Equal(res.Percentiles, []float64{50, 75, 90, 95}) || !slices.Equal(res.GroupBy, []string{"unit"}) {
		t.Fatalf("%d rows (want %d), percentiles %v", len(res.Rows), len(want.Rows), res.Percentiles)
	}
	var total int64
	for i, r := range res.Rows {
		w := want.Rows[i]
		if r.Group["unit"] != w.Group[0] || r.Count != w.Count || r.Excluded.Negative != w.Excluded[analysis.Negative] {
			t.Fatalf("row %d: %+v, engine %+v", i, r, w)
		}
		if w.Count > 0 && (r.Percentiles["p90"] == nil || *r.Percentiles["p90"] != w.Percentiles[2] || *r.Percentiles["p95"] != w.Percentiles[3]) {
			t.Fatalf("row %d percentiles %v, engine %v", i, r.Percentiles, w.Percentiles)
		}
		total += r.Count
	}

	// CSV: the same rows under a header.
	rows := readCSV(t, env.get(t, url+"&format=csv"))
	wantHeader := []string{"unit", "metric", "count", "mean", "min", "max", "p50", "p75", "p90", "p95",
		"excluded_missing", "excluded_negative", "excluded_out_of_order", "excluded_implausible", "excluded_disagrees"}
	if !slices.Equal(rows[0], wantHeader) || len(rows) != len(res.Rows)+1 || rows[1][0] != res.Rows[0].Group["unit"] {
		t.Fatalf("csv %v", rows[:2])
	}
	if rows := readCSV(t, env.get(t, url, "Accept", "text/csv")); len(rows) != len(res.Rows)+1 {
		t.Fatal("Accept: text/csv ignored")
	}

	// Read-your-writes: a new incident counts at once.
	env.upload(t, compactJSON(hazmat))
	after := decode[api.DurationsResponse](t, env.get(t, url))
	var total2 int64
	for _, r := range after.Rows {
		total2 += r.Count
	}
	if total2 != total+2 {
		t.Fatalf("turnouts %d after upload, want %d", total2, total+2)
	}
	// Deleting it takes it out again.
	req := httptest.NewRequest(http.MethodDelete, "/api/v1/departments/76000/incidents/F01705150050", nil)
	req.Header.Set("Authorization", "Bearer "+env.token)
	rec := httptest.NewRecorder()
	env.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	var total3 int64
	for _, r := range decode[api.DurationsResponse](t, env.get(t, url)).Rows {
		total3 += r.Count
	}
	if total3 != total {
		t.Fatalf("turnouts %d after delete, want %d", total3, total)
	}
	env.upload(t, compactJSON(hazmat))

	// Every other aggregate answers JSON and CSV.
	for _, u := range []string{
		"/api/v1/stats/nfpa1710?group_by=station&department=76000",
		"/api/v1/stats/quality?metrics=on_scene,commitment&group_by=unit_type",
		"/api/v1/stats/workload/types",
		"/api/v1/stats/workload/heatmap?department=38005",
		"/api/v1/stats/workload/units?department=76000&group_by=unit,hour",
		"/api/v1/stats/workload/concurrency?group_by=department&percentiles=99",
	} {
		rec := env.get(t, u)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", u, rec.Code, rec.Body)
		}
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		if rows := readCSV(t, env.get(t, u+sep+"format=csv")); len(rows) < 2 {
			t.Fatalf("%s csv: %v", u, rows)
		}
	}
	nfpa := decode[api.ComplianceResponse](t, env.get(t, "/api/v1/stats/nfpa1710?turnout_fire_seconds=100"))
	if nfpa.Thresholds.TurnoutFire != 100 || nfpa.Thresholds.TurnoutEMS != 60 || len(nfpa.Rows) != 4 {
		t.Fatalf("nfpa %+v", nfpa)
	}
	types := decode[api.CountsResponse](t, env.get(t, "/api/v1/stats/workload/types"))
	heat := decode[api.HeatmapResponse](t, env.get(t, "/api/v1/stats/workload/heatmap"))
	if types.Incidents != 601 || heat.Total != 601 || len(heat.Rows) != 7 || heat.Rows[0].Weekday != "Monday" || len(heat.Rows[0].Hours) != 24 {
		t.Fatalf("types %d incidents, heatmap %d", types.Incidents, heat.Total)
	}
	heatCSV := readCSV(t, env.get(t, "/api/v1/stats/workload/heatmap?format=csv"))
	if len(heatCSV) != 8 || len(heatCSV[0]) != 26 || heatCSV[0][1] != "0" || heatCSV[7][0] != "Sunday" {
		t.Fatalf("heatmap csv %v", heatCSV[0])
	}

	// A key scoped to one department only sees that department.
	scoped := env.key(t, app.RoleReader, "38005")
	mine := decode[api.CountsResponse](t, env.get(t, "/api/v1/stats/workload/types", "Authorization", "Bearer "+scoped))
	sf := decode[api.CountsResponse](t, env.get(t, "/api/v1/stats/workload/types?department=38005"))
	if mine.Incidents != sf.Incidents || mine.Incidents == 0 || mine.Incidents >= types.Incidents {
		t.Fatalf("scoped %d, department 38005 %d, all %d", mine.Incidents, sf.Incidents, types.Incidents)
	}
	if rec := env.get(t, "/api/v1/stats/workload/types", "Authorization", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", rec.Code)
	}
}

func TestStatsProblems(t *testing.T) {
	env := newStatsEnv(t, true)
	for _, c := range []struct{ url, pointer string }{
		{"/api/v1/stats/durations?group_by=planet", "/group_by"},
		{"/api/v1/stats/durations?group_by=unit,unit", "/group_by"},
		{"/api/v1/stats/durations?metrics=speed", "/metrics"},
		{"/api/v1/stats/durations?percentiles=101", "/percentiles"},
		{"/api/v1/stats/durations?from=yesterday", "/from"},
		{"/api/v1/stats/durations?from=2018-01-01T00:00:00Z&to=2017-01-01T00:00:00Z", "/to"},
		{"/api/v1/stats/durations?format=xml", "/format"},
		{"/api/v1/stats/nfpa1710?goal=2", "/goal"},
		{"/api/v1/stats/workload/heatmap?count=calls", "/count"},
		{"/api/v1/stats/workload/units?group_by=hour", ""}, // fine on an empty store
	} {
		rec := env.get(t, c.url)
		if c.pointer == "" {
			if rec.Code != http.StatusOK {
				t.Errorf("%s: %d %s", c.url, rec.Code, rec.Body)
			}
			continue
		}
		if rec.Code != http.StatusUnprocessableEntity || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", c.url, rec.Code, rec.Body)
			continue
		}
		var p api.Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Errors) == 0 || p.Errors[0].Pointer != c.pointer || p.Type != "urn:cadbox:problem:invalid" {
			t.Errorf("%s: problem %+v", c.url, p)
		}
	}
	// Without an engine the aggregates are unavailable; incident metrics
	// still work with the default configuration.
	bare := newStatsEnv(t, false)
	if rec := bare.get(t, "/api/v1/stats/durations"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("no engine: %d %s", rec.Code, rec.Body)
	}
	bare.upload(t, compactJSON(hazmat))
	if rec := bare.get(t, "/api/v1/departments/76000/incidents/F01705150050/metrics"); rec.Code != http.StatusOK {
		t.Fatalf("metrics without engine: %d %s", rec.Code, rec.Body)
	}
}

func TestStatsSpec(t *testing.T) {
	env := newStatsEnv(t, true)
	rec := env.get(t, "/openapi.json")
	var spec struct {
		Paths map[string]map[string]struct {
			Description string `json:"description"`
			Responses   map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &spec); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/v1/stats/durations", "/api/v1/stats/nfpa1710", "/api/v1/stats/quality", "/api/v1/stats/workload/types",
		"/api/v1/stats/workload/heatmap", "/api/v1/stats/workload/units", "/api/v1/stats/workload/concurrency",
		"/api/v1/departments/{fd_id}/incidents/{incident_number}/metrics"} {
		op, ok := spec.Paths[p]["get"]
		if !ok {
			t.Errorf("spec lacks GET %s", p)
			continue
		}
		if !strings.Contains(op.Description, "numpy") {
			t.Errorf("%s: the percentile method is not documented", p)
		}
		content := op.Responses["200"].Content
		if _, ok := content["text/csv"]; !ok {
			t.Errorf("%s: no text/csv response in the spec (%v)", p, content)
		}
		if _, ok := content["application/json"]; !ok {
			t.Errorf("%s: no JSON response in the spec", p)
		}
	}
	if rec := env.get(t, "/readyz"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"analysis":"ok"`) {
		t.Fatalf("readyz %d %s", rec.Code, rec.Body)
	}
}

// BenchmarkIncidentMetricsAPI is the per-incident endpoint end to end:
// store read, computation, JSON.
func BenchmarkIncidentMetricsAPI(b *testing.B) {
	env := newStatsEnv(b, true)
	env.upload(b, compactJSON(hazmat), fixture.New(1).JSON(12345))
	for b.Loop() {
		if rec := env.get(b, "/api/v1/departments/76000/incidents/F01705150050/metrics"); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// Free text from the data cannot become a spreadsheet formula, and a
// client that prefers JSON gets JSON.
func TestStatsCSVSafety(t *testing.T) {
	env := newStatsEnv(t, true)
	env.upload(t, []byte(`{"fire_department":{"fd_id":"1","timezone":"UTC"},"description":{"incident_number":"A1","type":"=HYPERLINK(\"http://x\")","event_opened":"2020-01-01T00:00:00Z"}}`))
	rows := readCSV(t, env.get(t, "/api/v1/stats/workload/types?group_by=type&format=csv"))
	if len(rows) != 2 || rows[1][0] != `'=HYPERLINK("http://x")` {
		t.Fatalf("csv %q", rows)
	}
	res := decode[api.CountsResponse](t, env.get(t, "/api/v1/stats/workload/types?group_by=type", "Accept", "application/json, text/csv;q=0.5"))
	if len(res.Rows) != 1 || res.Rows[0].Group["type"] != `=HYPERLINK("http://x")` {
		t.Fatalf("json %+v", res.Rows)
	}
}
