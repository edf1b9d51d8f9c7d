package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"cadbox/app/api"
	"cadbox/app/fixture"
)

// ingestForm is how FuzzIngestHTTP sends a body, chosen by its mode byte:
// bits 0-1 the media type (JSON, NDJSON, multipart, JSON by a +json
// suffix), bit 2 Content-Encoding gzip, bit 3 atomic=true, bits 4-5 the
// multipart file name.
type ingestForm uint8

func (m ingestForm) request(tb testing.TB, body []byte) *http.Request {
	tb.Helper()
	ctype := []string{"application/json", "application/x-ndjson", "", "application/merge-patch+json"}[m&3]
	if m&3 == 2 {
		name := []string{"a.json", "b.ndjson", "c.json.gz", "d.txt"}[(m>>4)&3]
		file := body
		if strings.HasSuffix(name, ".gz") {
			file = gzipped(tb, body)
		}
		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		fw, err := mw.CreateFormFile("files", name)
		if err != nil {
			tb.Fatal(err)
		}
		fw.Write(file)
		mw.Close()
		body, ctype = mp.Bytes(), mw.FormDataContentType()
	}
	url := "/api/v1/incidents"
	if m&8 != 0 {
		url += "?atomic=true"
	}
	if m&4 != 0 {
		body = gzipped(tb, body)
	}
	req := httptest.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if m&4 != 0 {
		req.Header.Set("Content-Encoding", "gzip")
	}
	return req
}

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzIngestHTTP posts any body, in any of the upload forms, to the real
// handler over a real store. It never answers 5xx or panics; a 4xx is a
// problem document and writes nothing; a 2xx reports exactly what was
// written: a single 201 adds one incident, a bulk report's created count
// is the number of incidents added, and its failures are 4xx problems.
func FuzzIngestHTTP(f *testing.F) {
	g := fixture.New(5)
	ex, err := os.ReadFile("testdata/example_incident.json")
	if err != nil {
		f.Fatal(err)
	}
	good, bad := g.JSON(0), []byte(`{"fire_department":{"fd_id":"7"},"description":{"incident_number":"X"}}`)
	nd := bytes.Join([][]byte{g.JSON(1), bad, {}, g.JSON(2)}, []byte("\n"))
	arr := []byte("[" + string(g.JSON(3)) + "," + string(bad) + "]")
	for _, m := range []ingestForm{0, 1, 2, 3, 4, 5, 6, 8, 9, 0x12, 0x22, 0x32, 0x0e} {
		f.Add(good, uint8(m))
		f.Add(nd, uint8(m))
		f.Add(arr, uint8(m))
	}
	f.Add(compact(f, ex), uint8(0))
	f.Add([]byte(`[{"fire_department":{"fd_id":"7"},"description":{"incident_number":"Y","event_opened":"2020-01-01T00:00:00Z"}}] []`), uint8(0))
	f.Add([]byte(`{"fire_department":{"fd_id":"7"},"description":{"incident_number":"Z","event_opened":"2020-01-01T00:00:00Z"},"\u0000apparatus_order":[]}`), uint8(0))

	env := newHostileEnv(f, hostileOptions{noSync: true})
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		count0, seq0 := env.state(t)
		req := ingestForm(mode).request(t, body)
		req.Header.Set("Authorization", "Bearer "+env.token)
		rec := httptest.NewRecorder()
		env.srv.ServeHTTP(rec, req)
		env.checkLog(t)
		count1, seq1 := env.state(t)
		status := rec.Code
		switch {
		case status >= 500:
			t.Fatalf("status %d: %s", status, rec.Body)
		case status >= 400:
			checkProblem(t, rec.Result(), rec.Body.Bytes(), status)
			if count1 != count0 || seq1 != seq0 {
				t.Fatalf("status %d but the store changed: %d -> %d incidents, seq %d -> %d", status, count0, count1, seq0, seq1)
			}
			return
		}
		var res map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("status %d, body %s: %v", status, rec.Body, err)
		}
		if _, single := res["status"]; single {
			var w api.WriteResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &w); err != nil {
				t.Fatal(err)
			}
			want := 0
			if status == http.StatusCreated {
				want = 1
			}
			if count1-count0 != want || (w.Status == "created") != (status == http.StatusCreated) {
				t.Fatalf("%d %s added %d incidents", status, w.Status, count1-count0)
			}
			if rec.Header().Get("ETag") == "" || rec.Header().Get("Location") != w.Location {
				t.Fatalf("write headers %v", rec.Header())
			}
			return
		}
		var br api.BulkResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &br); err != nil {
			t.Fatalf("bulk report %s: %v", rec.Body, err)
		}
		if status != http.StatusOK || br.Created != count1-count0 || br.Created+br.Updated+br.Unchanged == 0 {
			t.Fatalf("%d %+v, but %d incidents were added", status, br, count1-count0)
		}
		if ingestForm(mode)&8 != 0 && br.Failed != 0 {
			t.Fatalf("atomic upload stored some and failed %d", br.Failed)
		}
		if len(br.Failures) != min(br.Failed, 1000) {
			t.Fatalf("%d failures listed for %d failed", len(br.Failures), br.Failed)
		}
		for _, fl := range br.Failures {
			if fl.Problem.Status < 400 || fl.Problem.Status >= 500 || !strings.HasPrefix(fl.Problem.Type, "urn:cadbox:problem:") {
				t.Fatalf("failure %+v", fl)
			}
		}
	})
}

// checkProblem asserts a response is a well-formed problem with status.
func checkProblem(t testing.TB, resp *http.Response, body []byte, status int) api.Problem {
	t.Helper()
	if got := resp.Header.Get("Content-Type"); got != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q: %.300s", status, got, body)
	}
	var p api.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %.300q does not parse: %v", body, err)
	}
	if p.Status != status || !strings.HasPrefix(p.Type, "urn:cadbox:problem:") || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %+v for status %d", p, status)
	}
	for _, e := range p.Errors {
		if e.Pointer != "" && !strings.HasPrefix(e.Pointer, "/") || e.Message == "" {
			t.Fatalf("problem error %+v is not a JSON pointer and a message", e)
		}
	}
	return p
}
