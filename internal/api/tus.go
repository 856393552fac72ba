package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tus/tusd/v2/pkg/filelocker"
	"github.com/tus/tusd/v2/pkg/filestore"
	tushandler "github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/uploads"
)

// Resumable uploads speak tus 1.0 (tus.io) through tusd, the protocol's
// reference server library: creation, HEAD for the offset, PATCH from it,
// termination, expiry. Nothing of it is hand-written here but what is ours:
// the same authentication as every route, the job and permission checked
// at creation, Upload-Length capped at MAX_FILE_SIZE_MB, each upload
// usable only by the caller who created it, and, once the last byte is in,
// the same Receive and Commit as a multipart upload, whose File id comes
// back in the final PATCH response's Upload-File-Id header. The partial
// bytes live in UPLOAD_DIR/tus until then, and are removed after (or by
// the expiry sweep when a client never comes back).

// TusOptions configure the resumable uploads.
type TusOptions struct {
	Dir     string // UPLOAD_DIR/tus
	Uploads *uploads.Service
	// Expiry: an upload with no byte for this long is deleted (TUS_EXPIRY).
	Expiry time.Duration
	Logger *slog.Logger
}

// Tus is the tus handler; NewHandler mounts it at /api/files/tus/.
type Tus struct {
	opts  TusOptions
	store filestore.FileStore
	h     *tushandler.Handler
	srv   *server // set by NewHandler: the hooks answer as the edge does
}

// Metadata keys: the client's, and the one the server adds.
const (
	tusJobID    = "job_id"
	tusFilename = "filename"
	tusStart    = "start"
	tusOwner    = "rca_owner" // the creating user's id ("" with auth off)
)

// NewTus builds the tus handler on a directory of partial uploads.
func NewTus(o TusOptions) (*Tus, error) {
	if o.Expiry <= 0 {
		o.Expiry = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	t := &Tus{opts: o, store: filestore.New(o.Dir)}
	composer := tushandler.NewStoreComposer()
	t.store.UseIn(composer)
	filelocker.New(o.Dir).UseIn(composer)
	h, err := tushandler.NewHandler(tushandler.Config{
		BasePath:             tusBasePath,
		StoreComposer:        composer,
		MaxSize:              o.Uploads.Config().MaxFileBytes,
		DisableDownload:      true, // content is read through /api/files/{id}/content, with its checks
		DisableConcatenation: true,
		Cors:                 &tushandler.CorsConfig{Disable: true}, // the edge's CORS answers
		// tusd logs every request at Info; the edge's request log already
		// has them, and its failures reach the client as problems.
		Logger:                    expslog.New(expslog.NewTextHandler(io.Discard, nil)),
		PreUploadCreateCallback:   t.preCreate,
		PreFinishResponseCallback: t.preFinish,
		// The final PATCH runs the upload's Commit after the last byte:
		// give it time to finish if the client goes away meanwhile.
		GracefulRequestCompletionTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	t.h = h
	return t, nil
}

// ServeHTTP checks that an existing upload is the caller's, then lets tusd
// answer (paths relative to tusBasePath).
func (t *Tus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(tusBasePath, "/"))
	id := strings.Trim(rest, "/")
	if id != "" {
		if strings.ContainsAny(id, `/\`) || strings.Contains(id, "..") {
			notFound(w, r, "Upload not found.")
			return
		}
		up, err := t.store.GetUpload(r.Context(), id)
		var info tushandler.FileInfo
		if err == nil {
			info, err = up.GetInfo(r.Context())
		}
		if err != nil || info.MetaData[tusOwner] != t.ownerKey(r.Context()) {
			// Someone else's upload is as missing as a deleted one.
			notFound(w, r, "Upload not found (or expired).")
			return
		}
		if job, err := uuid.Parse(info.MetaData[tusJobID]); err == nil && r.Method == http.MethodPatch {
			// The file is arriving: the job is not to be analysed yet.
			stop := t.opts.Uploads.Arriving(r.Context(), job)
			defer stop()
		}
	}
	http.StripPrefix(strings.TrimSuffix(tusBasePath, "/"), t.h).ServeHTTP(w, r)
}

// ownerKey names the caller for the upload's rca_owner.
func (t *Tus) ownerKey(ctx context.Context) string {
	if p, ok := principalOf(ctx); ok {
		return p.User.ID.String()
	}
	return ""
}

// reject turns an error into tusd's error with our problem document as
// its body.
func (t *Tus) reject(r *http.Request, err error) tushandler.Error {
	rec := &bufferedWriter{header: http.Header{}}
	if t.srv != nil {
		t.srv.failUpload(rec, r, err)
	} else {
		writeProblem(rec, r, Problem{Status: http.StatusInternalServerError, Detail: "tus is not wired to the edge"})
	}
	headers := tushandler.HTTPHeader{}
	for k := range rec.header {
		headers[k] = rec.header.Get(k)
	}
	return tushandler.Error{ErrorCode: "ERR_RCA_REFUSED", Message: string(rec.body),
		HTTPResponse: tushandler.HTTPResponse{StatusCode: rec.status, Body: string(rec.body), Header: headers}}
}

// hookRequest is a stand-in request for answers built in a hook.
func hookRequest(ev tushandler.HookEvent) *http.Request {
	r, _ := http.NewRequestWithContext(ev.Context, ev.HTTPRequest.Method, ev.HTTPRequest.URI, nil)
	if r == nil {
		r, _ = http.NewRequestWithContext(ev.Context, http.MethodPost, tusBasePath, nil)
	}
	return r
}

// preCreate checks a new upload: its metadata, the job and the caller's
// right to upload to it, the file's type; and records who created it.
func (t *Tus) preCreate(ev tushandler.HookEvent) (tushandler.HTTPResponse, tushandler.FileInfoChanges, error) {
	r := hookRequest(ev)
	md := ev.Upload.MetaData
	id, err := uuid.Parse(strings.TrimSpace(md[tusJobID]))
	if err != nil {
		return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{},
			t.reject(r, apperr.Invalidf("job_id", "must be a UUID, sent in the Upload-Metadata header"))
	}
	name := md[tusFilename]
	if name == "" {
		name = md["name"] // tus-js-client's examples use "filename", Uppy "name"
	}
	if name == "" {
		return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{},
			t.reject(r, apperr.Invalidf("filename", "is required in the Upload-Metadata header"))
	}
	if _, err := parseBool("start", md[tusStart]); err != nil {
		return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{}, t.reject(r, err)
	}
	svc := t.opts.Uploads
	if ok, why := svc.Allowed(uploads.SanitizeName(name)); !ok {
		return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{},
			t.reject(r, &uploads.Refusal{Kind: apperr.BadRequest, Filename: uploads.DisplayName(name), Detail: why})
	}
	if ev.Upload.Size == 0 && !ev.Upload.SizeIsDeferred {
		return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{},
			t.reject(r, &uploads.Refusal{Kind: apperr.BadRequest, Filename: uploads.DisplayName(name),
				Detail: "the file is empty: there is nothing to analyse"})
	}
	u := svc.NewUpload(t.srv.actorOf(ev.Context), uploader(ev.Context))
	defer u.Abort()
	if err := u.CheckJob(ev.Context, id); err != nil {
		return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{}, t.reject(r, err)
	}
	keep := tushandler.MetaData{tusJobID: id.String(), tusFilename: name, tusStart: md[tusStart],
		tusOwner: t.ownerKey(ev.Context)}
	return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{MetaData: keep}, nil
}

// preFinish runs once the last byte is in: the finished file goes through
// the same Receive and Commit as a multipart upload. The partial upload is
// removed whatever the outcome (a refused file stays refused; after a 503
// the client uploads again).
func (t *Tus) preFinish(ev tushandler.HookEvent) (tushandler.HTTPResponse, error) {
	r := hookRequest(ev)
	defer t.remove(ev.Upload.ID)
	md := ev.Upload.MetaData
	id, err := uuid.Parse(md[tusJobID])
	if err != nil {
		return tushandler.HTTPResponse{}, t.reject(r, apperr.Invalidf("job_id", "must be a UUID"))
	}
	start, _ := parseBool("start", md[tusStart])
	f, err := os.Open(filepath.Join(t.opts.Dir, ev.Upload.ID))
	if err != nil {
		return tushandler.HTTPResponse{}, t.reject(r, fmt.Errorf("tus: open finished upload: %w", err))
	}
	defer f.Close()
	u := t.opts.Uploads.NewUpload(t.srv.actorOf(ev.Context), uploader(ev.Context))
	defer u.Abort()
	if err := u.Receive(ev.Context, md[tusFilename], "", f); err != nil {
		return tushandler.HTTPResponse{}, t.reject(r, err)
	}
	res, err := u.Commit(ev.Context, uploads.Target{JobID: id, Start: start})
	if err != nil {
		return tushandler.HTTPResponse{}, t.reject(r, err)
	}
	return tushandler.HTTPResponse{Header: tushandler.HTTPHeader{
		"Upload-File-Id": res.Files[0].ID.String(),
		"Location-File":  "/api/files/" + res.Files[0].ID.String(),
	}}, nil
}

// remove deletes an upload's partial bytes, info and lock.
func (t *Tus) remove(id string) {
	for _, suffix := range []string{"", ".info", ".lock"} {
		_ = os.Remove(filepath.Join(t.opts.Dir, id+suffix))
	}
}

// Sweep deletes the uploads that received no byte for the expiry period.
func (t *Tus) Sweep() int {
	entries, err := os.ReadDir(t.opts.Dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		id, isInfo := strings.CutSuffix(e.Name(), ".info")
		if !isInfo {
			continue
		}
		last := time.Time{}
		for _, suffix := range []string{"", ".info"} {
			if st, err := os.Stat(filepath.Join(t.opts.Dir, id+suffix)); err == nil && st.ModTime().After(last) {
				last = st.ModTime()
			}
		}
		if time.Since(last) > t.opts.Expiry {
			t.remove(id)
			n++
		}
	}
	return n
}

// RunSweep sweeps every tenth of the expiry (at most hourly) until ctx ends.
func (t *Tus) RunSweep(ctx context.Context) {
	tick := time.NewTicker(min(t.opts.Expiry/10, time.Hour))
	defer tick.Stop()
	for {
		if n := t.Sweep(); n > 0 {
			t.opts.Logger.Info("expired resumable uploads deleted", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// bufferedWriter records an answer for tusd to send.
type bufferedWriter struct {
	header http.Header
	status int
	body   []byte
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.body = append(b.body, p...)
	return len(p), nil
}
