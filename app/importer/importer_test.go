package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// received is one request the fake server decoded.
type received struct {
	header http.Header
	lines  []string // the NDJSON lines as sent
	nums   []string // description.incident_number of each line ("" if none)
}

// fakeServer implements the upload contract of POST /api/v1/incidents: a
// document without description.incident_number fails, others are created.
type fakeServer struct {
	*httptest.Server
	t        *testing.T
	attempts atomic.Int64
	// hook runs first for every request (n counts from 1); true means it
	// answered.
	hook func(w http.ResponseWriter, r *http.Request, n int64) bool

	mu   sync.Mutex
	reqs []received
}

func newFakeServer(t *testing.T, hook func(w http.ResponseWriter, r *http.Request, n int64) bool) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, hook: hook}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func writeJSONResponse(w http.ResponseWriter, status int, ctype string, v any) {
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	writeJSONResponse(w, status, "application/problem+json", map[string]any{
		"type": "urn:cadbox:problem:test", "title": http.StatusText(status), "status": status, "detail": detail,
	})
}

func (s *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	n := s.attempts.Add(1)
	if s.hook != nil && s.hook(w, r, n) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/incidents" {
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		writeProblem(w, http.StatusNotFound, "no such route")
		return
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		s.t.Errorf("Content-Encoding = %q, want gzip", r.Header.Get("Content-Encoding"))
		writeProblem(w, http.StatusUnsupportedMediaType, "want gzip")
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		s.t.Errorf("body is not gzip: %v", err)
		writeProblem(w, http.StatusBadRequest, "bad gzip")
		return
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		s.t.Errorf("reading gzip body: %v", err)
		writeProblem(w, http.StatusBadRequest, "bad gzip")
		return
	}
	rec := received{header: r.Header.Clone()}
	var created, failed int
	failures := []map[string]any{}
	fail := func(i int, num, fdid, pointer, message string) {
		failed++
		failures = append(failures, map[string]any{
			"index": i, "line": i + 1, "incident_number": num, "fd_id": fdid,
			"problem": map[string]any{
				"type": "urn:cadbox:problem:invalid", "title": "Unprocessable Content", "status": 422,
				"detail": "The incident is not valid.",
				"errors": []map[string]string{{"pointer": pointer, "message": message}},
			},
		})
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for i := 0; sc.Scan(); i++ {
		line := sc.Text()
		rec.lines = append(rec.lines, line)
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			rec.nums = append(rec.nums, "")
			fail(i, "", "", "", "is not JSON")
			continue
		}
		num, fdid := ids(doc)
		rec.nums = append(rec.nums, num)
		if num == "" {
			fail(i, "", fdid, "/description/incident_number", "is required")
			continue
		}
		created++
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
	out := map[string]any{"created": created, "updated": 0, "unchanged": 0, "failed": failed, "failures": failures}
	if created == 0 && failed > 0 {
		out["type"], out["title"], out["status"] = "urn:cadbox:problem:invalid", "Unprocessable Content", 422
		out["detail"] = "No record was stored: every record failed."
		writeJSONResponse(w, http.StatusUnprocessableEntity, "application/problem+json", out)
		return
	}
	writeJSONResponse(w, http.StatusOK, "application/json", out)
}

func ids(doc map[string]any) (num, fdid string) {
	if d, ok := doc["description"].(map[string]any); ok {
		num, _ = d["incident_number"].(string)
	}
	if f, ok := doc["fire_department"].(map[string]any); ok {
		fdid, _ = f["fd_id"].(string)
	}
	return num, fdid
}

// incident is a pretty-printed incident document.
func incident(num string) string {
	return fmt.Sprintf(`{
  "description": {
    "incident_number": %q,
    "event_opened": "2017-05-15T00:00:00Z",
    "comments": "OLD BOX OF CHEMICALS"
  },
  "fire_department": {"fd_id": "76000"}
}`, num)
}

// line is an incident on one line.
func line(num string) string {
	var b bytes.Buffer
	json.Compact(&b, []byte(incident(num)))
	return b.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeGzip(t *testing.T, path, content string) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(content))
	zw.Close()
	writeFile(t, path, b.String())
}

// testOptions are fast options for srv.
func testOptions(srv *fakeServer) Options {
	return Options{Server: srv.URL, backoff: time.Millisecond, retryAfterUnit: time.Millisecond}
}

// ndjsonFile writes n incidents F1…Fn to dir/name, one per line.
func ndjsonFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintln(&b, line(fmt.Sprintf("F%d", i+1)))
	}
	path := filepath.Join(dir, name)
	writeFile(t, path, b.String())
	return path
}

func TestImportMixedDirectory(t *testing.T) {
	srv := newFakeServer(t, nil)
	dir := t.TempDir()
	array := "[\n" + incident("A2") + ",\n" + incident("A3") + "  ,  " + incident("A4") + "\n]\n"
	ndjson := line("A5") + "\r\n\r\n" + line("A6") + "\n   \n" + line("A7") // no final newline
	files := map[string]string{
		"a_single.json":     incident("A1"),
		"b_array.json":      array,
		"c.ndjson":          ndjson,
		"d.ndjson.gz":       line("A8") + "\n" + line("A9") + "\n",
		"notes.txt":         line("X1") + "\n",
		"sub/e.json.gz":     "[" + incident("A11") + "]",
		"sub/README.md":     "# exports",
		"sub/deeper/f.JSON": incident("A10"),
	}
	var raw int64
	for name, content := range files {
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".gz") {
			writeGzip(t, path, content)
		} else {
			writeFile(t, path, content)
		}
		if !strings.HasSuffix(name, ".txt") && !strings.HasSuffix(name, ".md") {
			raw += int64(len(content))
		}
	}

	sum, err := Run(context.Background(), []string{dir}, testOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 6 || sum.Skipped != 2 {
		t.Errorf("Files, Skipped = %d, %d; want 6, 2", sum.Files, sum.Skipped)
	}
	if sum.Documents != 11 || sum.Created != 11 || sum.Failed != 0 || len(sum.Failures) != 0 {
		t.Errorf("Documents %d, Created %d, Failed %d, Failures %v; want 11, 11, 0, none",
			sum.Documents, sum.Created, sum.Failed, sum.Failures)
	}
	if sum.Bytes != raw {
		t.Errorf("Bytes = %d, want %d", sum.Bytes, raw)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	want := []string{"A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9", "A10", "A11"}
	if !slices.Equal(reqs[0].nums, want) {
		t.Errorf("incident numbers sent = %v, want %v (sorted walk order)", reqs[0].nums, want)
	}
	for i, l := range reqs[0].lines {
		if i < len(want) && l != line(want[i]) {
			t.Errorf("line %d = %q, want it compact: %q", i+1, l, line(want[i]))
		}
	}
	h := reqs[0].header
	for k, v := range map[string]string{
		"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip", "User-Agent": "cadbox-import", "Authorization": "",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestEmptyGzipFileFails(t *testing.T) {
	srv := newFakeServer(t, nil)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.ndjson.gz"), "")
	writeGzip(t, filepath.Join(dir, "b.ndjson.gz"), line("B1")+"\n")
	sum, err := Run(context.Background(), []string{dir}, testOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 1 || sum.Failed != 1 || len(sum.Failures) != 1 {
		t.Fatalf("Created %d, Failed %d, Failures %+v; want 1, 1, one", sum.Created, sum.Failed, sum.Failures)
	}
	f := sum.Failures[0]
	if f.File != filepath.Join(dir, "a.ndjson.gz") || f.Position != "" || !strings.Contains(f.Detail, "gzip") {
		t.Errorf("failure = %+v, want the whole a.ndjson.gz, not gzip", f)
	}
}

func TestFailuresMapToFilePositions(t *testing.T) {
	srv := newFakeServer(t, nil)
	dir := t.TempDir()
	ndjsonFile(t, dir, "1.ndjson", 3)
	second := filepath.Join(dir, "2.ndjson")
	writeFile(t, second, strings.Join([]string{
		line("B4"),
		"",
		`{"description": {"incident_number": "BAD"`, // line 3: not JSON
		`{"fire_department": {"fd_id": "76000"}}`,   // line 4: no incident number
		line("B5"),
		"",
	}, "\n"))
	third := filepath.Join(dir, "3.json")
	writeFile(t, third, "["+incident("B6")+`, {"description": {"incident_number": "X"}, oops}, `+incident("B7")+"]")
	writeFile(t, filepath.Join(dir, "4.json"), incident("B8"))

	sum, err := Run(context.Background(), []string{dir}, testOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Documents != 10 || sum.Created != 7 || sum.Failed != 3 {
		t.Errorf("Documents %d, Created %d, Failed %d; want 10, 7, 3", sum.Documents, sum.Created, sum.Failed)
	}
	if len(sum.Failures) != 3 {
		t.Fatalf("Failures = %+v, want 3", sum.Failures)
	}
	local, server, broken := sum.Failures[0], sum.Failures[1], sum.Failures[2]
	if local.File != second || local.Position != "line 3" || !strings.Contains(local.Detail, "invalid JSON") {
		t.Errorf("local failure = %+v, want %s line 3, invalid JSON", local, second)
	}
	// The server saw it as record 4 of the body (line 5): it is line 4 of 2.ndjson.
	if server.File != second || server.Position != "line 4" || server.FDID != "76000" ||
		server.Detail != "The incident is not valid." ||
		!slices.Equal(server.Errors, []FieldError{{Pointer: "/description/incident_number", Message: "is required"}}) {
		t.Errorf("server failure = %+v, want %s line 4 with the pointer error", server, second)
	}
	if broken.File != third || broken.Position != "index 1" || !strings.Contains(broken.Detail, "rest of the file is skipped") {
		t.Errorf("broken array failure = %+v, want %s index 1", broken, third)
	}
	reqs := srv.requests()
	if len(reqs) != 1 || !slices.Equal(reqs[0].nums, []string{"F1", "F2", "F3", "B4", "", "B5", "B6", "B8"}) {
		t.Errorf("requests = %+v, want one with F1 F2 F3 B4 - B5 B6 B8", reqs)
	}

	var out bytes.Buffer
	sum.Write(&out)
	for _, want := range []string{
		"10 documents from 4 files (0 skipped)", "Failures (first 3 of 3)",
		second + " line 4 (fd 76000): The incident is not valid.", "/description/incident_number: is required",
		third + " index 1: invalid JSON",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	for _, re := range []string{`created\s+7\n`, `updated\s+0\n`, `failed\s+3\n`, `\d+ docs/s`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("summary does not match %s:\n%s", re, out.String())
		}
	}
	if strings.Contains(out.String(), "not sent") {
		t.Errorf("summary of a complete run says \"not sent\":\n%s", out.String())
	}
}

func TestEveryRecordFailed422(t *testing.T) {
	srv := newFakeServer(t, nil)
	path := filepath.Join(t.TempDir(), "bad.json")
	writeFile(t, path, `[{"fire_department": {"fd_id": "1"}}, {"fire_department": {"fd_id": "2"}}]`)
	sum, err := Run(context.Background(), []string{path}, testOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 0 || sum.Failed != 2 || len(sum.Failures) != 2 {
		t.Fatalf("Created %d, Failed %d, Failures %+v; want 0, 2, two", sum.Created, sum.Failed, sum.Failures)
	}
	for i, f := range sum.Failures {
		if f.Position != fmt.Sprintf("index %d", i) || f.FDID != fmt.Sprint(i+1) || len(f.Errors) != 1 {
			t.Errorf("failure %d = %+v", i, f)
		}
	}
}

func TestBatching(t *testing.T) {
	for _, tc := range []struct {
		name      string
		docs      int
		bytes     int
		wantBatch []int
	}{
		{"docs", 2, 0, []int{2, 2, 1}},
		{"bytes", 0, 1, []int{1, 1, 1, 1, 1}},
		{"bytes first", 4, 2*(len(line("F1"))+1) + 1, []int{2, 2, 1}},
		{"docs first", 3, 1 << 20, []int{3, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, nil)
			path := ndjsonFile(t, t.TempDir(), "x.ndjson", 5)
			opts := testOptions(srv)
			opts.BatchDocs, opts.BatchBytes, opts.Workers = tc.docs, tc.bytes, 1
			sum, err := Run(context.Background(), []string{path}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Created != 5 {
				t.Errorf("Created = %d, want 5", sum.Created)
			}
			var sizes []int
			for _, r := range srv.requests() {
				sizes = append(sizes, len(r.lines))
			}
			if !slices.Equal(sizes, tc.wantBatch) {
				t.Errorf("batch sizes = %v, want %v", sizes, tc.wantBatch)
			}
		})
	}
}

func TestFailuresMapAcrossConcurrentBatches(t *testing.T) {
	srv := newFakeServer(t, nil)
	dir := t.TempDir()
	var b strings.Builder
	for i := 1; i <= 40; i++ {
		if i%7 == 0 {
			fmt.Fprintln(&b, `{"fire_department": {"fd_id": "76000"}}`)
		} else {
			fmt.Fprintln(&b, line(fmt.Sprint("N", i)))
		}
	}
	writeFile(t, filepath.Join(dir, "x.ndjson"), b.String())
	opts := testOptions(srv)
	opts.BatchDocs, opts.Workers = 3, 4
	sum, err := Run(context.Background(), []string{dir}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range sum.Failures {
		got = append(got, f.Position)
	}
	want := []string{"line 7", "line 14", "line 21", "line 28", "line 35"}
	if sum.Created != 35 || sum.Failed != 5 || !slices.Equal(got, want) {
		t.Errorf("Created %d, Failed %d, positions %v; want 35, 5, %v", sum.Created, sum.Failed, got, want)
	}
	if n := len(srv.requests()); n != 14 {
		t.Errorf("%d requests, want 14", n)
	}
}

func TestAuthorizationHeader(t *testing.T) {
	srv := newFakeServer(t, nil)
	path := ndjsonFile(t, t.TempDir(), "x.ndjson", 3)
	opts := testOptions(srv)
	opts.Token, opts.BatchDocs = "s3cret", 1
	if _, err := Run(context.Background(), []string{path}, opts); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if got := r.header.Get("Authorization"); got != "Bearer s3cret" {
			t.Errorf("Authorization = %q, want Bearer s3cret", got)
		}
	}
}

func TestRetriesTransientFailures(t *testing.T) {
	srv := newFakeServer(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusServiceUnavailable, "starting up")
			return true
		case 2:
			conn, _, err := w.(http.Hijacker).Hijack() // a network error
			if err != nil {
				t.Error(err)
				return false
			}
			conn.Close()
			return true
		case 3:
			writeProblem(w, http.StatusTooManyRequests, "slow down")
			return true
		}
		return false
	})
	path := ndjsonFile(t, t.TempDir(), "x.ndjson", 2)
	sum, err := Run(context.Background(), []string{path}, testOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.attempts.Load(); got != 4 {
		t.Errorf("%d attempts, want 4", got)
	}
	if sum.Created != 2 || sum.Failed != 0 {
		t.Errorf("Created %d, Failed %d; want 2, 0", sum.Created, sum.Failed)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests reached the handler, want 1", n)
	}
}

func TestRetriesExhausted(t *testing.T) {
	srv := newFakeServer(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		writeProblem(w, http.StatusServiceUnavailable, "down for maintenance")
		return true
	})
	path := ndjsonFile(t, t.TempDir(), "x.ndjson", 2)
	_, err := Run(context.Background(), []string{path}, testOptions(srv))
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "down for maintenance") {
		t.Errorf("err = %v, want 503 down for maintenance", err)
	}
	if got := srv.attempts.Load(); got != 1+maxRetries {
		t.Errorf("%d attempts, want %d", got, 1+maxRetries)
	}
}

func TestUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	path := ndjsonFile(t, t.TempDir(), "x.ndjson", 1)
	sum, err := Run(context.Background(), []string{path}, Options{Server: url, backoff: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("err = %v, want server unreachable", err)
	}
	if sum.Documents != 1 || sum.Created != 0 {
		t.Errorf("Documents %d, Created %d; want 1, 0", sum.Documents, sum.Created)
	}
}

func TestOtherErrorFailsBatchWithoutRetry(t *testing.T) {
	srv := newFakeServer(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n == 1 {
			writeProblem(w, http.StatusRequestEntityTooLarge, "The body is larger than the limit.")
			return true
		}
		return false
	})
	path := ndjsonFile(t, t.TempDir(), "x.ndjson", 4)
	opts := testOptions(srv)
	opts.BatchDocs, opts.Workers = 2, 1
	sum, err := Run(context.Background(), []string{path}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.attempts.Load(); got != 2 {
		t.Errorf("%d attempts, want 2 (no retry)", got)
	}
	if sum.Created != 2 || sum.Failed != 2 || len(sum.Failures) != 2 {
		t.Fatalf("Created %d, Failed %d, Failures %+v; want 2, 2, two", sum.Created, sum.Failed, sum.Failures)
	}
	for i, f := range sum.Failures {
		if f.Position != fmt.Sprintf("line %d", i+1) || !strings.Contains(f.Detail, "413") ||
			!strings.Contains(f.Detail, "larger than the limit") {
			t.Errorf("failure %d = %+v, want line %d with the 413 detail", i, f, i+1)
		}
	}
}

func TestUnauthorizedStops(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newFakeServer(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
				writeProblem(w, status, "invalid API key")
				return true
			})
			path := ndjsonFile(t, t.TempDir(), "x.ndjson", 10)
			opts := testOptions(srv)
			opts.BatchDocs, opts.Workers, opts.Token = 1, 1, "wrong"
			sum, err := Run(context.Background(), []string{path}, opts)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint(status)) || !strings.Contains(err.Error(), "invalid API key") {
				t.Errorf("err = %v, want %d and the problem detail", err, status)
			}
			if got := srv.attempts.Load(); got != 1 {
				t.Errorf("%d attempts, want 1", got)
			}
			if sum.Created != 0 {
				t.Errorf("Created = %d, want 0", sum.Created)
			}
		})
	}
}

func TestCancelStops(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	srv := newFakeServer(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		once.Do(func() { close(started) })
		select {
		case <-r.Context().Done():
		case <-release:
		}
		writeProblem(w, http.StatusServiceUnavailable, "too late")
		return true
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	path := ndjsonFile(t, t.TempDir(), "x.ndjson", 50)
	opts := testOptions(srv)
	opts.BatchDocs = 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-started
		cancel()
	}()
	begin := time.Now()
	sum, err := Run(ctx, []string{path}, opts)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Run took %v after cancellation", d)
	}
	if got := srv.attempts.Load(); got > int64(defaultWorkers) {
		t.Errorf("%d attempts, want at most %d", got, defaultWorkers)
	}
	if sum.Created != 0 {
		t.Errorf("Created = %d, want 0", sum.Created)
	}
	var out bytes.Buffer
	sum.Write(&out)
	if !strings.Contains(out.String(), "not sent") {
		t.Errorf("summary of a stopped run lacks \"not sent\":\n%s", out.String())
	}

	// Cancelled before it starts: nothing is sent. A server of its own,
	// so that a request of the run above still on its way cannot count.
	idle := newFakeServer(t, nil)
	opts.Server = idle.URL
	if _, err := Run(ctx, []string{path}, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if got := idle.attempts.Load(); got != 0 {
		t.Errorf("a cancelled run sent %d requests", got)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answered := make(chan struct{}, 1)
	srv := newFakeServer(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.Header().Set("Retry-After", "60")
		writeProblem(w, http.StatusServiceUnavailable, "busy")
		answered <- struct{}{}
		return true
	})
	go func() {
		<-answered
		time.Sleep(50 * time.Millisecond) // the client is waiting to retry by now
		cancel()
	}()
	path := ndjsonFile(t, t.TempDir(), "x.ndjson", 1)
	opts := testOptions(srv)
	opts.retryAfterUnit = time.Second // a real minute: only cancellation ends the wait
	begin := time.Now()
	_, err := Run(ctx, []string{path}, opts)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Run took %v; the retry wait ignored the cancellation", d)
	}
	if got := srv.attempts.Load(); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "notes.txt"), "hello")
	good := ndjsonFile(t, t.TempDir(), "x.ndjson", 1)
	for _, tc := range []struct {
		name, server string
		paths        []string
		want         string
	}{
		{"no server", "", []string{good}, "no server URL"},
		{"no scheme", "localhost:8080", []string{good}, "bad server URL"},
		{"ftp", "ftp://example.com", []string{good}, "bad server URL"},
		{"no inputs", "http://localhost:1", []string{dir}, "no input files"},
		{"no paths", "http://localhost:1", nil, "no input files"},
		{"missing path", "http://localhost:1", []string{filepath.Join(dir, "nope")}, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.paths, Options{Server: tc.server})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestEndpointKeepsBasePath(t *testing.T) {
	got, err := endpointURL("https://example.com/cadbox/")
	if err != nil || got != "https://example.com/cadbox/api/v1/incidents" {
		t.Errorf("endpointURL = %q, %v", got, err)
	}
}

func TestProgressBar(t *testing.T) {
	srv := newFakeServer(t, nil)
	path := ndjsonFile(t, t.TempDir(), "x.ndjson", 3)
	var bar bytes.Buffer
	opts := testOptions(srv)
	opts.Progress = &bar
	if _, err := Run(context.Background(), []string{path}, opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bar.String(), "importing 3 docs") || !strings.Contains(bar.String(), "100%") {
		t.Errorf("progress output lacks \"importing 3 docs\" and 100%%: %q", bar.String())
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12345: "12,345", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{512: "512 B", 2048: "2.0 KiB", 5 << 20: "5.0 MiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := retryAfter("7", time.Millisecond); got != 7*time.Millisecond {
		t.Errorf("retryAfter(7) = %v", got)
	}
	if got := retryAfter("soon", time.Second); got != 0 {
		t.Errorf("retryAfter(soon) = %v", got)
	}
}
