package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestServeMetrics runs the real server with CADBOX_METRICS_ALLOW set to
// the loopback address: /metrics answers without a key and its gauges
// come from the store and the index serve opened.
func TestServeMetrics(t *testing.T) {
	const token = "cbx_metrics-admin-token-0123456789abcdefgh"
	srv := startServe(t, map[string]string{"CADBOX_DATA_DIR": t.TempDir(), "CADBOX_ADMIN_TOKEN": token,
		"CADBOX_METRICS_ALLOW": "127.0.0.1, ::1"})
	postExample(t, srv.base, token)
	resp, err := http.Get(srv.base + "/metrics") // no key, from 127.0.0.1
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics without a key from loopback: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	gauge := func(name string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("%s missing", name)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if seq := gauge("cadbox_store_sequence"); seq < 1 || gauge("cadbox_index_sequence") != seq || gauge("cadbox_index_lag") != 0 {
		t.Errorf("store sequence %g, index sequence %g, lag %g", seq, gauge("cadbox_index_sequence"), gauge("cadbox_index_lag"))
	}
	if gauge("cadbox_incidents") != 1 || gauge("cadbox_store_size_bytes") <= 0 || gauge("cadbox_index_size_bytes") <= 0 {
		t.Errorf("incidents %g, store %g bytes, index %g bytes", gauge("cadbox_incidents"), gauge("cadbox_store_size_bytes"), gauge("cadbox_index_size_bytes"))
	}
	var created float64
	for _, m := range fams["cadbox_ingest_documents_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "outcome" && l.GetValue() == "created" {
				created = m.GetCounter().GetValue()
			}
		}
	}
	if created != 1 {
		t.Errorf("created documents %g, want 1", created)
	}
	if _, ok := fams["process_resident_memory_bytes"]; !ok {
		t.Error("no process metrics")
	}
	if v := fams["cadbox_build_info"].GetMetric(); len(v) != 1 || !strings.Contains(v[0].String(), version) {
		t.Errorf("cadbox_build_info %v", v)
	}
}
