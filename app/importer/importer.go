// Package importer is the client side of `cadbox import`: it reads incident
// files (.json, .ndjson, optionally gzip-compressed) and streams them to a
// running cadbox server in gzip-compressed NDJSON batches, with a progress
// bar and a final summary.
//
// Documents are never parsed into Go structs: a json.Decoder splits a file
// into documents, json.Compact puts each on one line, and the server does all
// validation. Every failure, local (not JSON) or reported by the server, is
// mapped back to the file and the document's position in it.
package importer

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/schollz/progressbar/v3"
)

const (
	defaultBatchDocs  = 500
	defaultBatchBytes = 4 << 20
	defaultWorkers    = 2

	endpointPath     = "api/v1/incidents"
	userAgent        = "cadbox-import"
	batchTimeout     = 5 * time.Minute // one attempt at one batch
	maxRetries       = 5               // retries after the first attempt
	defaultBackoff   = 500 * time.Millisecond
	maxBackoff       = 30 * time.Second
	maxRetryAfter    = 5 * time.Minute
	maxKeptFailures  = 1000
	maxResponseBytes = 64 << 20
	maxLineBytes     = 256 << 20 // an NDJSON line longer than this is reported, not buffered
	summaryFailures  = 20
)

// Options configure Run.
type Options struct {
	Server     string       // base URL, e.g. http://localhost:8080 (required)
	Token      string       // API key, optional
	BatchDocs  int          // default 500
	BatchBytes int          // default 4<<20
	Workers    int          // default 2
	Progress   io.Writer    // where the progress bar goes (nil: no bar); e.g. os.Stderr
	HTTPClient *http.Client // nil: a default client

	// For tests: the first retry delay (default 500ms) and the length of
	// one Retry-After "second" (default 1s).
	backoff        time.Duration
	retryAfterUnit time.Duration
}

// Failure is one document that was not stored.
type Failure struct {
	File           string
	Position       string // "index 3" (.json) or "line 17" (.ndjson); empty when the whole file failed
	IncidentNumber string
	FDID           string
	Detail         string
	Errors         []FieldError
}

// FieldError is one member of a document that the server rejected.
type FieldError struct {
	Pointer, Message string // JSON pointer into the document; what is wrong there
}

// Summary reports an import.
type Summary struct {
	Files, Skipped                      int   // input files read; files skipped for their name
	Documents                           int64 // documents read
	Created, Updated, Unchanged, Failed int64
	Bytes                               int64 // raw bytes read from files (uncompressed)
	Elapsed                             time.Duration
	Failures                            []Failure // at most 1000 kept; Failed counts all
}

// Run imports the incident files named by paths (files, or directories
// walked recursively in sorted order) into the server of opts.
//
// A document that cannot be read or that the server rejects is counted in
// Summary.Failed and described in Summary.Failures; the run goes on. A file
// that cannot be opened, or whose JSON breaks off, counts as one failed
// document. The error is non-nil only when the run stopped: a bad server
// URL, a missing input path, no input files, a server that stayed
// unreachable or unavailable through the retries, a 401 or 403 answer, or
// the cancellation of ctx. The summary is valid in every case.
func Run(ctx context.Context, paths []string, opts Options) (Summary, error) {
	start := time.Now()
	var sum Summary
	finish := func(err error) (Summary, error) {
		sum.Elapsed = time.Since(start)
		return sum, err
	}
	endpoint, err := endpointURL(opts.Server)
	if err != nil {
		return finish(err)
	}
	files, skipped, err := collect(paths)
	sum.Files, sum.Skipped = len(files), skipped
	if err != nil {
		return finish(err)
	}
	if len(files) == 0 {
		return finish(fmt.Errorf("no input files: found no .json, .ndjson, .json.gz or .ndjson.gz files (%d other files skipped)", skipped))
	}
	if err := ctx.Err(); err != nil {
		return finish(fmt.Errorf("import interrupted: %w", err))
	}

	r := newRun(ctx, endpoint, files, opts)
	defer r.cancel(nil)
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Go(r.worker)
	}
	r.read()
	wg.Wait()

	sum.Documents, sum.Bytes = r.docs, r.bytes
	sum.Created, sum.Updated, sum.Unchanged, sum.Failed = r.created, r.updated, r.unchanged, r.failed
	slices.SortStableFunc(r.failures, func(a, b failRec) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.pos, b.pos))
	})
	for _, f := range r.failures {
		sum.Failures = append(sum.Failures, f.Failure)
	}

	err = context.Cause(r.ctx)
	if err == nil {
		r.bar.describe("importing " + commas(r.done) + " docs")
		r.bar.add(r.rawRead - r.rawFlushed) // bytes after the last batch
		r.bar.finish()
	} else {
		r.bar.exit()
		if pc := context.Cause(ctx); pc != nil && errors.Is(err, pc) {
			err = fmt.Errorf("import interrupted: %w", err)
		}
	}
	return finish(err)
}

// endpointURL validates the server's base URL and returns the upload URL.
func endpointURL(server string) (string, error) {
	if strings.TrimSpace(server) == "" {
		return "", errors.New("no server URL: set the base URL of the cadbox server, e.g. http://localhost:8080")
	}
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil {
		return "", fmt.Errorf("bad server URL %q: %w", server, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("bad server URL %q: want http:// or https:// and a host, e.g. http://localhost:8080", server)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("bad server URL %q: want a base URL without query or fragment", server)
	}
	return u.JoinPath(endpointPath).String(), nil
}

// inputFile is one file to import.
type inputFile struct {
	path   string
	size   int64
	ndjson bool // else .json
	gz     bool
}

// position renders a document's position in f: its index in a .json file,
// its line in an .ndjson file; "" for the whole file.
func (f *inputFile) position(pos int) string {
	switch {
	case pos < 0:
		return ""
	case f.ndjson:
		return "line " + strconv.Itoa(pos)
	default:
		return "index " + strconv.Itoa(pos)
	}
}

// classify tells whether name is an input file and of which kind.
func classify(name string) (ndjson, gz, ok bool) {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, ".gz") {
		gz = true
		n = strings.TrimSuffix(n, ".gz")
	}
	switch {
	case strings.HasSuffix(n, ".ndjson"):
		return true, gz, true
	case strings.HasSuffix(n, ".json"):
		return false, gz, true
	}
	return false, false, false
}

// collect expands paths into input files: files as given, directories
// walked recursively in lexical order. It counts the files skipped for
// their name. Symbolic links to files are followed, to directories not.
func collect(paths []string) (files []inputFile, skipped int, err error) {
	seen := make(map[string]bool)
	add := func(path string, info fs.FileInfo) {
		if !info.Mode().IsRegular() {
			skipped++
			return
		}
		ndjson, gz, ok := classify(info.Name())
		if !ok {
			skipped++
			return
		}
		key := filepath.Clean(path)
		if abs, err := filepath.Abs(path); err == nil {
			key = abs
		}
		if seen[key] {
			return
		}
		seen[key] = true
		files = append(files, inputFile{path: path, size: info.Size(), ndjson: ndjson, gz: gz})
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return files, skipped, fmt.Errorf("input: %w", err)
		}
		if !info.IsDir() {
			add(p, info)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			var info fs.FileInfo
			if d.Type()&fs.ModeSymlink != 0 {
				info, err = os.Stat(path)
			} else {
				info, err = d.Info()
			}
			if err != nil {
				return err
			}
			add(path, info)
			return nil
		})
		if err != nil {
			return files, skipped, fmt.Errorf("input: %w", err)
		}
	}
	return files, skipped, nil
}

// docRef locates a document of a batch in its file.
type docRef struct {
	file int // index into run.files
	pos  int // index in a .json file, line in an .ndjson file
}

// batch is one request body: NDJSON, one document per line.
type batch struct {
	body []byte
	refs []docRef
	raw  int64 // file bytes read for it, for the progress bar
}

// failRec is a Failure with its sort key.
type failRec struct {
	file, pos int
	Failure
}

// run is the state of one Run. The reader (read and its helpers) runs on
// Run's goroutine and owns the reader fields; workers send batches and
// record outcomes under mu.
type run struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	opts     Options
	endpoint string
	client   *http.Client
	files    []inputFile
	bar      *bar
	batches  chan *batch
	pool     sync.Pool // of *batch

	// reader
	cur        *batch
	scratch    bytes.Buffer
	docs       int64
	bytes      int64 // uncompressed
	rawRead    int64 // file bytes
	rawFlushed int64 // file bytes accounted to batches

	mu                                  sync.Mutex
	created, updated, unchanged, failed int64
	done                                int64 // documents whose outcome is known
	failures                            []failRec
}

func newRun(ctx context.Context, endpoint string, files []inputFile, opts Options) *run {
	if opts.BatchDocs <= 0 {
		opts.BatchDocs = defaultBatchDocs
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = defaultBatchBytes
	}
	if opts.Workers <= 0 {
		opts.Workers = defaultWorkers
	}
	if opts.backoff <= 0 {
		opts.backoff = defaultBackoff
	}
	if opts.retryAfterUnit <= 0 {
		opts.retryAfterUnit = time.Second
	}
	client := opts.HTTPClient
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = opts.Workers
		client = &http.Client{Transport: tr, Timeout: batchTimeout}
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	r := &run{
		opts:     opts,
		endpoint: endpoint,
		client:   client,
		files:    files,
		bar:      newBar(opts.Progress, total),
		batches:  make(chan *batch, opts.Workers),
	}
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	return r
}

// ---- reading ----

// read reads every file into batches for the workers, then closes the
// batch channel. It stops early when the run is cancelled.
func (r *run) read() {
	defer close(r.batches)
	for i := range r.files {
		if r.ctx.Err() != nil || !r.readFile(i) {
			return
		}
	}
	r.flush()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// readFile reads file fi; false means the run was cancelled.
func (r *run) readFile(fi int) bool {
	f := &r.files[fi]
	fh, err := os.Open(f.path)
	if err != nil {
		r.localFail(fi, -1, fmt.Sprintf("cannot read the file: %v", err))
		return true
	}
	defer fh.Close()
	var src io.Reader = countingReader{fh, &r.rawRead}
	if f.gz {
		zr, err := gzip.NewReader(src)
		if err != nil {
			r.localFail(fi, -1, fmt.Sprintf("not a valid gzip file: %v", err))
			return true
		}
		defer zr.Close()
		src = zr
	}
	src = countingReader{src, &r.bytes}
	if f.ndjson {
		return r.readNDJSON(fi, src)
	}
	return r.readJSON(fi, src)
}

// readJSON reads a .json file: one incident object, a JSON array of them
// (or, tolerated, several concatenated objects). Positions are indexes.
// A syntax error ends the file: a decoder cannot resynchronise.
func (r *run) readJSON(fi int, src io.Reader) bool {
	br := bufio.NewReaderSize(src, 64<<10)
	first, err := peekValue(br)
	if err == io.EOF {
		return true // an empty file holds no documents
	}
	if err != nil {
		r.localFail(fi, 0, fmt.Sprintf("cannot read the file: %v", err))
		return true
	}
	dec := json.NewDecoder(br)
	idx := 0
	broken := func(err error) bool {
		r.localFail(fi, idx, jsonError(err)+"; the rest of the file is skipped")
		return true
	}
	if first != '[' {
		for ; ; idx++ {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err == io.EOF {
				return true
			} else if err != nil {
				return broken(err)
			}
			if !r.emit(fi, idx, raw) {
				return false
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '['
		return broken(err)
	}
	for ; dec.More(); idx++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return broken(err)
		}
		if !r.emit(fi, idx, raw) {
			return false
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return broken(err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			r.localFail(fi, idx, fmt.Sprintf("invalid JSON: unexpected %v after the array; the rest of the file is skipped", tok))
			return true
		}
		return broken(err)
	}
	return true
}

// peekValue returns the first byte of the JSON text in br, skipping white
// space and a UTF-8 byte order mark, without consuming it.
func peekValue(br *bufio.Reader) (byte, error) {
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, br.UnreadByte()
	}
}

// readNDJSON reads an .ndjson file: one document per line, blank lines
// ignored. A bad line fails alone. Positions are 1-based lines.
func (r *run) readNDJSON(fi int, src io.Reader) bool {
	br := bufio.NewReaderSize(src, 256<<10)
	var line []byte
	for n := 1; ; n++ {
		var err error
		var tooLong bool
		line, tooLong, err = readLine(br, line[:0])
		if len(line) > 0 || tooLong {
			doc := bytes.TrimSpace(line)
			if n == 1 {
				doc = bytes.TrimPrefix(doc, []byte("\ufeff"))
			}
			switch {
			case tooLong:
				r.localFail(fi, n, fmt.Sprintf("the line is longer than %d bytes", maxLineBytes))
			case len(doc) > 0:
				if !r.emit(fi, n, doc) {
					return false
				}
			}
		}
		if err == io.EOF {
			return true
		}
		if err != nil {
			r.localFail(fi, n, fmt.Sprintf("cannot read the file: %v; the rest of the file is skipped", err))
			return true
		}
	}
}

// readLine appends the next line of br to dst, with its newline. A line
// longer than maxLineBytes is consumed but not kept: tooLong reports it.
func readLine(br *bufio.Reader, dst []byte) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(dst)+len(chunk) > maxLineBytes {
				tooLong, dst = true, dst[:0]
			} else {
				dst = append(dst, chunk...)
			}
		}
		if err != bufio.ErrBufferFull {
			return dst, tooLong, err
		}
	}
}

// jsonError renders a decoding error: a syntax error with its byte offset,
// or the read error (such as a corrupt gzip stream) that stopped decoding.
func jsonError(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se) && se.Offset > 0:
		return fmt.Sprintf("invalid JSON: %v (at byte %d)", se, se.Offset)
	case errors.As(err, &se):
		return "invalid JSON: " + se.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of the file"
	}
	return "cannot read the file: " + err.Error()
}

// emit adds one document to the current batch, sending the batch when it is
// full; false means the run was cancelled.
func (r *run) emit(fi, pos int, doc []byte) bool {
	r.docs++
	r.scratch.Reset()
	if err := json.Compact(&r.scratch, doc); err != nil {
		r.localFail1(fi, pos, jsonError(err))
		return r.ctx.Err() == nil
	}
	line := r.scratch.Bytes()
	if line[0] != '{' {
		r.localFail1(fi, pos, "not a JSON object: an incident is an object {…}")
		return r.ctx.Err() == nil
	}
	if r.cur != nil && len(r.cur.refs) > 0 && len(r.cur.body)+len(line)+1 > r.opts.BatchBytes {
		if !r.flush() {
			return false
		}
	}
	if r.cur == nil {
		if b, ok := r.pool.Get().(*batch); ok {
			r.cur = b
		} else {
			r.cur = &batch{}
		}
	}
	r.cur.body = append(append(r.cur.body, line...), '\n')
	r.cur.refs = append(r.cur.refs, docRef{file: fi, pos: pos})
	if len(r.cur.refs) >= r.opts.BatchDocs || len(r.cur.body) >= r.opts.BatchBytes {
		return r.flush()
	}
	return true
}

// flush hands the current batch to the workers; false means the run was
// cancelled.
func (r *run) flush() bool {
	b := r.cur
	if b == nil || len(b.refs) == 0 {
		return r.ctx.Err() == nil
	}
	r.cur = nil
	b.raw = r.rawRead - r.rawFlushed
	r.rawFlushed = r.rawRead
	select {
	case r.batches <- b:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// localFail records a failure found while reading that stands for one
// document not otherwise counted (a whole file, or a file that broke off).
func (r *run) localFail(fi, pos int, detail string) {
	r.docs++
	r.localFail1(fi, pos, detail)
}

// localFail1 records a failure of a document already counted as read.
func (r *run) localFail1(fi, pos int, detail string) {
	f := &r.files[fi]
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed++
	r.done++
	r.keep(failRec{file: fi, pos: pos, Failure: Failure{File: f.path, Position: f.position(pos), Detail: detail}})
}

// keep keeps a failure for the summary; r.mu is held.
func (r *run) keep(f failRec) {
	if len(r.failures) < maxKeptFailures {
		r.failures = append(r.failures, f)
	}
}

// ---- sending ----

// bulkResponse is the server's answer to an upload: the body of a 200, and
// the extension members of a 422 problem.
type bulkResponse struct {
	Created   int64         `json:"created"`
	Updated   int64         `json:"updated"`
	Unchanged int64         `json:"unchanged"`
	Failed    int64         `json:"failed"`
	Failures  []bulkFailure `json:"failures"`
}

type bulkFailure struct {
	Index          *int    `json:"index"`
	Line           *int    `json:"line"`
	IncidentNumber string  `json:"incident_number"`
	FDID           string  `json:"fd_id"`
	Problem        problem `json:"problem"`
}

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Pointer string `json:"pointer"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (p *problem) text() string { return cmp.Or(p.Detail, p.Title, p.Type) }

func (p *problem) fieldErrors() []FieldError {
	var fe []FieldError
	for _, e := range p.Errors {
		fe = append(fe, FieldError{Pointer: e.Pointer, Message: e.Message})
	}
	return fe
}

// reply is one HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// describe renders a non-success reply: its status and problem detail.
func (rp *reply) describe() string {
	s := fmt.Sprintf("%d %s", rp.status, http.StatusText(rp.status))
	var p problem
	if json.Unmarshal(rp.body, &p) == nil && p.text() != "" {
		return s + ": " + p.text()
	}
	if text := strings.TrimSpace(string(rp.body)); text != "" && utf8.ValidString(text) {
		text, _, _ = strings.Cut(text, "\n")
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		return s + ": " + text
	}
	return s
}

func (rp *reply) problem() (p problem) {
	json.Unmarshal(rp.body, &p)
	return p
}

// worker sends batches until the channel closes; a fatal error cancels the
// run, after which the remaining batches are drained unsent.
func (r *run) worker() {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for b := range r.batches {
		if r.ctx.Err() != nil {
			continue
		}
		gz.Reset()
		zw.Reset(&gz)
		zw.Write(b.body) // writes to a bytes.Buffer do not fail
		zw.Close()
		rp, err := r.post(gz.Bytes())
		if err != nil {
			r.cancel(err)
			continue
		}
		r.record(b, rp)
		b.body, b.refs, b.raw = b.body[:0], b.refs[:0], 0
		r.pool.Put(b)
	}
}

// post sends one gzip-compressed body, retrying network errors and 429,
// 502, 503 and 504. It returns the final answer, or an error that stops
// the run.
func (r *run) post(body []byte) (*reply, error) {
	for attempt := 0; ; attempt++ {
		rp, err := r.attempt(body)
		var wait time.Duration
		switch {
		case err == nil && !retryable(rp.status) && rp.status != http.StatusUnauthorized && rp.status != http.StatusForbidden:
			return rp, nil
		case r.ctx.Err() != nil:
			return nil, context.Cause(r.ctx)
		case err != nil:
			if attempt >= maxRetries {
				return nil, fmt.Errorf("server unreachable after %d attempts: %w", attempt+1, err)
			}
		case rp.status == http.StatusUnauthorized || rp.status == http.StatusForbidden:
			return nil, fmt.Errorf("server refused the import with %s; check the API token", rp.describe())
		case retryable(rp.status):
			if attempt >= maxRetries {
				return nil, fmt.Errorf("server unavailable after %d attempts: %s", attempt+1, rp.describe())
			}
			wait = retryAfter(rp.header.Get("Retry-After"), r.opts.retryAfterUnit)
		}
		if wait <= 0 {
			wait = r.backoff(attempt)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return nil, context.Cause(r.ctx)
		}
	}
}

func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff is the delay before retry attempt+1: exponential, with jitter.
func (r *run) backoff(attempt int) time.Duration {
	d := min(r.opts.backoff<<attempt, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After header: seconds (of unit length) or an
// HTTP date. Zero means none.
func retryAfter(h string, unit time.Duration) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(n)*unit, maxRetryAfter)
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(time.Until(t), 0), maxRetryAfter)
	}
	return 0
}

// attempt makes one request; an error is a network error.
func (r *run) attempt(body []byte) (*reply, error) {
	ctx, cancel := context.WithTimeout(r.ctx, batchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", userAgent)
	if r.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.opts.Token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	io.Copy(io.Discard, resp.Body) // let the connection be reused
	return &reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// record books the answer to batch b.
func (r *run) record(b *batch, rp *reply) {
	n := int64(len(b.refs))
	var res bulkResponse
	parsed := false
	if rp.status/100 == 2 || rp.status == http.StatusUnprocessableEntity {
		parsed = json.Unmarshal(rp.body, &res) == nil &&
			res.Created >= 0 && res.Updated >= 0 && res.Unchanged >= 0 && res.Failed >= 0 &&
			(rp.status/100 == 2 || res.Failed > 0 || len(res.Failures) > 0)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.done += n
	if !parsed {
		// The batch failed as a whole: every document is failed, with the
		// server's words.
		detail := "the server answered " + rp.describe()
		if rp.status/100 == 2 {
			detail = "unexpected answer from the server: " + rp.describe()
		}
		p := rp.problem()
		r.failed += n
		for _, ref := range b.refs {
			r.keep(r.failRec(ref, Failure{Detail: detail, Errors: p.fieldErrors()}))
		}
		r.progress(b)
		return
	}
	r.created += res.Created
	r.updated += res.Updated
	r.unchanged += res.Unchanged
	failed := max(res.Failed, int64(len(res.Failures)))
	r.failed += failed
	for _, f := range res.Failures {
		fail := Failure{IncidentNumber: f.IncidentNumber, FDID: f.FDID, Detail: f.Problem.text(), Errors: f.Problem.fieldErrors()}
		switch {
		case f.Index != nil && *f.Index >= 0 && *f.Index < len(b.refs):
			r.keep(r.failRec(b.refs[*f.Index], fail))
		case f.Line != nil && *f.Line >= 1 && *f.Line <= len(b.refs):
			r.keep(r.failRec(b.refs[*f.Line-1], fail))
		default: // about the request as a whole
			fail.Detail = "in the request starting here: " + fail.Detail
			r.keep(r.failRec(b.refs[0], fail))
		}
	}
	if got := res.Created + res.Updated + res.Unchanged + failed; got < n {
		r.failed += n - got
		r.keep(r.failRec(b.refs[0], Failure{Detail: fmt.Sprintf(
			"the server acknowledged only %d of the %d documents of the request starting here (%s)",
			got, n, rp.describe())}))
	}
	r.progress(b)
}

// failRec locates a failure in its file.
func (r *run) failRec(ref docRef, f Failure) failRec {
	file := &r.files[ref.file]
	f.File, f.Position = file.path, file.position(ref.pos)
	return failRec{file: ref.file, pos: ref.pos, Failure: f}
}

// progress advances the bar past batch b; r.mu is held.
func (r *run) progress(b *batch) {
	r.bar.describe("importing " + commas(r.done) + " docs")
	r.bar.add(b.raw)
}

// ---- progress bar ----

// bar is the progress bar, or nothing when there is no writer.
type bar struct {
	pb   *progressbar.ProgressBar
	once sync.Once
	w    io.Writer
}

func newBar(w io.Writer, total int64) *bar {
	if w == nil || total <= 0 {
		return &bar{}
	}
	b := &bar{w: w}
	b.pb = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(b.newline),
	)
	return b
}

func (b *bar) newline() { b.once.Do(func() { fmt.Fprintln(b.w) }) }

func (b *bar) describe(s string) {
	if b.pb != nil && !b.pb.IsFinished() { // a finished bar would render again, on a new line
		b.pb.Describe(s)
	}
}

func (b *bar) add(n int64) {
	if b.pb != nil && n > 0 {
		b.pb.Add64(n) // errors only when the files grew meanwhile
	}
}

func (b *bar) finish() {
	if b.pb != nil {
		b.pb.Finish()
		b.newline()
	}
}

func (b *bar) exit() {
	if b.pb != nil {
		b.pb.Exit() // keeps the bar where it stopped
		b.newline()
	}
}

// ---- summary ----

// Write writes a human-readable report: counts, throughput and the first
// failures with their file, position, incident and field errors.
func (s Summary) Write(w io.Writer) {
	rate := "-"
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = commas(int64(float64(s.Documents)/secs + 0.5))
	}
	elapsed := s.Elapsed.Round(time.Millisecond)
	if s.Elapsed >= time.Minute {
		elapsed = s.Elapsed.Round(time.Second)
	}
	fmt.Fprintf(w, "%s documents from %s files (%s skipped), %s, in %v: %s docs/s\n",
		commas(s.Documents), commas(int64(s.Files)), commas(int64(s.Skipped)), humanBytes(s.Bytes), elapsed, rate)
	fmt.Fprintf(w, "  created    %12s\n", commas(s.Created))
	fmt.Fprintf(w, "  updated    %12s\n", commas(s.Updated))
	fmt.Fprintf(w, "  unchanged  %12s\n", commas(s.Unchanged))
	fmt.Fprintf(w, "  failed     %12s\n", commas(s.Failed))
	if rest := s.Documents - s.Created - s.Updated - s.Unchanged - s.Failed; rest > 0 {
		fmt.Fprintf(w, "  not sent   %12s (the import stopped early)\n", commas(rest))
	}
	if len(s.Failures) == 0 {
		return
	}
	shown := s.Failures[:min(len(s.Failures), summaryFailures)]
	fmt.Fprintf(w, "Failures (first %d of %s):\n", len(shown), commas(s.Failed))
	for _, f := range shown {
		where := f.File
		if f.Position != "" {
			where += " " + f.Position
		}
		var ids []string
		if f.IncidentNumber != "" {
			ids = append(ids, "incident "+f.IncidentNumber)
		}
		if f.FDID != "" {
			ids = append(ids, "fd "+f.FDID)
		}
		var id string
		if len(ids) > 0 {
			id = " (" + strings.Join(ids, ", ") + ")"
		}
		fmt.Fprintf(w, "  %s%s: %s\n", where, id, f.Detail)
		for _, e := range f.Errors {
			fmt.Fprintf(w, "      %s: %s\n", cmp.Or(e.Pointer, "(document)"), e.Message)
		}
	}
	if more := s.Failed - int64(len(shown)); more > 0 {
		fmt.Fprintf(w, "  … and %s more\n", commas(more))
	}
}

// commas renders n with thousands separators: 12,345.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// humanBytes renders a byte count in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[i])
}
