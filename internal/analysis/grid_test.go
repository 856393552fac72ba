package analysis

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Re-bucketing as the span grows is exact: every position ends in the bucket
// it would have had on the final grid from the start, and nothing is lost.
func TestGridRebucketExact(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ladder []int64
		pos    func(r *rand.Rand, i int) int64
	}{
		{"time, growing forward", timeLadder, func(r *rand.Rand, i int) int64 {
			return time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC).UnixNano() + int64(i)*int64(time.Second) + r.Int64N(1e9)
		}},
		{"time, out of order across files", timeLadder, func(r *rand.Rand, i int) int64 {
			return time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC).UnixNano() + r.Int64N(int64(48*time.Hour)) - int64(24*time.Hour)
		}},
		{"before 1970", timeLadder, func(r *rand.Rand, i int) int64 { return -r.Int64N(int64(1000 * time.Hour)) }},
		{"order axis", ordLadder, func(r *rand.Rand, i int) int64 { return int64(i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			g := grid{ladder: tc.ladder}
			var s series
			var all []int64
			scratch := make([]uint32, gridBuckets)
			for i := 0; i < 5000; i++ {
				p := tc.pos(r, i)
				all = append(all, p)
				if rm := g.fit(p); rm != nil && s.dense != nil {
					rm.apply(s.dense, scratch)
				}
				s.add(&g, p)
			}
			if s.dense == nil {
				t.Fatal("series never turned dense")
			}
			want := make([]uint32, gridBuckets)
			for _, p := range all {
				if p < g.origin || p >= g.origin+gridBuckets*g.width() {
					t.Fatalf("position %d outside the final grid [%d, +%d×%d)", p, g.origin, gridBuckets, g.width())
				}
				want[g.index(p)]++
			}
			for i := range want {
				if want[i] != s.dense[i] {
					t.Fatalf("bucket %d holds %d, want %d (width %d)", i, s.dense[i], want[i], g.width())
				}
			}
			if g.hi-g.lo > 0 && (g.hi-g.origin)/g.width() < gridBuckets/10 {
				t.Errorf("grid too coarse: span %d in width %d", g.hi-g.lo, g.width())
			}
		})
	}
}

func TestLaddersDivide(t *testing.T) {
	for _, l := range [][]int64{timeLadder, ordLadder} {
		for i := 1; i < len(l); i++ {
			if l[i]%l[i-1] != 0 || l[i] <= l[i-1] {
				t.Fatalf("width %d does not divide %d", l[i-1], l[i])
			}
		}
	}
}
