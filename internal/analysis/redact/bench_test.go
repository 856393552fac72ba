package redact

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchLines generates log lines: dirtyEvery-th line carries an email, a
// key=secret pair, a bearer token or a card number; the rest are the usual
// mix of timestamps, ids, IPs, durations and key=value pairs.
func benchLines(n, dirtyEvery int) ([]string, int) {
	rng := rand.New(rand.NewPCG(3, 4))
	clean := []string{
		"2024-03-01 12:00:%02d,%03d INFO [worker-%d] org.example.db.Pool: Connection %d established to 10.0.%d.%d:5432 in %d ms",
		"2024-03-01T12:00:%02d.%03dZ level=warn msg=\"slow query\" duration=%dms rows=%d request_id=%08x",
		"240301 2036%02d %d INFO store.Replica$Writer: writer %d for block blk_-%d closed",
		"Jun 14 15:16:%02d gateway login(pam_unix)[%d]: authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.%d.%d",
		"{\"time\":\"2024-03-01T12:00:%02d.%03dZ\",\"level\":\"error\",\"msg\":\"upstream timeout\",\"status\":%d,\"latency_ms\":%d}",
	}
	dirty := []string{
		"2024-03-01 12:00:%02d,%03d WARN [http-%d] org.example.Auth: login failed for user%d@example.com from %d.%d",
		"2024-03-01 12:00:%02d,%03d DEBUG [http-%d] org.example.Client: GET /v1 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMiJ9.c2lnbmF0dXJlc2ln%d%d%d",
		"2024-03-01 12:00:%02d,%03d ERROR [db-%d] org.example.Db: connect failed password=hunter%d host=db%d port=%d",
		"2024-03-01 12:00:%02d,%03d INFO [pay-%d] org.example.Pay: charged card 4111 1111 1111 1111 amount %d.%d%d",
	}
	out := make([]string, n)
	total := 0
	for i := range out {
		var f string
		if dirtyEvery > 0 && i%dirtyEvery == 0 {
			f = dirty[rng.IntN(len(dirty))]
		} else {
			f = clean[rng.IntN(len(clean))]
		}
		out[i] = fmt.Sprintf(f, rng.IntN(60), rng.IntN(1000), rng.IntN(100000), rng.IntN(1000), rng.IntN(256), rng.IntN(256), rng.IntN(1000))
		if i := len(out[i]); i > 0 {
			total += i + 1
		}
	}
	return out, total
}

func BenchmarkRedact(b *testing.B) {
	r := mustNew(b, DefaultConfig())
	all := mustNew(b, Config{Enabled: true, IPs: true, Hostnames: true})
	for _, c := range []struct {
		name  string
		every int
		r     *Redactor
	}{
		{"clean", 0, r}, {"typical-1pct", 100, r}, {"dirty-every-line", 1, r}, {"typical+ips+hostnames", 100, all},
	} {
		lines, total := benchLines(40000, c.every)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(total))
			b.ReportAllocs()
			counts := Counts{}
			for b.Loop() {
				for _, l := range lines {
					_ = c.r.String(l, counts)
				}
			}
		})
	}
}

// BenchmarkRedactLoghub redacts every line of the 16 Loghub-2k logs with the
// default config. It skips without the data set.
func BenchmarkRedactLoghub(b *testing.B) {
	dir := loghubDir(b)
	var lines []string
	total := 0
	for _, d := range loghubDatasets {
		data, err := os.ReadFile(filepath.Join(dir, d, d+"_2k.log"))
		if err != nil {
			b.Fatal(err)
		}
		total += len(data)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}
	r := mustNew(b, DefaultConfig())
	b.SetBytes(int64(total))
	b.ReportAllocs()
	counts := Counts{}
	for b.Loop() {
		for _, l := range lines {
			_ = r.String(l, counts)
		}
	}
}
