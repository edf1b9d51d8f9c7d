package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8080" || cfg.DataDir != "./data" || cfg.ShutdownTimeout != 20*time.Second {
		t.Fatalf("defaults: %+v", cfg)
	}
	bad := []map[string]string{
		{"CADBOX_BODY_LIMIT": "lots"},
		{"CADBOX_SHUTDOWN_TIMEOUT": "-1s"},
		{"CADBOX_LOG_FORMAT": "xml"},
		{"CADBOX_ADDR": "8080"},
		{"CADBOX_LOG_LEVEL": "LOUD"},
		{"CADBOX_DOCUMENT_LIMIT": "1"},
		{"CADBOX_METRICS_ALLOW": "10.0.0.0/33"},
	}
	for _, environ := range bad {
		_, err := loadConfig(environ)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: err = %v, want a usage error (exit 2)", environ, err)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	var out, errw bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, map[string]string{}, &out, &errw)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(errw.String(), "Usage:") {
		t.Fatalf("err = %v, stderr = %q", err, errw.String())
	}
}

// TestServeEndToEnd runs the real server on a free port, writes and reads
// an incident, imports a directory with the import subcommand, and shuts
// down on cancel.
func TestServeEndToEnd(t *testing.T) {
	const token = "cbx_e2e-admin-token-0123456789abcdefghijkl"
	srv := startServe(t, map[string]string{"CADBOX_DATA_DIR": t.TempDir(), "CADBOX_ADMIN_TOKEN": token})
	base, ctx := srv.base, srv.ctx
	body := postExample(t, base, token)
	for _, path := range []string{"/api/v1/departments/76000/incidents/F01705150050", "/openapi.json", "/docs/", "/healthz"} {
		resp, err := authed("GET", base+path, token, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}

	// Import: a directory with an NDJSON file of two incidents.
	imp := filepath.Join(t.TempDir(), "exports")
	if err := os.MkdirAll(imp, 0o755); err != nil {
		t.Fatal(err)
	}
	var nd bytes.Buffer
	for _, n := range []string{"IMP1", "IMP2"} {
		var doc map[string]any
		json.Unmarshal(body, &doc)
		doc["description"].(map[string]any)["incident_number"] = n
		b, _ := json.Marshal(doc)
		nd.Write(b)
		nd.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(imp, "day.ndjson"), nd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"import", "-quiet", "-server", base, "-token", token, imp}, map[string]string{}, &out, io.Discard); err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	resp, err := authed("GET", base+"/api/v1/departments/76000/incidents/IMP2", token, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("imported incident: %d", resp.StatusCode)
	}

	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}

// servedApp is the real server, run in-process by startServe.
type servedApp struct {
	base string
	ctx  context.Context
	stop func() error // cancels serve and waits for its shutdown
}

// startServe runs `serve` in-process on a free loopback port with the
// given environment and returns once /readyz is 200. The server stops
// when the test ends (or earlier, by stop).
func startServe(t *testing.T, environ map[string]string) *servedApp {
	t.Helper()
	environ = maps.Clone(environ)
	environ["CADBOX_ADDR"] = "127.0.0.1:0"
	cfg, err := loadConfig(environ)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, io.Discard, ready) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					stopErr = fmt.Errorf("serve: %w", err)
				}
			case <-time.After(30 * time.Second):
				stopErr = errors.New("no shutdown within 30 s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	select {
	case addr := <-ready:
		base := "http://" + addr
		waitReady(t, base)
		return &servedApp{base: base, ctx: ctx, stop: stop}
	case err := <-done:
		t.Fatal(err)
		return nil
	}
}

// postExample uploads the example incident (F01705150050) and returns
// its bytes.
func postExample(t *testing.T, base, token string) []byte {
	t.Helper()
	body, err := os.ReadFile("app/api/testdata/example_incident.json")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := authed("POST", base+"/api/v1/incidents", token, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	return body
}

func authed(method, url, token, ctype string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return http.DefaultClient.Do(req)
}

// TestFirstStartWritesAdminKey starts with no keys and no
// CADBOX_ADMIN_TOKEN: an admin key is written to the data directory,
// readable only by its owner, and it works.
func TestFirstStartWritesAdminKey(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := loadConfig(map[string]string{"CADBOX_ADDR": "127.0.0.1:0", "CADBOX_DATA_DIR": dir})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- serve(ctx, cfg, &out, io.Discard, ready) }()
	base := "http://" + <-ready
	waitReady(t, base)
	path := filepath.Join(dir, "admin.key")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key mode %v, want 0600", fi.Mode().Perm())
	}
	tok, _ := os.ReadFile(path)
	resp, err := authed("GET", base+"/api/v1/keys", strings.TrimSpace(string(tok)), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin key from the file: %d", resp.StatusCode)
	}
	if resp, err := http.Get(base + "/api/v1/incidents"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no key: %v %v", resp.StatusCode, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), path) {
		t.Fatalf("startup output does not say where the key is: %q", out.String())
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("server never became ready")
}

// TestOfflineCommands seeds a data directory, lists and creates keys
// offline, reindexes, backs up through a running server and restores.
func TestOfflineCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"CADBOX_DATA_DIR": dir, "CADBOX_ADDR": "127.0.0.1:0"}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"seed", "-n", "300", "-quiet"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"keys", "create", "-name", "ci", "-role", "admin"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var created struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out.Bytes(), &created); err != nil || created.Token == "" {
		t.Fatalf("keys create: %v %q", err, out.String())
	}
	if err := run(ctx, []string{"reindex", "-quiet"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg, _ := loadConfig(env)
	sctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(sctx, cfg, io.Discard, io.Discard, ready) }()
	base := "http://" + <-ready
	waitReady(t, base)
	resp, err := authed("GET", base+"/api/v1/search?limit=1", created.Token, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sr struct {
		Total int `json:"total"`
	}
	json.NewDecoder(resp.Body).Decode(&sr)
	resp.Body.Close()
	if sr.Total != 300 {
		t.Fatalf("search after seed: %d incidents, want 300", sr.Total)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := run(ctx, []string{"backup", "-server", base, "-token", created.Token, "-out", backup}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	restoreDir := t.TempDir()
	if err := run(ctx, []string{"restore", "-from", backup}, map[string]string{"CADBOX_DATA_DIR": restoreDir}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list"}, map[string]string{"CADBOX_DATA_DIR": restoreDir}, &out, io.Discard); err != nil || !strings.Contains(out.String(), `"ci"`) {
		t.Fatalf("keys in the restored store: %v %s", err, out.String())
	}
}
