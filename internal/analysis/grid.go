package analysis

import "time"

// gridBuckets is how many buckets a timeline has at most. Every dense
// per-signature series is this many uint32s (1 KiB), so the engine's memory is
// bounded by signatures × 1 KiB whatever the size of the input.
const gridBuckets = 256

// timeLadder and ordLadder are the bucket widths a grid may take, each a
// multiple of the one before it: when the span grows, every old bucket falls
// inside exactly one new bucket, so re-bucketing is exact (no smearing).
var timeLadder = func() []int64 {
	ms := int64(time.Millisecond)
	s := int64(time.Second)
	l := []int64{ms, 2 * ms, 10 * ms, 20 * ms, 100 * ms, 200 * ms,
		s, 2 * s, 10 * s, 20 * s, 60 * s, 120 * s, 600 * s, 1200 * s,
		3600 * s, 7200 * s, 21600 * s, 43200 * s, 86400 * s, 172800 * s}
	for w := 172800 * s; w <= (1<<62)/10; {
		w *= 5
		l = append(l, w)
		w *= 2
		l = append(l, w)
	}
	return l
}()

var ordLadder = func() []int64 {
	var l []int64
	for w := int64(1); w <= (1<<62)/10; w *= 10 {
		l = append(l, w, 2*w)
	}
	return l
}()

// grid maps positions (Unix nanoseconds, or record ordinals for logs without
// time) to at most gridBuckets buckets of a width from its ladder.
type grid struct {
	ladder []int64
	wi     int
	origin int64
	lo, hi int64 // the positions seen
	set    bool
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (g *grid) width() int64 { return g.ladder[g.wi] }

// index is the bucket of pos, which must be inside the grid (after fit).
func (g *grid) index(pos int64) int {
	i := (pos - g.origin) / g.width()
	if i < 0 {
		return 0
	}
	if i >= gridBuckets {
		return gridBuckets - 1
	}
	return int(i)
}

// start is the position where bucket i begins.
func (g *grid) start(i int) int64 { return g.origin + int64(i)*g.width() }

// remap is how the buckets of a grid moved when it grew.
type remap struct {
	oldOrigin, oldWidth, newOrigin, newWidth int64
}

// fit makes room for pos. It returns nil when the buckets did not move, else
// the remapping that every series on this grid must apply.
func (g *grid) fit(pos int64) *remap {
	if !g.set {
		g.set = true
		g.wi = 0
		g.lo, g.hi = pos, pos
		g.origin = floorDiv(pos, g.width()) * g.width()
		return nil
	}
	if pos >= g.lo && pos <= g.hi {
		return nil
	}
	if pos < g.lo {
		g.lo = pos
	}
	if pos > g.hi {
		g.hi = pos
	}
	w := g.width()
	if g.lo >= g.origin && g.hi < g.origin+gridBuckets*w {
		return nil
	}
	wi := g.wi
	var origin int64
	for ; wi < len(g.ladder); wi++ {
		w = g.ladder[wi]
		origin = floorDiv(g.lo, w) * w
		if g.hi-origin < gridBuckets*w {
			break
		}
	}
	if wi == len(g.ladder) {
		wi = len(g.ladder) - 1
		w = g.ladder[wi]
		origin = floorDiv(g.lo, w) * w
	}
	r := &remap{oldOrigin: g.origin, oldWidth: g.width(), newOrigin: origin, newWidth: w}
	g.wi, g.origin = wi, origin
	return r
}

// apply re-buckets c (gridBuckets long) in place, using scratch.
func (r *remap) apply(c []uint32, scratch []uint32) {
	clear(scratch)
	for i, n := range c {
		if n == 0 {
			continue
		}
		j := (r.oldOrigin + int64(i)*r.oldWidth - r.newOrigin) / r.newWidth
		if j < 0 {
			j = 0
		} else if j >= gridBuckets {
			j = gridBuckets - 1
		}
		scratch[j] = satAdd(scratch[j], n)
	}
	copy(c, scratch)
}

func (r *remap) apply64(c []uint64, scratch []uint64) {
	clear(scratch)
	for i, n := range c {
		if n == 0 {
			continue
		}
		j := (r.oldOrigin + int64(i)*r.oldWidth - r.newOrigin) / r.newWidth
		if j < 0 {
			j = 0
		} else if j >= gridBuckets {
			j = gridBuckets - 1
		}
		scratch[j] += n
	}
	copy(c, scratch)
}

func satAdd(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint32(0)
}

// sparseMax is how many exact positions a series keeps before it turns into
// buckets: rare signatures keep their exact times, which the cascade and
// "first seen" reasoning use.
const sparseMax = 32

// series is one signature's occurrences on one grid.
type series struct {
	n     int64
	times []int64
	dense []uint32
}

func (s *series) add(g *grid, pos int64) {
	s.n++
	if s.dense == nil {
		if len(s.times) < sparseMax {
			s.times = append(s.times, pos)
			return
		}
		s.dense = make([]uint32, gridBuckets)
		for _, t := range s.times {
			i := g.index(t)
			s.dense[i] = satAdd(s.dense[i], 1)
		}
		s.times = nil
	}
	i := g.index(pos)
	s.dense[i] = satAdd(s.dense[i], 1)
}

// merge adds o into s (both on grid g).
func (s *series) merge(g *grid, o *series) {
	if o.n == 0 {
		return
	}
	if s.dense == nil && o.dense == nil && len(s.times)+len(o.times) <= sparseMax {
		s.times = append(s.times, o.times...)
		s.n += o.n
		return
	}
	if s.dense == nil {
		s.dense = make([]uint32, gridBuckets)
		for _, t := range s.times {
			i := g.index(t)
			s.dense[i] = satAdd(s.dense[i], 1)
		}
		s.times = nil
	}
	if o.dense != nil {
		for i, n := range o.dense {
			s.dense[i] = satAdd(s.dense[i], n)
		}
	} else {
		for _, t := range o.times {
			i := g.index(t)
			s.dense[i] = satAdd(s.dense[i], 1)
		}
	}
	s.n += o.n
}

// buckets returns the series as bucket counts.
func (s *series) buckets(g *grid) []uint32 {
	if s.dense != nil {
		return s.dense
	}
	c := make([]uint32, gridBuckets)
	for _, t := range s.times {
		c[g.index(t)]++
	}
	return c
}
