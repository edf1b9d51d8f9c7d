package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFormatSig(t *testing.T) {
	for _, c := range []struct {
		v    float64
		sig  int
		want string
	}{
		{5634, 3, "5,630"},
		{12345, 3, "12,300"},
		{1234567, 3, "1,230,000"},
		{253.4, 3, "253"},
		{25.34, 3, "25.3"},
		{3.141, 3, "3.14"},
		{0.04234, 3, "0.0423"},
		{9.996, 3, "10.0"},
		{0.33, 2, "0.33"},
		{150.2, 2, "150"},
		{0, 3, "0"},
		{-2.5, 2, "-2.5"},
		{math.NaN(), 3, "–"},
	} {
		if got := formatSig(c.v, c.sig); got != c.want {
			t.Errorf("formatSig(%v, %d) = %q, want %q", c.v, c.sig, got, c.want)
		}
	}
}

func TestFormatCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 20000: "20,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRatio(t *testing.T) {
	got := ratio([]float64{10, 30, 5}, []float64{20, 10, 0})
	if got[0] != 0.5 || got[1] != 3 || !math.IsNaN(got[2]) {
		t.Fatalf("ratio = %v, want [0.5 3 NaN]", got)
	}
	if got := ratio([]float64{1, 2}, []float64{1}); !math.IsNaN(got[1]) {
		t.Fatalf("missing divisor gave %v, want NaN", got[1])
	}
}

func TestFormatRatio(t *testing.T) {
	c := &Measurement{Unit: unitLatency, Values: []float64{3, 21}}
	l := &Measurement{Unit: unitLatency, Values: []float64{1, 10}}
	if got, want := formatRatio(c, l), "3.0× / 2.1×"; got != want {
		t.Fatalf("formatRatio = %q, want %q", got, want)
	}
	c = &Measurement{Unit: unitDocs, Values: []float64{5630}}
	l = &Measurement{Unit: unitDocs, Values: []float64{17300}}
	if got, want := formatRatio(c, l), "0.33×"; got != want {
		t.Fatalf("formatRatio = %q, want %q", got, want)
	}
}

func TestFormatValues(t *testing.T) {
	for _, c := range []struct {
		m    Measurement
		want string
	}{
		{Measurement{Unit: unitDocs, Values: []float64{5634}}, "5,630 docs/s"},
		{Measurement{Unit: unitLatency, Values: []float64{3.14, 10.44}}, "p50 3.14 / p99 10.4 ms"},
		{Measurement{Unit: unitLatency, Values: []float64{3.14}}, "–"},
		{Measurement{Unit: unitMillis, Values: []float64{2.5}}, "2.50 ms"},
		{Measurement{Unit: unitPerRaw, Values: []float64{0.634}}, "0.634 B/B"},
		{Measurement{Unit: unitMiB, Values: []float64{155.2}}, "155 MiB"},
	} {
		if got := formatValues(&c.m); got != c.want {
			t.Errorf("formatValues(%v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if d[0] != 100*time.Millisecond {
		t.Fatal("percentile sorted its input")
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Fatalf("one sample: %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Fatalf("no samples: %v", got)
	}
}

func TestRender(t *testing.T) {
	cad := &Measurement{Name: "bulk ingest into the store", Unit: unitDocs, Values: []float64{5630}, How: "store.DB.Upsert"}
	raw := &Measurement{Name: "bbolt puts", Raw: true, Unit: unitDocs, Values: []float64{17300}, How: "bare bbolt"}
	dec := &Measurement{Name: "encoding/json into any", Raw: true, Unit: unitDocs, Values: []float64{11260}, How: "json.Unmarshal"}
	r := &Report{Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Commit: "abc", GoVersion: "go1.26.8", CPU: "AMD EPYC", Cores: 2,
		Docs: 20000, Posts: 4000, Queries: 1000, Clients: 8, RawBytes: 88 << 20, Wall: 95 * time.Second, Command: "make bench",
		Comparisons: []Comparison{{Section: "Bulk ingest", Cadbox: cad, Limits: []*Measurement{raw, dec}}},
		Charts:      []Chart{{File: "throughput.png", Title: "Throughput"}}}
	var b bytes.Buffer
	if err := r.Render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| bulk ingest into the store | 5,630 docs/s | bbolt puts | 17,300 docs/s | 0.33× |\n",
		"|  |  | encoding/json into any | 11,300 docs/s | 0.50× |\n",
		"| documents (`BENCH_DOCS`) | 20,000 generated incidents",
		"![Throughput](throughput.png)",
		"- **bbolt puts** (raw limit): 17,300 docs/s — bare bbolt\n",
		"| wall time of the run | 1m35s |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "- **bulk ingest into the store**"); n != 1 {
		t.Errorf("measurement explained %d times, want once", n)
	}
}

func TestJSONTotal(t *testing.T) {
	n, err := jsonTotal([]byte(`{"total": 123,"took_ms":1.5,"hits":[]}`))
	if err != nil || n != 123 {
		t.Fatalf("jsonTotal = %d, %v; want 123", n, err)
	}
	if _, err := jsonTotal([]byte(`{"hits":[]}`)); err == nil {
		t.Fatal("no total: want an error")
	}
}

func TestLoadConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := loadConfig(env(nil))
	if err != nil || c.docs != 20000 || c.posts != 4000 || c.queries != 1000 || c.clients != 8 || c.bin != "../bin/cadbox" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = loadConfig(env(map[string]string{"BENCH_DOCS": "2000"}))
	if err != nil || c.docs != 2000 || c.posts != 400 {
		t.Fatalf("BENCH_DOCS=2000: %+v, %v", c, err)
	}
	if _, err := loadConfig(env(map[string]string{"BENCH_DOCS": "lots", "BENCH_QUERIES": "-1"})); err == nil ||
		!strings.Contains(err.Error(), "BENCH_DOCS") || !strings.Contains(err.Error(), "BENCH_QUERIES") {
		t.Fatalf("bad values: %v", err)
	}
}

func TestCharts(t *testing.T) {
	ms := []*Measurement{
		{Name: "bulk ingest", Unit: unitDocs, Values: []float64{5630}},
		{Name: "bbolt puts", Raw: true, Unit: unitDocs, Values: []float64{17300}},
		{Name: "search", Unit: unitLatency, Values: []float64{3.1, 10.4}},
		{Name: "bleve", Raw: true, Unit: unitLatency, Values: []float64{0.08, 2.9}},
		{Name: "start-up", Unit: unitMillis, Values: []float64{230}},
	}
	dir := t.TempDir()
	for name, draw := range map[string]func(string, []*Measurement) error{"t.png": throughputChart, "l.png": latencyChart} {
		path := filepath.Join(dir, name)
		if err := draw(path, ms); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Fatalf("%s is not a PNG", name)
		}
	}
}

func TestOthersShare(t *testing.T) {
	t0 := time.Now()
	a := cpuSample{at: t0, busy: 100 * time.Second, own: 10 * time.Second}
	b := cpuSample{at: t0.Add(10 * time.Second), busy: 112 * time.Second, own: 17 * time.Second}
	// 12 s busy in 10 s on 2 cores, 7 s of it ours: others 5 s of 20 s.
	if got := othersShare(a, b, 2); math.Abs(got-0.25) > 1e-9 {
		t.Fatalf("othersShare = %v, want 0.25", got)
	}
	if got := othersShare(a, a, 2); !math.IsNaN(got) {
		t.Fatalf("no time passed: %v, want NaN", got)
	}
	if _, err := machineBusy(); err != nil {
		t.Fatal(err)
	}
	if _, err := processCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
