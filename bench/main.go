// Command bench measures cadbox on this machine and writes REPORT.md and
// its charts: each workload's figure next to the raw limit of the same
// work (encoding/json, bare bbolt, bare bleve, bare net/http), measured
// in the same run, as ratios. `make bench` runs it; sizes come from the
// environment:
//
//	BENCH_DOCS     generated incidents for the ingest, search and stats workloads (default 20000)
//	BENCH_POSTS    further incidents sent one per POST (default BENCH_DOCS/5)
//	BENCH_QUERIES  requests per latency series and per throughput figure (default 1000)
//	BENCH_CLIENTS  concurrent clients of the concurrent workloads (default 8)
//	BENCH_BIN      the cadbox binary to start (default ../bin/cadbox)
//	BENCH_OUT      directory for REPORT.md and the charts (default .)
//	BENCH_TMP      directory for the run's data, removed afterwards (default the system's)
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cadbox/app/fixture"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is read from BENCH_* environment variables.
type config struct {
	docs, posts, queries, clients int
	bin, out, tmp                 string
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{bin: "../bin/cadbox", out: "."}
	var errs []error
	num := func(name string, def int) int {
		s := getenv(name)
		if s == "" {
			return def
		}
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a positive whole number", name, s))
			return def
		}
		return v
	}
	c.docs = num("BENCH_DOCS", 20000)
	c.posts = num("BENCH_POSTS", max(c.docs/5, 100))
	c.queries = num("BENCH_QUERIES", 1000)
	c.clients = num("BENCH_CLIENTS", 8)
	if s := getenv("BENCH_BIN"); s != "" {
		c.bin = s
	}
	if s := getenv("BENCH_OUT"); s != "" {
		c.out = s
	}
	c.tmp = getenv("BENCH_TMP")
	return c, errors.Join(errs...)
}

// corpus is the run's documents.
type corpus struct {
	docs     [][]byte // compact JSON, one incident each
	bodies   [][]byte // the same as NDJSON bodies of batchDocs
	raw      int64    // bytes of docs as NDJSON (a newline each)
	posts    [][]byte // further incidents for single POSTs
	postsRaw int64
}

func newCorpus(docs, posts int) *corpus {
	g := fixture.New(42)
	c := &corpus{}
	// Each document is a slice of its NDJSON body: one copy of the
	// corpus (4 GiB at a million incidents), not two.
	var buf bytes.Buffer
	var ends []int
	for i := range docs {
		d := g.JSON(i)
		c.raw += int64(len(d)) + 1
		buf.Write(d)
		ends = append(ends, buf.Len())
		buf.WriteByte('\n')
		if (i+1)%batchDocs == 0 || i == docs-1 {
			body := bytes.Clone(buf.Bytes())
			start := 0
			for _, end := range ends {
				c.docs = append(c.docs, body[start:end:end])
				start = end + 1
			}
			c.bodies = append(c.bodies, body)
			buf.Reset()
			ends = ends[:0]
		}
	}
	for i := range posts {
		d := g.JSON(docs + i)
		c.posts = append(c.posts, d)
		c.postsRaw += int64(len(d)) + 1
	}
	return c
}

// runner holds one run's state.
type runner struct {
	cfg    config
	dir    string
	cores  int
	corpus *corpus
	start  time.Time
	logw   io.Writer
	// CPU accounting: the run's first sample, the last one, the
	// appliance whose running process counts as the run's own, and the
	// workload during which other processes used the most CPU.
	first, last cpuSample
	app         *appliance
	worst       *Measurement
}

// sample reads the machine's and the run's CPU time.
func (r *runner) sample() cpuSample {
	s := cpuSample{at: time.Now(), own: ownCPU()}
	s.busy, _ = machineBusy()
	if r.app != nil {
		if pid := r.app.runningPID(); pid != 0 {
			if t, err := processCPU(pid); err == nil {
				s.own += t
			}
		}
	}
	return s
}

// done ends a workload: its measurements get the share of CPU other
// processes used since the previous one ended, and are logged.
func (r *runner) done(ms ...*Measurement) {
	s := r.sample()
	share := othersShare(r.last, s, runtime.NumCPU())
	if s.at.Sub(r.last.at) < 250*time.Millisecond {
		// Too short for /proc's 10 ms ticks (and not a workload: a
		// size or RSS reading).
		share = math.NaN()
	}
	r.last = s
	for _, m := range ms {
		if !math.IsNaN(share) {
			m.Others, m.OthersKnown = share, true
			if r.worst == nil || share > r.worst.Others {
				r.worst = m
			}
		}
		r.logf("%s — %s (others: %s %% CPU)", m.Name, formatValues(m), formatSig(100*share, 2))
	}
	runtime.GC()
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.logw, "[%5.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, a...))
}

// gitCommit describes the checkout: the commit, and "+ uncommitted
// changes" when the tree is dirty.
func gitCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		commit += " + uncommitted changes"
	}
	return commit
}

func run(ctx context.Context, getenv func(string) string, logw io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.bin); err != nil {
		return fmt.Errorf("the cadbox binary (BENCH_BIN): %w; run `make build` first", err)
	}
	if cfg.bin, err = filepath.Abs(cfg.bin); err != nil {
		return fmt.Errorf("binary path: %w", err)
	}
	ver, err := exec.CommandContext(ctx, cfg.bin, "version").Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", cfg.bin, err)
	}
	rep := &Report{Date: time.Now(), Commit: gitCommit(ctx), Binary: strings.TrimSpace(string(ver)), GoVersion: runtime.Version(), CPU: cpuModel(), Cores: runtime.GOMAXPROCS(0),
		Memory: memTotal(), LoadBefore: loadAverage(), Docs: cfg.docs, Posts: cfg.posts, Queries: cfg.queries, Clients: cfg.clients,
		Command: "make bench"}
	dir, err := os.MkdirTemp(cfg.tmp, "cadbox-bench-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	r := &runner{cfg: cfg, dir: dir, cores: runtime.GOMAXPROCS(0), start: time.Now(), logw: logw}
	r.logf("generating %d + %d incidents", cfg.docs, cfg.posts)
	r.corpus = newCorpus(cfg.docs, cfg.posts)
	rep.RawBytes = r.corpus.raw
	r.logf("%.1f MiB of NDJSON", float64(r.corpus.raw)/(1<<20))
	runtime.GC()
	r.first = r.sample()
	r.last = r.first

	if err := r.measure(ctx, rep); err != nil {
		return err
	}
	rep.Wall = time.Since(r.start)
	rep.LoadAfter = loadAverage()
	rep.Others = othersShare(r.first, r.sample(), runtime.NumCPU())
	rep.Worst = r.worst
	return r.write(rep)
}

// measure runs every workload and fills rep.Comparisons.
func (r *runner) measure(ctx context.Context, rep *Report) error {
	// In-process ingest: only the documents are in memory.
	decAny, err := r.decodeStdlibAny()
	if err != nil {
		return err
	}
	r.done(decAny)
	decTyped, err := r.decodeStdlibTyped()
	if err != nil {
		return err
	}
	r.done(decTyped)
	decCodec, err := r.decodeCodec()
	if err != nil {
		return err
	}
	r.done(decCodec)
	boltThr, boltSize, err := r.boltBatched()
	if err != nil {
		return err
	}
	r.done(boltThr, boltSize)
	storeThr, err := r.storeIngest(ctx)
	if err != nil {
		return err
	}
	r.done(storeThr)
	httpStore, storeSingle, storeSingleLat, err := r.httpBulkStore(ctx)
	if err != nil {
		return err
	}
	r.done(httpStore, storeSingle, storeSingleLat)
	floorThr, floorLat, err := r.httpFloor(ctx)
	if err != nil {
		return err
	}
	r.done(floorThr, floorLat)
	updThr, updLat, err := r.boltSingle(false)
	if err != nil {
		return err
	}
	r.done(updThr, updLat)
	batThr, batLat, err := r.boltSingle(true)
	if err != nil {
		return err
	}
	r.done(batThr, batLat)

	// Index and analysis workloads start from decoded incidents: the
	// bulk and the single-POST ones, what the appliance holds when it is
	// searched.
	log := newMemLog(r.corpus.docs, r.corpus.posts)
	rb, err := r.rawBleve(ctx, log)
	if err != nil {
		return err
	}
	rawIxSize := &Measurement{Name: "bleve index of the slim projection", Raw: true, Unit: unitPerRaw,
		Values: []float64{float64(rb.indexBytes) / float64(r.corpus.raw+r.corpus.postsRaw)},
		How:    "size of the bleve index directory built above, once it stopped changing while open (scorch merges segments in the background) ÷ raw NDJSON bytes of its documents."}
	eng, err := r.engineStats(ctx, log)
	if err != nil {
		return err
	}

	ap, err := r.runAppliance(ctx)
	if err != nil {
		return err
	}

	corpusMiB := &Measurement{Name: "raw JSON of the incidents held", Raw: true, Unit: unitMiB,
		Values: []float64{float64(r.corpus.raw+r.corpus.postsRaw) / (1 << 20)},
		How:    "the NDJSON bytes of every incident the appliance holds: not a limit, the scale the memory figures compare to."}

	add := func(section string, c *Measurement, limits ...*Measurement) {
		rep.Comparisons = append(rep.Comparisons, Comparison{Section: section, Cadbox: c, Limits: limits})
	}
	const (
		secIngest = "Bulk ingest"
		secSingle = "Single-document POST"
		secSearch = "Search"
		secStats  = "Stats (analysis)"
		secStart  = "Start-up"
		secSpace  = "Memory and disk"
	)
	add(secIngest, decCodec, decAny, decTyped)
	add(secIngest, storeThr, decAny, decTyped, boltThr)
	add(secIngest, httpStore, decAny, boltThr)
	add(secIngest, ap.bulk, decAny, boltThr, rb.build)
	add(secSingle, storeSingle, floorThr, updThr, batThr)
	add(secSingle, ap.single, storeSingle, floorThr, updThr, batThr)
	add(secSingle, storeSingleLat, floorLat, updLat, batLat)
	add(secSingle, ap.singleLat, storeSingleLat, floorLat, updLat, batLat)
	for i := range ap.search {
		add(secSearch, rb.pkgSearch.latency[i], rb.rawSearch.latency[i])
		add(secSearch, ap.search[i], rb.rawSearch.latency[i])
	}
	add(secSearch, rb.pkgSearch.throughput, rb.rawSearch.throughput)
	add(secSearch, ap.searchQPS, rb.rawSearch.throughput)
	for i := range ap.stats {
		add(secStats, ap.stats[i], eng[i], ap.healthz)
	}
	add(secStart, ap.startEmpty, ap.execFloor)
	add(secStart, ap.startFull, ap.execFloor, ap.rawOpen)
	add(secStart, ap.statsReady)
	add(secSpace, ap.rssPeak, corpusMiB)
	add(secSpace, ap.rssIdle, corpusMiB)
	add(secSpace, ap.storeSize, boltSize)
	add(secSpace, ap.indexSize, rawIxSize)
	return nil
}

// write renders the charts and REPORT.md into the output directory.
func (r *runner) write(rep *Report) error {
	if err := os.MkdirAll(r.cfg.out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	ms := rep.measurements()
	charts := []struct {
		Chart
		draw func(string, []*Measurement) error
	}{
		{Chart{"throughput.png", "Throughput: cadbox next to the raw limits"}, throughputChart},
		{Chart{"latency.png", "Latency: cadbox next to the raw limits"}, latencyChart},
	}
	for _, c := range charts {
		if err := c.draw(filepath.Join(r.cfg.out, c.File), ms); err != nil {
			return err
		}
		rep.Charts = append(rep.Charts, c.Chart)
	}
	var b bytes.Buffer
	if err := rep.Render(&b); err != nil {
		return err
	}
	path := filepath.Join(r.cfg.out, "REPORT.md")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	r.logf("wrote %s and %d charts", path, len(rep.Charts))
	return nil
}
