package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// percentile returns the p-th percentile (0 < p ≤ 100) of d by the
// nearest-rank method: the smallest value that at least p % of the
// samples are at or below. d need not be sorted; it is not changed.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencyFigure is a latency measurement: p50 and p99 in milliseconds.
func latencyFigure(d []time.Duration) []float64 {
	return []float64{ms(percentile(d, 50)), ms(percentile(d, 99))}
}

// rate is count per second of elapsed.
func rate(count int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(count) / elapsed.Seconds()
}

// serial runs fn for i in [0, n) one after another and returns each
// call's duration.
func serial(n int, fn func(i int) error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		if err := fn(i); err != nil {
			return out, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// concurrent runs fn for i in [0, n) from the given number of clients
// (each takes the next i) and returns every call's duration and the wall
// time of the whole run.
func concurrent(clients, n int, fn func(i int) error) ([]time.Duration, time.Duration, error) {
	var (
		mu    sync.Mutex
		next  int
		lats  = make([]time.Duration, 0, n)
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					break
				}
				t := time.Now()
				err := fn(i)
				mine = append(mine, time.Since(t))
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					break
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lats, time.Since(start), first
}

// parallel calls fn for every i in [0, n), spread over one worker per
// core (strided, so each worker gets a similar mix).
func parallel(n int, fn func(i int) error) error {
	w := runtime.GOMAXPROCS(0)
	errs := make([]error, w)
	var wg sync.WaitGroup
	for k := range w {
		wg.Go(func() {
			for i := k; i < n; i += w {
				if err := fn(i); err != nil {
					errs[k] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// dirSize is the total size of the regular files under path (a file or
// a directory).
func dirSize(path string) (int64, error) {
	var n int64
	err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return n, nil
}

// settledSize polls the size of path until two readings half a second
// apart agree (a bleve index merges segments in the background after it
// is opened), or until ctx ends; it returns the last reading.
func settledSize(ctx context.Context, path string) (int64, error) {
	last, err := dirSize(path)
	if err != nil {
		return 0, err
	}
	for {
		select {
		case <-ctx.Done():
			return last, nil
		case <-time.After(500 * time.Millisecond):
		}
		n, err := dirSize(path)
		if err != nil {
			return 0, err
		}
		if n == last {
			return n, nil
		}
		last = n
	}
}

// procStatus reads the kB fields of /proc/PID/status that are named
// (VmHWM, VmRSS, …), in bytes.
func procStatus(pid int, names ...string) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("process status: %w", err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("process status %s: %w", name, err)
		}
		out[name] = kb << 10
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("process status: %w", err)
	}
	return out, nil
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if name, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return "unknown"
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// memTotal is MemTotal of /proc/meminfo in bytes (0 if unknown).
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// cpuSample is a reading of the machine's busy CPU time and of the part
// of it this run used (the benchmark process, its finished children and
// the running cadbox process).
type cpuSample struct {
	at        time.Time
	busy, own time.Duration
}

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// machineBusy is the CPU time all processors spent on anything but idle
// and I/O wait since boot (stolen time included: it is not ours either).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu times: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("cpu times: unexpected %q", line)
	}
	var busy int64
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu times: %w", err)
		}
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return time.Duration(busy) * clockTick, nil
}

// processCPU is the user and system CPU time of a running process.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("process cpu: %w", err)
	}
	// The command name (field 2) may hold spaces; count from after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("process cpu: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("process cpu: short stat line")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("process cpu: %w", err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// ownCPU is the CPU time of this process and its finished children.
func ownCPU() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// othersShare is the share of the machine's CPU capacity (cores × wall
// time) that other processes used between two samples; NaN if unknown.
func othersShare(a, b cpuSample, cores int) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 || cores <= 0 || a.busy == 0 {
		return math.NaN()
	}
	others := (b.busy - a.busy) - (b.own - a.own)
	return min(max(float64(others)/(float64(wall)*float64(cores)), 0), 1)
}
