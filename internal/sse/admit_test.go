package sse_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/sse"
)

func TestAdmit(t *testing.T) {
	type open struct {
		client string
		want   string // "ok", "client" (refused, per-client cap) or "total"
	}
	tests := []struct {
		name              string
		total, perClient  int
		opens             []open
		refusedC, refused int64
	}{
		{"under both caps", 3, 2, []open{{"a", "ok"}, {"a", "ok"}, {"b", "ok"}}, 0, 0},
		{"one client at its cap, another still served", 10, 2,
			[]open{{"a", "ok"}, {"a", "ok"}, {"a", "client"}, {"b", "ok"}}, 1, 0},
		{"the process full", 2, 5, []open{{"a", "ok"}, {"b", "ok"}, {"c", "total"}, {"a", "total"}}, 0, 2},
		{"a client at its cap is told so even when the process is full", 2, 2,
			[]open{{"a", "ok"}, {"a", "ok"}, {"a", "client"}, {"b", "total"}}, 1, 1},
		{"no caps", -1, -1, []open{{"a", "ok"}, {"a", "ok"}, {"a", "ok"}, {"a", "ok"}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sse.New(sse.Config{MaxStreams: tt.total, MaxStreamsPerClient: tt.perClient, Retry: 2 * time.Second},
				events.NewHub(), nil, nil)
			var releases []func()
			for i, o := range tt.opens {
				release, err := s.Admit(o.client)
				var ref *sse.Refusal
				got := "ok"
				if errors.As(err, &ref) {
					got = "client"
					if ref.Total {
						got = "total"
					}
					if ref.RetryAfter < 2*time.Second || ref.RetryAfter > 4*time.Second {
						t.Errorf("open %d: RetryAfter %s, want SSE_RETRY to twice it", i+1, ref.RetryAfter)
					}
					if want := map[bool]int{true: tt.total, false: tt.perClient}[ref.Total]; ref.Limit != want {
						t.Errorf("open %d: Limit %d, want %d", i+1, ref.Limit, want)
					}
				} else if err != nil {
					t.Fatalf("open %d: %v", i+1, err)
				} else {
					releases = append(releases, release)
				}
				if got != o.want {
					t.Errorf("open %d by %s: %s, want %s", i+1, o.client, got, o.want)
				}
			}
			if c, tot := s.Refused(); c != tt.refusedC || tot != tt.refused {
				t.Errorf("Refused() = %d, %d; want %d, %d", c, tot, tt.refusedC, tt.refused)
			}
			if s.Admitted() != len(releases) {
				t.Errorf("Admitted() = %d, want %d", s.Admitted(), len(releases))
			}
			for _, release := range releases {
				release()
				release() // a second call gives nothing back twice
			}
			if s.Admitted() != 0 {
				t.Errorf("Admitted() = %d after every release", s.Admitted())
			}
			// Everything released: the first opens are served again.
			for i, o := range tt.opens[:min(2, len(tt.opens))] {
				if _, err := s.Admit(o.client); err != nil {
					t.Errorf("after release, open %d by %s: %v", i+1, o.client, err)
				}
			}
		})
	}
}
