package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cadbox/store"
)

// TestMain lets the crash test run the server as a child process: the test
// binary re-executes itself with CADBOX_TEST_CHILD=serve.
func TestMain(m *testing.M) {
	if os.Getenv("CADBOX_TEST_CHILD") == "serve" {
		ctx, stop := signalContext()
		defer stop()
		if err := run(ctx, []string{"serve"}, nil, io.Discard, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

type child struct {
	cmd  *exec.Cmd
	base string
}

func startChild(t *testing.T, dataDir string) *child {
	t.Helper()
	return startChildWith(t, dataDir, os.Stderr)
}

// startChildWith starts a server child on dataDir whose log goes to
// stderr, with env (KEY=value) added to its environment, and waits until
// /readyz answers 200.
func startChildWith(t *testing.T, dataDir string, stderr io.Writer, env ...string) *child {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CADBOX_TEST_CHILD=serve", "CADBOX_ADDR="+addr, "CADBOX_DATA_DIR="+dataDir, "CADBOX_LOG_LEVEL=ERROR",
		"CADBOX_ADMIN_TOKEN="+crashToken, "CADBOX_RATE_LIMIT=0")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, base: "http://" + addr}
	waitReady(t, c.base)
	return c
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// stop shuts the child down with SIGTERM and fails the test unless it
// exits cleanly.
func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		c.kill()
		t.Fatal("the server did not stop within 30s of SIGTERM")
	}
}

const crashToken = "cbx_crash-test-admin-token-0123456789abcdef"

func crashDoc(num string, version int) []byte {
	return fmt.Appendf(nil, `{"fire_department":{"fd_id":"77","timezone":"US/Eastern"},"description":{"incident_number":%q,"event_opened":"2021-03-04T05:06:07-05:00","comments":"VERSION %d OF %s"},"apparatus":[{"unit_id":"E%d","unit_status":{"dispatched":{"timestamp":"2021-03-04T05:07:00-05:00"}}}]}`,
		num, version, num, version%7)
}

// checkStoreOffline opens a stopped server's store file and runs bbolt's
// consistency check on it.
func checkStoreOffline(t *testing.T, dataDir string) {
	t.Helper()
	db, err := store.Open(filepath.Join(dataDir, "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatalf("open the store offline: %v", err)
	}
	cerr := db.Check()
	if err := db.Close(); err != nil {
		t.Fatalf("close the store: %v", err)
	}
	if cerr != nil {
		t.Fatalf("bbolt check: %v", cerr)
	}
}

// TestCrashRecovery streams bulk NDJSON uploads and single-document POSTs
// and PUTs of unfolding incidents at a child server and kills it with
// SIGKILL at a random moment, CADBOX_CRASH_ROUNDS times (default 5). After
// every kill the store file passes bbolt's check; after every restart each
// incident holds exactly its last acknowledged content (or that of the
// write in flight at the kill), its apparatus and latest revision agree with
// it, search finds it at that version, and search and the listing count the
// same incidents.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	rounds := 5
	if v := os.Getenv("CADBOX_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CADBOX_CRASH_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	start := time.Now()
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	h := newUnfoldHarness(seed, []unfoldPool{
		{prefix: "BA", n: 60, bulk: 20}, {prefix: "BB", n: 60, bulk: 20},
		{prefix: "SA", n: 12}, {prefix: "SB", n: 12}, {prefix: "SC", n: 12},
	})
	var stats crashStats
	for round := range rounds {
		t0 := time.Now()
		c := startChild(t, dir)
		t1 := time.Now()
		h.verify(t, c.base)
		t2 := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := h.start(ctx, c.base, true)
		// Kill at a random moment, but only once a few writes were
		// acknowledged: on a busy machine a fixed delay may see none.
		h.waitAcks(h.acks.Load()+int64(2+rng.IntN(10)), 30*time.Second)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		c.kill()
		cancel()
		if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the server had ended before the kill: %v", round, c.cmd.ProcessState)
		}
		res := <-done
		stats.add(res)
		if res.err != nil {
			t.Fatalf("round %d: %v", round, res.err)
		}
		checkStoreOffline(t, dir)
		t.Logf("round %d: ready in %s, verified in %s; killed after %s with %d writes acknowledged (%d bulk, %d PUT) and %d in flight",
			round, t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), time.Since(t2).Round(time.Millisecond),
			res.acked, res.bulkAcked, res.putAcked, res.inFlight)
	}
	c := startChild(t, dir)
	h.verify(t, c.base)
	c.stop(t)
	checkStoreOffline(t, dir)
	t.Logf("%d rounds in %s: %d writes acknowledged (%d bulk, %d PUT), %d in flight at a kill; %d incidents were found holding an unanswered write; %d incidents",
		rounds, time.Since(start).Round(time.Millisecond), stats.acked, stats.bulkAcked, stats.putAcked, stats.inFlight, h.landed, h.existing())
}

type crashStats struct{ acked, bulkAcked, putAcked, inFlight int }

func (s *crashStats) add(r workResult) {
	s.acked += r.acked
	s.bulkAcked += r.bulkAcked
	s.putAcked += r.putAcked
	s.inFlight += r.inFlight
}

// Unfolding incidents. An incident is re-sent as it unfolds: at step k it
// has units unfoldUnits[:k/2+1], unit j with the first k-2j+1 of
// unfoldStatuses. A POST merges (units by unit_id, statuses by key); a PUT
// is a correction that replaces the whole document, without its newest
// unit. Every write carries a version marker ("ver<n>" in the comments), so
// each stored version is recognisable.

var (
	unfoldUnits    = [...]string{"E1", "T2", "M3", "BC4", "E5", "R6"}
	unfoldStatuses = [...]string{"dispatched", "enroute", "arrived", "~", "cleared", "available"}
	unfoldBase     = time.Date(2021, 3, 4, 5, 6, 7, 0, time.FixedZone("EST", -5*3600))
)

// crashDept is the department every generated incident belongs to.
const crashDept = "77"

// incState is an incident's content as far as the tests check it: its
// version marker and, per unit, the status timestamps.
type incState struct {
	version int
	units   map[string]map[string]int64 // unit_id -> status -> unix seconds
}

func (s incState) clone() incState {
	out := incState{version: s.version, units: make(map[string]map[string]int64, len(s.units))}
	for u, sts := range s.units {
		m := make(map[string]int64, len(sts))
		for k, v := range sts {
			m[k] = v
		}
		out.units[u] = m
	}
	return out
}

// merge is what a POST of o does to s.
func (s incState) merge(o incState) incState {
	out := s.clone()
	out.version = o.version
	for u, sts := range o.units {
		if out.units[u] == nil {
			out.units[u] = map[string]int64{}
		}
		for k, v := range sts {
			out.units[u][k] = v
		}
	}
	return out
}

func (s incState) equal(o incState) bool {
	return s.version == o.version && reflect.DeepEqual(s.units, o.units)
}

func (s incState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ver%d", s.version)
	for _, u := range slices.Sorted(maps.Keys(s.units)) {
		fmt.Fprintf(&b, " %s%v", u, slices.Sorted(maps.Keys(s.units[u])))
	}
	return b.String()
}

// unfoldStep is an incident's content at step k of its unfolding.
func unfoldStep(step, version int) incState {
	s := incState{version: version, units: map[string]map[string]int64{}}
	for j := 0; j < len(unfoldUnits) && 2*j <= step; j++ {
		sts := map[string]int64{}
		for i := 0; i < len(unfoldStatuses) && i <= step-2*j; i++ {
			sts[unfoldStatuses[i]] = unfoldBase.Add(time.Duration(60*j+90*i) * time.Second).Unix()
		}
		s.units[unfoldUnits[j]] = sts
	}
	return s
}

// correction is the PUT of step k: the whole document without its newest
// unit (a cancelled dispatch).
func correction(step, version int) incState {
	s := unfoldStep(step, version)
	if len(s.units) > 1 {
		delete(s.units, unfoldUnits[len(s.units)-1])
	}
	return s
}

// unfoldDoc renders s as the incident document num sends; pad adds that
// many bytes of filler words to the comments.
func unfoldDoc(num string, s incState, pad string) []byte {
	h := fnv.New32a()
	h.Write([]byte(num))
	opened := unfoldBase.Add(-time.Duration(h.Sum32()%100000) * time.Minute)
	var units []any
	for _, u := range unfoldUnits {
		sts, ok := s.units[u]
		if !ok {
			continue
		}
		us := map[string]any{}
		for k, v := range sts {
			us[k] = map[string]any{"timestamp": time.Unix(v, 0).In(unfoldBase.Location()).Format(time.RFC3339)}
		}
		units = append(units, map[string]any{"unit_id": u, "unit_type": "Engine", "station": "FSTA" + u[len(u)-1:], "unit_status": us})
	}
	doc := map[string]any{
		"fire_department": map[string]any{"fd_id": crashDept, "timezone": "US/Eastern"},
		"description": map[string]any{
			"incident_number": num,
			"event_opened":    opened.Format(time.RFC3339),
			"type":            "EMS",
			"comments":        fmt.Sprintf("ver%d OF %s %s", s.version, num, pad),
		},
		"apparatus": units,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return b
}

// observedDoc is the part of a served incident the tests compare.
type observedDoc struct {
	Description struct {
		IncidentNumber string `json:"incident_number"`
		Comments       string `json:"comments"`
	} `json:"description"`
	Apparatus []observedUnit `json:"apparatus"`
}

type observedUnit struct {
	UnitID     string `json:"unit_id"`
	UnitStatus map[string]struct {
		Timestamp time.Time `json:"timestamp"`
	} `json:"unit_status"`
}

func unitsState(units []observedUnit) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	for _, u := range units {
		if _, dup := out[u.UnitID]; dup {
			return nil, fmt.Errorf("unit %s listed twice", u.UnitID)
		}
		sts := map[string]int64{}
		for k, v := range u.UnitStatus {
			sts[k] = v.Timestamp.Unix()
		}
		out[u.UnitID] = sts
	}
	return out, nil
}

func (d observedDoc) state() (incState, error) {
	var s incState
	if _, err := fmt.Sscanf(d.Description.Comments, "ver%d", &s.version); err != nil {
		return s, fmt.Errorf("no version marker in comments %.40q", d.Description.Comments)
	}
	var err error
	s.units, err = unitsState(d.Apparatus)
	return s, err
}

// tracked is one incident of the workload: what was sent and what was
// acknowledged. Only its pool's worker writes it while writers run.
type tracked struct {
	num     string
	step    int
	nextVer int
	acked   *incState // last acknowledged content; nil before the first
	pending *incState // the content if the unanswered write in flight landed
	// sent lists every content a write could have left, in order (the
	// backup test accepts any from a noted point on); ackedAt is the index
	// of the acknowledged one, -1 before the first.
	sent    []incState
	ackedAt int
	// refused: the last write was answered 507 or 503.
	refused bool
}

// unfoldPool is a worker and the incidents it owns. bulk > 0 makes it an
// NDJSON uploader of that many incidents per request; otherwise it sends
// single POSTs and PUTs.
type unfoldPool struct {
	prefix string
	n      int
	bulk   int
	// fresh makes every write take the next incident, never one written
	// before (the disk-full test, whose refused writes stay unresolved).
	fresh bool
	// pad is filler appended to every document's comments.
	pad func(r *rand.Rand) string
}

// unfoldHarness drives the workload and checks a server against it.
type unfoldHarness struct {
	pools []unfoldPool
	incs  [][]*tracked // per pool
	rngs  []*rand.Rand
	// cursors: the next incident of each pool that takes them in turn.
	cursors []int
	client  *http.Client

	mu     sync.Mutex // guards the tracked incidents while writers run
	landed int        // writes in flight at a kill found stored afterwards
	acks   atomic.Int64
	// refusals counts writes answered 503 or 507.
	refusals atomic.Int64
	running  atomic.Int32 // writers running
}

// waitAcks waits until n writes in all were acknowledged, or for at most
// d, or until every writer has stopped.
func (h *unfoldHarness) waitAcks(n int64, d time.Duration) {
	deadline := time.Now().Add(d)
	for h.acks.Load() < n && time.Now().Before(deadline) && h.running.Load() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
}

func newUnfoldHarness(seed uint64, pools []unfoldPool) *unfoldHarness {
	h := &unfoldHarness{pools: pools, client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	for i, p := range pools {
		var incs []*tracked
		for k := range p.n {
			incs = append(incs, &tracked{num: fmt.Sprintf("%sN%d", p.prefix, k), nextVer: 1, ackedAt: -1})
		}
		h.incs = append(h.incs, incs)
		h.rngs = append(h.rngs, rand.New(rand.NewPCG(seed, uint64(i)+100)))
	}
	h.cursors = make([]int, len(pools))
	return h
}

func (h *unfoldHarness) all() []*tracked {
	var out []*tracked
	for _, incs := range h.incs {
		out = append(out, incs...)
	}
	return out
}

// existing counts the incidents the store holds (after verify).
func (h *unfoldHarness) existing() int {
	n := 0
	for _, tr := range h.all() {
		if tr.acked != nil {
			n++
		}
	}
	return n
}

// workResult sums up one run of the writers.
type workResult struct {
	acked, bulkAcked, putAcked, inFlight int
	// refused holds the writes answered 503 or 507.
	refused []refusal
	err     error // an unexpected answer
}

// refusal is a write answered 503 or 507: its status and problem.
type refusal struct {
	status int
	ctype  string
	typ    string
	detail string
}

// start runs one writer per pool until ctx ends or a write fails; the
// result arrives on the channel once every writer has stopped. With
// stopOnFail a connection error or refusal stops a writer (a kill);
// without it writers keep going after refusals (disk full).
func (h *unfoldHarness) start(ctx context.Context, base string, stopOnFail bool) <-chan workResult {
	out := make(chan workResult, 1)
	results := make([]workResult, len(h.pools))
	var wg sync.WaitGroup
	for i := range h.pools {
		wg.Add(1)
		h.running.Add(1)
		go func() {
			defer wg.Done()
			defer h.running.Add(-1)
			results[i] = h.work(ctx, base, i, stopOnFail)
		}()
	}
	go func() {
		wg.Wait()
		var sum workResult
		var errs []error
		for _, r := range results {
			sum.acked += r.acked
			sum.bulkAcked += r.bulkAcked
			sum.putAcked += r.putAcked
			sum.inFlight += r.inFlight
			sum.refused = append(sum.refused, r.refused...)
			if r.err != nil {
				errs = append(errs, r.err)
			}
		}
		sum.err = errors.Join(errs...)
		out <- sum
	}()
	return out
}

// plan is one write about to be sent: for each incident, the content it
// will hold if the write lands.
type plan struct {
	method string
	ctype  string
	path   string
	body   []byte
	incs   []*tracked
	want   []incState
	at     []int    // the index of want in each incident's sent
	status []string // the write status each must report
}

func (h *unfoldHarness) nextPlan(pool int) plan {
	p := h.pools[pool]
	rng := h.rngs[pool]
	incs := h.incs[pool]
	pad := ""
	if p.pad != nil {
		pad = p.pad(rng)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cursor := &h.cursors[pool]
	build := func(tr *tracked, put bool) (incState, incState, string) {
		var prev incState
		if tr.acked != nil {
			prev = *tr.acked
		}
		if tr.acked != nil && p.pad == nil && rng.IntN(8) == 0 {
			// The same content again: stored as it is, no new revision.
			return prev, prev, "unchanged"
		}
		tr.step++
		v := tr.nextVer
		tr.nextVer++
		if put {
			s := correction(tr.step, v)
			return s, s, "updated"
		}
		s := unfoldStep(tr.step, v)
		if tr.acked == nil {
			return s, s, "created"
		}
		return s, prev.merge(s), "updated"
	}
	var pl plan
	if p.bulk > 0 {
		pl = plan{method: http.MethodPost, ctype: "application/x-ndjson", path: "/api/v1/incidents"}
		for range p.bulk {
			tr := incs[*cursor%len(incs)]
			*cursor++
			sent, want, st := build(tr, false)
			pl.body = append(append(pl.body, unfoldDoc(tr.num, sent, pad)...), '\n')
			pl.incs, pl.want, pl.status = append(pl.incs, tr), append(pl.want, want), append(pl.status, st)
		}
	} else {
		tr := incs[rng.IntN(len(incs))]
		if p.fresh {
			tr = incs[*cursor%len(incs)]
			*cursor++
		}
		put := tr.acked != nil && rng.IntN(5) == 0
		sent, want, st := build(tr, put)
		pl = plan{method: http.MethodPost, ctype: "application/json", path: "/api/v1/incidents", body: unfoldDoc(tr.num, sent, pad),
			incs: []*tracked{tr}, want: []incState{want}, status: []string{st}}
		if put {
			pl.method, pl.path = http.MethodPut, "/api/v1/departments/"+crashDept+"/incidents/"+tr.num
		}
	}
	for i, tr := range pl.incs {
		w := pl.want[i]
		tr.pending, tr.refused = &w, false
		tr.sent = append(tr.sent, w)
		pl.at = append(pl.at, len(tr.sent)-1)
	}
	return pl
}

func (h *unfoldHarness) work(ctx context.Context, base string, pool int, stopOnFail bool) workResult {
	var res workResult
	for ctx.Err() == nil {
		pl := h.nextPlan(pool)
		req, err := http.NewRequestWithContext(ctx, pl.method, base+pl.path, bytes.NewReader(pl.body))
		if err != nil {
			res.err = err
			return res
		}
		req.Header.Set("Content-Type", pl.ctype)
		req.Header.Set("Authorization", "Bearer "+crashToken)
		resp, err := h.client.Do(req)
		if err != nil {
			res.inFlight++ // killed (or stopped): it may or may not have landed
			return res
		}
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 || rerr != nil {
			res.inFlight++
			if stopOnFail && rerr != nil {
				return res // the kill cut the answer short
			}
			if resp.StatusCode == http.StatusInsufficientStorage || resp.StatusCode == http.StatusServiceUnavailable {
				var p struct{ Type, Detail string }
				_ = json.Unmarshal(body, &p)
				res.refused = append(res.refused, refusal{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), typ: p.Type, detail: p.Detail})
				h.refusals.Add(1)
				h.mu.Lock()
				for _, tr := range pl.incs {
					tr.refused = true
				}
				h.mu.Unlock()
				if stopOnFail {
					res.err = fmt.Errorf("%s %s: %d %s", pl.method, pl.path, resp.StatusCode, body)
					return res
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			res.err = fmt.Errorf("%s %s: %d %s", pl.method, pl.path, resp.StatusCode, body)
			return res
		}
		if err := checkWriteAnswer(pl, body); err != nil {
			res.err = fmt.Errorf("%s %s: %w", pl.method, pl.path, err)
			return res
		}
		h.mu.Lock()
		for i, tr := range pl.incs {
			w := pl.want[i]
			tr.acked, tr.pending, tr.ackedAt = &w, nil, pl.at[i]
		}
		h.mu.Unlock()
		h.acks.Add(1)
		res.acked++
		if len(pl.incs) > 1 {
			res.bulkAcked++
		}
		if pl.method == http.MethodPut {
			res.putAcked++
		}
	}
	return res
}

// checkWriteAnswer checks a 2xx answer says what the write did.
func checkWriteAnswer(pl plan, body []byte) error {
	if pl.ctype == "application/x-ndjson" {
		var br struct {
			Created, Updated, Unchanged, Failed int
		}
		if err := json.Unmarshal(body, &br); err != nil {
			return fmt.Errorf("bulk answer %q: %w", body, err)
		}
		want := map[string]int{}
		for _, s := range pl.status {
			want[s]++
		}
		if br.Failed != 0 || br.Created != want["created"] || br.Updated != want["updated"] || br.Unchanged != want["unchanged"] {
			return fmt.Errorf("bulk answer %s, want %v", body, want)
		}
		return nil
	}
	var wr struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &wr); err != nil {
		return fmt.Errorf("answer %q: %w", body, err)
	}
	if wr.Status != pl.status[0] {
		return fmt.Errorf("%s: status %q, want %q", pl.incs[0].num, wr.Status, pl.status[0])
	}
	return nil
}

// verify checks a freshly started server against the workload (writers
// stopped): see TestCrashRecovery. A write left unanswered is resolved
// here: the incident holds either its last acknowledged content or the
// unanswered write's, and from now on that is what it must hold.
func (h *unfoldHarness) verify(t *testing.T, base string) {
	t.Helper()
	h.check(t, base, func(tr *tracked, got *incState) error {
		switch {
		case got == nil && tr.acked == nil:
		case got == nil:
			return fmt.Errorf("acknowledged %s, but the incident is gone", tr.acked)
		case tr.pending != nil && got.equal(*tr.pending):
			if tr.refused {
				return fmt.Errorf("holds %s, whose write was refused", got)
			}
			if tr.acked == nil || !tr.acked.equal(*tr.pending) {
				h.mu.Lock()
				h.landed++
				h.mu.Unlock()
			}
			tr.acked, tr.ackedAt = tr.pending, len(tr.sent)-1
		case tr.acked == nil:
			return fmt.Errorf("holds %s, but no write was acknowledged and the one in flight was %v", got, tr.pending)
		case !got.equal(*tr.acked):
			return fmt.Errorf("holds %s, acknowledged %s (in flight: %v)", got, tr.acked, tr.pending)
		}
		tr.pending, tr.refused = nil, false
		return nil
	})
}

// check runs accept on every incident the workload touched, with what the
// server holds (nil: 404), and checks that each stored incident's
// apparatus and latest revision agree with it and that search finds it at
// its version; then that search and the listing count the same incidents,
// as many as are stored.
func (h *unfoldHarness) check(t *testing.T, base string, accept func(tr *tracked, got *incState) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	all := h.all()
	var mu sync.Mutex
	var errs []error
	stored := 0
	work := make(chan *tracked)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tr := range work {
				if len(tr.sent) == 0 {
					continue
				}
				exists, err := h.checkIncident(ctx, base, tr, accept)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", tr.num, err))
				}
				if exists {
					stored++
				}
				mu.Unlock()
			}
		}()
	}
	for _, tr := range all {
		work <- tr
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d incidents wrong:\n%v", len(errs), len(all), errors.Join(errs[:min(len(errs), 10)]...))
	}
	listed := countAll(t, base+"/api/v1/incidents?department="+crashDept+"&limit=1000")
	total, err := h.searchTotal(ctx, base, "")
	if err != nil {
		t.Fatal(err)
	}
	if listed != stored || total != stored {
		t.Fatalf("the listing holds %d incidents and search %d; %d are stored", listed, total, stored)
	}
}

func (h *unfoldHarness) get(ctx context.Context, url string, v any) (http.Header, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+crashToken)
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Header, resp.StatusCode, nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp.Header, resp.StatusCode, nil
}

func (h *unfoldHarness) searchTotal(ctx context.Context, base, q string) (int, error) {
	var sr struct {
		Total int `json:"total"`
	}
	u := base + "/api/v1/search?limit=1&department=" + crashDept + "&q=" + url.QueryEscape(q)
	_, status, err := h.get(ctx, u, &sr)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("search %q: %d", q, status)
	}
	return sr.Total, nil
}

// checkIncident reads one incident, its apparatus, revisions and latest
// revision, and searches for it; it reports whether it is stored.
func (h *unfoldHarness) checkIncident(ctx context.Context, base string, tr *tracked, accept func(*tracked, *incState) error) (bool, error) {
	path := base + "/api/v1/departments/" + crashDept + "/incidents/" + tr.num
	var raw map[string]any
	hdr, status, err := h.get(ctx, path, &raw)
	if err != nil {
		return false, err
	}
	if status == http.StatusNotFound {
		return false, accept(tr, nil)
	}
	if status != http.StatusOK {
		return false, fmt.Errorf("GET: %d", status)
	}
	var doc observedDoc
	if err := remarshal(raw, &doc); err != nil {
		return true, err
	}
	got, err := doc.state()
	if err != nil {
		return true, err
	}
	if err := accept(tr, &got); err != nil {
		return true, err
	}
	// The apparatus route lists the document's units.
	var ar struct {
		Apparatus []observedUnit `json:"apparatus"`
	}
	if _, status, err := h.get(ctx, path+"/apparatus", &ar); err != nil || status != http.StatusOK {
		return true, fmt.Errorf("apparatus: %d %v", status, err)
	}
	units, err := unitsState(ar.Apparatus)
	if err != nil {
		return true, fmt.Errorf("apparatus: %w", err)
	}
	if !reflect.DeepEqual(units, got.units) {
		return true, fmt.Errorf("apparatus route %v, document %s", units, got)
	}
	// The latest revision is the served version and rebuilds the
	// document exactly.
	rev, err := strconv.ParseUint(strings.Trim(hdr.Get("ETag"), `"W/`), 10, 64)
	if err != nil {
		return true, fmt.Errorf("ETag %q: %w", hdr.Get("ETag"), err)
	}
	var revs struct {
		Revisions []struct {
			Number uint64 `json:"revision"`
			Action string `json:"action"`
		} `json:"revisions"`
	}
	if _, status, err := h.get(ctx, path+"/revisions", &revs); err != nil || status != http.StatusOK {
		return true, fmt.Errorf("revisions: %d %v", status, err)
	}
	for i, r := range revs.Revisions {
		if r.Number != uint64(i+1) {
			return true, fmt.Errorf("revision %d is numbered %d", i+1, r.Number)
		}
	}
	if n := len(revs.Revisions); n == 0 || revs.Revisions[n-1].Number != rev {
		return true, fmt.Errorf("%d revisions, the document is revision %d", n, rev)
	}
	var at struct {
		Incident map[string]any `json:"incident"`
	}
	if _, status, err := h.get(ctx, fmt.Sprintf("%s/revisions/%d", path, rev), &at); err != nil || status != http.StatusOK {
		return true, fmt.Errorf("revision %d: %d %v", rev, status, err)
	}
	if !reflect.DeepEqual(at.Incident, raw) {
		a, _ := json.Marshal(at.Incident)
		b, _ := json.Marshal(raw)
		return true, fmt.Errorf("revision %d rebuilds\n%s\nbut the document is\n%s", rev, a, b)
	}
	// Search finds it, at this version.
	q := fmt.Sprintf("+incident_number:%s +comments:ver%d", tr.num, got.version)
	n, err := h.searchTotal(ctx, base, q)
	if err != nil {
		return true, err
	}
	if n != 1 {
		return true, fmt.Errorf("search %q: %d hits, want 1", q, n)
	}
	return true, nil
}

func remarshal(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

func countAll(t *testing.T, listURL string) int {
	t.Helper()
	n := 0
	next := ""
	for {
		u := listURL
		if next != "" {
			u += "&cursor=" + url.QueryEscape(next)
		}
		resp, err := authed("GET", u, crashToken, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Incidents []json.RawMessage `json:"incidents"`
			Next      string            `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Incidents)
		if page.Next == "" {
			return n
		}
		next = page.Next
	}
}
