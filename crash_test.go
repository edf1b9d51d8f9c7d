package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CADBOX_TEST_CHILD=serve", "CADBOX_ADDR="+addr, "CADBOX_DATA_DIR="+dataDir, "CADBOX_LOG_LEVEL=ERROR",
		"CADBOX_ADMIN_TOKEN="+crashToken, "CADBOX_RATE_LIMIT=0")
	cmd.Stderr = os.Stderr
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

const crashToken = "cbx_crash-test-admin-token-0123456789abcdef"

func crashDoc(num string, version int) []byte {
	return fmt.Appendf(nil, `{"fire_department":{"fd_id":"77","timezone":"US/Eastern"},"description":{"incident_number":%q,"event_opened":"2021-03-04T05:06:07-05:00","comments":"VERSION %d OF %s"},"apparatus":[{"unit_id":"E%d","unit_status":{"dispatched":{"timestamp":"2021-03-04T05:07:00-05:00"}}}]}`,
		num, version, num, version%7)
}

// TestCrashRecovery writes bulk and single documents while the server is
// killed with SIGKILL at random moments; after each restart every
// acknowledged write is present with its last acknowledged content, the
// search index holds exactly the stored incidents, and bbolt's check
// passes.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	rounds := 5
	if v := os.Getenv("CADBOX_CRASH_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := map[string]int{} // incident number -> last acknowledged version
	var mu sync.Mutex
	client := &http.Client{Timeout: 30 * time.Second}
	for round := range rounds {
		c := startChild(t, dir)
		verify(t, c.base, acked)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					var body []byte
					ctype := "application/json"
					var nums []string
					version := round*1000 + i
					if w == 0 { // bulk NDJSON of 50
						ctype = "application/x-ndjson"
						for k := range 50 {
							n := fmt.Sprintf("B%d-%d", w, (i*50+k)%400)
							nums = append(nums, n)
							body = append(append(body, crashDoc(n, version)...), '\n')
						}
					} else {
						n := fmt.Sprintf("S%d-%d", w, i%100)
						nums, body = []string{n}, crashDoc(n, version)
					}
					req, _ := http.NewRequestWithContext(ctx, "POST", c.base+"/api/v1/incidents", bytes.NewReader(body))
					req.Header.Set("Content-Type", ctype)
					req.Header.Set("Authorization", "Bearer "+crashToken)
					resp, err := client.Do(req)
					if err != nil {
						return // killed
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						mu.Lock()
						for _, n := range nums {
							acked[n] = version
						}
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		c.kill()
		cancel()
		wg.Wait()
	}
	c := startChild(t, dir)
	verify(t, c.base, acked)
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatalf("bbolt check: %v", err)
	}
}

// verify checks every acknowledged write and that search agrees with the
// store.
func verify(t *testing.T, base string, acked map[string]int) {
	t.Helper()
	for num, version := range acked {
		resp, err := authed("GET", base+"/api/v1/departments/77/incidents/"+num, crashToken, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Description struct {
				Comments string `json:"comments"`
			} `json:"description"`
			Apparatus []json.RawMessage `json:"apparatus"`
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("acknowledged %s: %d %v", num, resp.StatusCode, err)
		}
		var got int
		fmt.Sscanf(doc.Description.Comments, "VERSION %d", &got)
		if got < version { // a later unacknowledged write may have landed
			t.Fatalf("%s: version %d, acknowledged %d", num, got, version)
		}
		if len(doc.Apparatus) == 0 {
			t.Fatalf("%s: half-written (no apparatus)", num)
		}
	}
	stored := countAll(t, base+"/api/v1/incidents?department=77&limit=1000")
	resp, err := authed("GET", base+"/api/v1/search?department=77&limit=1", crashToken, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sr struct {
		Total int `json:"total"`
	}
	json.NewDecoder(resp.Body).Decode(&sr)
	resp.Body.Close()
	if sr.Total != stored {
		t.Fatalf("search holds %d incidents, store %d", sr.Total, stored)
	}
	if stored < len(acked) {
		t.Fatalf("store holds %d incidents, %d acknowledged", stored, len(acked))
	}
}

func countAll(t *testing.T, url string) int {
	t.Helper()
	n := 0
	next := ""
	for {
		u := url
		if next != "" {
			u += "&cursor=" + next
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
