package events

import (
	"context"
	"sync"

	"github.com/rca-engine/api/internal/dependency"
)

// WatchDependencies broadcasts every change of status or cause of deps to
// every subscriber until ctx ends, and returns once it has stopped
// watching.
func WatchDependencies(ctx context.Context, hub *Hub, deps dependency.Set) {
	var wg sync.WaitGroup
	for _, t := range deps {
		wg.Go(func() {
			ch, stop := t.Subscribe()
			defer stop()
			last := t.Get()
			for {
				select {
				case <-ctx.Done():
					return
				case st := <-ch:
					if st.Status != last.Status || st.Cause != last.Cause {
						hub.BroadcastDependency(st)
					}
					last = st
				}
			}
		})
	}
	wg.Wait()
}
