package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Peak resident memory the server may reach while it rejects the hostile
// bodies below, with the production limits (256 MiB bodies, 4 MiB
// documents, batches of 1,000). The budget: about 40 MiB for the idle
// server (runtime, bleve, bbolt's map of a small store), one batch of
// 1,000 records in flight while the next is read (a few MiB of raw
// records, their decoded incidents and errors), up to three documents'
// worth of unconsumed input buffered by the array reader (12 MiB, and
// twice that while its buffer grows), the gzip and bufio buffers, and the
// garbage collector's headroom (GOGC=100 lets the heap double between
// collections). Measured: 31 MiB idle, 104 MiB at the peak. 300 MiB
// leaves room for all of that while it fails a server that holds a body
// in memory: buffering the 100 MB array element whole peaked at 323 MiB,
// a 1 MB gzip bomb of one array element at 2.6 GiB, and keeping the
// failed records of a 3 MB atomic upload of 10^6 lines at 683 MiB. The
// race detector adds shadow memory and slows everything (65 MiB idle,
// 289 MiB at the peak): under it the bound is 768 MiB.
const (
	rssBound     = 300 << 20
	rssBoundRace = 768 << 20
)

// vmHWM reads a process's peak resident set size from /proc.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// streamBody produces prefix, then unit repeated, for size bytes, without
// holding them.
type streamBody struct {
	prefix, unit []byte
	size, off    int64
}

func (s *streamBody) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && s.off < s.size {
		if s.off < int64(len(s.prefix)) {
			p[n] = s.prefix[s.off]
		} else {
			p[n] = s.unit[(s.off-int64(len(s.prefix)))%int64(len(s.unit))]
		}
		n++
		s.off++
	}
	return n, nil
}

// bomb returns gzip that inflates to prefix and then about size bytes of
// unit: one member of a mebibyte of unit, compressed once and repeated (a
// gzip stream may hold many members), so it costs no time to build.
func bomb(t *testing.T, prefix, unit []byte, size int64) []byte {
	t.Helper()
	member := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	chunk := bytes.Repeat(unit, (1<<20)/len(unit))
	out := member(append(append([]byte(nil), prefix...), chunk...))
	rest := member(chunk)
	for n := int64(len(chunk)); n < size; n += int64(len(chunk)) {
		out = append(out, rest...)
	}
	return out
}

// TestHostileMemory runs the real server as a child process with the
// production limits, sends it the big hostile bodies (100 MB streamed, a
// body over the limit, 10^6-element arrays, gzip bombs, deep nesting) and
// checks that each is refused with a 4xx, that the child's peak resident
// memory (VmHWM) stays under rssBound, and that it still serves
// afterwards.
func TestHostileMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the peak resident set size from /proc (Linux only)")
	}
	if testing.Short() {
		t.Skip("starts a child process and sends it hundreds of megabytes")
	}
	bound := int64(rssBound)
	if raceEnabled() {
		bound = rssBoundRace
	}
	c := startChild(t, t.TempDir())
	defer c.kill()
	pid := c.cmd.Process.Pid
	idle := vmHWM(t, pid)

	const mb100 = 100 << 20
	kb := []byte(`{"description":{"comments":"` + strings.Repeat("x", 1000) + `"}}`)
	million := "[" + strings.Repeat("1,", 999_999) + "1]"
	cases := []struct {
		name, path, ctype, encoding string
		body                        func() io.Reader
		status                      int
	}{
		{"NDJSON100MB", "", "application/x-ndjson", "", func() io.Reader { return &streamBody{unit: append(kb, '\n'), size: mb100} }, 422},
		{"OneElement100MB", "", "application/json", "", func() io.Reader { return &streamBody{prefix: []byte(`["`), unit: []byte("x"), size: mb100} }, 422},
		{"Document100MB", "", "application/json", "", func() io.Reader { return &streamBody{prefix: []byte(`{"a":"`), unit: []byte("x"), size: mb100} }, 413},
		{"Line100MB", "", "application/x-ndjson", "", func() io.Reader { return &streamBody{unit: []byte("x"), size: mb100} }, 422},
		{"OverBodyLimit", "", "application/x-ndjson", "", func() io.Reader {
			return &streamBody{unit: []byte(strings.Repeat(" ", 1023) + "\n"), size: 300 << 20}
		}, 413},
		{"MillionElements", "", "application/json", "", func() io.Reader { return strings.NewReader(million) }, 422},
		{"MillionElementsAtomic", "?atomic=true", "application/json", "", func() io.Reader { return strings.NewReader(million) }, 422},
		{"MillionLinesAtomic", "?atomic=true", "application/x-ndjson", "", func() io.Reader { return strings.NewReader(strings.Repeat("{}\n", 1_000_000)) }, 422},
		{"GzipBombNDJSON", "", "application/x-ndjson", "gzip", bytesReader(bomb(t, nil, []byte("0"), 1<<30)), 422},
		{"GzipBombArray", "", "application/json", "gzip", bytesReader(bomb(t, []byte(`["`), []byte("0"), 1<<30)), 422},
		{"GzipBombDocument", "", "application/json", "gzip", bytesReader(bomb(t, []byte(`{"a":"`), []byte("0"), 1<<30)), 413},
		{"DeepArray", "", "application/json", "", func() io.Reader { return strings.NewReader(strings.Repeat("[", 100_000)) }, 422},
		{"DeepObject", "", "application/json", "", func() io.Reader { return strings.NewReader(strings.Repeat(`{"a":`, 100_000)) }, 400},
		{"DeepLines", "", "application/x-ndjson", "", func() io.Reader {
			return strings.NewReader(strings.Repeat(strings.Repeat("[", 100_000)+"\n", 200))
		}, 422},
	}
	client := &http.Client{Timeout: 5 * time.Minute}
	for _, tc := range cases {
		start := time.Now()
		req, err := http.NewRequest(http.MethodPost, c.base+"/api/v1/incidents"+tc.path, tc.body())
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+crashToken)
		req.Header.Set("Content-Type", tc.ctype)
		if tc.encoding != "" {
			req.Header.Set("Content-Encoding", tc.encoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want %d problem: %.300s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, b)
		}
		peak := vmHWM(t, pid)
		t.Logf("%-22s %d in %6.2fs, peak RSS so far %s", tc.name, resp.StatusCode, time.Since(start).Seconds(), hostileMiB(peak))
	}
	peak := vmHWM(t, pid)
	t.Logf("idle RSS %s, peak %s, bound %s", hostileMiB(idle), hostileMiB(peak), hostileMiB(bound))
	if peak > bound {
		t.Errorf("peak RSS %s over the bound %s", hostileMiB(peak), hostileMiB(bound))
	}

	// Still serving, and nothing was stored.
	resp, err := authed("POST", c.base+"/api/v1/incidents", crashToken, "application/json", crashDoc("AFTER", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("a valid write after the hostile bodies: %d", resp.StatusCode)
	}
	if n := countAll(t, c.base+"/api/v1/incidents?limit=1000"); n != 1 {
		t.Fatalf("%d incidents stored, want only the valid one", n)
	}
	waitReady(t, c.base)
}

func bytesReader(b []byte) func() io.Reader { return func() io.Reader { return bytes.NewReader(b) } }

func hostileMiB(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
