package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/analysis"
	"cadbox/app/api"
	"cadbox/search"
	"cadbox/store"
)

// lockedBuffer is a log destination shared by the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was logged since the last call.
func (b *lockedBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

type hostileOptions struct {
	noSync bool // fuzzing: skip fsync (everything else is the real store)
	search bool // a search index and an analysis engine follow the store
	cfg    api.Config
}

// hostileEnv is the real server over a real store in t.TempDir(), with
// an admin key and its warnings and errors captured.
type hostileEnv struct {
	srv   *api.Server
	db    *store.DB
	token string
	log   *lockedBuffer
}

func newHostileEnv(tb testing.TB, o hostileOptions) *hostileEnv {
	tb.Helper()
	dir := tb.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{NoSync: o.noSync})
	if err != nil {
		tb.Fatal(err)
	}
	env := &hostileEnv{db: db, log: &lockedBuffer{}}
	log := slog.New(slog.NewJSONHandler(env.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	deps := api.Deps{Store: db, Keys: db, Backup: db.Backup, Log: log}
	var closers []func() error
	if o.search {
		ix, err := search.Open(context.Background(), filepath.Join(dir, "index"), db, search.Options{Logger: log})
		if err != nil {
			tb.Fatal(err)
		}
		eng, err := analysis.New(db, analysis.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		if err := eng.Build(context.Background()); err != nil {
			tb.Fatal(err)
		}
		closers = append(closers, ix.Close)
		deps.Store, deps.Search, deps.Analysis = app.NewService(db, ix, eng), ix, eng
	}
	tb.Cleanup(func() {
		for _, c := range closers {
			c()
		}
		db.Close()
	})
	if env.srv, err = api.NewServer(deps, o.cfg); err != nil {
		tb.Fatal(err)
	}
	env.token = mustKey(tb, db, app.RoleAdmin)
	tb.Cleanup(func() {
		if tb.Failed() {
			return
		}
		env.checkLog(tb)
	})
	return env
}

// state is what a rejected write must leave as it was: how many
// incidents are stored and the sequence number of the last write.
func (env *hostileEnv) state(tb testing.TB) (int, uint64) {
	tb.Helper()
	n, err := env.db.Count(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	seq, err := env.db.LastSeq(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n, seq
}

// checkLog fails on a recovered panic or a 5xx logged since the last
// check.
func (env *hostileEnv) checkLog(tb testing.TB) {
	tb.Helper()
	logged := env.log.take()
	for _, line := range strings.Split(logged, "\n") {
		if strings.Contains(line, `"msg":"panic"`) || strings.Contains(line, `"msg":"request failed"`) {
			tb.Fatalf("server logged: %.2000s", line)
		}
	}
}

// genReader streams prefix, then unit repeated, for size bytes in all,
// without holding them.
type genReader struct {
	prefix, unit []byte
	size, off    int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.off < g.size {
		var c byte
		if g.off < int64(len(g.prefix)) {
			c = g.prefix[g.off]
		} else {
			c = g.unit[(g.off-int64(len(g.prefix)))%int64(len(g.unit))]
		}
		p[n] = c
		n++
		g.off++
	}
	return n, nil
}

// gzipBomb returns gzip that inflates to prefix and then about size
// bytes of unit, repeated. A gzip stream may hold many members: one
// member of a mebibyte of unit is compressed once and repeated, so a
// bomb of hundreds of megabytes costs a few hundred kilobytes and no
// time to build.
func gzipBomb(tb testing.TB, prefix, unit []byte, size int64) []byte {
	tb.Helper()
	chunk := bytes.Repeat(unit, (1<<20)/len(unit))
	out := gzipped(tb, append(append([]byte(nil), prefix...), chunk...))
	rest := gzipped(tb, chunk)
	for n := int64(len(chunk)); n < size; n += int64(len(chunk)) {
		out = append(out, rest...)
	}
	return out
}

// hostileCase is one hostile request and what the server must answer.
type hostileCase struct {
	name   string
	method string
	path   string
	ctype  string
	header map[string]string
	body   func() io.Reader // nil: none
	length int64            // Content-Length; 0: as the body reader tells
	status int              // the status wanted; 0: any 4xx
	// pointer, when set, must be among the problem's errors, or among
	// those of the first failed record of a bulk report.
	pointer string
	// plain: the status comes from net/http before cadbox sees the
	// request, as text/plain (431 for headers over MaxHeaderBytes).
	plain bool
}

func bytesBody(b []byte) func() io.Reader { return func() io.Reader { return bytes.NewReader(b) } }
func textBody(s string) func() io.Reader  { return bytesBody([]byte(s)) }

const hostileLimit = 32 << 20 // the test server's body limit

func hostileDoc(extra string) string {
	return `{"fire_department":{"fd_id":"76000","timezone":"US/Eastern"},"description":{"incident_number":"H1","event_opened":"2017-05-15T13:19:12-04:00"` + extra + `}}`
}

func multipartBody(tb testing.TB, name string, content []byte) ([]byte, string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("files", name)
	if err != nil {
		tb.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func hostileCases(tb testing.TB) []hostileCase {
	tb.Helper()
	ex, err := os.ReadFile("testdata/example_incident.json")
	if err != nil {
		tb.Fatal(err)
	}
	const mb100 = 100 << 20
	post := func(name, ctype string, body func() io.Reader, status int, pointer string) hostileCase {
		return hostileCase{name: name, method: http.MethodPost, path: "/api/v1/incidents", ctype: ctype, body: body, status: status, pointer: pointer}
	}
	get := func(name, path string, status int, pointer string) hostileCase {
		return hostileCase{name: name, method: http.MethodGet, path: path, status: status, pointer: pointer}
	}
	js, nd := "application/json", "application/x-ndjson"
	million := "[" + strings.Repeat("1,", 999_999) + "1]"
	mpBomb, mpBombType := multipartBody(tb, "bomb.json.gz", gzipBomb(tb, nil, []byte("0"), 64<<20))
	mpTrunc, mpTruncType := multipartBody(tb, "a.ndjson", []byte(`{"version":"1"}`+"\n"+hostileDoc("")))
	mpTrunc = mpTrunc[:len(mpTrunc)-120] // into the second document
	longID := strings.Repeat("A", 10_000)
	cases := []hostileCase{
		// Truncated and malformed documents.
		post("TruncatedObject", js, bytesBody(ex[:len(ex)/2]), 400, ""),
		post("TruncatedArray", js, textBody(`[{"version":"1"},{"a":`), 422, ""),
		post("TruncatedNDJSON", nd, textBody(hostileDoc("")[:40]), 422, ""),
		post("TrailingGarbage", js, textBody(hostileDoc("")+`}`), 400, ""),
		post("ArrayThenMore", js, textBody(`[{"version":"1"}] [`+hostileDoc("")+`]`), 422, ""),
		post("Empty", js, textBody("  \n"), 400, ""),
		post("NotJSON", js, textBody("<xml/>"), 400, ""),
		// Deep nesting.
		post("DeepArray", js, textBody(strings.Repeat("[", 100_000)), 422, ""),
		post("DeepObject", js, textBody(strings.Repeat(`{"a":`, 100_000)), 400, ""),
		post("DeepMember", js, textBody(hostileDoc(`,"x":`+strings.Repeat("[", 100_000))), 400, ""),
		post("DeepNDJSON", nd, textBody(strings.Repeat(`{"a":`, 100_000)+"\n"), 422, ""),
		// Bodies over the limits, streamed.
		post("NDJSONOverBodyLimit", nd, func() io.Reader { return &genReader{unit: kbRecord("\n"), size: mb100} }, 413, ""),
		post("ArrayOverBodyLimit", js, func() io.Reader { return &genReader{prefix: []byte("["), unit: kbRecord(","), size: mb100} }, 413, ""),
		post("HugeArrayElement", js, func() io.Reader { return &genReader{prefix: []byte(`["`), unit: []byte("x"), size: mb100} }, 0, ""),
		post("HugeDocument", js, func() io.Reader { return &genReader{prefix: []byte(`{"a":"`), unit: []byte("x"), size: mb100} }, 413, ""),
		{name: "HugeDocumentWithLength", method: http.MethodPost, path: "/api/v1/incidents", ctype: nd, length: mb100,
			body: func() io.Reader { return &genReader{unit: []byte("x"), size: mb100} }, status: 413},
		{name: "MultipartOverBodyLimit", method: http.MethodPost, path: "/api/v1/incidents", ctype: "multipart/form-data; boundary=B",
			body: func() io.Reader {
				return &genReader{prefix: []byte("--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.ndjson\"\r\n\r\n"), unit: kbRecord("\n"), size: mb100}
			}, status: 413},
		post("MillionElements", js, textBody(million), 422, ""),
		post("MillionElementsAtomic", js, textBody(million), 422, ""),
		// Invalid UTF-8.
		post("InvalidUTF8Value", js, textBody(hostileDoc(`,"comments":"\xff\xfe"`)), 400, "/description/comments"),
		post("InvalidUTF8Name", js, textBody(hostileDoc(`,"\xc3\x28":1`)), 400, ""),
		post("InvalidUTF8NDJSON", nd, textBody(hostileDoc(`,"comments":"\xed\xa0\x80"`)), 422, "/description/comments"),
		// Numbers.
		post("NaN", js, textBody(`{"address":{"latitude":NaN}}`), 400, ""),
		post("Infinity", js, textBody(`{"address":{"longitude":Infinity}}`), 400, ""),
		post("MinusInfinity", js, textBody(`{"address":{"longitude":-Infinity}}`), 400, ""),
		post("NaNString", js, textBody(`{"address":{"latitude":"NaN"}}`), 422, "/address/latitude"),
		post("Hex", js, textBody(`{"address":{"latitude":0x10}}`), 400, ""),
		post("LeadingPlus", js, textBody(`{"address":{"latitude":+1}}`), 400, ""),
		post("LeadingZero", js, textBody(`{"address":{"latitude":01}}`), 400, ""),
		post("FloatOverflow", js, textBody(`{"address":{"latitude":1e400}}`), 422, "/address/latitude"),
		post("FloatOverflowNegative", js, textBody(`{"description":{"extended_data":{"event_duration":-1e400}}}`), 422, "/description/extended_data/event_duration"),
		post("FortyDigitInt", js, textBody(`{"description":{"alarms":1234567890123456789012345678901234567890}}`), 422, "/description/alarms"),
		post("FortyDigitLatitude", js, textBody(hostileDoc(`},"address":{"latitude":1234567890123456789012345678901234567890`)), 422, "/address/latitude"),
		post("HourOutOfRange", js, textBody(strings.Replace(hostileDoc(""), `"incident_number"`, `"hour_of_day":99999999999,"incident_number"`, 1)), 422, "/description/hour_of_day"),
		post("FractionForInt", js, textBody(`{"apparatus":[{"unit_id":"E1","unit_status":{"~":{"order":1.5}}}]}`), 422, "/apparatus/0/unit_status/~0/order"),
		post("ReservedMember", js, textBody(strings.TrimSuffix(hostileDoc(""), "}")+`,"\u0000apparatus_order":[]}`), 422, "/\x00apparatus_order"),
		// Ids: path traversal and odd bytes.
		get("DotDotPath", "/api/v1/departments/../incidents/x", 404, ""),
		get("EncodedDotDot", "/api/v1/departments/%2e%2e/incidents/%2e%2e", 404, ""),
		get("EncodedSlash", "/api/v1/departments/76000%2F..%2F..%2Fetc/incidents/passwd", 404, ""),
		get("NUL", "/api/v1/departments/76000%00/incidents/H1%00", 404, ""),
		get("LongID", "/api/v1/departments/"+longID+"/incidents/"+longID, 404, ""),
		get("InvalidUTF8ID", "/api/v1/departments/%ff%fe/incidents/%c3%28", 404, ""),
		get("RevisionNegative", "/api/v1/departments/76000/incidents/H1/revisions/-1", 422, "/revision"),
		get("RevisionOverflow", "/api/v1/departments/76000/incidents/H1/revisions/99999999999999999999999", 422, "/revision"),
		{name: "PutTraversal", method: http.MethodPut, path: "/api/v1/departments/..%2F..%2F/incidents/H1", ctype: js, body: textBody(hostileDoc("")), status: 422, pointer: "/fire_department/fd_id"},
		{name: "PutLongID", method: http.MethodPut, path: "/api/v1/departments/" + longID + "/incidents/H1", ctype: js, body: textBody(hostileDoc("")), status: 422, pointer: "/fire_department/fd_id"},
		{name: "DeleteTraversal", method: http.MethodDelete, path: "/api/v1/departments/%2e%2e/incidents/%00", status: 404},
		post("IDTraversalInBody", js, textBody(strings.Replace(hostileDoc(""), `"76000"`, `"../../etc"`, 1)), 422, "/fire_department/fd_id"),
		post("IDWithNUL", js, textBody(strings.Replace(hostileDoc(""), `"H1"`, `"H1\u0000"`, 1)), 422, "/description/incident_number"),
		post("IDTooLong", js, textBody(strings.Replace(hostileDoc(""), `"H1"`, `"`+longID+`"`, 1)), 422, "/description/incident_number"),
		post("UnitIDTraversal", js, textBody(strings.TrimSuffix(hostileDoc(""), "}")+`,"apparatus":[{"unit_id":"../E1"}]}`), 422, "/apparatus/0/unit_id"),
		// Header abuse.
		{name: "HugeHeader", method: http.MethodGet, path: "/api/v1/incidents", header: map[string]string{"X-Junk": strings.Repeat("j", 200<<10)}, status: 431, plain: true},
		{name: "HugeAuthorization", method: http.MethodGet, path: "/api/v1/incidents", header: map[string]string{"Authorization": "Bearer " + strings.Repeat("a", 60<<10)}, status: 401},
		{name: "ManyHeaders", method: http.MethodPost, path: "/api/v1/incidents", ctype: "text/plain", header: manyHeaders(2000), body: textBody(hostileDoc("")), status: 415},
		post("NoContentType", "", textBody(hostileDoc("")), 415, ""),
		post("BadContentType", "application/json;;;===", textBody(hostileDoc("")), 415, ""),
		post("WrongContentType", "image/png", textBody(hostileDoc("")), 415, ""),
		post("MultipartNoBoundary", "multipart/form-data", textBody("--x\r\n"), 400, ""),
		post("MultipartLongBoundary", "multipart/form-data; boundary="+strings.Repeat("b", 200), textBody("--x\r\n"), 0, ""),
		post("MultipartTruncated", mpTruncType, bytesBody(mpTrunc), 0, ""),
		post("MultipartNoFiles", "multipart/form-data; boundary=B", textBody("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--\r\n"), 400, ""),
		post("MultipartWrongFileType", "multipart/form-data; boundary=B", textBody("--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.exe\"\r\n\r\nMZ\r\n--B--\r\n"), 415, ""),
		{name: "UnknownEncoding", method: http.MethodPost, path: "/api/v1/incidents", ctype: js, header: map[string]string{"Content-Encoding": "br"}, body: textBody(hostileDoc("")), status: 415},
		{name: "StackedEncoding", method: http.MethodPost, path: "/api/v1/incidents", ctype: js, header: map[string]string{"Content-Encoding": "gzip, gzip"}, body: textBody(hostileDoc("")), status: 415},
		{name: "GzipNotGzip", method: http.MethodPost, path: "/api/v1/incidents", ctype: js, header: map[string]string{"Content-Encoding": "gzip"}, body: textBody(hostileDoc("")), status: 400},
		{name: "GzipTruncated", method: http.MethodPost, path: "/api/v1/incidents", ctype: nd, header: map[string]string{"Content-Encoding": "gzip"},
			body: func() io.Reader {
				b := gzipped(tb, []byte(`{"version":"1"}`+"\n"))
				return bytes.NewReader(b[:len(b)-8])
			}, status: 400},
		{name: "GzipBombDocument", method: http.MethodPost, path: "/api/v1/incidents", ctype: js, header: map[string]string{"Content-Encoding": "gzip"},
			body: bytesBody(gzipBomb(tb, []byte(`{"a":"`), []byte("a"), 256<<20)), status: 413},
		{name: "GzipBombNDJSON", method: http.MethodPost, path: "/api/v1/incidents", ctype: nd, header: map[string]string{"Content-Encoding": "gzip"},
			body: bytesBody(gzipBomb(tb, nil, []byte("0"), 256<<20)), status: 422},
		{name: "GzipBombArray", method: http.MethodPost, path: "/api/v1/incidents", ctype: js, header: map[string]string{"Content-Encoding": "gzip"},
			body: bytesBody(gzipBomb(tb, []byte(`["`), []byte("a"), 256<<20)), status: 422},
		post("GzipBombMultipart", mpBombType, bytesBody(mpBomb), 422, ""),
		// Atomic uploads that break off store nothing, valid records included.
		{name: "AtomicTruncatedGzip", method: http.MethodPost, path: "/api/v1/incidents?atomic=true", ctype: nd, header: map[string]string{"Content-Encoding": "gzip"},
			body: func() io.Reader {
				b := gzipped(tb, []byte(strings.Replace(hostileDoc(""), `"H1"`, `"H2"`, 1)+"\n"))
				return bytes.NewReader(b[:len(b)-8])
			}, status: 400},
		{name: "AtomicOverBodyLimit", method: http.MethodPost, path: "/api/v1/incidents?atomic=true", ctype: nd,
			body: func() io.Reader {
				return &genReader{prefix: []byte(strings.Replace(hostileDoc(""), `"H1"`, `"H3"`, 1) + "\n"), unit: []byte(strings.Repeat(" ", 1023) + "\n"), size: hostileLimit + 1}
			}, status: 413},
		// Query parameters.
		get("SearchBadSyntax", "/api/v1/search?q=%22unterminated", 422, "/q"),
		get("SearchRegexp", "/api/v1/search?q=%2F(((((a%2F", 422, "/q"),
		get("SearchHugeQuery", "/api/v1/search?q="+strings.Repeat("a%20", 10_000)+"%22", 422, "/q"),
		get("SearchBadDateInQuery", "/api/v1/search?q=event_opened:%3E%22yesterday%22", 422, "/q"),
		get("SearchDateOutOfRange", "/api/v1/search?q=event_opened:%3E%229999-01-01T00:00:00Z%22", 422, "/q"),
		get("SearchFromOutOfRange", "/api/v1/search?from=0001-01-01T00:00:01Z&to=9999-01-01T00:00:00Z", 422, "/from"),
		get("SearchLimitNegative", "/api/v1/search?limit=-1", 422, "/limit"),
		get("SearchLimitHuge", "/api/v1/search?limit=99999999999999999999999", 422, "/limit"),
		get("SearchLimitText", "/api/v1/search?limit=ten", 422, "/limit"),
		get("SearchBadFrom", "/api/v1/search?from=yesterday", 422, "/from"),
		get("SearchBBoxNaN", "/api/v1/search?bbox=NaN,NaN,NaN,NaN", 422, "/bbox"),
		get("SearchBBoxInverted", "/api/v1/search?bbox=10,10,-10,-10", 422, "/bbox"),
		get("SearchNearInf", "/api/v1/search?near=Inf,-Inf", 422, "/near"),
		get("SearchRadiusNegative", "/api/v1/search?near=37.5,-77.4&radius=-1km", 422, "/radius"),
		get("SearchRadiusHuge", "/api/v1/search?near=37.5,-77.4&radius=1e308km", 422, "/radius"),
		get("SearchRadiusAlone", "/api/v1/search?radius=1km", 422, "/radius"),
		get("SearchSort", "/api/v1/search?sort=%00", 422, "/sort"),
		get("SearchCursor", "/api/v1/search?cursor="+strings.Repeat("%FF", 1000), 422, "/cursor"),
		get("SearchCursorWrongSort", "/api/v1/search?sort=event_opened&cursor=WyIxIl0", 422, "/cursor"),
		get("SearchFacets", "/api/v1/search?facets=type,../../etc", 422, "/facets"),
		get("ListLimit", "/api/v1/incidents?limit=1001", 422, "/limit"),
		get("ListLimitNegative", "/api/v1/incidents?limit=-5", 422, "/limit"),
		get("ListCursor", "/api/v1/incidents?cursor=%00%01%02", 422, "/cursor"),
		get("ListFrom", "/api/v1/incidents?from=2017-13-45T99:99:99Z", 422, "/from"),
		get("ListTo", "/api/v1/incidents?to=%FF", 422, "/to"),
		get("ApparatusNoUnit", "/api/v1/apparatus", 422, "/unit_id"),
		get("ApparatusLimit", "/api/v1/apparatus?unit_id=E1&limit=1e3", 422, "/limit"),
		get("StatsGroupBy", "/api/v1/stats/durations?group_by=../../etc", 422, ""),
		get("StatsMetrics", "/api/v1/stats/durations?metrics=bogus", 422, ""),
		get("StatsPercentiles", "/api/v1/stats/durations?percentiles=101,NaN", 422, ""),
		get("StatsFrom", "/api/v1/stats/durations?from=yesterday", 422, "/from"),
		get("StatsFormat", "/api/v1/stats/durations?format=xml", 422, ""),
		get("StatsGoal", "/api/v1/stats/nfpa1710?goal=NaN", 422, ""),
		get("StatsGoalRange", "/api/v1/stats/nfpa1710?goal=2", 422, ""),
		get("StatsTurnout", "/api/v1/stats/nfpa1710?turnout_ems_seconds=-1", 422, ""),
		get("StatsTurnoutHuge", "/api/v1/stats/nfpa1710?turnout_ems_seconds=1e30", 422, ""),
		get("StatsHeatmapCount", "/api/v1/stats/workload/heatmap?count=bogus", 422, ""),
		get("StatsUnits", "/api/v1/stats/workload/units?from=2018-01-01T00:00:00Z&to=2017-01-01T00:00:00Z", 0, ""),
		get("UnknownRoute", "/api/v1/../../etc/passwd", 404, ""),
		{name: "WrongMethod", method: "TRACE", path: "/api/v1/incidents", status: 405},
	}
	for i := range cases {
		if cases[i].method == "" {
			cases[i].method = http.MethodGet
		}
	}
	// The atomic variant of the million elements.
	for i := range cases {
		if cases[i].name == "MillionElementsAtomic" {
			cases[i].path += "?atomic=true"
		}
	}
	return cases
}

// kbRecord is a record of about a kilobyte that is not a valid incident
// (no ids), then sep.
func kbRecord(sep string) []byte {
	return []byte(`{"description":{"comments":"` + strings.Repeat("x", 1000) + `"}}` + sep)
}

func manyHeaders(n int) map[string]string {
	h := make(map[string]string, n)
	for i := range n {
		h["X-Many-"+strconv.Itoa(i)] = "v"
	}
	return h
}

// startHostile serves env over HTTP with the production server's header
// limit.
func startHostile(t *testing.T, env *hostileEnv) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(env.srv)
	ts.Config.MaxHeaderBytes = 64 << 10
	ts.Config.ReadHeaderTimeout = 10 * time.Second
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func (c hostileCase) send(t *testing.T, base, token string) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		body = c.body()
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.length > 0 {
		req.ContentLength = c.length
	} else if _, gen := body.(*genReader); gen {
		req.ContentLength = -1 // chunked: the size is not announced
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path[:min(len(c.path), 80)], err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	return resp, b
}

// TestHostileRequests sends the hostile corpus to the real server (store,
// search index and analysis engine over HTTP) after storing one incident.
// Every request is answered with a 4xx problem document (with the JSON
// pointer of the offending place where there is one), nothing is
// stored, nothing panics and nothing answers 5xx.
func TestHostileRequests(t *testing.T) {
	env := newHostileEnv(t, hostileOptions{search: true,
		cfg: api.Config{BodyLimit: hostileLimit, DocumentLimit: 1 << 20, BatchSize: 1000}})
	ts := startHostile(t, env)
	seed := hostileCase{method: http.MethodPost, path: "/api/v1/incidents", ctype: "application/json", body: textBody(hostileDoc(""))}
	if resp, b := seed.send(t, ts.URL, env.token); resp.StatusCode != http.StatusCreated {
		t.Fatalf("seed incident: %d %s", resp.StatusCode, b)
	}
	env.checkLog(t)
	for _, c := range hostileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			n0, seq0 := env.state(t)
			start := time.Now()
			resp, body := c.send(t, ts.URL, env.token)
			took := time.Since(start)
			env.checkLog(t)
			if n, seq := env.state(t); n != n0 || seq != seq0 {
				t.Fatalf("a rejected request changed the store: %d -> %d incidents, seq %d -> %d", n0, n, seq0, seq)
			}
			st := resp.StatusCode
			if st < 400 || st >= 500 || (c.status != 0 && st != c.status) {
				want := "4xx"
				if c.status != 0 {
					want = strconv.Itoa(c.status)
				}
				t.Fatalf("status %d, want %s: %.500s", st, want, body)
			}
			if c.plain {
				return
			}
			p := checkProblem(t, resp, body, st)
			if c.pointer != "" {
				ptrs := pointersOf(t, p, body)
				if !containsString(ptrs, c.pointer) {
					t.Fatalf("no error at %q; pointers %q: %.500s", c.pointer, ptrs, body)
				}
			}
			t.Logf("%d %s in %v", st, p.Type, took.Round(time.Millisecond))
		})
	}
}

// pointersOf lists the pointers of a problem, or of the first failure of
// a bulk report (a 422 when every record failed).
func pointersOf(t *testing.T, p api.Problem, body []byte) []string {
	t.Helper()
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Pointer)
	}
	var bulk struct {
		Failures []api.BulkFailure `json:"failures"`
	}
	if err := json.Unmarshal(body, &bulk); err == nil && len(bulk.Failures) > 0 {
		for _, e := range bulk.Failures[0].Problem.Errors {
			out = append(out, e.Pointer)
		}
	}
	sort.Strings(out)
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestHostileWrongTypes replaces, one at a time, every member and element
// of the real example incident with a value of the wrong type (a number
// for a string, a string for a number or a boolean, an object for an
// array, an array for an object) and expects a 422 that points at
// exactly that place, and nothing stored.
func TestHostileWrongTypes(t *testing.T) {
	env := newHostileEnv(t, hostileOptions{cfg: api.Config{BodyLimit: hostileLimit, DocumentLimit: 1 << 20}})
	ex, err := os.ReadFile("testdata/example_incident.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(ex))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var paths [][]string
	collectPaths(doc, nil, &paths)
	if len(paths) < 200 {
		t.Fatalf("only %d places in the example", len(paths))
	}
	n0, seq0 := env.state(t)
	for _, p := range paths {
		ptr := pointerOf(p)
		mutated := replaceAt(t, doc, p)
		b, err := json.Marshal(mutated)
		if err != nil {
			t.Fatal(err)
		}
		rec := do(t, env.srv, http.MethodPost, "/api/v1/incidents", "application/json", b, "Authorization", "Bearer "+env.token)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422: %.300s", ptr, rec.Code, rec.Body)
			continue
		}
		pr := checkProblem(t, rec.Result(), rec.Body.Bytes(), rec.Code)
		if len(pr.Errors) != 1 || pr.Errors[0].Pointer != ptr {
			t.Errorf("%s: errors %+v", ptr, pr.Errors)
		}
	}
	env.checkLog(t)
	if n, seq := env.state(t); n != n0 || seq != seq0 {
		t.Fatalf("rejected writes changed the store: %d -> %d incidents, seq %d -> %d", n0, n, seq0, seq)
	}
	t.Logf("%d places checked", len(paths))
}

func collectPaths(v any, at []string, out *[][]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := append(append([]string(nil), at...), k)
			*out = append(*out, p)
			collectPaths(e, p, out)
		}
	case []any:
		for i, e := range v {
			p := append(append([]string(nil), at...), strconv.Itoa(i))
			*out = append(*out, p)
			collectPaths(e, p, out)
		}
	}
}

func pointerOf(path []string) string {
	var b strings.Builder
	for _, s := range path {
		b.WriteString("/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(s))
	}
	return b.String()
}

// replaceAt returns a deep copy of doc with the value at path replaced by
// one of the wrong type.
func replaceAt(t *testing.T, doc any, path []string) any {
	t.Helper()
	if len(path) == 0 {
		switch doc.(type) {
		case string:
			return json.Number("12345")
		case json.Number, bool:
			return "12.5"
		case []any:
			return map[string]any{"x": 1}
		case map[string]any:
			return []any{"x"}
		}
		t.Fatalf("no wrong type for %T", doc)
	}
	switch v := doc.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = e
		}
		out[path[0]] = replaceAt(t, v[path[0]], path[1:])
		return out
	case []any:
		out := append([]any(nil), v...)
		i, _ := strconv.Atoi(path[0])
		out[i] = replaceAt(t, v[i], path[1:])
		return out
	}
	t.Fatalf("cannot descend into %T", doc)
	return nil
}

// TestHostileValuesKept stores documents whose unknown members hold
// values that strict readers choke on (40-digit integers, 1e400, deep
// but legal nesting, the "~" status key, escaped control characters)
// and reads them back exactly.
func TestHostileValuesKept(t *testing.T) {
	env := newHostileEnv(t, hostileOptions{cfg: api.Config{BodyLimit: hostileLimit, DocumentLimit: 1 << 20}})
	extra := `,"x_big":1234567890123456789012345678901234567890,"x_huge":1e400,"x_neg":-0,"x_deep":` +
		strings.Repeat("[", 500) + strings.Repeat("]", 500) + `,"x_ctl":"\u0000\u001f\u2028","x_obj":{"b":{"c":null,"d":1}}`
	body := strings.TrimSuffix(hostileDoc(""), "}") + extra + `,"apparatus":[{"unit_id":"E1","unit_status":{"~":{"timestamp":"2017-05-15T13:19:12-04:00"}}}]}`
	rec := do(t, env.srv, http.MethodPost, "/api/v1/incidents", "application/json", []byte(body), "Authorization", "Bearer "+env.token)
	if rec.Code != http.StatusCreated {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = do(t, env.srv, http.MethodGet, "/api/v1/departments/76000/incidents/H1", "", nil, "Authorization", "Bearer "+env.token)
	got := rec.Body.String()
	for _, want := range []string{`"x_big":1234567890123456789012345678901234567890`, `"x_huge":1e400`, `"x_neg":-0`,
		`"x_deep":` + strings.Repeat("[", 500) + strings.Repeat("]", 500), `"x_obj":{"b":{"d":1}}`, `"~":{"timestamp":"2017-05-15T13:19:12-04:00"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("%.80s missing from %.600s", want, got)
		}
	}
	var back map[string]any
	dec := json.NewDecoder(rec.Body)
	dec.UseNumber()
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("the stored document is not JSON: %v", err)
	}
	if back["x_ctl"] != "\x00\x1f\u2028" {
		t.Errorf("x_ctl = %q", back["x_ctl"])
	}
	// An identical resend is unchanged: the stored form is canonical.
	rec = do(t, env.srv, http.MethodPost, "/api/v1/incidents", "application/json", []byte(body), "Authorization", "Bearer "+env.token)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"unchanged"`) {
		t.Fatalf("resend: %d %s", rec.Code, rec.Body)
	}
	env.checkLog(t)
}
