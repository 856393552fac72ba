// Package analysis turns logs into a root-cause report: it reads every source
// as a stream (logparse), redacts it (redact), mines templates (drain), aligns
// the files by time and ranks probable causes with their reasons and evidence.
// It is a pure library: bytes in, report out, no database and no HTTP, so the
// worker and the rca command run the same code.
package analysis

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/rca-engine/api/internal/analysis/drain"
	"github.com/rca-engine/api/internal/analysis/logparse"
	"github.com/rca-engine/api/internal/analysis/redact"
)

// Source is one log to analyse. Open is called once; the engine closes what
// it returns.
type Source struct {
	Name string // shown in reasons and evidence ("app.log", "logs.zip/var/log/db.log")
	Size int64  // in bytes, for progress; ≤ 0 when unknown
	Open func() (io.ReadCloser, error)
	// ID is the caller's id for the source (a file id), echoed in the report.
	ID string
}

// Progress is what the engine reports while it runs.
type Progress struct {
	Phase      string // "reading", "ranking", "rendering"
	Source     string
	BytesRead  int64 // over all sources
	BytesTotal int64 // sum of the known sizes
}

// Options configure one analysis. The zero value is usable.
type Options struct {
	JobID        string
	AnalysisType string // "rca_analysis" by default
	Redact       redact.Config
	Parse        logparse.Options
	Miner        drain.Config
	// Progress, when set, is called at most a few times a second, and once at
	// each phase change.
	Progress func(Progress)
	// Line, when set, is called for every record with the cluster it fell into,
	// before the clusters are final (the rca command's --structured output
	// keeps ids and asks the templates at the end).
	Line func(rec *logparse.Record, cluster drain.ClusterID)
	Now  func() time.Time
}

// ErrNoInput is returned when there is nothing to analyse.
var ErrNoInput = errors.New("analysis: no input")

// Analyze reads every source and returns the report.
func Analyze(ctx context.Context, sources []Source, opts Options) (*Report, error) {
	if len(sources) == 0 {
		return nil, ErrNoInput
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	red, err := redact.New(opts.Redact)
	if err != nil {
		return nil, err
	}
	m := drain.New(opts.Miner)
	rep := &Report{JobID: opts.JobID, AnalysisType: opts.AnalysisType, GeneratedAt: opts.Now().UTC()}
	for _, s := range sources {
		rc, err := s.Open()
		if err != nil {
			return nil, err
		}
		rd := logparse.NewReader(rc, s.Name, opts.Parse)
		for {
			if err := ctx.Err(); err != nil {
				rc.Close()
				return nil, err
			}
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return nil, err
			}
			rec.Message = red.String(rec.Message, nil)
			id := m.Add(rec.Message)
			if opts.Line != nil {
				opts.Line(&rec, id)
			}
		}
		rc.Close()
	}
	for _, c := range m.Clusters() {
		rep.Signatures = append(rep.Signatures, Signature{ID: drain.SignatureID(c.Template), Template: c.Template, Count: c.Size})
	}
	return rep, nil
}

// Report is the engine's answer. Its JSON is the original's outputs.json
// contract, extended.
type Report struct {
	JobID        string      `json:"job_id"`
	AnalysisType string      `json:"analysis_type"`
	GeneratedAt  time.Time   `json:"generated_at"`
	Severity     string      `json:"severity"`
	Signatures   []Signature `json:"signatures"`
}

// Signature is one template and what the engine knows of it.
type Signature struct {
	ID       string `json:"id"`
	Template string `json:"template"`
	Count    int    `json:"count"`
}
