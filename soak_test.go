package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cadbox/app/loadgen"
)

// Soak settings. The flatness bounds are explained where they are used.
const (
	soakClients      = 16
	soakPreload      = 1000 // incidents uploaded before a run of a minute or more
	soakPreloadShort = 300  // before a shorter one (make test: under -race, it only slows the start)
	soakToken        = "cbx_soak-test-admin-token-0123456789abcdef"
	soakShort        = 15 * time.Second // plain `go test` (make test runs it under -race)
	soakShortShort   = 5 * time.Second  // go test -short
)

// TestSoak runs the real server in this process (serve, as `cadbox serve`
// runs it) and drives a mixed load at it from 16 clients with
// app/loadgen: bulk and single uploads of unfolding incidents, reads,
// listings, searches, stats and, when the server has it, /metrics. It
// asserts that
//
//   - every response has the status it should (no 5xx, no transport error)
//     and every acknowledged write is read back and found by search at once;
//   - at the end every acknowledged incident is listed, each incident
//     written one at a time holds its last acknowledged version, and the
//     store, the search index and the analysis tables count the same;
//   - the server logs no error;
//   - goroutines and memory stay flat: goroutines once idle again return
//     to where they were before the load, and the live heap grows no more
//     than the data set it holds explains.
//
// CADBOX_SOAK_DURATION sets the length (make soak-load: 10m); without it
// the test runs 15 s, so that `make test` covers the load under the race
// detector. Per-kind latencies and the resource samples go to the log and
// to test-output/soak.md.
//
// The server runs in-process rather than as a child: the race detector
// then sees the server's code under concurrent load, and the Go runtime's
// own numbers (goroutines, live heap after GC) are read directly instead
// of through a metrics route that may not exist. RSS comes from
// /proc/self/status and so includes the load clients (small next to the
// server: they keep ids and at most a few incidents per client).
func TestSoak(t *testing.T) {
	dur := soakShort
	if testing.Short() {
		dur = soakShortShort
	}
	if v := os.Getenv("CADBOX_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("CADBOX_SOAK_DURATION=%q: want a positive duration such as 10m", v)
		}
		dur = d
	}
	race := raceEnabled()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dir := t.TempDir()
	logs := &logCounter{}
	cfg, err := loadConfig(map[string]string{
		"CADBOX_ADDR": "127.0.0.1:0", "CADBOX_DATA_DIR": dir, "CADBOX_ADMIN_TOKEN": soakToken,
		"CADBOX_LOG_LEVEL": "INFO", // every request is logged, as in production
		// Each client has its own key; the limiter runs (its per-key
		// state is part of what must stay flat) but never refuses.
		"CADBOX_RATE_LIMIT": "1000000", "CADBOX_RATE_BURST": "1000000",
	})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, logs, ready) }()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("the server did not stop within a minute")
		}
	}
	defer stop()
	waitReady(t, base)

	tokens := make([]string, soakClients)
	for i := range tokens {
		tokens[i] = createKey(t, base, fmt.Sprintf("soak client %d", i))
	}
	r, err := loadgen.New(loadgen.Config{BaseURL: base, Tokens: tokens, Clients: soakClients, Duration: dur, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitReady(ctx, "/api/v1/stats/workload/types", time.Minute); err != nil {
		t.Fatal(err)
	}
	preload := soakPreload
	if dur < time.Minute {
		preload = soakPreloadShort
	}
	if err := r.Preload(ctx, preload); err != nil {
		t.Fatalf("%v: %v", err, failureList(r))
	}
	if !r.HasMetrics() {
		t.Log("the server has no GET /metrics; the metrics reads are left out of the mix")
	}

	before := idleState(t, r)
	t.Logf("idle before the load: %d goroutines, live heap %s, RSS %s (anon %s), %d incidents",
		before.goroutines, mib(before.heap), mib(before.rss.total), mib(before.rss.anon), r.Progress().Incidents)

	logs.mark() // warnings from here on count (a first start warns that it builds the index)
	samples := make(chan []sample, 1)
	sctx, stopSampling := context.WithCancel(ctx)
	go func() { samples <- sampleEvery(sctx, sampleInterval(dur), r) }()
	rep := r.Run(ctx)
	stopSampling()
	series := <-samples

	ver, verr := r.Verify(ctx)
	after := idleState(t, r)
	// Wait for goroutines that outlive their connections (a handler
	// finishing, a timer) to end: up to 15 s.
	for deadline := time.Now().Add(15 * time.Second); after.goroutines > before.goroutines+goroutineSlack && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		after = idleState(t, r)
	}
	stop()
	loadStart, loadEnd := series[0].progress, series[len(series)-1].progress

	// The report, whatever the outcome.
	t.Logf("load: %s", rep.Markdown())
	t.Log(cpuSummary(series))
	t.Logf("idle after the load: %d goroutines, live heap %s, RSS %s (anon %s), %d incidents",
		after.goroutines, mib(after.heap), mib(after.rss.total), mib(after.rss.anon), r.Progress().Incidents)
	flat := checkFlat(series, before, after, loadStart, loadEnd)
	for _, line := range flat.notes {
		t.Log(line)
	}
	writeSoakReport(t, dur, race, rep, ver, before, after, series, flat)

	// Assertions.
	if rep.FailureCount > 0 {
		t.Errorf("%d failed requests or checks; the first:\n%s", rep.FailureCount, failureList(r))
	}
	if verr != nil {
		t.Errorf("verify: %v", verr)
	}
	if ver != nil {
		if ver.MissingCount > 0 {
			t.Errorf("%d acknowledged incidents missing, e.g. %v", ver.MissingCount, ver.Missing)
		}
		if ver.StaleCount > 0 {
			t.Errorf("%d incidents not at their last acknowledged version, e.g. %v", ver.StaleCount, ver.Stale)
		}
		// The store was empty and this test made every incident.
		if ver.Listed != ver.Acknowledged || ver.SearchTotal != uint64(ver.Listed) || ver.StatsTotal != int64(ver.Listed) {
			t.Errorf("acknowledged %d, listed %d, search counts %d, analysis counts %d: want all equal",
				ver.Acknowledged, ver.Listed, ver.SearchTotal, ver.StatsTotal)
		}
		if ver.ETagChecked == 0 {
			t.Error("no incident was written one at a time: the mix did not run")
		}
	}
	if n, first := logs.problems(); n > 0 {
		t.Errorf("the server logged %d errors, or warnings under load; the first:\n%s", n, strings.Join(first, "\n"))
	}
	for _, e := range flat.errs {
		t.Error(e)
	}
	if rep.Ops == 0 || loadEnd.Incidents <= loadStart.Incidents {
		t.Errorf("the load did nothing: %d requests, incidents %d -> %d", rep.Ops, loadStart.Incidents, loadEnd.Incidents)
	}
}

// Flatness bounds.
const (
	// goroutineSlack is how many more goroutines the idle server may have
	// after the load than before it: a timer or a background merge of
	// the search index that happens to be running.
	goroutineSlack = 10
	// heapPerIncident bounds the live heap a stored incident may keep.
	// The analysis tables keep every unit response in memory (about 54
	// bytes each, 3-6 per incident, plus a row per incident); bbolt's
	// freelist and the search index's in-memory state grow a little with
	// the data. Measured: 430-450 B per added incident (2- and 10-minute
	// runs). 1 KiB leaves room for that and still catches a leak of a few
	// hundred bytes per request (there are about two requests per new
	// incident) or of any document data (an incident is about 4.4 KB of
	// JSON, several times that decoded).
	heapPerIncident = 1 << 10
	// idleHeapSlack is the fixed growth allowed between the two idle
	// measurements (both right after two full GCs, nothing in flight):
	// caches filled once, metric series, the search index's segment
	// metadata (measured: about 3 MiB), and the store's latest 2,048
	// changes, kept decoded for the index and the analysis engine
	// (store/recent.go: ~10 KB an incident, ~20 MiB once full).
	idleHeapSlack = 40 << 20
	// loadHeapSlack is the noise allowed under load, where the live heap
	// of the last GC includes whatever was in flight then (16 clients,
	// bulk uploads of 25 documents decoded).
	loadHeapSlack = 32 << 20
	// anonPerByte bounds anonymous RSS growth against the raw bytes
	// written. RSS follows the heap's GC target (twice the live heap at
	// GOGC=100) and the runtime returns freed pages lazily, so it is a
	// loose measure; but a server that kept what it was sent would grow by
	// more than a byte per byte written, documents being larger decoded
	// than as JSON. Measured: 0.8 (of which the slack covers most).
	anonPerByte = 1.0
	anonSlack   = 64 << 20
)

type flatness struct {
	errs  []string
	notes []string
}

// checkFlat compares the second half of the load to the first and the
// idle server after to the idle server before.
func checkFlat(series []sample, before, after idle, loadStart, loadEnd loadgen.Progress) flatness {
	var f flatness
	errf := func(format string, args ...any) { f.errs = append(f.errs, fmt.Sprintf(format, args...)) }
	note := func(format string, args ...any) { f.notes = append(f.notes, fmt.Sprintf(format, args...)) }

	added := loadEnd.Incidents - loadStart.Incidents
	if after.goroutines > before.goroutines+goroutineSlack {
		errf("goroutines: %d idle after the load, %d before (slack %d): a leak", after.goroutines, before.goroutines, goroutineSlack)
	}
	note("goroutines idle: before %d, after %d", before.goroutines, after.goroutines)

	heapGrowth := int64(after.heap) - int64(before.heap)
	if bound := int64(heapPerIncident)*added + idleHeapSlack; heapGrowth > bound {
		errf("live heap after GC grew %s over the load while %d incidents were added: more than %s (%d B per incident + %s)",
			mib(uint64(max(heapGrowth, 0))), added, mib(uint64(bound)), heapPerIncident, mib(idleHeapSlack))
	}
	if added > 0 {
		note("live heap after GC: before %s, after %s: %+d B per added incident", mib(before.heap), mib(after.heap), heapGrowth/added)
	}

	if len(series) < 8 {
		note("only %d samples: the in-load comparison is skipped", len(series))
		return f
	}
	// Warm-up: the first tenth. First half: from there to the middle.
	n := len(series)
	warm, mid := n/10, n/2
	firstHalf, secondHalf := series[warm:mid], series[mid:]
	// Medians, not maxima: a sample that falls while a bulk upload, a
	// search-index merge and a burst of clients overlap is a spike, not
	// growth (on a loaded machine the maxima of the halves differed by
	// more than the slack with no leak); a leak moves the median.
	medG := func(s []sample) int { return int(medianOf(s, func(x sample) uint64 { return uint64(x.goroutines) })) }
	if g1, g2 := medG(firstHalf), medG(secondHalf); g2 > g1+2*soakClients {
		errf("goroutines under load: median %d in the second half, %d in the first (slack %d): growing", g2, g1, 2*soakClients)
	} else {
		note("goroutines under load: median %d in the first half, %d in the second", g1, g2)
	}
	// The live heap over the second half: the median of the samples
	// around the middle against the median of the last ones, which
	// smooths out where a GC cycle fell.
	window := max(3, n/20)
	m1 := medianOf(series[mid-window/2:mid-window/2+window], func(s sample) uint64 { return s.heapLive })
	m2 := medianOf(series[n-window:], func(s sample) uint64 { return s.heapLive })
	a1 := medianOf(series[mid-window/2:mid-window/2+window], func(s sample) uint64 { return s.rss.anon })
	a2 := medianOf(series[n-window:], func(s sample) uint64 { return s.rss.anon })
	inc1 := series[mid].progress.Incidents
	inc2 := series[n-1].progress.Incidents
	bytes1 := series[mid].progress.WrittenBytes
	bytes2 := series[n-1].progress.WrittenBytes
	if bound := int64(heapPerIncident)*(inc2-inc1) + loadHeapSlack; int64(m2)-int64(m1) > bound {
		errf("live heap over the second half: %s -> %s while %d incidents were added: more than %s",
			mib(m1), mib(m2), inc2-inc1, mib(uint64(bound)))
	}
	note("live heap over the second half: %s -> %s with %d incidents added", mib(m1), mib(m2), inc2-inc1)
	if bound := int64(anonPerByte*float64(bytes2-bytes1)) + anonSlack; int64(a2)-int64(a1) > bound {
		errf("anonymous RSS over the second half: %s -> %s while %s were written: more than %s",
			mib(a1), mib(a2), mib(uint64(bytes2-bytes1)), mib(uint64(bound)))
	}
	note("anonymous RSS over the second half: %s -> %s with %s written", mib(a1), mib(a2), mib(uint64(bytes2-bytes1)))
	return f
}

func medianOf(s []sample, v func(sample) uint64) uint64 {
	xs := make([]uint64, len(s))
	for i, x := range s {
		xs[i] = v(x)
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// sample is the process at one moment of the load.
type sample struct {
	at         time.Duration
	goroutines int
	heapLive   uint64 // live heap as of the last GC
	rss        rss
	progress   loadgen.Progress
	cpu        time.Duration // this process's CPU time so far (user + system)
	load1      float64       // the machine's 1-minute load average
}

type rss struct{ total, anon, file uint64 }

// readRSS reads VmRSS, RssAnon and RssFile of this process. The file part
// is mostly bbolt's and the index's memory-mapped files; the anonymous
// part is the Go heap, stacks and runtime.
func readRSS() rss {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return rss{}
	}
	defer f.Close()
	var out rss
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			out.total = kb << 10
		case "RssAnon":
			out.anon = kb << 10
		case "RssFile":
			out.file = kb << 10
		}
	}
	return out
}

// cpuSummary says how much CPU the process got and how busy the machine
// was during the load.
func cpuSummary(series []sample) string {
	n := len(series)
	if n < 2 {
		return ""
	}
	first, last := series[0], series[n-1]
	wall := last.at - first.at
	var load float64
	for _, x := range series {
		load += x.load1
	}
	cpu := last.cpu - first.cpu
	return fmt.Sprintf("The process (server and clients) used %.0f s of CPU in %.0f s (%.2f cores; %.0f requests per CPU second); the machine's 1-minute load average was %.1f on average (%d CPUs).",
		cpu.Seconds(), wall.Seconds(), float64(cpu)/float64(wall), float64(last.progress.Ops-first.progress.Ops)/cpu.Seconds(), load/float64(n), runtime.NumCPU())
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is the machine's 1-minute load average (0 if unknown): the
// latencies mean little without it on a shared machine.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func sampleInterval(dur time.Duration) time.Duration {
	return min(max(dur/120, time.Second), 5*time.Second)
}

// sampleEvery samples the process every interval until ctx ends, and
// once more at the end.
func sampleEvery(ctx context.Context, interval time.Duration, r *loadgen.Runner) []sample {
	start := time.Now()
	take := func() sample {
		return sample{at: time.Since(start), goroutines: runtime.NumGoroutine(), heapLive: heapLive(), rss: readRSS(),
			progress: r.Progress(), cpu: cpuTime(), load1: loadAverage()}
	}
	out := []sample{take()}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return append(out, take())
		case <-tick.C:
			out = append(out, take())
		}
	}
}

// idle is the server with no load and no open client connections.
type idle struct {
	goroutines int
	heap       uint64 // live heap right after a full GC
	rss        rss
}

// idleState closes the clients' idle connections, lets the server's
// connection goroutines end, and measures.
func idleState(t *testing.T, r *loadgen.Runner) idle {
	t.Helper()
	r.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	prev, stable := -1, 0
	for i := 0; i < 100 && stable < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == prev {
			stable++
		} else {
			stable = 0
		}
		prev = n
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return idle{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc, rss: readRSS()}
}

func createKey(t *testing.T, base, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "role": "writer"})
	resp, err := authed(http.MethodPost, base+"/api/v1/keys", soakToken, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.Token == "" {
		t.Fatalf("create key: %d %v", resp.StatusCode, err)
	}
	return out.Token
}

func failureList(r *loadgen.Runner) string {
	fs, _ := r.Failures()
	var b strings.Builder
	for i, f := range fs {
		if i == 10 {
			break
		}
		fmt.Fprintf(&b, "  %s\n", f)
	}
	return b.String()
}

// logCounter receives the server's JSON log: it counts errors, and
// warnings after mark, and keeps the first few.
type logCounter struct {
	mu     sync.Mutex
	marked bool
	n      int
	first  []string
}

func (l *logCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range bytes.Lines(p) {
		if bytes.Contains(line, []byte(`"level":"ERROR"`)) || l.marked && bytes.Contains(line, []byte(`"level":"WARN"`)) {
			if l.n++; len(l.first) < 5 {
				l.first = append(l.first, strings.TrimSpace(string(line)))
			}
		}
	}
	return len(p), nil
}

func (l *logCounter) mark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marked = true
}

func (l *logCounter) problems() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, slices.Clone(l.first)
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// writeSoakReport writes test-output/soak.md: the latency table, the
// verification and the resource samples.
func writeSoakReport(t *testing.T, dur time.Duration, race bool, rep *loadgen.Report, ver *loadgen.Verification,
	before, after idle, series []sample, flat flatness) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# Soak: mixed load\n\n%s, %s/%s, GOMAXPROCS %d, race detector %v, CADBOX_SOAK_DURATION %s\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), race, dur)
	b.WriteString(rep.Markdown())
	fmt.Fprintf(&b, "\n%s\n", cpuSummary(series))
	if ver != nil {
		fmt.Fprintf(&b, "\nVerification: %d acknowledged, %d listed, %d missing; %d read back by ETag, %d stale; search counts %d, analysis counts %d.\n",
			ver.Acknowledged, ver.Listed, ver.MissingCount, ver.ETagChecked, ver.StaleCount, ver.SearchTotal, ver.StatsTotal)
	}
	b.WriteString("\n## Resources\n\n| idle | goroutines | live heap after GC | RSS | RSS anon | RSS file |\n|---|---:|---:|---:|---:|---:|\n")
	for _, x := range []struct {
		name string
		s    idle
	}{{"before the load", before}, {"after the load", after}} {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", x.name, x.s.goroutines, mib(x.s.heap), mib(x.s.rss.total), mib(x.s.rss.anon), mib(x.s.rss.file))
	}
	b.WriteString("\n")
	for _, n := range flat.notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	for _, e := range flat.errs {
		fmt.Fprintf(&b, "- **FAILED**: %s\n", e)
	}
	b.WriteString("\n| t | goroutines | live heap | RSS | RSS anon | RSS file | incidents | MB written | requests | load |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	step := max(1, len(series)/30)
	for i, s := range series {
		if i%step != 0 && i != len(series)-1 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %d | %.1f | %d | %.1f |\n", s.at.Round(time.Second), s.goroutines, mib(s.heapLive),
			mib(s.rss.total), mib(s.rss.anon), mib(s.rss.file), s.progress.Incidents, float64(s.progress.WrittenBytes)/1e6, s.progress.Ops, s.load1)
	}
	if err := os.MkdirAll("test-output", 0o755); err != nil {
		t.Errorf("report: %v", err)
		return
	}
	path := filepath.Join("test-output", "soak.md")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("report: %v", err)
		return
	}
	t.Logf("report written to %s", path)
}

// TestSoakFlatness feeds checkFlat made-up series: a flat one passes, and
// each kind of leak fails it.
func TestSoakFlatness(t *testing.T) {
	t.Parallel()
	const n = 40
	series := func(goroutines func(i int) int, heap, anon func(i int) uint64) []sample {
		out := make([]sample, n)
		for i := range out {
			out[i] = sample{at: time.Duration(i) * time.Second, goroutines: goroutines(i), heapLive: heap(i),
				rss: rss{anon: anon(i)}, progress: loadgen.Progress{Incidents: int64(1000 + 100*i), WrittenBytes: int64(500_000 * i)}}
		}
		return out
	}
	flatG := func(i int) int { return 90 + i%5 }
	flatHeap := func(i int) uint64 { return 20<<20 + uint64(i%3)<<20 + uint64(400*100*i) }
	flatAnon := func(i int) uint64 { return 60<<20 + uint64(i%4)<<20 }
	before := idle{goroutines: 13, heap: 2 << 20}
	okAfter := idle{goroutines: 14, heap: before.heap + 400*100*(n-1)}
	start, end := loadgen.Progress{Incidents: 1000}, loadgen.Progress{Incidents: 1000 + 100*(n-1)}

	tests := []struct {
		name   string
		series []sample
		after  idle
		want   string // "" when it must pass
	}{
		{"OK", series(flatG, flatHeap, flatAnon), okAfter, ""},
		{"GoroutinesLeftOver", series(flatG, flatHeap, flatAnon), idle{goroutines: before.goroutines + goroutineSlack + 1, heap: okAfter.heap}, "goroutines:"},
		{"GoroutinesGrowUnderLoad", series(func(i int) int { return 90 + 3*i }, flatHeap, flatAnon), okAfter, "goroutines under load"},
		{"HeapLeftOver", series(flatG, flatHeap, flatAnon), idle{goroutines: 13, heap: before.heap + heapPerIncident*100*n + idleHeapSlack}, "live heap after GC"},
		{"HeapGrowsUnderLoad", series(flatG, func(i int) uint64 { return 20<<20 + uint64(i)<<22 }, flatAnon), okAfter, "live heap over the second half"},
		{"RSSGrowsUnderLoad", series(flatG, flatHeap, func(i int) uint64 { return 60<<20 + uint64(i)<<23 }), okAfter, "anonymous RSS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := checkFlat(tt.series, before, tt.after, start, end)
			got := strings.Join(f.errs, "\n")
			switch {
			case tt.want == "" && got != "":
				t.Fatalf("a flat run failed: %s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Fatalf("errors %q, want one about %q", got, tt.want)
			}
		})
	}
}
