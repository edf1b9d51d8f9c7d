package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/fixture"
	"cadbox/store"
)

// The disk-full test's volume: a tmpfs of diskFullSize, of which a filler
// file takes diskFullFiller before the server starts; the server keeps
// diskFullReserve free (CADBOX_MIN_FREE).
const (
	diskFullSize    = "24m"
	diskFullFiller  = 14 << 20
	diskFullReserve = 6 << 20
)

// TestDiskFull runs a child server whose data directory is on a small
// tmpfs and writes until the volume is full. Refused writes must get 507
// (or 503) application/problem+json; the process stays up, reads and
// search keep working and every acknowledged incident is intact. Once a
// filler file is deleted writes succeed again, /readyz comes back, every
// acknowledged incident is stored and searchable, and after a graceful
// stop the store passes bbolt's check. It needs root (to mount the
// tmpfs) and skips without it.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	began := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("[%4.1fs] "+format, append([]any{time.Since(began).Seconds()}, args...)...)
	}
	mnt := mountTmpfs(t, diskFullSize)
	filler := filepath.Join(mnt, "filler")
	if err := writeRandomFile(filler, diskFullFiller); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(mnt, "data")
	logs := &lockedBuffer{}
	c := startChildWith(t, dataDir, logs, fmt.Sprintf("CADBOX_MIN_FREE=%d", diskFullReserve))
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.kill()
		}
	})
	defer func() {
		if t.Failed() {
			logf("server log (end):\n%s", logs.tail(6000))
		}
	}()
	seed := uint64(time.Now().UnixNano())
	logf("seed %d; volume %s, %d MiB of it taken by a filler file, %d MiB kept free by the server", seed, diskFullSize, diskFullFiller>>20, diskFullReserve>>20)
	pad := func(r *rand.Rand) string { return randomWords(r, 12000) }
	h := newUnfoldHarness(seed, []unfoldPool{
		{prefix: "FB", n: 3000, bulk: 10, fresh: true, pad: pad},
		{prefix: "FS", n: 3000, fresh: true, pad: pad},
		{prefix: "FT", n: 3000, fresh: true, pad: pad},
	})

	// Write until the volume is full, and on for a while.
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := h.start(ctx, c.base, false)
	h.waitRefusals(1, 2*time.Minute)
	if h.refusals.Load() == 0 {
		cancel()
		<-done
		t.Fatalf("no write refused in %s; %s", time.Since(start).Round(time.Millisecond), dfLine(mnt))
	}
	fullAfter := time.Since(start)
	h.waitRefusals(h.refusals.Load()+3, 10*time.Second)
	ackedBeforeFull := h.acks.Load()

	// While full: alive, ready or not, reads and search answer.
	mustStatus(t, c.base+"/healthz", http.StatusOK)
	readyStatus, readyBody := getStatus(t, c.base+"/readyz")
	cancel()
	res := <-done
	if res.err != nil {
		t.Fatalf("while filling the volume: %v", res.err)
	}
	kinds := map[string]int{}
	for _, r := range res.refused {
		switch {
		case r.ctype != "application/problem+json":
			t.Errorf("a refused write got %d with Content-Type %q", r.status, r.ctype)
		case r.status == http.StatusInsufficientStorage && r.typ != "urn:cadbox:problem:storage_full",
			r.status == http.StatusServiceUnavailable && r.typ != "urn:cadbox:problem:unavailable":
			t.Errorf("a refused write got %d of type %q", r.status, r.typ)
		}
		kinds[fmt.Sprintf("%d %s %q", r.status, r.typ, r.detail)]++
	}
	logf("full after %s: %d writes acknowledged (%d bulk of 10), then %d refused: %v; %s",
		fullAfter.Round(time.Millisecond), res.acked, res.bulkAcked, len(res.refused), kinds, dfLine(mnt))
	logf("while full, writers running: /readyz %d %s", readyStatus, readyBody)
	// With nothing written the index settles: the reserve kept it whole.
	settled := waitStatus(t, c.base+"/readyz", http.StatusOK, 30*time.Second)
	logf("while full, writers stopped: /readyz 200 after %s", settled.Round(time.Millisecond))
	if c.cmd.ProcessState != nil {
		t.Fatalf("the server exited: %v", c.cmd.ProcessState)
	}
	mustStatus(t, c.base+"/healthz", http.StatusOK)
	h.checkAckedWhileFull(t, c.base)
	if n := len(res.refused); n == 0 {
		t.Fatal("no refusal recorded")
	}

	// Free space: writes succeed again and the index catches up.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	acks := h.acks.Load()
	done = h.start(ctx, c.base, false)
	h.waitAcks(acks+1, time.Minute)
	firstWrite := time.Since(freed)
	h.waitAcks(acks+6, time.Minute)
	cancel()
	res = <-done
	if res.err != nil {
		t.Fatalf("after freeing space: %v", res.err)
	}
	if res.acked < 6 {
		t.Fatalf("after freeing space only %d writes were acknowledged; refused: %v", res.acked, res.refused)
	}
	readyAfter := waitStatus(t, c.base+"/readyz", http.StatusOK, time.Minute)
	logf("space freed: first write acknowledged after %s (%d refused meanwhile), /readyz 200 after %s; %d writes acknowledged before the volume filled",
		firstWrite.Round(time.Millisecond), len(res.refused), readyAfter.Round(time.Millisecond), ackedBeforeFull)
	h.verify(t, c.base)
	logf("%d incidents stored and searchable; no refused write was stored; of the writes cut short by stopping the clients, %d had been", h.existing(), h.landed)
	c.stop(t)
	checkStoreOffline(t, dataDir)
}

// mountTmpfs mounts a tmpfs of size (such as "24m") on a new temporary
// directory, unmounted when the test ends; it skips the test when that is
// not possible (not root, no mount permission).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as the data volume")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v: %s); this test needs a mountable tmpfs", mnt, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, bytes.TrimSpace(out))
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt
}

// TestDiskFullStore fills a small tmpfs with the store alone: the commit
// that meets ENOSPC fails with app.EFULL and leaves nothing half-written;
// reads keep working; once a filler file is deleted writes succeed again,
// and the file passes bbolt's check, also after reopening.
func TestDiskFullStore(t *testing.T) {
	mnt := mountTmpfs(t, "6m")
	filler := filepath.Join(mnt, "filler")
	if err := writeRandomFile(filler, 3<<20); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(mnt, "cadbox.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }() // the last one opened: unmounting needs it closed
	ctx := context.Background()
	g := fixture.New(7)
	r := rand.New(rand.NewPCG(7, 7))
	next := 0
	batch := func(n int) []*app.Incident {
		docs := make([]*app.Incident, n)
		for i := range docs {
			docs[i] = g.Incident(next)
			c := randomWords(r, 12000)
			docs[i].Description.Comments = &c
			next++
		}
		return docs
	}
	var stored []app.IncidentID
	var full error
	for len(stored) < 100000 {
		docs := batch(10)
		if _, err := db.Upsert(ctx, docs, app.WriteOptions{Source: "test"}); err != nil {
			full = err
			break
		}
		for _, d := range docs {
			stored = append(stored, d.ID())
		}
	}
	if app.ErrorCode(full) != app.EFULL {
		t.Fatalf("after %d incidents: %v (code %s), want %s", len(stored), full, app.ErrorCode(full), app.EFULL)
	}
	size, _ := db.Size()
	t.Logf("full after %d incidents, store %d KiB: %v; %s", len(stored), size>>10, full, dfLine(mnt))
	// Single incidents may still fit in pages the failed commit freed,
	// until they do not.
	singles := 0
	for ; ; singles++ {
		docs := batch(1)
		_, err := db.Upsert(ctx, docs, app.WriteOptions{Source: "test"})
		if err == nil && singles < 1000 {
			stored = append(stored, docs[0].ID())
			continue
		}
		if app.ErrorCode(err) != app.EFULL {
			t.Fatalf("single incident %d on the full volume: %v, want %s", singles, err, app.EFULL)
		}
		break
	}
	t.Logf("then %d single incidents fitted", singles)
	checkStored := func() {
		t.Helper()
		for _, id := range stored {
			if _, err := db.Incident(ctx, id); err != nil {
				t.Fatalf("stored %v: %v", id, err)
			}
		}
		if n, err := db.Count(ctx); err != nil || n != len(stored) {
			t.Fatalf("the store counts %d incidents (%v), %d were stored", n, err, len(stored))
		}
		if err := db.Check(); err != nil {
			t.Fatalf("bbolt check: %v", err)
		}
	}
	checkStored()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		docs := batch(20)
		if _, err := db.Upsert(ctx, docs, app.WriteOptions{Source: "test"}); err != nil {
			t.Fatalf("after freeing space: %v", err)
		}
		for _, d := range docs {
			stored = append(stored, d.ID())
		}
	}
	checkStored()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = store.Open(path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	checkStored()
}

// checkAckedWhileFull reads every acknowledged incident and searches for
// it while the volume is full.
func (h *unfoldHarness) checkAckedWhileFull(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan *tracked)
	checked := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tr := range work {
				_, err := h.checkIncident(ctx, base, tr, func(tr *tracked, got *incState) error {
					switch {
					case got == nil:
						return fmt.Errorf("acknowledged %s, but the incident is gone", tr.acked)
					case !got.equal(*tr.acked):
						return fmt.Errorf("holds %s, acknowledged %s", got, tr.acked)
					}
					return nil
				})
				mu.Lock()
				checked++
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", tr.num, err))
				}
				mu.Unlock()
			}
		}()
	}
	for _, tr := range h.all() {
		if tr.acked != nil {
			work <- tr
		}
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("while full, %d of %d acknowledged incidents are wrong:\n%v", len(errs), checked, errors.Join(errs[:min(len(errs), 10)]...))
	}
	t.Logf("while full: all %d acknowledged incidents read back, with their apparatus, revisions and search hit", checked)
}

// waitRefusals waits until n writes in all were refused, or for at most
// d, or until every writer has stopped.
func (h *unfoldHarness) waitRefusals(n int64, d time.Duration) {
	deadline := time.Now().Add(d)
	for h.refusals.Load() < n && time.Now().Before(deadline) && h.running.Load() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
}

func writeRandomFile(path string, size int) error {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return os.WriteFile(path, b, 0o600)
}

// randomWords is about n bytes of random lower-case words: text neither
// zstd nor the index can shrink much.
func randomWords(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		for range 4 + r.IntN(6) {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
		b.WriteByte(' ')
	}
	return b.String()
}

func dfLine(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "statfs: " + err.Error()
	}
	return fmt.Sprintf("volume: %d KiB free of %d KiB", st.Bavail*uint64(st.Bsize)>>10, st.Blocks*uint64(st.Bsize)>>10)
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func mustStatus(t *testing.T, url string, want int) {
	t.Helper()
	if got, body := getStatus(t, url); got != want {
		t.Fatalf("GET %s: %d %s, want %d", url, got, body, want)
	}
}

// waitStatus polls url until it answers want and returns how long that
// took; it fails the test after d.
func waitStatus(t *testing.T, url string, want int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var got int
	var body string
	for time.Since(start) < d {
		if got, body = getStatus(t, url); got == want {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: still %d %s after %s, want %d", url, got, body, d, want)
	return 0
}

// lockedBuffer collects a child's log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns the last n bytes of the log.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	return string(s[max(0, len(s)-n):])
}
