// Command gen writes the incident corpora in ../incidents: small, realistic
// logs of known incidents across several files, each with a benign warning
// that repeats all along, and a <name>.expect.json naming the root cause's line
// (known by construction). Deterministic: the same seed gives the same bytes.
//
//	go run ./internal/analysis/testdata/gen
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

var t0 = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

const span = 30 * time.Minute

var incident = t0.Add(20 * time.Minute)

// Expect is what the test asserts of a corpus.
type Expect struct {
	Description string `json:"description"`
	TopContains string `json:"top_contains"` // in the top cause's template or first evidence text
	File        string `json:"file"`         // the top cause's first evidence line
	Line        int    `json:"line"`
	Benign      string `json:"benign"`                // a steady warning that must rank below
	Action      string `json:"action,omitempty"`      // in a recommended action
	PrecededBy  string `json:"preceded_by,omitempty"` // in the top cause's preceded_by evidence
}

type line struct {
	at   time.Time
	seq  int
	text string // may hold several physical lines
	mark bool   // the root cause's line
}

type file struct {
	name  string
	lines []line
}

func (f *file) add(at time.Time, text string) {
	f.lines = append(f.lines, line{at: at, seq: len(f.lines), text: text})
}
func (f *file) root(at time.Time, text string) {
	f.lines = append(f.lines, line{at: at, seq: len(f.lines), text: text, mark: true})
}

type corpus struct {
	dir    string
	files  []*file
	expect Expect
}

func (c *corpus) file(name string) *file {
	f := &file{name: name}
	c.files = append(c.files, f)
	return f
}

func (c *corpus) write(root string) error {
	dir := filepath.Join(root, c.dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range c.files {
		sort.SliceStable(f.lines, func(i, j int) bool {
			if !f.lines[i].at.Equal(f.lines[j].at) {
				return f.lines[i].at.Before(f.lines[j].at)
			}
			return f.lines[i].seq < f.lines[j].seq
		})
		var b strings.Builder
		n := 0
		for _, l := range f.lines {
			n++
			if l.mark {
				c.expect.File, c.expect.Line = f.name, n
			}
			b.WriteString(l.text)
			b.WriteByte('\n')
			n += strings.Count(l.text, "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	ex, _ := json.MarshalIndent(c.expect, "", "  ")
	return os.WriteFile(filepath.Join(root, c.dir+".expect.json"), append(ex, '\n'), 0o644)
}

// Formats.
func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func jsonLine(t time.Time, level, logger, msg string, kv ...any) string {
	m := map[string]any{"ts": iso(t), "level": level, "logger": logger, "msg": msg}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m) // keys sorted: msg after level and logger
	return string(b)
}

func pg(t time.Time, pid int, level, msg string) string {
	return fmt.Sprintf("%s UTC [%d] %s:  %s", t.UTC().Format("2006-01-02 15:04:05.000"), pid, level, msg)
}

func access(t time.Time, ip, method, path string, status, size int, dur float64) string {
	return fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64)" %.3f`, ip,
		t.UTC().Format("02/Jan/2006:15:04:05 -0700"), method, path, status, size, dur)
}

func logfmt(t time.Time, level, msg string, kv ...string) string {
	s := fmt.Sprintf("time=%s level=%s msg=%q", iso(t), level, msg)
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if strings.ContainsAny(v, " \"=") {
			v = fmt.Sprintf("%q", v)
		}
		s += " " + kv[i] + "=" + v
	}
	return s
}

func syslog(t time.Time, host, prog string, pid int, msg string) string {
	return fmt.Sprintf("%s %s %s[%d]: %s", t.UTC().Format("Jan _2 15:04:05"), host, prog, pid, msg)
}

func java(t time.Time, level, thread, logger, msg string) string {
	return fmt.Sprintf("%s %-5s [%s] %s - %s", t.UTC().Format("2006-01-02 15:04:05,000"), level, thread, logger, msg)
}

func plainISO(t time.Time, level, comp, msg string) string {
	return fmt.Sprintf("%s %-5s [%s] %s", iso(t), level, comp, msg)
}

func every(from, to time.Time, step time.Duration, jitter time.Duration, r *rand.Rand, fn func(time.Time)) {
	for t := from; t.Before(to); t = t.Add(step) {
		at := t
		if jitter > 0 {
			at = t.Add(time.Duration(r.Int64N(int64(jitter))))
		}
		fn(at)
	}
}

func ip(r *rand.Rand) string { return fmt.Sprintf("10.0.%d.%d", r.IntN(4), 2+r.IntN(250)) }

func dbRefused() *corpus {
	r := rand.New(rand.NewPCG(1, 1))
	c := &corpus{dir: "db-refused", expect: Expect{
		Description: "PostgreSQL is shut down; the app's connections are refused, then pool timeouts and HTTP 500s",
		TopContains: "ECONNREFUSED", Benign: "feature flag refresh failed", Action: "listening",
		PrecededBy: "shut down"}}
	app, db, gw := c.file("app.log"), c.file("db.log"), c.file("gateway-access.log")
	end := t0.Add(span)
	every(t0, end, 20*time.Second, time.Second, r, func(t time.Time) {
		app.add(t, jsonLine(t, "warn", "flags", "feature flag refresh failed, serving cached flags", "age_s", 20+r.IntN(5)))
	})
	every(t0, end, 5*time.Minute, 0, r, func(t time.Time) {
		db.add(t, pg(t, 61, "LOG", "checkpoint starting: time"))
		db.add(t.Add(2*time.Second), pg(t.Add(2*time.Second), 61, "LOG", fmt.Sprintf("checkpoint complete: wrote %d buffers (%.1f%%); 0 WAL file(s) added, 0 removed, 1 recycled; write=%.3f s, sync=0.002 s, total=%.3f s", 20+r.IntN(400), r.Float64(), r.Float64()*2, r.Float64()*2+0.1)))
	})
	shutdown := incident.Add(-1500 * time.Millisecond)
	db.add(shutdown, pg(shutdown, 1, "LOG", "received fast shutdown request"))
	db.add(shutdown.Add(10*time.Millisecond), pg(shutdown.Add(10*time.Millisecond), 1, "LOG", "aborting any active transactions"))
	db.add(shutdown.Add(300*time.Millisecond), pg(shutdown.Add(300*time.Millisecond), 61, "LOG", "shutting down"))
	db.add(shutdown.Add(900*time.Millisecond), pg(shutdown.Add(900*time.Millisecond), 1, "LOG", "database system is shut down"))
	app.root(incident.Add(400*time.Millisecond), jsonLine(incident.Add(400*time.Millisecond), "error", "db.pool", "connect ECONNREFUSED 10.0.3.7:5432", "attempt", 1))
	every(incident.Add(1400*time.Millisecond), end, 2*time.Second, 0, r, func(t time.Time) {
		app.add(t, jsonLine(t, "error", "db.pool", "connect ECONNREFUSED 10.0.3.7:5432", "attempt", 2+r.IntN(9)))
	})
	every(t0, end, 1500*time.Millisecond, time.Second, r, func(t time.Time) {
		path := fmt.Sprintf("/api/orders/%d", 1000+r.IntN(9000))
		client := ip(r)
		if t.Before(incident) {
			ms := 5 + r.IntN(40)
			app.add(t, jsonLine(t, "info", "http", fmt.Sprintf("GET %s 200 %dms", path, ms), "client", client))
			gw.add(t, access(t, client, "GET", path, 200, 300+r.IntN(2000), float64(ms)/1000))
			return
		}
		app.add(t.Add(5*time.Second), jsonLine(t.Add(5*time.Second), "error", "db.pool", "pool timeout: could not acquire a connection within 5000ms", "waiting", r.IntN(40)))
		app.add(t.Add(5*time.Second), jsonLine(t.Add(5*time.Second), "error", "http", fmt.Sprintf("GET %s 500 %dms", path, 5000+r.IntN(10)), "client", client))
		gw.add(t.Add(5*time.Second), access(t.Add(5*time.Second), client, "GET", path, 500, 42, 5.0+r.Float64()/100))
	})
	return c
}

func diskFull() *corpus {
	r := rand.New(rand.NewPCG(2, 2))
	c := &corpus{dir: "disk-full", expect: Expect{
		Description: "the WAL volume fills: PostgreSQL panics, restarts into recovery, the app's writes fail",
		TopContains: "No space left on device", Benign: "slow query", Action: "Free space"}}
	db, app, sys := c.file("postgresql.log"), c.file("orders.log"), c.file("syslog")
	end := t0.Add(span)
	every(t0, end, 30*time.Second, 2*time.Second, r, func(t time.Time) {
		app.add(t, logfmt(t, "warn", "slow query", "duration", fmt.Sprintf("%.2fs", 1+r.Float64()), "query", "SELECT * FROM orders WHERE customer_id = $1"))
	})
	every(t0, end, 10*time.Minute, 0, r, func(t time.Time) {
		sys.add(t, syslog(t, "db-1", "CRON", 2000+r.IntN(999), "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"))
	})
	every(t0, end, 5*time.Minute, 0, r, func(t time.Time) {
		db.add(t, pg(t, 61, "LOG", "checkpoint starting: time"))
	})
	every(t0, end, 2*time.Second, time.Second, r, func(t time.Time) {
		id := 50000 + r.IntN(50000)
		if t.Before(incident) {
			app.add(t, logfmt(t, "info", "order created", "order_id", fmt.Sprint(id), "ms", fmt.Sprint(3+r.IntN(20))))
			return
		}
		if t.Before(incident.Add(3 * time.Second)) {
			return
		}
		app.add(t, logfmt(t, "error", "insert order failed", "order_id", fmt.Sprint(id), "err", "pq: the database system is in recovery mode"))
		db.add(t, pg(t, 4300+r.IntN(500), "FATAL", "the database system is in recovery mode"))
	})
	sys.add(incident.Add(-40*time.Second), syslog(incident.Add(-40*time.Second), "db-1", "systemd-journald", 311, "Under memory pressure, flushing caches."))
	db.root(incident, pg(incident, 4242, "PANIC", `could not write to file "pg_wal/xlogtemp.4242": No space left on device`))
	db.add(incident.Add(200*time.Millisecond), pg(incident.Add(200*time.Millisecond), 1, "LOG", "WAL writer process (PID 4242) was terminated by signal 6: Aborted"))
	db.add(incident.Add(210*time.Millisecond), pg(incident.Add(210*time.Millisecond), 1, "LOG", "terminating any other active server processes"))
	db.add(incident.Add(1200*time.Millisecond), pg(incident.Add(1200*time.Millisecond), 1, "LOG", "all server processes terminated; reinitializing"))
	db.add(incident.Add(1300*time.Millisecond), pg(incident.Add(1300*time.Millisecond), 4400, "LOG", "database system was interrupted; last known up at 2026-03-14 10:15:00 UTC"))
	return c
}

func oomCrashLoop() *corpus {
	r := rand.New(rand.NewPCG(3, 3))
	c := &corpus{dir: "oom-crashloop", expect: Expect{
		Description: "a worker runs out of heap, exits, and the kubelet restarts it into the same crash",
		TopContains: "OutOfMemoryError", Benign: "Consumer lag", Action: "memory limit"}}
	app, kube := c.file("worker.log"), c.file("kubelet.log")
	end := t0.Add(span)
	starts := []time.Time{t0}
	for i, t := 0, incident; t.Before(end) && i < 4; i++ {
		starts = append(starts, t.Add(10*time.Second))
		t = t.Add(10*time.Second + 90*time.Second)
	}
	every(t0, end, 20*time.Second, time.Second, r, func(t time.Time) {
		app.add(t, java(t, "WARN", "kafka-coordinator", "o.a.k.c.c.i.ConsumerCoordinator", fmt.Sprintf("Consumer lag %d messages on partition %d", 100+r.IntN(80), r.IntN(6))))
	})
	trace := "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n" +
		"\tat java.base/java.util.ArrayList.grow(ArrayList.java:237)\n" +
		"\tat com.example.orders.BatchBuffer.add(BatchBuffer.java:58)\n" +
		"\tat com.example.orders.OrderWorker.poll(OrderWorker.java:112)\n" +
		"\tat java.base/java.lang.Thread.run(Thread.java:1583)"
	for i, s := range starts {
		app.add(s, java(s, "INFO", "main", "c.e.orders.OrderWorker", "Starting OrderWorker v3.2.1 using Java 21.0.2 with PID 1"))
		app.add(s.Add(800*time.Millisecond), java(s.Add(800*time.Millisecond), "INFO", "main", "c.e.orders.OrderWorker", fmt.Sprintf("Started OrderWorker in %.3f seconds", 0.7+r.Float64()/5)))
		stop := incident
		if i > 0 {
			stop = s.Add(90 * time.Second)
		}
		if stop.After(end) {
			stop = end
		}
		every(s.Add(2*time.Second), stop, 3*time.Second, time.Second, r, func(t time.Time) {
			app.add(t, java(t, "INFO", "worker-1", "c.e.orders.OrderWorker", fmt.Sprintf("Processed batch of %d orders in %d ms", 400+r.IntN(200), 100+r.IntN(900))))
		})
		if stop.Equal(end) {
			break
		}
		oom := java(stop, "ERROR", "worker-3", "c.e.orders.OrderWorker", "Batch failed, shutting down\njava.lang.OutOfMemoryError: Java heap space\n"+trace)
		if i == 0 {
			app.root(stop, oom)
		} else {
			app.add(stop, oom)
		}
		k := stop.Add(2 * time.Second)
		kube.add(k, syslog(k, "node-7", "kubelet", 812, `E0314 `+k.Format("15:04:05.000000")+`     812 pod_workers.go:1298] "Error syncing pod, skipping" err="failed to \"StartContainer\" for \"worker\" with CrashLoopBackOff: \"back-off 10s restarting failed container=worker pod=order-worker-5d9f\""`))
	}
	every(t0, end, 60*time.Second, 0, r, func(t time.Time) {
		kube.add(t, syslog(t, "node-7", "kubelet", 812, `I0314 `+t.Format("15:04:05.000000")+`     812 kubelet_pods.go:1090] "Clean up pod workers for terminated pods"`))
	})
	return c
}

func tlsExpired() *corpus {
	r := rand.New(rand.NewPCG(4, 4))
	c := &corpus{dir: "tls-expired", expect: Expect{
		Description: "the payment gateway's certificate expires at 10:20; every charge fails TLS verification",
		TopContains: "certificate has expired", Benign: "config reload skipped", Action: "openssl"}}
	app, gw := c.file("checkout.log"), c.file("nginx-access.log")
	end := t0.Add(span)
	every(t0, end, 25*time.Second, time.Second, r, func(t time.Time) {
		app.add(t, logfmt(t, "WARN", "config reload skipped: file unchanged", "path", "/etc/checkout/config.yaml"))
	})
	first := true
	every(t0, end, 2*time.Second, time.Second, r, func(t time.Time) {
		order := fmt.Sprint(700000 + r.IntN(99999))
		client := ip(r)
		if t.Before(incident) {
			app.add(t, logfmt(t, "INFO", "charge ok", "order", order, "ms", fmt.Sprint(60+r.IntN(90))))
			gw.add(t, access(t, client, "POST", "/api/checkout", 201, 88, 0.1))
			return
		}
		msg := logfmt(t, "ERROR", "payment call failed", "order", order, "err",
			`Post "https://pay.partner.example:8443/v1/charge": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time `+t.Format(time.RFC3339)+` is after 2026-03-14T10:20:00Z`)
		if first {
			app.root(t, msg)
			first = false
		} else {
			app.add(t, msg)
		}
		app.add(t.Add(time.Millisecond), logfmt(t.Add(time.Millisecond), "ERROR", "checkout failed", "order", order, "status", "502"))
		gw.add(t.Add(2*time.Millisecond), access(t.Add(2*time.Millisecond), client, "POST", "/api/checkout", 502, 61, 0.02))
	})
	return c
}

func badDeploy() *corpus {
	r := rand.New(rand.NewPCG(5, 5))
	c := &corpus{dir: "bad-deploy", expect: Expect{
		Description: "checkout-service v2.4.1 rolls out; a third of the carts then fail with a TypeError",
		TopContains: "Cannot read properties of undefined", Benign: "deprecated header", Action: "roll",
		PrecededBy: "deploying checkout-service"}}
	dep, app, gw := c.file("deploy.log"), c.file("checkout.log"), c.file("access.log")
	end := t0.Add(span)
	roll := incident.Add(-8 * time.Second)
	dep.add(t0.Add(-2*time.Hour), plainISO(t0.Add(-2*time.Hour), "INFO", "rollout", "checkout-service v2.4.0 ready 3/3"))
	dep.add(roll, plainISO(roll, "INFO", "rollout", "deploying checkout-service v2.4.1 (previous v2.4.0), strategy RollingUpdate"))
	dep.add(roll.Add(20*time.Second), plainISO(roll.Add(20*time.Second), "INFO", "rollout", "checkout-service v2.4.1 ready 3/3"))
	app.add(t0, jsonLine(t0, "info", "main", "checkout-service 2.4.0 listening on :8080"))
	app.add(incident.Add(-2*time.Second), jsonLine(incident.Add(-2*time.Second), "info", "main", "checkout-service 2.4.1 listening on :8080"))
	every(t0, end, 30*time.Second, time.Second, r, func(t time.Time) {
		app.add(t, jsonLine(t, "warn", "http", "deprecated header X-Client-Id used by caller", "caller", fmt.Sprintf("mobile-%d", r.IntN(3))))
	})
	first := true
	every(t0, end, 2*time.Second, time.Second, r, func(t time.Time) {
		cart := fmt.Sprintf("c-%06d", r.IntN(999999))
		client := ip(r)
		if t.Before(incident) || r.IntN(3) != 0 {
			app.add(t, jsonLine(t, "info", "http", "POST /api/cart/price 200", "cart", cart, "ms", 10+r.IntN(30)))
			gw.add(t, access(t, client, "POST", "/api/cart/price", 200, 420, 0.02))
			return
		}
		e := jsonLine(t, "error", "http", "TypeError: Cannot read properties of undefined (reading 'currency')\n    at priceCart (/app/src/cart.js:88:21)\n    at async handler (/app/src/routes/cart.js:31:5)", "cart", cart)
		if first {
			app.root(t, e)
			first = false
		} else {
			app.add(t, e)
		}
		gw.add(t, access(t, client, "POST", "/api/cart/price", 500, 35, 0.004))
	})
	return c
}

func main() {
	root := filepath.Join("internal", "analysis", "testdata", "incidents")
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	for _, c := range []*corpus{dbRefused(), diskFull(), oomCrashLoop(), tlsExpired(), badDeploy()} {
		if err := c.write(root); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
