package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBackupHot takes a backup with `cadbox backup` from a child server
// while clients write to it, restores it into a fresh data directory with
// `cadbox restore` and serves that: every incident acknowledged before the
// backup began is there with that content or a later one, its apparatus
// and revisions agree, search (rebuilt on start) finds it at its version,
// and the restored store passes bbolt's check.
func TestBackupHot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	h := newUnfoldHarness(seed, []unfoldPool{
		{prefix: "KA", n: 80, bulk: 20}, {prefix: "KS", n: 15}, {prefix: "KT", n: 15},
	})
	c := startChild(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := h.start(ctx, c.base, true)
	h.waitAcks(20, time.Minute)

	// Note what is acknowledged, then ask for the backup: the copy may
	// hold more, never less.
	noted := map[*tracked]int{}
	h.mu.Lock()
	for _, tr := range h.all() {
		noted[tr] = tr.ackedAt
	}
	acksBefore := h.acks.Load()
	h.mu.Unlock()
	backup := filepath.Join(t.TempDir(), "backup.db")
	var stderr bytes.Buffer
	start := time.Now()
	if err := run(ctx, []string{"backup", "-server", c.base, "-token", crashToken, "-out", backup}, map[string]string{}, io.Discard, &stderr); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr.String())
	}
	took := time.Since(start)
	during := h.acks.Load() - acksBefore
	// Keep writing a little after the backup, then stop.
	h.waitAcks(h.acks.Load()+5, 30*time.Second)
	cancel()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	c.stop(t)
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	notedN := 0
	for _, i := range noted {
		if i >= 0 {
			notedN++
		}
	}
	t.Logf("backup of %d bytes in %s; %d incidents acknowledged before it, %d writes acknowledged while it ran, %d in all",
		fi.Size(), took.Round(time.Millisecond), notedN, during, res.acked)

	restored := t.TempDir()
	if err := run(context.Background(), []string{"restore", "-from", backup}, map[string]string{"CADBOX_DATA_DIR": restored}, io.Discard, &stderr); err != nil {
		t.Fatalf("restore: %v\n%s", err, stderr.String())
	}
	c = startChild(t, restored)
	h.check(t, c.base, func(tr *tracked, got *incState) error {
		i := noted[tr]
		if got == nil {
			if i >= 0 {
				return fmt.Errorf("acknowledged %s before the backup began, missing from it", tr.sent[i])
			}
			return nil
		}
		for _, s := range tr.sent[max(i, 0):] {
			if got.equal(s) {
				return nil
			}
		}
		if i >= 0 {
			return fmt.Errorf("holds %s, acknowledged %s before the backup began, and no later write sent that", got, tr.sent[i])
		}
		return fmt.Errorf("holds %s, which no write sent", got)
	})
	c.stop(t)
	checkStoreOffline(t, restored)
	if notedN == 0 {
		t.Fatal("no incident was acknowledged before the backup: the test checked nothing")
	}
}
