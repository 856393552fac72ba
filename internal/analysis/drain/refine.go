package drain

import (
	"slices"
	"strings"
)

// refineMinRest is how many literal tokens must remain beside the position
// Refine turns into a variable.
const refineMinRest = 2

// Refinement: a second pass over the cluster templates (never over lines:
// the miner holds clusters, not messages). Online mining uses a strict
// similarity threshold so that messages differing in one meaningful word stay
// apart ("VM Paused" / "VM Resumed"); the price is that a variable made of
// plain words (a host name, a user, a program) splits its event into one
// cluster per value. Refine finds those: clusters of the same length whose
// templates are equal except at one position, where they hold at least
// RefineMinValues distinct values (the idea of Brain, Yu et al. 2023: a
// column with many values is a variable, one with few is a constant). Such
// clusters are merged; the position becomes <*>.

// DefaultRefineMinValues is the number of distinct words at one position
// that makes it a variable.
const DefaultRefineMinValues = 5

// maybeRefine refines when enough clusters appeared since the last pass
// that Template stays cheap when called per message (amortised: a pass per
// doubling of the cluster count, at least one per 32 new clusters).
func (m *Miner) maybeRefine() {
	if !m.dirty {
		return
	}
	n := len(m.clusters)
	if n-m.lastRefine >= 32 || n-m.lastRefine >= m.lastRefine || n < 256 {
		m.Refine()
	}
}

// Refine merges clusters whose templates differ only at a position holding
// many distinct values (see the package notes). Clusters and the final
// templates call it; it is idempotent and cheap when nothing changed.
func (m *Miner) Refine() {
	if !m.dirty || m.cfg.RefineMinValues < 0 {
		return
	}
	m.dirty = false
	for round := 0; round < 8; round++ {
		if !m.refineOnce() {
			break
		}
	}
	m.lastRefine = len(m.clusters)
}

func hashStr(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= 0xff
	h *= 1099511628211
	return h
}

const fnvOffset = 14695981039346656037

func (m *Miner) refineOnce() bool {
	changed := false
	var roots []ClusterID
	for i := range m.clusters {
		c := &m.clusters[i]
		if c.parent == ClusterID(i) && c.overflow == 0 && len(c.tokens) > 0 {
			roots = append(roots, ClusterID(i))
		}
	}
	// identical templates (same shape reached through different tree paths)
	full := map[uint64]ClusterID{}
	for _, id := range roots {
		h := uint64(fnvOffset)
		for _, t := range m.clusters[id].tokens {
			h = hashStr(h, t)
		}
		if other, ok := full[h]; ok && slices.Equal(m.clusters[other].tokens, m.clusters[id].tokens) {
			m.union(other, id)
			changed = true
			continue
		}
		full[h] = id
	}
	// equal but for one position: one entry per (cluster, literal position),
	// keyed by the hash of the template without that position; sorting the
	// entries brings each group together (no map of slices to allocate, and
	// a deterministic order, so the same log always gives the same merges).
	ents := m.refEnts[:0]
	pre, suf := m.refPre[:0], m.refSuf[:0]
	for _, id := range roots {
		if m.clusters[id].parent != id {
			continue
		}
		toks := m.clusters[id].tokens
		n := len(toks)
		lit := 0
		for _, t := range toks {
			if !strings.Contains(t, wildcard) {
				lit++
			}
		}
		pre = append(pre[:0], fnvOffset)
		for _, t := range toks {
			pre = append(pre, hashStr(pre[len(pre)-1], t))
		}
		suf = slices.Grow(suf[:0], n+1)[:n+1]
		suf[n] = fnvOffset
		for i := n - 1; i >= 0; i-- {
			suf[i] = hashStr(suf[i+1], toks[i])
		}
		for p, t := range toks {
			// the rest of the template must still say what the event is
			rest := lit
			if !strings.Contains(t, wildcard) {
				rest--
			}
			if rest < refineMinRest || 2*rest < n {
				continue
			}
			k := (pre[p]*31+suf[p+1])*1099511628211 ^ uint64(n)<<32 ^ uint64(p)
			ents = append(ents, refEnt{key: k, id: id, pos: int32(p)})
		}
	}
	slices.SortFunc(ents, func(a, b refEnt) int {
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
		return int(a.id - b.id)
	})
	live := m.refLive[:0]
	for i := 0; i < len(ents); {
		j := i + 1
		for j < len(ents) && ents[j].key == ents[i].key {
			j++
		}
		if j-i >= 2 {
			pos := int(ents[i].pos)
			// members still canonical and truly equal to the first off pos
			live = live[:0]
			for _, e := range ents[i:j] {
				id := e.id
				if m.clusters[id].parent != id || int(e.pos) != pos {
					continue
				}
				if len(live) > 0 && !equalExcept(m.clusters[live[0]].tokens, m.clusters[id].tokens, pos) {
					continue
				}
				live = append(live, id)
			}
			// literal words: a variable when there are many of them; a
			// position that already holds a variable in one template, or
			// holds variables in all ("LOCAL(<*>)," and "<*>,"), takes any
			literals, whole := 0, false
			for _, id := range live {
				switch t := m.clusters[id].tokens[pos]; {
				case t == wildcard:
					whole = true
				case !strings.Contains(t, wildcard):
					literals++
				}
			}
			if len(live) >= 2 && (literals >= m.cfg.RefineMinValues || whole || literals == 0) {
				for _, id := range live[1:] {
					m.union(live[0], id)
				}
				changed = true
			}
		}
		i = j
	}
	m.refEnts, m.refPre, m.refSuf, m.refLive = ents, pre, suf, live
	return changed
}

type refEnt struct {
	key uint64
	id  ClusterID
	pos int32
}

func equalExcept(a, b []string, p int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if i != p && a[i] != b[i] {
			return false
		}
	}
	return true
}

// union merges cluster b into a: a's template generalises where they differ,
// b's messages count for a, and b's place in the tree now leads to a.
func (m *Miner) union(a, b ClusterID) {
	a, b = m.find(a), m.find(b)
	if a == b {
		return
	}
	if b < a {
		a, b = b, a // the older cluster stays canonical: ids handed out first stay the main ones
	}
	ca, cb := &m.clusters[a], &m.clusters[b]
	for i, t := range ca.tokens {
		if t != wildcard && t != cb.tokens[i] {
			ca.tokens[i] = wildcard
		}
	}
	ca.size += cb.size
	cb.parent = a
	cb.tokens = nil
	if l := cb.leaf; l != nil {
		for i, id := range l.clusters {
			if id == b {
				l.clusters[i] = a
			}
		}
		// dedupe: a may already be in that leaf
		seen := false
		out := l.clusters[:0]
		for _, id := range l.clusters {
			if id == a {
				if seen {
					continue
				}
				seen = true
			}
			out = append(out, id)
		}
		l.clusters = out
	}
	m.live--
}

// Signature is one event as the engine reports it: every cluster whose
// template normalises to Template, and their messages.
type Signature struct {
	ID       string // SignatureID(Template)
	Template string // NormalizeTemplate of the clusters' templates
	Size     int
	Clusters []ClusterID
}

// Signatures groups the canonical clusters by SignatureID, largest first
// (ties by id, so the order is the same in every run).
func (m *Miner) Signatures() []Signature {
	idx := map[string]int{}
	var out []Signature
	for _, c := range m.Clusters() {
		norm := NormalizeTemplate(c.Template)
		i, ok := idx[norm]
		if !ok {
			i = len(out)
			idx[norm] = i
			out = append(out, Signature{ID: SignatureID(norm), Template: norm})
		}
		out[i].Size += c.Size
		out[i].Clusters = append(out[i].Clusters, c.ID)
	}
	slices.SortStableFunc(out, func(a, b Signature) int { return b.Size - a.Size })
	return out
}
