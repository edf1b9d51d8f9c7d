package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"runtime"
	"strings"
	"sync"

	"cadbox/app"
	"cadbox/app/codec"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"
)

// multipartUpload documents the multipart form of an upload.
type multipartUpload struct {
	Files []multipart.File `formData:"files" description:"One or more .json, .ndjson, .json.gz or .ndjson.gz files (any field name)."`
}

// BulkResponse reports a bulk upload.
type BulkResponse struct {
	Created   int           `json:"created"`
	Updated   int           `json:"updated"`
	Unchanged int           `json:"unchanged"`
	Failed    int           `json:"failed"`
	Failures  []BulkFailure `json:"failures,omitempty" description:"The first 1000 failed records."`
}

// BulkFailure is one record of a bulk upload that was not stored.
type BulkFailure struct {
	Index          int     `json:"index" description:"0-based position of the record in its file or body."`
	Line           int     `json:"line,omitempty" description:"1-based NDJSON line."`
	File           string  `json:"file,omitempty" description:"Multipart file name."`
	IncidentNumber string  `json:"incident_number,omitempty"`
	FDID           string  `json:"fd_id,omitempty"`
	Problem        Problem `json:"problem"`
}

// bulkProblem is the 422 body when every record failed: a problem with the
// bulk report as extension members.
type bulkProblem struct {
	Problem
	BulkResponse
}

const maxFailures = 1000

// record is one incident document read from a body.
type record struct {
	index int
	line  int
	file  string
	data  []byte
	inc   *app.Incident
	err   error
}

// readBody reads a whole (possibly gzip-encoded) body within the limits.
func (s *Server) readBody(c echo.Context) ([]byte, error) {
	r, err := s.bodyReader(c)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, s.cfg.DocumentLimit+1))
	if err != nil {
		return nil, bodyError(err)
	}
	if int64(len(b)) > s.cfg.DocumentLimit {
		return nil, app.Errorf(app.ETOOLARGE, "The document is larger than the limit of %d bytes (CADBOX_DOCUMENT_LIMIT).", s.cfg.DocumentLimit)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, app.Errorf(app.EMALFORMED, "The request body is empty; send an incident document.")
	}
	return b, nil
}

// bodyReader returns the request body, limited and decompressed.
func (s *Server) bodyReader(c echo.Context) (io.ReadCloser, error) {
	req := c.Request()
	body := http.MaxBytesReader(c.Response(), req.Body, s.cfg.BodyLimit)
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get(echo.HeaderContentEncoding))); enc {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, bodyError(err)
		}
		return zr, nil
	default:
		return nil, app.Errorf(app.EUNSUPPORTED, "Content-Encoding %q is not supported; use gzip or none.", enc)
	}
}

// bodyError classifies a failure to read the body.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err // problemFor names the limit
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF):
		return &app.Error{Code: app.EMALFORMED, Message: "The body is not valid gzip or is truncated.", Err: err}
	}
	return &app.Error{Code: app.EMALFORMED, Message: "The body could not be read.", Err: err}
}

func mediaType(c echo.Context) string {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil {
		return ""
	}
	return mt
}

func isJSONType(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

func isNDJSONType(mt string) bool {
	return mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonl" ||
		mt == "application/x-jsonlines" || mt == "application/jsonlines"
}

func checkJSONType(c echo.Context) error {
	if mt := mediaType(c); !isJSONType(mt) {
		return unsupported(mt, "application/json")
	}
	return nil
}

func unsupported(mt, want string) error {
	if mt == "" {
		return app.Errorf(app.EUNSUPPORTED, "The request has no valid Content-Type; send %s.", want)
	}
	return app.Errorf(app.EUNSUPPORTED, "Content-Type %s is not accepted here; send %s.", mt, want)
}

func (s *Server) decodeOne(b []byte) (*app.Incident, error) {
	return s.dec.Decode(b)
}

func (s *Server) handleIngest(c echo.Context) error {
	var p ingestParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	opts := app.WriteOptions{Atomic: p.Atomic, IfMatch: p.IfMatch, Source: principal(c).ID}
	mt := mediaType(c)
	switch {
	case isJSONType(mt):
		body, err := s.bodyReader(c)
		if err != nil {
			return err
		}
		defer body.Close()
		br := bufio.NewReaderSize(body, 64<<10)
		first, err := firstByte(br)
		if err != nil {
			return err
		}
		if first == '[' {
			return s.ingestBulk(c, opts, func(emit func(record) error) error {
				return readArray(br, "", s.cfg.DocumentLimit, emit)
			})
		}
		b, err := io.ReadAll(io.LimitReader(br, s.cfg.DocumentLimit+1))
		if err != nil {
			return bodyError(err)
		}
		if int64(len(b)) > s.cfg.DocumentLimit {
			s.metrics.ingestedOne(app.StatusFailed)
			return app.Errorf(app.ETOOLARGE, "The document is larger than the limit of %d bytes (CADBOX_DOCUMENT_LIMIT).", s.cfg.DocumentLimit)
		}
		return s.ingestOne(c, b, opts)
	case isNDJSONType(mt):
		if opts.IfMatch != "" {
			return app.Invalid("If-Match applies to single-document uploads only.", app.FieldError{Pointer: "/If-Match", Message: "not allowed on a bulk upload"})
		}
		body, err := s.bodyReader(c)
		if err != nil {
			return err
		}
		defer body.Close()
		return s.ingestBulk(c, opts, func(emit func(record) error) error {
			return readNDJSON(body, "", s.cfg.DocumentLimit, emit)
		})
	case mt == "multipart/form-data":
		return s.ingestMultipart(c, opts)
	}
	return unsupported(mt, "application/json, application/x-ndjson or multipart/form-data")
}

// mayWrite checks that the request's key may write the incident's
// department.
func mayWrite(c echo.Context, inc *app.Incident) error {
	k := principal(c)
	if fd := inc.ID().Department; !k.MaySee(fd) {
		return app.Invalid("This key may not write department "+fd+".",
			app.FieldError{Pointer: "/fire_department/fd_id", Message: "this key may write departments " + joinDepts(k.Departments) + " only"})
	}
	return nil
}

func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, app.Errorf(app.EMALFORMED, "The request body is empty; send an incident document.")
			}
			return 0, bodyError(err)
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}

func (s *Server) ingestOne(c echo.Context, b []byte, opts app.WriteOptions) error {
	res, err := s.upsertOne(c, b, opts)
	if err != nil {
		s.metrics.ingestedOne(app.StatusFailed)
		return err
	}
	s.metrics.ingestedOne(res.Status)
	return s.writeResult(c, res)
}

func (s *Server) upsertOne(c echo.Context, b []byte, opts app.WriteOptions) (app.WriteResult, error) {
	inc, err := s.decodeOne(b)
	if err != nil {
		return app.WriteResult{}, err
	}
	if err := mayWrite(c, inc); err != nil {
		return app.WriteResult{}, err
	}
	res, err := s.store.Upsert(c.Request().Context(), []*app.Incident{inc}, opts)
	if err != nil {
		return app.WriteResult{}, err
	}
	return res[0], nil
}

func (s *Server) ingestMultipart(c echo.Context, opts app.WriteOptions) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, s.cfg.BodyLimit)
	mr, err := req.MultipartReader()
	if err != nil {
		return &app.Error{Code: app.EMALFORMED, Message: "The multipart body could not be read: " + err.Error(), Err: err}
	}
	files := 0
	err = s.ingestBulk(c, opts, func(emit func(record) error) error {
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return bodyError(err)
			}
			name := part.FileName()
			if name == "" {
				part.Close()
				continue
			}
			files++
			if err := readFile(part, name, s.cfg.DocumentLimit, emit); err != nil {
				part.Close()
				return err
			}
			part.Close()
		}
		if files == 0 {
			return app.Errorf(app.EMALFORMED, "The multipart upload has no files; attach .json or .ndjson files.")
		}
		return nil
	})
	return err
}

// readFile emits the records of one uploaded file, by its extension.
func readFile(r io.Reader, name string, limit int64, emit func(record) error) error {
	base := path.Base(name)
	lower := strings.ToLower(base)
	if strings.HasSuffix(lower, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return app.Errorf(app.EMALFORMED, "File %s is not valid gzip.", base)
		}
		defer zr.Close()
		r, lower = zr, strings.TrimSuffix(lower, ".gz")
	}
	switch {
	case strings.HasSuffix(lower, ".ndjson"), strings.HasSuffix(lower, ".jsonl"):
		return readNDJSON(r, base, limit, emit)
	case strings.HasSuffix(lower, ".json"):
		br := bufio.NewReaderSize(r, 64<<10)
		first, err := firstByte(br)
		if err != nil {
			return fmt.Errorf("file %s: %w", base, err)
		}
		if first == '[' {
			return readArray(br, base, limit, emit)
		}
		b, err := io.ReadAll(io.LimitReader(br, limit+1))
		if err != nil {
			return bodyError(err)
		}
		if int64(len(b)) > limit {
			return emit(record{file: base, err: app.Errorf(app.ETOOLARGE, "The document is larger than the limit of %d bytes.", limit)})
		}
		return emit(record{file: base, data: b})
	}
	return app.Errorf(app.EUNSUPPORTED, "File %s is neither .json nor .ndjson (optionally .gz).", base)
}

// readNDJSON emits one record per non-blank line.
func readNDJSON(r io.Reader, file string, limit int64, emit func(record) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	index := 0
	for line := 1; ; line++ {
		b, tooLong, err := readLine(br, limit)
		if len(bytes.TrimSpace(b)) > 0 || tooLong {
			rec := record{index: index, line: line, file: file, data: b}
			if tooLong {
				rec.data, rec.err = nil, app.Errorf(app.ETOOLARGE, "The line is longer than the document limit of %d bytes.", limit)
			}
			if err := emit(rec); err != nil {
				return err
			}
			index++
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return bodyError(err)
		}
	}
}

// readLine reads one line (without its newline); a line over limit is
// skipped and reported as tooLong.
func readLine(br *bufio.Reader, limit int64) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			buf = append(buf, chunk...)
			if int64(len(buf)) > limit+2 { // room for "\r\n"
				tooLong, buf = true, nil
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimRight(buf, "\r\n")
		if int64(len(line)) > limit { // the last line has no newline
			return nil, true, err
		}
		return line, tooLong, err
	}
}

// readArray emits each element of a JSON array. A syntax error ends the
// array (nothing after it can be located); it is reported as one failed
// record, and so is anything but white space after the array. An element
// far over the limit ends the array too: it is not read into memory.
func readArray(r io.Reader, file string, limit int64, emit func(record) error) error {
	ahead := &aheadLimiter{r: r, max: 3*limit + 64<<10}
	dec := jsontext.NewDecoder(ahead)
	ahead.dec = dec
	fail := func(index int, err error) error {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return err // the body is over its limit: 413
		case errors.Is(err, errAhead):
			err = app.Errorf(app.ETOOLARGE, "The document is larger than the limit of %d bytes.", limit)
		default:
			err = codec.Error(err)
		}
		return emit(record{index: index, file: file, err: err})
	}
	if _, err := dec.ReadToken(); err != nil {
		return fail(0, err)
	}
	index := 0
	for ; dec.PeekKind() != ']'; index++ {
		if dec.PeekKind() == 0 {
			_, err := dec.ReadValue()
			return fail(index, err)
		}
		v, err := dec.ReadValue()
		if err != nil {
			return fail(index, err)
		}
		rec := record{index: index, file: file, data: bytes.Clone(v)}
		if int64(len(v)) > limit {
			rec.data, rec.err = nil, app.Errorf(app.ETOOLARGE, "The document is larger than the limit of %d bytes.", limit)
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return fail(index, err)
	}
	switch _, err := dec.ReadToken(); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fail(index, err)
	}
	return emit(record{index: index, file: file, err: &app.Error{Code: app.EMALFORMED,
		Message: fmt.Sprintf("The body continues after the array (at byte %d); send one array.", dec.InputOffset())}})
}

// errAhead is returned by aheadLimiter.
var errAhead = errors.New("array element over the document limit")

// aheadLimiter stops a JSON decoder from holding more than max bytes it
// has not consumed yet, so one huge array element fails early instead of
// being buffered whole.
type aheadLimiter struct {
	r    io.Reader
	dec  *jsontext.Decoder
	read int64
	max  int64
}

func (a *aheadLimiter) Read(p []byte) (int, error) {
	if a.read-a.dec.InputOffset() > a.max {
		return 0, errAhead
	}
	n, err := a.r.Read(p)
	a.read += int64(n)
	return n, err
}

// ingestBulk decodes records in parallel and commits them in order, in
// batches of cfg.BatchSize: while one batch commits, the next one decodes.
func (s *Server) ingestBulk(c echo.Context, opts app.WriteOptions, read func(emit func(record) error) error) error {
	ctx := c.Request().Context()
	var out BulkResponse
	// Counted as the response reports them, whichever way it ends.
	defer func() { s.metrics.ingested(out.Created, out.Updated, out.Unchanged, out.Failed) }()
	fail := func(r record, err error) {
		out.Failed++
		if len(out.Failures) >= maxFailures {
			return
		}
		p := problemFor(err)
		f := BulkFailure{Index: r.index, Line: r.line, File: r.file, Problem: p}
		f.FDID, f.IncidentNumber = guessID(r)
		out.Failures = append(out.Failures, f)
	}
	batches := make(chan []record, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		var batch []record
		flush := func() {
			if len(batch) > 0 {
				s.decodeAll(batch)
				batches <- batch
				batch = nil
			}
		}
		err := read(func(r record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch = append(batch, r)
			if len(batch) >= s.cfg.BatchSize {
				flush()
			}
			return nil
		})
		flush()
		readErr <- err
	}()
	var commitErr error
	var lastSeq uint64
	bopts := opts
	bopts.DeferFollow = true
	commit := func(docs []*app.Incident, valid []record) {
		res, err := s.store.Upsert(ctx, docs, bopts)
		if err != nil {
			commitErr = err
			return
		}
		for i, r := range res {
			lastSeq = max(lastSeq, r.Seq)
			switch r.Status {
			case app.StatusCreated:
				out.Created++
			case app.StatusUpdated:
				out.Updated++
			case app.StatusUnchanged:
				out.Unchanged++
			default:
				fail(valid[i], r.Err)
			}
		}
	}
	// An atomic upload is committed in one call once the whole body is
	// read and valid; after its first failure nothing more is kept, so
	// a body of many bad records costs no more memory than a batch.
	var atomicDocs []*app.Incident
	var atomicValid []record
	for batch := range batches {
		if commitErr != nil {
			continue // drain so the reader can finish
		}
		docs := make([]*app.Incident, 0, len(batch))
		valid := batch[:0:0]
		for _, r := range batch {
			if r.err == nil {
				r.err = mayWrite(c, r.inc)
			}
			if r.err != nil {
				fail(r, r.err)
				continue
			}
			docs = append(docs, r.inc)
			valid = append(valid, r)
		}
		switch {
		case opts.Atomic && out.Failed > 0:
			atomicDocs, atomicValid = nil, nil
		case opts.Atomic:
			atomicDocs, atomicValid = append(atomicDocs, docs...), append(atomicValid, valid...)
		case len(docs) > 0:
			commit(docs, valid)
		}
	}
	readFailure := <-readErr
	if opts.Atomic && readFailure == nil && commitErr == nil && out.Failed == 0 && len(atomicDocs) > 0 {
		commit(atomicDocs, atomicValid)
	}
	// Answer only once everything stored is searchable too.
	if sy, ok := s.store.(interface{ Sync(context.Context, uint64) }); ok {
		sy.Sync(ctx, lastSeq)
	}
	if err := readFailure; err != nil && commitErr == nil {
		if opts.Atomic || app.ErrorCode(err) == app.EINTERNAL || errors.Is(err, context.Canceled) {
			return err
		}
		// The body broke off (too large, bad gzip): what was read is
		// stored; say so with the error.
		if out.Created+out.Updated+out.Unchanged == 0 {
			return err
		}
		fail(record{index: -1}, err)
	}
	if commitErr != nil {
		return commitErr
	}
	if opts.Atomic && out.Failed > 0 {
		out.Created, out.Updated, out.Unchanged = 0, 0, 0
		return s.bulkFailed(c, out, "No record was stored: atomic=true and some records are not valid.")
	}
	if out.Failed > 0 && out.Created+out.Updated+out.Unchanged == 0 {
		return s.bulkFailed(c, out, "No record was stored: every record failed.")
	}
	if out.Created+out.Updated+out.Unchanged+out.Failed == 0 {
		return app.Errorf(app.EMALFORMED, "The upload holds no incidents.")
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) bulkFailed(c echo.Context, out BulkResponse, detail string) error {
	p := Problem{Type: problemType(app.EINVALID), Title: http.StatusText(http.StatusUnprocessableEntity),
		Status: http.StatusUnprocessableEntity, Detail: detail, Instance: c.Request().URL.Path,
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	c.Response().Header().Set(echo.HeaderContentType, problemContentType)
	return writeJSON(c, p.Status, bulkProblem{Problem: p, BulkResponse: out})
}

// decodeAll decodes and validates a batch on all cores.
func (s *Server) decodeAll(batch []record) {
	workers := min(runtime.GOMAXPROCS(0), len(batch))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(batch); i += workers {
				r := &batch[i]
				if r.err == nil {
					r.inc, r.err = s.dec.Decode(r.data)
				}
			}
		}()
	}
	wg.Wait()
}

// guessID finds the ids of a record that failed, for the report, reading
// as much of it as encoding/json can.
func guessID(r record) (fdID, number string) {
	if r.inc != nil {
		id := r.inc.ID()
		return id.Department, id.Number
	}
	var probe struct {
		Description struct {
			IncidentNumber any `json:"incident_number"`
		} `json:"description"`
		FireDepartment struct {
			FDID any `json:"fd_id"`
		} `json:"fire_department"`
	}
	_ = json.Unmarshal(r.data, &probe) // best effort: the record is known to be bad
	n, _ := probe.Description.IncidentNumber.(string)
	f, _ := probe.FireDepartment.FDID.(string)
	return f, n
}
