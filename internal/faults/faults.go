// Package faults puts a fault-injecting TCP proxy (Shopify's toxiproxy, run
// in-process) between the service and a real server, so tests and the chaos
// harness can break the network the way NAT, port proxies and firewalls do,
// without stopping the shared servers.
package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy forwards 127.0.0.1:<random port> to an upstream address.
type Proxy struct {
	p *toxiproxy.Proxy
}

// New starts a proxy to upstream on a free loopback port.
func New(name, upstream string) (*Proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start proxy to %s: %w", upstream, err)
	}
	return &Proxy{p: p}, nil
}

// NewT is New for tests: it fails t on error and stops the proxy when t ends.
func NewT(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p, err := New(strings.ReplaceAll(t.Name(), "/", "_"), upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.p.Listen }

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() { p.p.Stop() }

// Down closes every connection and refuses new ones, like a stopped server
// or a removed port forward.
func (p *Proxy) Down() { p.p.Stop() }

// Up accepts connections again (on the same port).
func (p *Proxy) Up() error { return p.p.Start() }

// DropAll closes every open connection but keeps accepting new ones, like a
// NAT or port proxy that forgot its table.
func (p *Proxy) DropAll() error {
	p.p.Stop()
	return p.p.Start()
}

// Blackhole silently drops all data in both directions on every connection,
// existing and new, until the returned function is called: the signature of
// a NAT entry that expired without telling anyone.
func (p *Proxy) Blackhole() (restore func(), err error) {
	return p.toxic("timeout", `"timeout":0`)
}

// ResetPeer answers data on every connection with a TCP RST until the
// returned function is called.
func (p *Proxy) ResetPeer() (restore func(), err error) {
	return p.toxic("reset_peer", `"timeout":0`)
}

// Latency delays data downstream by ms milliseconds until restored.
func (p *Proxy) Latency(ms int) (restore func(), err error) {
	return p.toxic("latency", fmt.Sprintf(`"latency":%d`, ms))
}

func (p *Proxy) toxic(kind, attrs string) (func(), error) {
	var names []string
	for _, stream := range []string{"upstream", "downstream"} {
		if kind == "latency" && stream == "upstream" {
			continue
		}
		name := kind + "_" + stream
		body := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":{%s}}`, name, kind, stream, attrs)
		if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
			for _, n := range names {
				_ = p.p.Toxics.RemoveToxic(context.Background(), n)
			}
			return nil, fmt.Errorf("add %s toxic: %w", kind, err)
		}
		names = append(names, name)
	}
	return func() {
		for _, n := range names {
			_ = p.p.Toxics.RemoveToxic(context.Background(), n)
		}
	}, nil
}
