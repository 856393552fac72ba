package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/uploads"
)

// UploadOptions are the upload routes' own bounds, apart from the JSON
// API's 1 MiB and 30 s.
type UploadOptions struct {
	// Timeout bounds one upload or download request as a whole
	// (UPLOAD_TIMEOUT, default 1h).
	Timeout time.Duration
	// IdleTimeout cuts a transfer that makes no progress for this long
	// (UPLOAD_IDLE_TIMEOUT, default 60s): the connection's read and write
	// deadlines are pushed forward as bytes move, through
	// http.ResponseController, so a slow but live link is never cut.
	IdleTimeout time.Duration
}

func (o UploadOptions) withDefaults() UploadOptions {
	if o.Timeout <= 0 {
		o.Timeout = time.Hour
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = time.Minute
	}
	return o
}

// formSlack is what a multipart body may carry beyond its files: part
// headers, boundaries and small fields.
const formSlack = 1 << 20

// transfer gives a request the upload routes' bounds: a body capped at
// the per-request total (plus the form's overhead), a context deadline of
// Timeout, and read/write deadlines of IdleTimeout that move forward
// while bytes arrive (a live link is never cut, a stalled one is).
func (s *server) transfer(next http.Handler) http.Handler {
	o := s.opts.Uploads.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		_ = rc.SetReadDeadline(now.Add(o.IdleTimeout))
		_ = rc.SetWriteDeadline(now.Add(o.Timeout + 5*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), o.Timeout)
		defer cancel()
		if r.Body != nil && r.Body != http.NoBody {
			limit := int64(formSlack)
			if s.uploads != nil {
				limit += s.uploads.Config().MaxRequestBytes
			}
			r.Body = &progressBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), rc: rc, idle: o.IdleTimeout}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// progressBody pushes the connection's read deadline forward as the body
// arrives (at most once a second: each push is a syscall).
type progressBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	last atomic.Int64
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		now := time.Now()
		if now.UnixNano()-b.last.Load() > int64(time.Second) {
			b.last.Store(now.UnixNano())
			_ = b.rc.SetReadDeadline(now.Add(b.idle))
		}
	}
	return n, err
}

// bodyRead lifts the idle read deadline once the whole body is in: the
// server's background read (which notices a client hanging up) would
// otherwise fail at that deadline while a large archive is still being
// stored, and cancel the request. The request's own deadline still holds.
func bodyRead(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}

// SupportedTypes is GET /api/files/supported-types.
type SupportedTypes struct {
	AllowedTypes  []string `json:"allowed_types"`
	MaxFileSizeMB int64    `json:"max_file_size_mb"`
	MaxRequestMB  int64    `json:"max_request_mb"`
	ArchiveTypes  []string `json:"archive_types"`
	TusEndpoint   string   `json:"tus_endpoint"`
}

func (s *server) supportedTypes(w http.ResponseWriter, r *http.Request) {
	if q := newQuery(r); len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	c := s.uploads.Config()
	tus := ""
	if s.tus != nil {
		tus = tusBasePath
	}
	writeJSON(w, http.StatusOK, SupportedTypes{AllowedTypes: c.AllowedTypes, MaxFileSizeMB: c.MaxFileBytes >> 20,
		MaxRequestMB: c.MaxRequestBytes >> 20, ArchiveTypes: uploads.ArchiveTypes, TusEndpoint: tus})
}

// validateRequest is POST /api/files/validate's body.
type validateRequest struct {
	Filename string `json:"filename" validate:"required,max=1024"`
	FileSize *int64 `json:"file_size" validate:"required,min=0"`
}

func (s *server) validateFile(w http.ResponseWriter, r *http.Request) {
	var in validateRequest
	if _, ok := s.decodeJSON(w, r, &in); !ok {
		return
	}
	if strings.TrimSpace(in.Filename) == "" {
		invalid(w, r, []FieldError{{Field: "filename", Message: "must not be blank"}})
		return
	}
	writeJSON(w, http.StatusOK, s.uploads.Validate(in.Filename, *in.FileSize))
}

// uploadProblem is a refused upload: which file, and why; for a
// duplicate, the file already in the job.
type uploadProblem struct {
	Problem
	Errors []fileError   `json:"errors,omitempty"`
	File   *uploads.File `json:"file,omitempty"`
}

type fileError struct {
	Field    string `json:"field"`
	Filename string `json:"filename"`
	Detail   string `json:"detail"`
	Message  string `json:"message"`
}

// failUpload answers an upload's error: a refusal names its file.
func (s *server) failUpload(w http.ResponseWriter, r *http.Request, err error) {
	var ref *uploads.Refusal
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ref):
		status := http.StatusBadRequest
		switch {
		case ref.TooLarge:
			status = http.StatusRequestEntityTooLarge
		case ref.Kind == apperr.Conflict:
			status = http.StatusConflict
		}
		detail := fmt.Sprintf("%s refused: %s", quoteName(ref.Filename), ref.Detail)
		if !strings.HasSuffix(detail, ".") && !strings.HasSuffix(detail, "?") {
			detail += "."
		}
		p := uploadProblem{Problem: Problem{Type: typeValidation, Status: status, Title: "File refused", Detail: detail},
			Errors: []fileError{{Field: "file", Filename: ref.Filename, Detail: ref.Detail, Message: ref.Detail}}, File: ref.Existing}
		p.Instance, p.RequestID = r.URL.Path, requestID(r.Context())
		writeJSONType(w, status, "application/problem+json", p)
	case errors.As(err, &tooBig):
		writeProblem(w, r, Problem{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("The request body is larger than the %d bytes allowed (UPLOAD_MAX_REQUEST_MB).", tooBig.Limit)})
	case isClientGone(r, err):
		s.fail(w, r, context.Canceled)
	case isReadError(err):
		writeProblem(w, r, Problem{Status: http.StatusBadRequest,
			Detail: "The upload could not be read completely: the connection dropped or the multipart body is malformed. Send it again (or resume it with tus)."})
	default:
		s.fail(w, r, err)
	}
}

func quoteName(name string) string { return strconv.Quote(name) }

// isClientGone: the request's context ended because the client left.
func isClientGone(r *http.Request, err error) bool {
	return errors.Is(err, context.Canceled) && r.Context().Err() != nil
}

// readError marks a failure to read the request (not the service's).
type readError struct{ err error }

func (e readError) Error() string { return "read request: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

func isReadError(err error) bool {
	var re readError
	return errors.As(err, &re) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, multipart.ErrMessageTooLarge)
}

// bodyReader marks the errors of reading the request body as the client's.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return n, err
		}
		return n, readError{err}
	}
	return n, err
}

// multipartReader checks the framing headers and returns the body's parts.
func (s *server) multipartReader(w http.ResponseWriter, r *http.Request) (*multipart.Reader, bool) {
	if !singleHeader(w, r, "Content-Type") || !unencoded(w, r) {
		return nil, false
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		writeProblem(w, r, Problem{Status: http.StatusUnsupportedMediaType,
			Detail: "Files are sent as multipart/form-data with a boundary, one part named \"file\" per file (or resumably with tus at " + tusBasePath + ")."})
		return nil, false
	}
	return multipart.NewReader(r.Body, params["boundary"]), true
}

// partName returns the part's form name and, for a file, the file name as
// the client sent it (multipart.Part.FileName strips its path, which
// original_filename keeps for display).
func partName(p *multipart.Part) (form, file string, isFile bool) {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return "", "", false
	}
	file, isFile = params["filename"]
	return params["name"], file, isFile
}

// maxFieldBytes bounds a non-file form field.
const maxFieldBytes = 64 << 10

func readField(p *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(bodyReader{p}, maxFieldBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxFieldBytes {
		return "", apperr.Invalidf(p.FormName(), "must be at most %d bytes", maxFieldBytes)
	}
	return string(b), nil
}

func parseBool(field, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no", "off":
		return false, nil
	case "true", "1", "yes", "on":
		return true, nil
	}
	return false, apperr.Invalidf(field, "must be true or false")
}

// uploader is the name recorded in a file's metadata.uploader.
func uploader(ctx context.Context) string {
	if p, ok := principalOf(ctx); ok {
		return p.User.Username
	}
	return jobs.DefaultUserID
}

// uploadFiles serves POST /api/files/upload: multipart job_id, one or more
// file parts, optional start. The parts are streamed one by one (never
// parsed into memory), each into a temp file; nothing is recorded until
// all are in and accepted.
func (s *server) uploadFiles(w http.ResponseWriter, r *http.Request) {
	mr, ok := s.multipartReader(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	u := s.uploads.NewUpload(s.actorOf(ctx), uploader(ctx))
	defer u.Abort()
	var to uploads.Target
	haveJob := false
	seen := map[string]bool{}
	err := eachPart(mr, func(p *multipart.Part) error {
		form, file, isFile := partName(p)
		if !(form == "file" || isFile) {
			// Each job_id costs a database read: one of each field.
			if seen[form] {
				return apperr.Invalidf(form, "must be given once")
			}
			seen[form] = true
		}
		switch {
		case form == "file" || isFile:
			if file == "" {
				file = "upload"
			}
			return u.Receive(ctx, file, p.Header.Get("Content-Type"), bodyReader{p})
		case form == "job_id":
			v, err := readField(p)
			if err != nil {
				return err
			}
			id, err := uuid.Parse(strings.TrimSpace(v))
			if err != nil {
				return apperr.Invalidf("job_id", "must be a UUID")
			}
			to.JobID, haveJob = id, true
			// Refuse a missing job or someone else's before reading files.
			return u.CheckJob(ctx, id)
		case form == "start":
			v, err := readField(p)
			if err == nil {
				to.Start, err = parseBool("start", v)
			}
			return err
		default:
			return apperr.Invalidf(form, "is not a known field (job_id, file, start)")
		}
	})
	if err == nil && !haveJob {
		err = apperr.Invalidf("job_id", "is required")
	}
	if err != nil {
		s.failUpload(w, r, err)
		return
	}
	bodyRead(w)
	res, err := u.Commit(ctx, to)
	if err != nil {
		s.failUpload(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/files/"+res.Files[0].ID.String())
	if len(res.Files) == 1 {
		writeJSON(w, http.StatusCreated, res.Files[0])
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"files": res.Files})
}

// eachPart calls fn for each part of mr, closing each after it.
func eachPart(mr *multipart.Reader, fn func(*multipart.Part) error) error {
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return err
			}
			return readError{err}
		}
		if disp, params, perr := mime.ParseMediaType(p.Header.Get("Content-Disposition")); perr != nil ||
			disp != "form-data" || (params["name"] == "" && params["filename"] == "") {
			// Say so, rather than "field \"\" is not known".
			p.Close()
			return apperr.New(apperr.BadRequest, "A part of the multipart body has no valid Content-Disposition "+
				"(form-data; name=\"file\"; filename=\"app.log\"): a filename with characters such as = or @ is sent quoted, "+
				"or RFC 2231 encoded (filename*=UTF-8''...) with those characters percent-encoded.")
		}
		err = fn(p)
		p.Close()
		if err != nil {
			return err
		}
	}
}

// createJobWithFiles serves POST /api/jobs as multipart/form-data: the
// job's fields as form values (JSON objects as JSON text) and file parts,
// created together in one transaction, all or nothing.
func (s *server) createJobWithFiles(w http.ResponseWriter, r *http.Request) {
	mr, ok := s.multipartReader(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	u := s.uploads.NewUpload(s.actorOf(ctx), uploader(ctx))
	defer u.Abort()
	var in jobs.NewJob
	to := uploads.Target{NewJob: &in, Owner: ownerOf(ctx)}
	seen := map[string]bool{}
	err := eachPart(mr, func(p *multipart.Part) error {
		form, file, isFile := partName(p)
		if form == "file" || isFile {
			if file == "" {
				file = "upload"
			}
			return u.Receive(ctx, file, p.Header.Get("Content-Type"), bodyReader{p})
		}
		if seen[form] {
			return apperr.Invalidf(form, "must be given once")
		}
		seen[form] = true
		v, err := readField(p)
		if err != nil {
			return err
		}
		return setJobField(&in, &to, form, v)
	})
	if err != nil {
		s.failUpload(w, r, err)
		return
	}
	bodyRead(w)
	res, err := u.Commit(ctx, to)
	if err != nil {
		s.failUpload(w, r, err)
		return
	}
	j := res.Job
	j.FilesCount = max(j.FilesCount, len(res.Files))
	w.Header().Set("Location", "/api/jobs/"+j.ID.String())
	writeJSON(w, http.StatusCreated, j)
}

// setJobField sets one form field of a job created with its files.
func setJobField(in *jobs.NewJob, to *uploads.Target, name, v string) error {
	obj := func(dst *json.RawMessage) error {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return apperr.Invalidf(name, "must be a JSON object")
		}
		*dst = json.RawMessage(v)
		return nil
	}
	switch name {
	case "job_type":
		in.JobType = v
	case "user_id":
		in.UserID = v
	case "provider":
		in.Provider = v
	case "model":
		in.Model = v
	case "priority":
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return apperr.Invalidf("priority", "must be a whole number from 0 to 10")
		}
		in.Priority = &n
	case "input_manifest":
		return obj(&in.InputManifest)
	case "model_config":
		return obj(&in.ModelConfig)
	case "ticketing":
		return obj(&in.Ticketing)
	case "source":
		return obj(&in.Source)
	case "start":
		b, err := parseBool("start", v)
		to.Start = b
		return err
	default:
		return apperr.Invalidf(name, "is not a known field")
	}
	return nil
}

// isMultipart reports whether r's body is multipart/form-data.
func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// listFiles serves GET /api/files/jobs/{job_id}.
func (s *server) listFiles(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "job_id", "Job")
	if !ok {
		return
	}
	if q := newQuery(r); len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	list, err := s.uploads.List(r.Context(), s.actorOf(r.Context()), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// getFile serves GET /api/files/{id}.
func (s *server) getFile(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "File")
	if !ok {
		return
	}
	if q := newQuery(r); len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	f, err := s.uploads.Get(r.Context(), s.actorOf(r.Context()), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// fileContent serves GET /api/files/{id}/content: the bytes as stored,
// with Range (http.ServeContent over the blob), always as an attachment
// and never sniffed, so a log holding HTML cannot run as a page here.
func (s *server) fileContent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "File")
	if !ok {
		return
	}
	if q := newQuery(r); len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	f, obj, err := s.uploads.Open(r.Context(), s.actorOf(r.Context()), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer obj.Close()
	h := w.Header()
	ct := f.ContentType
	if f.Kind == uploads.KindLog {
		enc := "utf-8"
		if f.Encoding != nil {
			enc = *f.Encoding
		}
		if enc == "latin-1" {
			enc = "iso-8859-1"
		}
		ct = "text/plain; charset=" + enc
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", attachment(f.Filename))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("ETag", `"`+f.Checksum+`"`)
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "private, no-store")
	}
	http.ServeContent(w, r, "", f.CreatedAt, &progressSeeker{obj: obj, rc: http.NewResponseController(w),
		idle: s.opts.Uploads.withDefaults().IdleTimeout})
}

// attachment is the Content-Disposition of a download named name (RFC
// 6266): a quoted filename, and for a name that is not printable ASCII an
// ASCII stand-in plus the exact name RFC 5987 encoded (filename*, which
// clients prefer). mime.FormatMediaType quotes and percent-encodes what
// the grammar requires ("=", "@", quotes, CR LF...), which url.PathEscape
// did not.
func attachment(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	cd := mime.FormatMediaType("attachment", map[string]string{"filename": ascii})
	if cd == "" {
		cd = "attachment"
	}
	if ascii != name {
		if ext := mime.FormatMediaType("attachment", map[string]string{"filename": name}); ext != "" {
			cd += strings.TrimPrefix(ext, "attachment")
		}
	}
	return cd
}

// progressSeeker pushes the write deadline forward while a download moves.
type progressSeeker struct {
	obj interface {
		io.ReadSeeker
	}
	rc   *http.ResponseController
	idle time.Duration
	last time.Time
}

func (p *progressSeeker) Read(b []byte) (int, error) {
	if now := time.Now(); now.Sub(p.last) > time.Second {
		p.last = now
		_ = p.rc.SetWriteDeadline(now.Add(p.idle))
	}
	return p.obj.Read(b)
}

func (p *progressSeeker) Seek(off int64, whence int) (int64, error) { return p.obj.Seek(off, whence) }

// fileLines serves GET /api/files/{id}/lines?from=N&to=M.
func (s *server) fileLines(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "File")
	if !ok {
		return
	}
	q := newQuery(r, "from", "to")
	from := q.intRange("from", 1, 1, 1<<50)
	to := q.intRange("to", from+199, 1, 1<<50)
	if len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	out, err := s.uploads.Lines(r.Context(), s.actorOf(r.Context()), id, int64(from), int64(to))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// startJob serves POST /api/jobs/{id}/start: 202, the job ready for
// analysis.
func (s *server) startJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "Job")
	if !ok {
		return
	}
	if r.ContentLength > 0 {
		writeProblem(w, r, Problem{Status: http.StatusBadRequest, Detail: "POST /api/jobs/{id}/start takes no body."})
		return
	}
	j, err := s.jobs.Start(r.Context(), s.actorOf(r.Context()), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, j)
}

// tusBasePath is where the tus resumable-upload protocol is served.
const tusBasePath = "/api/files/tus/"
