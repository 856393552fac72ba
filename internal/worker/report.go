package worker

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/uploads"
)

// reporter writes a run's events in order, off the analysis goroutine:
// notes (phases, files) all of them, progress only the latest, at most one
// write every ProgressEvery. Each write is one short transaction
// (jobs.Service.Report) that also renews the lease, so the event log's
// lock is never held for long.
type reporter struct {
	w   *Worker
	r   *run
	mu  sync.Mutex
	cue chan struct{}

	notes  []jobs.Note
	latest *jobs.Note
	closed bool
	last   time.Time
	// What the last progress report queued said, so that a long job does
	// not fill its event log (and the streams' replays) with progress.
	lastPhase string
	lastPct   float64
	lastProg  time.Time
}

// progressQuiet is how long a job's progress may stay unreported while it
// moves by less than a percent point: a sign of life.
const progressQuiet = 15 * time.Second

func newReporter(w *Worker, r *run) *reporter {
	return &reporter{w: w, r: r, cue: make(chan struct{}, 1)}
}

func (p *reporter) signal() {
	select {
	case p.cue <- struct{}{}:
	default:
	}
}

// note queues an event that must be written.
func (p *reporter) note(t eventlog.Type, data any) {
	p.mu.Lock()
	p.notes = append(p.notes, jobs.Note{Type: t, Data: data})
	p.mu.Unlock()
	p.signal()
}

// progress replaces the pending progress report. It never blocks: the
// engine calls it on its own goroutine.
func (p *reporter) progress(pr analysis.Progress, f uploads.File) {
	data := map[string]any{"phase": pr.Phase, "bytes_read": pr.BytesRead, "bytes_total": pr.BytesTotal}
	pct := 0.0
	if pr.BytesTotal > 0 {
		pct = math.Round(min(float64(pr.BytesRead)/float64(pr.BytesTotal), 1)*1000) / 10
		data["percent"] = pct
	}
	// At most one report per percent point (and phase), or one every
	// progressQuiet: a 30-minute job writes a few hundred, not thousands.
	now := time.Now()
	p.mu.Lock()
	if pr.Phase == p.lastPhase && pct-p.lastPct < 1 && now.Sub(p.lastProg) < progressQuiet {
		p.mu.Unlock()
		return
	}
	p.lastPhase, p.lastPct, p.lastProg = pr.Phase, pct, now
	p.mu.Unlock()
	if f.Filename != "" {
		data["file_id"], data["filename"] = f.ID, f.Filename
	}
	p.mu.Lock()
	p.latest = &jobs.Note{Type: ProgressType, Data: data}
	p.mu.Unlock()
	p.signal()
}

// close asks the loop to write what is queued and end.
func (p *reporter) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.signal()
}

// loop writes until closed and drained. A lost lease ends the run; an
// unavailable database keeps the notes for the next write (progress is
// simply superseded).
func (p *reporter) loop() {
	for {
		p.mu.Lock()
		closed := p.closed
		wait := time.Duration(0)
		if len(p.notes) == 0 && p.latest != nil && !closed {
			wait = p.w.cfg.ProgressEvery - time.Since(p.last)
		}
		p.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.cue: // a note or close: write it now
			}
			t.Stop()
		}
		p.mu.Lock()
		batch := p.notes
		if p.latest != nil {
			batch = append(batch[:len(batch):len(batch)], *p.latest)
		}
		p.notes, p.latest = nil, nil
		closed = p.closed
		p.mu.Unlock()

		if len(batch) > 0 {
			if !p.write(batch, closed) {
				return
			}
			continue
		}
		if closed {
			return
		}
		select {
		case <-p.cue:
		case <-p.r.ctx.Done():
			// Keep going until close: the run's end still flushes.
			<-p.cue
		}
	}
}

// write writes batch; false means stop (the lease is gone). On failure the
// notes (not the progress) are queued again in front of newer ones.
func (p *reporter) write(batch []jobs.Note, closing bool) bool {
	for {
		ctx := p.r.ctx
		if closing || ctx.Err() != nil {
			ctx = p.w.hardCtx // the run's end: write what it has left within the stop grace
		}
		err := p.w.deps.Jobs.Report(ctx, p.r.lease, p.w.cfg.Lease, batch...)
		p.last = time.Now()
		switch {
		case err == nil:
			return true
		case errors.Is(err, jobs.ErrLeaseLost):
			p.r.check() // cancelled or rescued: say which, and stop
			return false
		}
		// Unavailable: keep the notes, drop the progress, try again later.
		var keep []jobs.Note
		for _, n := range batch {
			if n.Type != ProgressType {
				keep = append(keep, n)
			}
		}
		if !closing {
			p.mu.Lock()
			p.notes = append(keep, p.notes...)
			p.mu.Unlock()
			p.w.sleep(p.w.hardCtx, time.Second)
			return p.w.hardCtx.Err() == nil
		}
		if len(keep) == 0 || !p.w.waitForDB(p.w.hardCtx) {
			return false
		}
		batch = keep
	}
}
