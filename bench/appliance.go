package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/blevesearch/bleve/v2"
	bolt "go.etcd.io/bbolt"
)

// errStopped is returned when the cadbox process ends unexpectedly.
var errStopped = errors.New("cadbox process exited")

// appliance is bin/cadbox serving a data directory, as deployed: store,
// search index and analysis engine, with the API on a loopback port.
type appliance struct {
	bin, dataDir, token string
	cmd                 *exec.Cmd
	exited              chan struct{}
	logFile             *os.File
	client              *client
}

// freePort asks the kernel for an unused loopback port.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// newToken makes an admin key for CADBOX_ADMIN_TOKEN.
func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return "cbx_bench_" + hex.EncodeToString(b), nil
}

// start runs the binary and waits until GET /readyz answers 200; it
// returns the time from the exec to that answer.
func (a *appliance) start(ctx context.Context) (time.Duration, error) {
	addr, err := freePort()
	if err != nil {
		return 0, err
	}
	if a.logFile, err = os.OpenFile(filepath.Join(filepath.Dir(a.dataDir), "cadbox.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
		return 0, fmt.Errorf("log file: %w", err)
	}
	a.cmd = exec.Command(a.bin, "serve")
	a.cmd.Env = append(cleanEnv(), "CADBOX_DATA_DIR="+a.dataDir, "CADBOX_ADDR="+addr, "CADBOX_ADMIN_TOKEN="+a.token,
		"CADBOX_RATE_LIMIT=0", "CADBOX_LOG_LEVEL=WARN")
	a.cmd.Stdout, a.cmd.Stderr = a.logFile, a.logFile
	a.client = newClient("http://"+addr, a.token)
	start := time.Now()
	if err := a.cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", a.bin, err)
	}
	a.exited = make(chan struct{})
	go func() {
		_ = a.cmd.Wait()
		close(a.exited)
	}()
	took, err := a.waitFor(ctx, start, "/readyz", 10*time.Minute)
	if err != nil {
		a.stop()
		return 0, err
	}
	return took, nil
}

// waitFor polls path every 2 ms until it answers 200 and returns the
// time since start.
func (a *appliance) waitFor(ctx context.Context, start time.Time, path string, limit time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(limit)
	for {
		st, _, err := a.client.do(ctx, http.MethodGet, path, "", nil)
		if err == nil && st == http.StatusOK {
			return time.Since(start), nil
		}
		select {
		case <-a.exited:
			return 0, fmt.Errorf("%w while waiting for %s (see %s)", errStopped, path, a.logFile.Name())
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not 200 after %s (last: status %d, %v)", path, limit, st, err)
		}
	}
}

// runningPID is the cadbox process id while it runs, else 0.
func (a *appliance) runningPID() int {
	if a.cmd == nil || a.cmd.Process == nil || a.exited == nil {
		return 0
	}
	select {
	case <-a.exited:
		return 0
	default:
		return a.cmd.Process.Pid
	}
}

// rss returns the process's peak and current resident set size.
func (a *appliance) rss() (peak, now int64, err error) {
	st, err := procStatus(a.cmd.Process.Pid, "VmHWM", "VmRSS")
	if err != nil {
		return 0, 0, err
	}
	return st["VmHWM"], st["VmRSS"], nil
}

// stop sends SIGTERM and waits for a graceful exit (SIGKILL after a
// minute).
func (a *appliance) stop() error {
	if a.cmd == nil || a.cmd.Process == nil {
		return nil
	}
	defer a.logFile.Close()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(time.Minute):
		_ = a.cmd.Process.Kill()
		<-a.exited
		return errors.New("cadbox did not stop within a minute of SIGTERM")
	}
	if st := a.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("cadbox exited with %v (see %s)", st, a.logFile.Name())
	}
	return nil
}

// cleanEnv is the process environment without CADBOX_ variables, so a
// developer's own settings do not change the run.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADBOX_") {
			out = append(out, kv)
		}
	}
	return out
}

// applianceFigures are the measurements of the appliance stage.
type applianceFigures struct {
	execFloor, startEmpty, startFull, statsReady, rawOpen *Measurement
	bulk, single, singleLat, searchQPS, healthz           *Measurement
	search, stats                                         []*Measurement
	rssPeak, rssIdle, storeSize, indexSize                *Measurement
}

// importWorkers is how many bulk requests `cadbox import` keeps in flight
// by default (app/importer): one is stored while the other is indexed.
const importWorkers = 2

// runAppliance measures the deployed binary end to end.
func (r *runner) runAppliance(ctx context.Context) (*applianceFigures, error) {
	out := &applianceFigures{}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(r.dir, "appliance", "data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	a := &appliance{bin: r.cfg.bin, dataDir: dataDir, token: token}
	r.app = a

	// The floor of any start-up: exec the same binary to print its
	// version and exit.
	var floors []time.Duration
	for range 5 {
		start := time.Now()
		if err := exec.CommandContext(ctx, r.cfg.bin, "version").Run(); err != nil {
			return nil, fmt.Errorf("%s version: %w", r.cfg.bin, err)
		}
		floors = append(floors, time.Since(start))
	}
	out.execFloor = &Measurement{Name: "exec of the binary (`cadbox version`)", Raw: true, Unit: unitMillis, Values: []float64{ms(percentile(floors, 50))},
		How: "wall time from exec to exit of `cadbox version` (process start, Go runtime start, print, exit), median of 5."}
	r.done(out.execFloor)

	took, err := a.start(ctx)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	out.startEmpty = &Measurement{Name: "start-up to ready, new data directory", Unit: unitMillis, Values: []float64{ms(took)},
		How: "wall time from exec of `cadbox serve` on an empty data directory (store, index and admin key created) to the first 200 of `GET /readyz`, polled every 2 ms."}
	r.done(out.startEmpty)

	c := a.client
	bodies := r.corpus.bodies
	_, el, err := concurrent(importWorkers, len(bodies), func(i int) error { return c.bulk(ctx, bodies[i]) })
	if err != nil {
		return nil, fmt.Errorf("appliance bulk: %w", err)
	}
	out.bulk = &Measurement{Name: "bulk NDJSON over HTTP, searchable on return (appliance)", Unit: unitDocs, Values: []float64{rate(len(r.corpus.docs), el)},
		How: fmt.Sprintf("`POST /api/v1/incidents` of NDJSON bodies of 1,000 documents, %d requests in flight as `cadbox import` sends them, to `bin/cadbox serve` (store, search index and analysis engine, as deployed; each response only once its incidents are on disk, searchable and in the analysis tables); %s documents.", importWorkers, formatCount(len(r.corpus.docs)))}
	r.done(out.bulk)

	posts := r.corpus.posts
	lats, el, err := concurrent(r.cfg.clients, len(posts), func(i int) error { return c.single(ctx, posts[i]) })
	if err != nil {
		return nil, fmt.Errorf("appliance single POST: %w", err)
	}
	how := fmt.Sprintf("%s further new incidents, one `POST /api/v1/incidents` (application/json) each, from %d concurrent clients, to the appliance; each 201 only once the incident is on disk, searchable and in the analysis tables.", formatCount(len(posts)), r.cfg.clients)
	out.single = &Measurement{Name: "single-document POST, appliance", Unit: unitDocs, Values: []float64{rate(len(lats), el)}, How: how}
	out.singleLat = &Measurement{Name: "single-document POST, appliance (latency)", Unit: unitLatency, Values: latencyFigure(lats), How: how}
	r.done(out.single, out.singleLat)

	sf, err := r.runSearches("HTTP search", false, "`GET /api/v1/search` on the appliance holding the bulk and single-POST incidents (query building as the search package, plus HTTP, authentication and the hits' summaries read from the store)", func(k searchKind, i int) (uint64, error) {
		return c.searchTotal(ctx, "/api/v1/search?"+k.params(i))
	})
	if err != nil {
		return nil, err
	}
	out.search, out.searchQPS = sf.latency, sf.throughput

	// The analysis tables follow the writes; wait until they answer.
	if _, err := a.waitFor(ctx, time.Now(), statsKinds()[1].path, 5*time.Minute); err != nil {
		return nil, err
	}
	for _, k := range statsKinds() {
		for range 5 {
			if err := c.get(ctx, k.path); err != nil {
				return nil, err
			}
		}
		lats, err := serial(r.cfg.queries, func(int) error { return c.get(ctx, k.path) })
		if err != nil {
			return nil, err
		}
		m := &Measurement{Name: "HTTP stats: " + k.name, Unit: unitLatency, Values: latencyFigure(lats),
			How: fmt.Sprintf("`GET %s` (JSON) on the appliance, %s requests one after another.", k.path, formatCount(r.cfg.queries))}
		r.done(m)
		out.stats = append(out.stats, m)
	}
	lats, err = serial(r.cfg.queries, func(int) error { return c.get(ctx, "/healthz") })
	if err != nil {
		return nil, err
	}
	out.healthz = &Measurement{Name: "HTTP floor: GET /healthz", Raw: true, Unit: unitLatency, Values: latencyFigure(lats),
		How: fmt.Sprintf("`GET /healthz` (no authentication, no store) on the same appliance, %s requests one after another: what every route pays for the HTTP round trip and the middleware.", formatCount(r.cfg.queries))}
	r.done(out.healthz)

	peak, _, err := a.rss()
	if err != nil {
		return nil, err
	}
	total := len(r.corpus.docs) + len(posts)
	out.rssPeak = &Measurement{Name: "peak RSS of the appliance", Unit: unitMiB, Values: []float64{float64(peak) / (1 << 20)},
		How: fmt.Sprintf("VmHWM of the cadbox process after the bulk ingest, the single POSTs, the searches and the stats above (%s incidents).", formatCount(total))}
	r.done(out.rssPeak)
	if err := a.stop(); err != nil {
		return nil, err
	}

	dbPath := filepath.Join(dataDir, "cadbox.db")
	ixPath := filepath.Join(dataDir, "index", "incidents.bleve")

	// The raw limit of opening: bbolt and bleve open the same files.
	start := time.Now()
	bdb, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("raw open store: %w", err)
	}
	bix, err := bleve.Open(ixPath)
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("raw open index: %w", err)
	}
	opened := time.Since(start)
	dbSize, err := boltSize(bdb)
	bix.Close()
	bdb.Close()
	if err != nil {
		return nil, fmt.Errorf("store size: %w", err)
	}
	out.rawOpen = &Measurement{Name: "bolt.Open + bleve.Open of the same files", Raw: true, Unit: unitMillis, Values: []float64{ms(opened)},
		How: fmt.Sprintf("in process, `bolt.Open` of the appliance's store and `bleve.Open` of its index (%s incidents), files in the page cache as for the restart.", formatCount(total))}
	rawAll := r.corpus.raw + r.corpus.postsRaw
	out.storeSize = &Measurement{Name: "store file (cadbox.db)", Unit: unitPerRaw, Values: []float64{float64(dbSize) / float64(rawAll)},
		How: fmt.Sprintf("data size of the appliance's bbolt file after the run (`Tx.Size`, as `store.DB.Size`) ÷ raw NDJSON bytes of the %s incidents sent: records, unit responses, revisions, listing indexes and change log, S2 with a trained dictionary.", formatCount(total))}
	r.done(out.rawOpen, out.storeSize)

	took, err = a.start(ctx)
	if err != nil {
		return nil, err
	}
	restarted := time.Now().Add(-took)
	out.startFull = &Measurement{Name: fmt.Sprintf("start-up to ready, %s incidents", formatCount(total)), Unit: unitMillis, Values: []float64{ms(took)},
		How: fmt.Sprintf("wall time from exec of `cadbox serve` on the data directory above (%s incidents, intact index, after a graceful stop) to the first 200 of `GET /readyz`, polled every 2 ms.", formatCount(total))}
	r.done(out.startFull)
	st, err := a.waitFor(ctx, restarted, statsKinds()[1].path, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	out.statsReady = &Measurement{Name: fmt.Sprintf("start-up to stats answering, %s incidents", formatCount(total)), Unit: unitMillis, Values: []float64{ms(st)},
		How: "the same start, to the first 200 of `GET /api/v1/stats/workload/heatmap` (the analysis tables load from the store in the background; /readyz does not wait for them)."}
	r.done(out.statsReady)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ixSize, err := settledSize(sctx, ixPath)
	cancel()
	if err != nil {
		return nil, err
	}
	out.indexSize = &Measurement{Name: "search index (incidents.bleve)", Unit: unitPerRaw, Values: []float64{float64(ixSize) / float64(rawAll)},
		How: "size of the appliance's index directory once it stops changing after the restart (scorch merges segments in the background) ÷ raw NDJSON bytes sent."}
	r.done(out.indexSize)
	_, idle, err := a.rss()
	if err != nil {
		return nil, err
	}
	out.rssIdle = &Measurement{Name: fmt.Sprintf("RSS after restart, %s incidents loaded", formatCount(total)), Unit: unitMiB, Values: []float64{float64(idle) / (1 << 20)},
		How: "VmRSS of the restarted cadbox process once ready, the analysis tables loaded and the index settled, before any other request."}
	r.done(out.rssIdle)
	if err := a.stop(); err != nil {
		return nil, err
	}
	return out, nil
}
