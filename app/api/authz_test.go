package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/analysis"
	"cadbox/app/api"
	"cadbox/app/codec"
	"cadbox/search"
	"cadbox/store"
)

type principalKind string

const (
	pNone        principalKind = "no key"
	pBad         principalKind = "bad key"
	pRevoked     principalKind = "revoked key"
	pReader      principalKind = "reader"
	pWriter      principalKind = "writer"
	pAdmin       principalKind = "admin"
	pScopedRight principalKind = "admin scoped to 76000"
	pScopedOther principalKind = "admin scoped to 99999"
)

var principals = []principalKind{pNone, pBad, pRevoked, pReader, pWriter, pAdmin, pScopedRight, pScopedOther}

// matrixEnv is a fresh server with one incident of department 76000, a
// key of every kind, and a key to revoke.
type matrixEnv struct {
	srv    *api.Server
	tokens map[principalKind]string
	victim string
}

func newMatrixEnv(t *testing.T) *matrixEnv {
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
	eng, err := analysis.New(db, analysis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := app.NewService(db, ix, eng)
	srv, err := api.NewServer(api.Deps{Store: svc, Search: ix, Analysis: eng, Keys: db, Backup: db.Backup, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, api.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inc, err := codec.DecodeIncident(exampleIncident(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upsert(context.Background(), []*app.Incident{inc}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	e := &matrixEnv{srv: srv, tokens: map[principalKind]string{
		pBad:         "cbx_" + strings.Repeat("A", 43),
		pReader:      mustKey(t, db, app.RoleReader),
		pWriter:      mustKey(t, db, app.RoleWriter),
		pAdmin:       mustKey(t, db, app.RoleAdmin),
		pScopedRight: mustKey(t, db, app.RoleAdmin, "76000"),
		pScopedOther: mustKey(t, db, app.RoleAdmin, "99999"),
		pRevoked:     mustKey(t, db, app.RoleAdmin),
	}}
	revoked, err := db.KeyByHash(context.Background(), app.HashToken(e.tokens[pRevoked]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeKey(context.Background(), revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	victim, _, err := app.NewAPIKey("victim", app.RoleReader, []string{"76000"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateKey(context.Background(), victim); err != nil {
		t.Fatal(err)
	}
	e.victim = victim.ID
	return e
}

func exampleIncident(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/example_incident.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expect returns the status a principal must get on a route; 0 means any
// success (2xx, 3xx redirects of the docs, 304).
func expect(d api.Decision, p principalKind) int {
	if d.Access == "open" {
		return 0
	}
	switch p {
	case pNone, pBad, pRevoked:
		return http.StatusUnauthorized
	}
	role := map[principalKind]app.Role{pReader: app.RoleReader, pWriter: app.RoleWriter}[p]
	if role == "" {
		role = app.RoleAdmin
	}
	if !role.Includes(app.Role(d.Access)) {
		return http.StatusForbidden
	}
	incidentPath := strings.Contains(d.Path, ":incident_number")
	switch {
	case d.ID == "backup" && (p == pScopedRight || p == pScopedOther):
		return http.StatusForbidden
	case p != pScopedOther:
		return 0
	case incidentPath, d.ID == "revokeKey":
		return http.StatusNotFound
	case d.ID == "ingestIncidents", d.ID == "createKey":
		return http.StatusUnprocessableEntity
	}
	return 0
}

// requestFor builds a request that would succeed for an all-powerful key.
func (e *matrixEnv) requestFor(t *testing.T, d api.Decision) *http.Request {
	t.Helper()
	path := d.Path
	for from, to := range map[string]string{":fd_id": "76000", ":incident_number": "F01705150050", ":revision": "1", ":id": e.victim, "*": ""} {
		path = strings.ReplaceAll(path, from, to)
	}
	var body []byte
	ctype := ""
	switch d.ID {
	case "ingestIncidents", "replaceIncident":
		body, ctype = exampleIncident(t), "application/json"
	case "createKey":
		body, ctype = []byte(`{"name":"new","role":"reader","departments":["76000"]}`), "application/json"
	}
	if d.ID == "listUnitResponses" {
		path += "?unit_id=E22"
	}
	req := httptest.NewRequest(d.Method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

// TestAuthorizationMatrix tries every route (as the server lists them, so
// a new route without a decision fails) with every kind of key.
func TestAuthorizationMatrix(t *testing.T) {
	srv := newMatrixEnv(t).srv
	decisions := srv.Decisions()
	decided := map[string]bool{}
	for _, d := range decisions {
		decided[d.Method+" "+d.Path] = true
		if d.Access == "undecided" {
			t.Errorf("%s %s has no access decision", d.Method, d.Path)
		}
	}
	for _, r := range srv.Routes() {
		if !decided[r.Method+" "+r.Path] && r.Method != "echo_route_not_found" {
			t.Errorf("route %s %s is registered without an access decision", r.Method, r.Path)
		}
	}
	// Reads share one server; each write gets a fresh one, so that one
	// principal's successful write does not change what the next sees.
	shared := newMatrixEnv(t)
	for _, d := range decisions {
		for _, p := range principals {
			t.Run(fmt.Sprintf("%s %s/%s", d.Method, d.Path, p), func(t *testing.T) {
				e := shared
				if d.Method != http.MethodGet {
					e = newMatrixEnv(t)
				}
				req := e.requestFor(t, d)
				if tok := e.tokens[p]; tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				rec := httptest.NewRecorder()
				e.srv.ServeHTTP(rec, req)
				want := expect(d, p)
				got := rec.Code
				ok := got == want || (want == 0 && got < 400)
				if !ok {
					t.Fatalf("%s: status %d, want %d: %s", p, got, want, rec.Body.String())
				}
				if got >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
					t.Fatalf("error without problem+json: %q", rec.Header().Get("Content-Type"))
				}
				if got == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
				if p == pScopedOther && d.Access != "open" && got < 300 && strings.Contains(rec.Body.String(), "F01705150050") {
					t.Fatalf("a key scoped to another department sees the incident: %s", rec.Body.String())
				}
			})
		}
	}
}

func TestScopedUploadNamesDepartment(t *testing.T) {
	e := newMatrixEnv(t)
	req := e.requestFor(t, api.Decision{Method: "POST", Path: "/api/v1/incidents", ID: "ingestIncidents"})
	req.Header.Set("Authorization", "Bearer "+e.tokens[pScopedOther])
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	var p api.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 422 || len(p.Errors) == 0 || p.Errors[0].Pointer != "/fire_department/fd_id" || !strings.Contains(p.Errors[0].Message, "99999") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// TestNoPlaintextTokenOnDisk creates keys and checks that no file of the
// store contains a token.
func TestNoPlaintextTokenOnDisk(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for range 5 {
		tokens = append(tokens, mustKey(t, db, app.RoleAdmin))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, tok := range tokens {
			if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(tok[4:])) {
				t.Errorf("%s contains a token", path)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk: %v, %d files", err, files)
	}
}

func TestRevocationIsImmediate(t *testing.T) {
	e := newMatrixEnv(t)
	get := func() int {
		req := httptest.NewRequest("GET", "/api/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[pReader])
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := get(); got != 200 {
		t.Fatalf("before: %d", got)
	}
	req := httptest.NewRequest("GET", "/api/v1/keys/self", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[pReader])
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	var self app.APIKey
	if err := json.Unmarshal(rec.Body.Bytes(), &self); err != nil || self.Role != app.RoleReader {
		t.Fatalf("self: %s", rec.Body)
	}
	req = httptest.NewRequest("DELETE", "/api/v1/keys/"+self.ID, nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[pAdmin])
	rec = httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if got := get(); got != 401 {
		t.Fatalf("after revoke: %d", got)
	}
}

func TestRateLimit(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := api.NewServer(api.Deps{Store: db, Keys: db}, api.Config{RateLimit: 1, RateBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	tok := mustKey(t, db, app.RoleReader)
	var codes []int
	for range 5 {
		req := httptest.NewRequest("GET", "/api/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
		if rec.Code == 429 && (rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != "application/problem+json") {
			t.Fatalf("429 without Retry-After or problem: %v", rec.Header())
		}
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Fatalf("codes %v", codes)
	}
}

func TestSecurityHeaders(t *testing.T) {
	srv := newServer(t)
	rec := do(t, srv, "GET", "/healthz", "", nil)
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP %q", rec.Header().Get("Content-Security-Policy"))
	}
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
	// X-Forwarded-Proto from an untrusted peer is ignored.
	rec = do(t, srv, "GET", "/healthz", "", nil, "X-Forwarded-Proto", "https")
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS trusted an untrusted X-Forwarded-Proto")
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer cbx_abc", "bearer  x", "Basic dXNlcjpwYXNz", "", "Bearer", "Bearer a b", "Bearer \x00", strings.Repeat("Bearer ", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok := app.ParseBearer(h)
		if tok == "" {
			return
		}
		if strings.ContainsAny(tok, " \t\r\n\x00") || len(tok) > 256 {
			t.Fatalf("accepted token %q from %q", tok, h)
		}
		if !strings.Contains(h, tok) {
			t.Fatalf("token %q not in header %q", tok, h)
		}
	})
}
