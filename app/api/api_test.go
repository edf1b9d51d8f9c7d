package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/api"
	"cadbox/search"
	"cadbox/store"
)

// testServer is a server with an all-department admin key that do()
// sends unless a request names its own Authorization header.
type testServer struct {
	*api.Server
	token string
	db    *store.DB
}

func newServer(tb testing.TB) *testServer {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "cadbox.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	srv, err := api.NewServer(api.Deps{Store: db, Keys: db, Backup: db.Backup, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		api.Config{BodyLimit: 1 << 20, DocumentLimit: 256 << 10, BatchSize: 3})
	if err != nil {
		tb.Fatal(err)
	}
	return &testServer{Server: srv, token: mustKey(tb, db, app.RoleAdmin), db: db}
}

// mustKey creates a key and returns its token.
func mustKey(tb testing.TB, keys app.KeyStore, role app.Role, departments ...string) string {
	tb.Helper()
	k, token, err := app.NewAPIKey("test "+string(role), role, departments, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := keys.CreateKey(context.Background(), k); err != nil {
		tb.Fatal(err)
	}
	return token
}

func do(tb testing.TB, h http.Handler, method, url, ctype string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, url, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if ts, ok := h.(*testServer); ok {
		req.Header.Set("Authorization", "Bearer "+ts.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
		if hdr[i] == "Authorization" && hdr[i+1] == "" {
			req.Header.Del("Authorization")
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func doc(fd, num, opened string, extra string) []byte {
	return []byte(`{"fire_department":{"fd_id":"` + fd + `","timezone":"US/Eastern"},"description":{"incident_number":"` + num +
		`","event_opened":"` + opened + `","comments":"TEST"},"apparatus":[{"unit_id":"E1","station":"FSTA1","unit_status":{"dispatched":{"timestamp":"` + opened + `"}}}]` + extra + `}`)
}

func TestProblems(t *testing.T) {
	srv := newServer(t)
	cases := []struct {
		name, method, url, ctype string
		body                     []byte
		status                   int
		pointer                  string
	}{
		{"UnknownRoute", "GET", "/nope", "", nil, 404, ""},
		{"WrongMethod", "PATCH", "/api/v1/incidents", "", nil, 405, ""},
		{"EmptyBody", "POST", "/api/v1/incidents", "application/json", nil, 400, ""},
		{"Malformed", "POST", "/api/v1/incidents", "application/json", []byte(`{"a":`), 400, ""},
		{"WrongType", "POST", "/api/v1/incidents", "application/json", []byte(`{"address":{"latitude":"x"}}`), 422, "/address/latitude"},
		{"MissingOpened", "POST", "/api/v1/incidents", "application/json", []byte(`{"fire_department":{"fd_id":"1"},"description":{"incident_number":"A1"}}`), 422, "/description/event_opened"},
		{"BadTimestamp", "POST", "/api/v1/incidents", "application/json", []byte(`{"fire_department":{"fd_id":"1"},"description":{"incident_number":"A1","event_opened":"May 5"}}`), 422, "/description/event_opened"},
		{"LatitudeRange", "POST", "/api/v1/incidents", "application/json", doc("1", "A1", "2017-05-15T13:19:12-04:00", `,"address":{"latitude":91}`), 422, "/address/latitude"},
		{"UnknownContentType", "POST", "/api/v1/incidents", "text/plain", []byte(`x`), 415, ""},
		{"BadEncoding", "POST", "/api/v1/incidents", "application/json", []byte(`x`), 415, ""},
		{"TooLarge", "POST", "/api/v1/incidents", "application/x-ndjson", bytes.Repeat([]byte("{}\n"), 1<<19), 413, ""},
		{"NotFound", "GET", "/api/v1/departments/1/incidents/NOPE", "", nil, 404, ""},
		{"BadLimit", "GET", "/api/v1/incidents?limit=abc", "", nil, 422, "/limit"},
		{"BadFrom", "GET", "/api/v1/incidents?from=yesterday", "", nil, 422, "/from"},
		{"BadCursor", "GET", "/api/v1/incidents?cursor=!!", "", nil, 422, "/cursor"},
		{"UnitOrStation", "GET", "/api/v1/apparatus", "", nil, 422, "/unit_id"},
		{"BadRevision", "GET", "/api/v1/departments/1/incidents/A/revisions/x", "", nil, 422, "/revision"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.name == "BadEncoding" {
				hdr = []string{"Content-Encoding", "br"}
			}
			rec := do(t, srv, tc.method, tc.url, tc.ctype, tc.body, hdr...)
			if got := rec.Code; got != tc.status {
				t.Fatalf("status=%d, want %d: %s", got, tc.status, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Fatalf("content type %q", got)
			}
			var p api.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != tc.status || !strings.HasPrefix(p.Type, "urn:cadbox:problem:") || p.Detail == "" {
				t.Fatalf("problem %+v", p)
			}
			if tc.pointer != "" {
				found := false
				for _, e := range p.Errors {
					found = found || e.Pointer == tc.pointer
				}
				if !found {
					t.Fatalf("no error at %s: %+v", tc.pointer, p.Errors)
				}
			}
		})
	}
}

func TestUpsertScenario(t *testing.T) {
	srv := newServer(t)
	url := "/api/v1/departments/76000/incidents/F1"
	rec := do(t, srv, "POST", "/api/v1/incidents", "application/json", doc("76000", "F1", "2017-05-15T13:19:12-04:00", ""))
	if rec.Code != 201 || rec.Header().Get("Location") != url || rec.Header().Get("ETag") != `"1"` {
		t.Fatalf("create: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = do(t, srv, "POST", "/api/v1/incidents", "application/json", doc("76000", "F1", "2017-05-15T13:19:12-04:00", ""))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"unchanged"`) {
		t.Fatalf("resend: %d %s", rec.Code, rec.Body)
	}
	upd := []byte(`{"fire_department":{"fd_id":"76000"},"description":{"incident_number":"F1","event_opened":"2017-05-15T13:19:12-04:00","comments":null},
		"apparatus":[{"unit_id":"E1","unit_status":{"arrived":{"timestamp":"2017-05-15T13:25:00-04:00"}}},{"unit_id":"M2"}]}`)
	rec = do(t, srv, "POST", "/api/v1/incidents", "application/json", upd)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"updated"`) || rec.Header().Get("ETag") != `"2"` {
		t.Fatalf("update: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, srv, "GET", url, "", nil)
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	desc := got["description"].(map[string]any)
	if desc["comments"] != "TEST" {
		t.Errorf("null erased comments: %v", desc)
	}
	units := got["apparatus"].([]any)
	if len(units) != 2 {
		t.Fatalf("units: %v", units)
	}
	st := units[0].(map[string]any)["unit_status"].(map[string]any)
	if _, ok := st["dispatched"]; !ok {
		t.Errorf("merge lost dispatched: %v", st)
	}
	if _, ok := st["arrived"]; !ok {
		t.Errorf("merge lost arrived: %v", st)
	}
	if got := units[0].(map[string]any)["station"]; got != "FSTA1" {
		t.Errorf("station %v", got)
	}
	// Optimistic concurrency.
	rec = do(t, srv, "PUT", url, "application/json", doc("76000", "F1", "2017-05-15T13:19:12-04:00", ""), "If-Match", `"1"`)
	if rec.Code != 412 {
		t.Fatalf("stale If-Match: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, srv, "PUT", url, "application/json", doc("76000", "OTHER", "2017-05-15T13:19:12-04:00", ""), "If-Match", `"2"`)
	if rec.Code != 422 {
		t.Fatalf("mismatched ids: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, srv, "PUT", url, "application/json", doc("76000", "F1", "2017-05-15T13:19:12-04:00", ""), "If-Match", `"2"`)
	if rec.Code != 200 || rec.Header().Get("ETag") != `"3"` {
		t.Fatalf("replace: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, srv, "GET", url+"/apparatus", "", nil)
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "M2") {
		t.Fatalf("replace should drop M2: %s", rec.Body)
	}
	rec = do(t, srv, "DELETE", url, "", nil)
	if rec.Code != 200 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, srv, "GET", url, "", nil); rec.Code != 404 {
		t.Fatalf("get after delete: %d", rec.Code)
	}
	rec = do(t, srv, "GET", url+"/revisions", "", nil)
	var revs api.RevisionsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &revs); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range revs.Revisions {
		actions = append(actions, string(r.Action))
	}
	if got, want := strings.Join(actions, ","), "created,updated,replaced,deleted"; got != want {
		t.Fatalf("revisions %s, want %s", got, want)
	}
	rec = do(t, srv, "GET", url+"/revisions/2", "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"M2"`) || !strings.Contains(rec.Body.String(), `"arrived"`) {
		t.Fatalf("revision 2: %d %s", rec.Code, rec.Body)
	}
}

func TestBulkFormats(t *testing.T) {
	srv := newServer(t)
	good := func(n string) []byte { return doc("76000", n, "2017-05-15T13:19:12-04:00", "") }
	bad := []byte(`{"fire_department":{"fd_id":"76000"},"description":{"incident_number":"BAD"}}`)
	ndjson := bytes.Join([][]byte{good("N1"), good("N2"), {}, bad, good("N3"), good("N4")}, []byte("\n"))
	rec := do(t, srv, "POST", "/api/v1/incidents", "application/x-ndjson", ndjson)
	var br api.BulkResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &br); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if br.Created != 4 || br.Failed != 1 || br.Failures[0].Line != 4 || br.Failures[0].Index != 2 || br.Failures[0].IncidentNumber != "BAD" ||
		br.Failures[0].Problem.Errors[0].Pointer != "/description/event_opened" {
		t.Fatalf("ndjson report %+v", br)
	}
	// Array, gzip-encoded; resend of N1 unchanged.
	arr := append(append([]byte("["), bytes.Join([][]byte{good("N1"), good("A1")}, []byte(","))...), ']')
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(arr)
	zw.Close()
	rec = do(t, srv, "POST", "/api/v1/incidents", "application/json", gz.Bytes(), "Content-Encoding", "gzip")
	if err := json.Unmarshal(rec.Body.Bytes(), &br); err != nil || rec.Code != 200 || br.Created != 1 || br.Unchanged != 1 {
		t.Fatalf("array: %d %s", rec.Code, rec.Body)
	}
	// Atomic: one bad record stores nothing.
	rec = do(t, srv, "POST", "/api/v1/incidents?atomic=true", "application/x-ndjson", bytes.Join([][]byte{good("T1"), bad}, []byte("\n")))
	if rec.Code != 422 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("atomic: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, srv, "GET", "/api/v1/departments/76000/incidents/T1", "", nil); rec.Code != 404 {
		t.Fatalf("atomic upload stored T1: %d", rec.Code)
	}
	// Multipart with a .json and an .ndjson.gz file.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("files", "one.json")
	fw.Write(good("M1"))
	fw, _ = mw.CreateFormFile("files", "more.ndjson.gz")
	zw = gzip.NewWriter(fw)
	zw.Write(bytes.Join([][]byte{good("M2"), bad}, []byte("\n")))
	zw.Close()
	mw.Close()
	rec = do(t, srv, "POST", "/api/v1/incidents", mw.FormDataContentType(), mp.Bytes())
	if err := json.Unmarshal(rec.Body.Bytes(), &br); err != nil || rec.Code != 200 || br.Created != 2 || br.Failed != 1 || br.Failures[0].File != "more.ndjson.gz" || br.Failures[0].Line != 2 {
		t.Fatalf("multipart: %d %s", rec.Code, rec.Body)
	}
	// Listing, newest first, paged.
	rec = do(t, srv, "GET", "/api/v1/incidents?limit=2", "", nil)
	var lr api.ListResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &lr); err != nil || len(lr.Incidents) != 2 || lr.Next == "" {
		t.Fatalf("list: %s", rec.Body)
	}
	seen := len(lr.Incidents)
	for lr.Next != "" {
		rec = do(t, srv, "GET", "/api/v1/incidents?limit=2&cursor="+lr.Next, "", nil)
		lr = api.ListResponse{}
		if err := json.Unmarshal(rec.Body.Bytes(), &lr); err != nil {
			t.Fatal(err)
		}
		seen += len(lr.Incidents)
	}
	if seen != 7 {
		t.Fatalf("paged through %d incidents, want 7", seen)
	}
}

func TestSpecCoversRoutes(t *testing.T) {
	srv := newServer(t)
	var spec struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(srv.Spec(), &spec); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Routes() {
		if r.Path == "/" || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		p := r.Path
		for _, seg := range strings.Split(p, "/") {
			if strings.HasPrefix(seg, ":") {
				p = strings.Replace(p, seg, "{"+seg[1:]+"}", 1)
			}
		}
		if _, ok := spec.Paths[p][strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s is not in the OpenAPI spec", r.Method, p)
		}
	}
}

func newSearchServer(tb testing.TB) *testServer {
	tb.Helper()
	dir := tb.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ix, err := search.Open(context.Background(), filepath.Join(dir, "index"), db, search.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ix.Close(); db.Close() })
	srv, err := api.NewServer(api.Deps{Store: app.NewService(db, ix), Search: ix, Keys: db}, api.Config{BatchSize: 2})
	if err != nil {
		tb.Fatal(err)
	}
	srv.AddReadyCheck("search", ix.Ready)
	return &testServer{Server: srv, token: mustKey(tb, db, app.RoleAdmin), db: db}
}

func TestSearchAPI(t *testing.T) {
	srv := newSearchServer(t)
	body, err := os.ReadFile("testdata/example_incident.json")
	if err != nil {
		t.Fatal(err)
	}
	other := doc("76000", "F2", "2017-06-01T10:00:00-04:00", `,"address":{"latitude":37.5,"longitude":-77.4}`)
	rec := do(t, srv, "POST", "/api/v1/incidents", "application/x-ndjson", bytes.Join([][]byte{compact(t, body), other}, []byte("\n")))
	if rec.Code != 200 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	// Read-your-writes: searchable as soon as acknowledged.
	rec = do(t, srv, "GET", `/api/v1/search?q=%22OLD+BOX+OF+CHEMICALS%22&facets=type,unit_id`, "", nil)
	var sr api.SearchResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &sr); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if sr.Total != 1 || len(sr.Hits) != 1 || sr.Hits[0].Incident.ID.Number != "F01705150050" || len(sr.Hits[0].Incident.Units) != 4 {
		t.Fatalf("hits: %s", rec.Body)
	}
	if len(sr.Hits[0].Highlights) == 0 || !strings.Contains(sr.Hits[0].Highlights[0], "<mark>OLD</mark>") {
		t.Fatalf("highlights: %v", sr.Hits[0].Highlights)
	}
	if len(sr.Facets["unit_id"]) != 4 {
		t.Fatalf("facets: %v", sr.Facets)
	}
	for _, tc := range []struct{ url, ptr string }{
		{"/api/v1/search?q=%22open", "/q"},
		{"/api/v1/search?bbox=1,2,3", "/bbox"},
		{"/api/v1/search?near=37.5,-77.4&radius=far", "/radius"},
		{"/api/v1/search?facets=color", "/facets"},
		{"/api/v1/search?sort=random", "/sort"},
		{"/api/v1/search?cursor=zzz", "/cursor"},
	} {
		rec := do(t, srv, "GET", tc.url, "", nil)
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), `"pointer":"`+tc.ptr+`"`) {
			t.Errorf("%s: %d %s", tc.url, rec.Code, rec.Body)
		}
	}
	rec = do(t, srv, "GET", "/api/v1/search?near=37.5,-77.4&radius=1km", "", nil)
	if err := json.Unmarshal(rec.Body.Bytes(), &sr); err != nil || sr.Total != 1 || sr.Hits[0].Incident.ID.Number != "F2" {
		t.Fatalf("near: %s", rec.Body)
	}
	if rec := do(t, srv, "GET", "/readyz", "", nil); rec.Code != 200 {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}
}

func compact(tb testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
