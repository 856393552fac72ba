package worker

import (
	"context"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/jobs"
)

// SetProgressHook lets a test hold an analysis mid-run.
func (w *Worker) SetProgressHook(fn func(ctx context.Context, j jobs.Job, p analysis.Progress)) {
	w.onProgress = fn
}
