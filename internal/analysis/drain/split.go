package drain

import "strings"

// Leaves that outgrow a linear scan. A message that misses the cache is
// compared with every cluster of its tree leaf, so a leaf holding k clusters
// costs k similarity computations per new message: a log of many distinct
// templates sharing their first Depth tokens (or whose first tokens are
// variables, as a timestamp is) made mining quadratic. A leaf that grows past
// leafSplitAt clusters is therefore split, as Drain's tree would be one level
// deeper, but on the template position that splits it best (not the next
// one): clusters whose template has a plain word there go to that word's
// child, those whose template holds a variable there to the <*> child. A
// message looks in the child of its own word and in the <*> child, so every
// cluster it could fit without a loss at that position is still compared.
//
// What a split gives up: a cluster whose template has a different word than
// the message at the split position is not compared. Its similarity lacks a
// whole position, which the default threshold (0.95) forgives only on
// messages with 20 or more literal positions; Refine still merges clusters
// equal but at one position. Only leaves holding dozens of events of one
// token count and prefix split; on Loghub-2k no group changes (accuracy is
// identical with or without splits). A leaf no position splits well is left
// whole and scanned from its newest maxLeafScan clusters. When Refine merges
// clusters from different children of a split, the merged cluster is listed
// under the <*> child too (relist), so that new words there still meet it.

// leafSplitAt is the number of clusters in a leaf that splits it.
const leafSplitAt = 32

// maxLeafScan bounds the clusters compared in a leaf that could not be
// split (its templates hold variables at every position that would split it).
const maxLeafScan = 4 * leafSplitAt

// scan compares the message with the clusters of nd's subtree it can reach,
// keeping the most similar in m.best (ties: more parameters, then the one
// met first).
func (m *Miner) scan(nd *node) {
	if nd.split != 0 {
		p := nd.split - 1
		if mt := m.masked(p); !strings.Contains(string(mt), wildcard) {
			if ch := nd.children[string(mt)]; ch != nil {
				m.scan(ch)
			}
		}
		if ch := nd.children[wildcard]; ch != nil {
			m.scan(ch)
		}
		return
	}
	ids := nd.clusters
	if len(ids) > maxLeafScan {
		ids = ids[len(ids)-maxLeafScan:]
	}
	for _, id := range ids {
		id = m.find(id)
		s, p := m.sim(&m.clusters[id], max(m.bestSim, m.cutoff))
		if s > m.bestSim || s == m.bestSim && p > m.bestPar {
			m.best, m.bestSim, m.bestPar = id, s, p
		}
	}
}

// place is the leaf of nd's subtree where a cluster of the message's tokens
// goes: the child of its word at each split position (the <*> child for a
// token holding a variable). MaxChildren does not apply below a split: a
// child is made for a cluster, so their number is bounded by the clusters,
// and sending words past the bound to the <*> child would make every
// message compare itself with them.
func (m *Miner) place(nd *node) *node {
	for nd.split != 0 {
		k := string(m.masked(nd.split - 1))
		if strings.Contains(k, wildcard) {
			k = wildcard
		}
		next := nd.children[k]
		if next == nil {
			next = &node{}
			nd.children[strings.Clone(k)] = next
		}
		nd = next
	}
	return nd
}

// relist is for a cluster whose template Refine generalised (union): where
// a split position of its subtree became a variable, the cluster must also
// be listed under the <*> child, or a message with a word never seen there
// would not meet it. It follows the template down from the root of its
// token count and lists the cluster in the leaf it reaches.
func (m *Miner) relist(id ClusterID) {
	c := &m.clusters[id]
	nd := m.byLen[len(c.tokens)]
	for d := 0; nd != nil && d < m.cfg.Depth && d < len(c.tokens); d++ {
		next := nd.children[c.tokens[d]]
		if next == nil {
			next = nd.children[wildcard]
		}
		nd = next
	}
	if nd == nil || nd.split == 0 {
		return // unsplit: the cluster is listed where it was
	}
	for nd.split != 0 {
		k := splitKey(c.tokens, nd.split-1)
		next := nd.children[k]
		if next == nil {
			next = &node{}
			nd.children[strings.Clone(k)] = next
		}
		nd = next
	}
	for _, o := range nd.clusters {
		if o == id {
			return
		}
	}
	nd.clusters = append(nd.clusters, id)
}

// splitKey is the child of a split on position p that a template goes to.
func splitKey(tokens []string, p int) string {
	if t := tokens[p]; !strings.Contains(t, wildcard) {
		return t
	}
	return wildcard
}

// splitLeaf turns leaf nd into an inner node on the position that leaves the
// fewest clusters to compare for the worst message (its word's child plus the
// <*> child); children that are still too big are split in turn. When no
// position does better than three quarters of the leaf, nd stays a leaf and
// tries again at twice its size.
func (m *Miner) splitLeaf(nd *node) {
	ids := m.splitIDs[:0]
	seen := map[ClusterID]bool{}
	n := -1
	for _, id := range nd.clusters {
		id = m.find(id)
		if seen[id] || m.clusters[id].overflow > 0 {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
		n = len(m.clusters[id].tokens)
	}
	m.splitIDs = ids
	if m.splitVals == nil {
		m.splitVals = map[string]int{}
	}
	bestPos, bestCost := -1, len(ids)*3/4+1
	for p := 0; p < n; p++ {
		vals := m.splitVals
		clear(vals)
		wild, most := 0, 0
		for _, id := range ids {
			k := splitKey(m.clusters[id].tokens, p)
			if k == wildcard {
				wild++
				continue
			}
			vals[k]++
			most = max(most, vals[k])
		}
		if cost := most + wild; cost < bestCost {
			bestPos, bestCost = p, cost
		}
	}
	if bestPos < 0 {
		nd.splitAt = 2 * len(nd.clusters)
		nd.clusters = ids[:len(ids):len(ids)]
		m.splitIDs = nil
		return
	}
	nd.split = bestPos + 1
	if nd.children == nil {
		nd.children = map[string]*node{}
	}
	for _, id := range ids {
		k := splitKey(m.clusters[id].tokens, bestPos)
		ch := nd.children[k]
		if ch == nil {
			ch = &node{}
			nd.children[strings.Clone(k)] = ch
		}
		ch.clusters = append(ch.clusters, id)
	}
	// the leaf pointers (union rewrites a merged cluster's place) follow;
	// a cluster listed here that is another leaf's stays that leaf's
	for _, id := range ids {
		c := &m.clusters[id]
		if c.leaf == nd {
			c.leaf = nd.children[splitKey(c.tokens, bestPos)]
		}
	}
	nd.clusters = nil
	nd.refineAt = 0
	for _, ch := range nd.children {
		if len(ch.clusters) > leafSplitAt {
			m.splitLeaf(ch)
		}
	}
}
