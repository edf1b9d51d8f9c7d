package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := loadConfig(map[string]string{"CADBOX_ADDR": "127.0.0.1:0", "CADBOX_DATA_DIR": dir})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, io.Discard, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	base := "http://" + addr
	waitReady(t, base)

	body, err := os.ReadFile("app/api/testdata/example_incident.json")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/v1/incidents", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	for _, path := range []string{"/api/v1/departments/76000/incidents/F01705150050", "/openapi.json", "/docs/", "/healthz"} {
		resp, err := http.Get(base + path)
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
	if err := run(ctx, []string{"import", "-quiet", "-server", base, imp}, map[string]string{}, &out, io.Discard); err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	resp, err = http.Get(base + "/api/v1/departments/76000/incidents/IMP2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("imported incident: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no shutdown")
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
