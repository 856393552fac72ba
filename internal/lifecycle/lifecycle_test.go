package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/lifecycle"
)

// recorder notes starts and stops in order.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
}

func (r *recorder) component(name string, startErr error, stopBlocks bool) lifecycle.Component {
	return lifecycle.Funcs{
		OnStart: func(context.Context) error {
			if startErr != nil {
				return startErr
			}
			r.add("start " + name)
			return nil
		},
		OnStop: func(ctx context.Context) error {
			if stopBlocks {
				<-ctx.Done()
				return ctx.Err()
			}
			r.add("stop " + name)
			return nil
		},
	}
}

func TestGroupStartsInOrderAndStopsInReverse(t *testing.T) {
	tests := []struct {
		name      string
		failAt    string // component whose Start fails
		blockAt   string // component whose Stop never returns
		wantLog   []string
		wantStart bool
		wantStop  bool
	}{
		{name: "clean", wantLog: []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"},
			wantStart: true},
		{name: "a start fails: the started ones stop", failAt: "c",
			wantLog: []string{"start a", "start b", "stop b", "stop a"}},
		{name: "a stuck stop does not keep the others running", blockAt: "b", wantStart: true, wantStop: true,
			wantLog: []string{"start a", "start b", "start c", "stop c", "stop a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			g := lifecycle.NewGroup(nil)
			for _, n := range []string{"a", "b", "c"} {
				var err error
				if n == tt.failAt {
					err = errors.New("no")
				}
				g.Add(n, rec.component(n, err, n == tt.blockAt))
			}
			if err := g.Start(context.Background()); (err == nil) != tt.wantStart {
				t.Fatalf("Start: %v", err)
			}
			if tt.wantStart {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				if err := g.Stop(ctx); (err != nil) != tt.wantStop {
					t.Fatalf("Stop: %v", err)
				}
			}
			if !slices.Equal(rec.log, tt.wantLog) {
				t.Fatalf("got %q, want %q", rec.log, tt.wantLog)
			}
		})
	}
}

func TestLoopStopWaitsForTheLoop(t *testing.T) {
	finished := make(chan struct{})
	l := lifecycle.NewLoop(func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // winding down
		close(finished)
	})
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-finished:
	default:
		t.Fatal("Stop returned before the loop did")
	}
}

func TestLoopStopGivesUpAtTheDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	l := lifecycle.NewLoop(func(ctx context.Context) { <-release })
	_ = l.Start(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := l.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop of a loop that ignores cancellation = %v, want the deadline", err)
	}
}
