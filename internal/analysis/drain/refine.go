package drain

import (
	"math/bits"
	"slices"
	"strings"
)

// refineMinRest is how many literal tokens must remain beside the position
// Refine turns into a variable.
const refineMinRest = 3

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
// that Template stays cheap when called per message: always below 256
// clusters, else once the count grew by an eighth (amortised O(log n)
// passes). Clusters always refines.
func (m *Miner) maybeRefine() {
	if !m.dirty {
		return
	}
	if n := len(m.clusters); n < 256 || n-m.lastRefine >= max(32, m.lastRefine/8) {
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
	// the first round looks at every cluster; later rounds only at the
	// token counts where the round before merged something
	var lens map[int]bool
	for round := 0; round < 8; round++ {
		m.refLens = map[int]bool{}
		if !m.refineOnce(lens) {
			break
		}
		lens = m.refLens
	}
	m.refLens = nil
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

func mix(h, x uint64) uint64 {
	h = (h ^ x) * 0x9E3779B97F4A7C15
	return h ^ h>>31
}

func (m *Miner) refineOnce(lens map[int]bool) bool {
	var roots []ClusterID
	for i := range m.clusters {
		c := &m.clusters[i]
		if c.parent == ClusterID(i) && c.overflow == 0 && len(c.tokens) > 0 && (lens == nil || lens[len(c.tokens)]) {
			roots = append(roots, ClusterID(i))
		}
	}
	return m.refineSet(roots, true)
}

// refineLeaf refines the clusters of one tree leaf: a leaf that fills up
// with one cluster per value of a word variable is merged before every
// message has to compare itself with all of them. It doubles its limit each
// time, so the cost stays linear.
func (m *Miner) refineLeaf(nd *node) {
	if m.cfg.RefineMinValues < 0 {
		return
	}
	for round := 0; round < 4; round++ {
		roots := slices.Clone(nd.clusters)
		if !m.refineSet(roots, false) {
			break
		}
	}
	nd.refineAt = max(leafRefineAt, 2*len(nd.clusters))
}

// leafRefineAt is the number of clusters in a leaf that triggers refineLeaf.
const leafRefineAt = 16

// refineSet runs one round over the given canonical clusters; shared says
// whether to look for words shared between events (a global question).
func (m *Miner) refineSet(roots []ClusterID, shared bool) bool {
	changed := false
	// per cluster, one pass over its tokens: a hash and "holds a variable"
	// per token; the whole template, and the template without position p
	// (prefix and suffix hashes), are combinations of those
	ents := m.refEnts[:0]
	pre, suf, th := m.refPre[:0], m.refSuf[:0], m.refTh[:0]
	if m.refFull == nil {
		m.refFull = map[uint64]ClusterID{}
	}
	full := m.refFull
	clear(full)
	for _, id := range roots {
		if m.clusters[id].parent != id {
			continue
		}
		toks := m.clusters[id].tokens
		n := len(toks)
		th = th[:0]
		lit := 0
		for _, t := range toks {
			h := hashStr(fnvOffset, t)
			if strings.Contains(t, wildcard) {
				h |= 1 // the low bit says "holds a variable"
			} else {
				h &^= 1
				lit++
			}
			th = append(th, h)
		}
		pre = append(pre[:0], fnvOffset)
		for _, h := range th {
			pre = append(pre, mix(pre[len(pre)-1], h))
		}
		// identical templates (same shape reached through different paths)
		if other, ok := full[pre[n]^uint64(n)]; ok && slices.Equal(m.clusters[other].tokens, toks) {
			m.union(other, id)
			changed = true
			continue
		}
		full[pre[n]^uint64(n)] = id
		if lit < refineMinRest-1 {
			continue
		}
		suf = slices.Grow(suf[:0], n+1)[:n+1]
		suf[n] = fnvOffset
		for i := n - 1; i >= 0; i-- {
			suf[i] = mix(suf[i+1], th[i])
		}
		for p := range toks {
			// the rest of the template must still say what the event is
			// (two words beside a position that holds variables in every
			// template: merging those only joins shapes of one value)
			rest, need := lit, refineMinRest-1
			if th[p]&1 == 0 {
				rest, need = lit-1, refineMinRest
			}
			if rest < need {
				continue
			}
			k := (pre[p]*31+suf[p+1])*1099511628211 ^ uint64(n)<<32 ^ uint64(p)
			ents = append(ents, refEnt{key: k, id: id, pos: int32(p)})
		}
	}
	m.refTh = th
	// sort plain integers: the key's high bits, the entry's index in the low
	// ones (entries were made in id order, so a group comes out in id order)
	// Most keys are alone; a table of counts finds the ones that are not,
	// and only those are sorted.
	tb := bits.Len(uint(2*len(ents))) + 1
	if cap(m.refCount) < 1<<tb {
		m.refCount = make([]uint8, 1<<tb)
	}
	count := m.refCount[:1<<tb]
	clear(count)
	tmask := uint64(1)<<tb - 1
	for i := range ents {
		if c := &count[ents[i].key&tmask]; *c < 2 {
			*c++
		}
	}
	ib := bits.Len(uint(len(ents)))
	low := uint64(1)<<ib - 1
	keys := m.refKeys[:0]
	for i := range ents {
		if count[ents[i].key&tmask] >= 2 {
			keys = append(keys, ents[i].key&^low|uint64(i))
		}
	}
	slices.Sort(keys)
	m.refKeys = keys
	group := m.refGroup[:0]
	live := m.refLive[:0]
	var pending []pendingGroup
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j]&^low == keys[i]&^low {
			j++
		}
		group = group[:0]
		for _, k := range keys[i:j] {
			group = append(group, ents[k&low])
		}
		if j-i >= 2 {
			pos := int(group[0].pos)
			// members still canonical and truly equal to the first off pos
			live = live[:0]
			for _, e := range group {
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
			if !whole && literals > 0 && literals < len(live) {
				// a pattern that already covers the words ("name=<*>," and
				// "name=android,"): the position holds a variable
				for _, id := range live {
					p := m.clusters[id].tokens[pos]
					if !strings.Contains(p, wildcard) {
						continue
					}
					covers := true
					for _, o := range live {
						if w := m.clusters[o].tokens[pos]; !strings.Contains(w, wildcard) && !globMatch(p, w) {
							covers = false
							break
						}
					}
					if covers {
						whole = true
						break
					}
				}
			}
			// many words make a variable only where most of the template
			// is still literal ("user X logged in", not "X Y Z at W")
			mostlyLiteral := false
			if len(live) > 0 {
				toks := m.clusters[live[0]].tokens
				rest := 0
				for q, t := range toks {
					if q != pos && !strings.Contains(t, wildcard) {
						rest++
					}
				}
				mostlyLiteral = 2*rest >= len(toks)
			}
			if len(live) >= 2 && ((literals >= m.cfg.RefineMinValues || whole) && mostlyLiteral || literals == 0 || m.numbered(live, pos)) {
				for _, id := range live[1:] {
					m.union(live[0], id)
				}
				changed = true
			} else if literals >= 2 && literals == len(live) {
				pending = append(pending, pendingGroup{pos: pos, ids: slices.Clone(live)})
			}
		}
		i = j
	}
	m.refEnts, m.refPre, m.refSuf, m.refLive, m.refGroup = ents, pre, suf, live, group
	if shared && m.mergeSharedValues(pending) {
		changed = true
	}
	return changed
}

// sharedMinValues is how many words two positions must share to be one
// variable: two could be a pair of states (Yes/No) that two events both
// report; three or more is a set of things (users, hosts).
const sharedMinValues = 3

type pendingGroup struct {
	pos int
	ids []ClusterID
}

// mergeSharedValues: a position with too few words to be called a variable
// by their number still is one when the same words fill a position of
// another event too ("session opened for user cyrus" and "session closed
// for user cyrus": users, not states; "VM Paused / Resumed / Stopped" occur
// in one event only). Groups sharing sharedMinValues words are merged.
func (m *Miner) mergeSharedValues(groups []pendingGroup) bool {
	if len(groups) < 2 {
		return false
	}
	byValue := map[string][]int{}
	for gi := range groups {
		g := &groups[gi]
		// members merged since the group was seen are gone
		g.ids = slices.DeleteFunc(g.ids, func(id ClusterID) bool { return m.clusters[id].parent != id })
		for _, id := range g.ids {
			v := m.clusters[id].tokens[g.pos]
			byValue[v] = append(byValue[v], gi)
		}
	}
	marked := make([]bool, len(groups))
	shared := map[int]int{}
	for gi, g := range groups {
		clear(shared)
		for _, id := range g.ids {
			for _, h := range byValue[m.clusters[id].tokens[g.pos]] {
				if h == gi {
					continue
				}
				shared[h]++
				if shared[h] >= sharedMinValues {
					marked[gi], marked[h] = true, true
				}
			}
		}
	}
	changed := false
	for gi, g := range groups {
		if !marked[gi] {
			continue
		}
		var live []ClusterID
		for _, id := range g.ids {
			if m.clusters[id].parent != id {
				continue
			}
			if len(live) > 0 && !equalExcept(m.clusters[live[0]].tokens, m.clusters[id].tokens, g.pos) {
				continue
			}
			live = append(live, id)
		}
		for _, id := range live[min(1, len(live)):] {
			m.union(live[0], id)
			changed = true
		}
	}
	return changed
}

type refEnt struct {
	key uint64
	id  ClusterID
	pos int32
}

// numbered: three or more words at pos that differ only in their digits
// ("IRQ0", "IRQ2", "IRQ9"): one name, numbered, is a value.
func (m *Miner) numbered(live []ClusterID, pos int) bool {
	if len(live) < 3 {
		return false // two could be a pair of versions (IPv4, IPv6)
	}
	first := m.clusters[live[0]].tokens[pos]
	for _, id := range live {
		t := m.clusters[id].tokens[pos]
		if strings.Contains(t, wildcard) || !sameButDigits(first, t) {
			return false
		}
	}
	return true
}

// sameButDigits: a and b are equal once each run of digits counts as one
// character, and both have digits.
func sameButDigits(a, b string) bool {
	i, j, digits := 0, 0, false
	for i < len(a) && j < len(b) {
		da, db := class[a[i]]&cDigit != 0, class[b[j]]&cDigit != 0
		switch {
		case da && db:
			digits = true
			for i < len(a) && class[a[i]]&cDigit != 0 {
				i++
			}
			for j < len(b) && class[b[j]]&cDigit != 0 {
				j++
			}
		case da || db || a[i] != b[j]:
			return false
		default:
			i++
			j++
		}
	}
	return digits && i == len(a) && j == len(b)
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
	changed := false
	for i, t := range ca.tokens {
		u := cb.tokens[i]
		if cb.gen != nil && cb.gen[i] || t != u && (!strings.Contains(t, wildcard) || !strings.Contains(u, wildcard)) {
			ca.markGen(i)
		}
		if t != u && !tokenMatch(t, []byte(u)) {
			if tokenMatch(u, []byte(t)) {
				ca.tokens[i] = u
			} else {
				ca.tokens[i] = generalize(t, u)
			}
			changed = true
		}
	}
	ca.size += cb.size
	cb.parent = a
	if m.refLens != nil {
		m.refLens[len(ca.tokens)] = true
	}
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
	if changed {
		m.relist(a)
	}
}

// Signature is one event as the engine reports it: every cluster whose
// template normalises alike (NormalizeTemplate), and their messages.
type Signature struct {
	ID       string // SignatureID(Template), the same for all its clusters
	Template string // the template of its largest cluster
	Size     int
	Clusters []ClusterID
}

// Signatures groups the canonical clusters by SignatureID, largest first
// (ties by id, so the order is the same in every run).
func (m *Miner) Signatures() []Signature {
	idx := map[string]int{}
	var out []Signature
	largest := map[int]int{}
	for _, c := range m.Clusters() {
		norm := NormalizeTemplate(c.Template)
		i, ok := idx[norm]
		if !ok {
			i = len(out)
			idx[norm] = i
			out = append(out, Signature{ID: SignatureID(c.Template), Template: c.Template})
		}
		if c.Size > largest[i] {
			largest[i] = c.Size
			out[i].Template = c.Template
		}
		out[i].Size += c.Size
		out[i].Clusters = append(out[i].Clusters, c.ID)
	}
	slices.SortStableFunc(out, func(a, b Signature) int { return b.Size - a.Size })
	return out
}
