package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/jobs"
)

// errNoSummary is the original's answer for a job without outputs yet.
var errNoSummary = apperr.New(apperr.NotFound, "Summary outputs not available for this job")

// summary is GET /api/summary/{job_id}'s body, the original's keys.
type summary struct {
	JobID        string          `json:"job_id"`
	AnalysisType string          `json:"analysis_type"`
	GeneratedAt  *time.Time      `json:"generated_at"`
	Outputs      json.RawMessage `json:"outputs"`
	Metrics      json.RawMessage `json:"metrics"`
	Ticketing    json.RawMessage `json:"ticketing"`
	// Ours: the job's status and the report's severity, at a glance.
	Status   jobs.Status `json:"status"`
	Severity string      `json:"severity,omitempty"`
}

// outputs is the stored outputs bundle.
type outputs struct {
	Markdown string          `json:"markdown"`
	HTML     string          `json:"html"`
	JSON     json.RawMessage `json:"json"`
}

// summaryJob returns the job whose content the caller may see, and its
// outputs (errNoSummary until the analysis has stored them).
func (s *server) summaryJob(ctx context.Context, r *http.Request) (jobs.Job, outputs, error) {
	var out outputs
	id, err := uuid.Parse(chi.URLParam(r, "job_id"))
	if err != nil {
		return jobs.Job{}, out, jobs.ErrNotFound
	}
	j, err := s.jobs.Get(ctx, id)
	if err != nil {
		return jobs.Job{}, out, err
	}
	if err := s.jobs.Policy().MaySee(s.actorOf(ctx), j); err != nil {
		return jobs.Job{}, out, err
	}
	if len(j.Outputs) == 0 || string(j.Outputs) == "null" || string(j.Outputs) == "{}" {
		return jobs.Job{}, out, errNoSummary
	}
	if err := json.Unmarshal(j.Outputs, &out); err != nil {
		return jobs.Job{}, out, err
	}
	return j, out, nil
}

// getSummary serves GET /api/summary/{job_id}, as the original: the
// outputs, the metrics and the ticketing settings of an analysed job, to a
// caller allowed to see its logs.
func (s *server) getSummary(w http.ResponseWriter, r *http.Request) {
	if q := newQuery(r); len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	j, _, err := s.summaryJob(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rd struct {
		AnalysisType string          `json:"analysis_type"`
		GeneratedAt  *time.Time      `json:"generated_at"`
		Metrics      json.RawMessage `json:"metrics"`
		Severity     string          `json:"severity"`
	}
	_ = json.Unmarshal(j.ResultData, &rd)
	if rd.AnalysisType == "" {
		rd.AnalysisType = j.JobType
	}
	out := summary{JobID: j.ID.String(), AnalysisType: rd.AnalysisType, GeneratedAt: rd.GeneratedAt,
		Outputs: j.Outputs, Metrics: orEmpty(rd.Metrics), Ticketing: orEmpty(j.Ticketing), Status: j.Status,
		Severity: rd.Severity}
	writeJSON(w, http.StatusOK, out)
}

func orEmpty(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || string(r) == "null" {
		return json.RawMessage(`{}`)
	}
	return r
}

// reportFormats are the downloads: file extension, content type.
var reportFormats = map[string]string{
	"md":   "text/markdown; charset=utf-8",
	"html": "text/html; charset=utf-8",
	"json": "application/json",
}

// getReport serves GET /api/summary/{job_id}/report.{md,html,json}: the
// report as a file to save. The HTML is a fragment of the engine's (every
// log text escaped); it is served under a policy that lets it run nothing
// and load nothing but its inline styles, and as an attachment.
func (s *server) getReport(w http.ResponseWriter, r *http.Request) {
	format := chi.URLParam(r, "format")
	ct, ok := reportFormats[format]
	if !ok {
		notFound(w, r, "No such report format: use report.md, report.html or report.json.")
		return
	}
	if q := newQuery(r); len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	j, out, err := s.summaryJob(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body []byte
	switch format {
	case "md":
		body = []byte(out.Markdown)
	case "html":
		body = []byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>RCA report " + j.ID.String() +
			"</title></head><body>\n" + out.HTML + "\n</body></html>\n")
	case "json":
		var v any
		if err := json.Unmarshal(out.JSON, &v); err != nil {
			s.fail(w, r, err)
			return
		}
		body, err = json.MarshalIndent(v, "", "  ")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		body = append(body, '\n')
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", `attachment; filename="rca-report-`+j.ID.String()+`.`+format+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "private, no-store")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// redacted blanks, for a caller who may not see the job's content, what
// the analysis derived from its logs (result_data, outputs).
func (s *server) redacted(ctx context.Context, j jobs.Job) jobs.Job {
	return s.jobs.Policy().Redacted(s.actorOf(ctx), j)
}
