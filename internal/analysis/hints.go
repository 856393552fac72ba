package analysis

import "strings"

// hint is what the engine can say about a well-known failure from the words
// of its template. Hints only name a category and suggest where to look;
// they never decide severity or rank (levels and the shape of the incident
// do).
type hint struct {
	name     string // a short label for titles ("Connection refused")
	category string // "network", "database", "disk", "memory", "tls", "deploy", ...
	tag      string
	any      []string // lower-case substrings; one suffices
	action   string
}

// hints are checked in order; the first that matches wins.
var hints = []hint{
	{name: "Disk full", category: "disk", tag: "disk-full",
		any:    []string{"no space left on device", "disk full", "disk quota exceeded", "enospc", "not enough space on the disk", "filesystem full", "could not extend file"},
		action: "Free space on the volume that filled (see the evidence for the path), find what grew (logs, WAL, temp files, dumps), and alert on disk usage before it reaches 100 %."},
	{name: "Out of memory", category: "memory", tag: "out-of-memory",
		any:    []string{"out of memory", "outofmemoryerror", "oom-kill", "oomkilled", "oom killer", "killed process", "cannot allocate memory", "memory limit exceeded", "java heap space", "fatal error: runtime: out of memory", "memoryerror"},
		action: "Check the process's memory limit against its real use (container limit, -Xmx, cgroup), look for a leak or an unbounded cache in the evidence before the crash, and raise the limit only once the growth is understood."},
	{name: "Certificate problem", category: "tls", tag: "certificate",
		any:    []string{"certificate has expired", "certificate expired", "x509", "certificate verify failed", "ssl handshake", "tls handshake", "unknown certificate", "bad certificate", "self signed certificate", "self-signed certificate", "certificate is not valid", "notafter"},
		action: "Check the certificate's dates and chain (`openssl s_client -connect host:port -showcerts`), renew or replace it, and automate renewal with an expiry alert."},
	{name: "Connection refused", category: "network", tag: "connection-refused",
		any:    []string{"connection refused", "econnrefused", "connect: refused", "actively refused"},
		action: "Check that the service at the address in the evidence is up and listening on that port (process running, not restarting, firewall and service discovery pointing at the right host)."},
	{name: "Name resolution failed", category: "network", tag: "dns",
		any:    []string{"no such host", "name or service not known", "temporary failure in name resolution", "could not resolve", "unknownhostexception", "nxdomain", "getaddrinfo"},
		action: "Check DNS for the name in the evidence (resolver reachable, record present, search domains) from the host that logged it."},
	{name: "Too many open files", category: "resources", tag: "file-descriptors",
		any:    []string{"too many open files", "emfile"},
		action: "Raise the process's file-descriptor limit (ulimit -n, LimitNOFILE) and look for leaked connections or files."},
	{name: "Permission denied", category: "access", tag: "permission-denied",
		any:    []string{"permission denied", "access denied", "eacces", "operation not permitted", "unauthorized", "forbidden"},
		action: "Check the permissions or credentials of the account named in the evidence on the resource it tried to use; something changed them or they expired."},
	{name: "Deadlock", category: "database", tag: "deadlock",
		any:    []string{"deadlock"},
		action: "Find the two transactions in the evidence and make them take their locks in the same order."},
	{name: "Timeout", category: "latency", tag: "timeout",
		any:    []string{"timed out", "timeout", "deadline exceeded", "took too long"},
		action: "Timeouts are usually a symptom: look at what the thing waited for (the causes ranked above it), then at pool sizes and timeouts."},
	{name: "Crash", category: "crash", tag: "crash",
		any:    []string{"segmentation fault", "sigsegv", "core dumped", "panic:", "fatal exception", "unhandled exception", "traceback (most recent call last)", "exception in thread"},
		action: "Read the stack trace in the evidence from the top frame in your own code; if it started after a deploy, compare with the previous version."},
	{name: "Deploy", category: "deploy", tag: "deploy",
		any:    []string{"deploy", "rolling out", "rollout", "new version", "upgraded to", "release "},
		action: "A new version started shortly before the errors: compare it with the previous release (changes, configuration, migrations) and consider rolling back."},
	{name: "Restart", category: "restart", tag: "restart",
		any:    []string{"restarting", "back-off restarting", "crashloopbackoff", "shutting down", "shutdown request", "terminated by signal", "exited with code"},
		action: "Find why the process stopped: the lines just before the stop in the evidence, and the exit code or signal."},
}

var databaseWords = []string{"postgres", "mysql", "database", "sql", ":5432", ":3306", "mongo", "redis", ":6379", "jdbc", "pgx", "pool"}

func findHint(template string) *hint {
	l := strings.ToLower(template)
	for i := range hints {
		for _, w := range hints[i].any {
			if strings.Contains(l, w) {
				return &hints[i]
			}
		}
	}
	return nil
}

// isDatabase says whether a template speaks of a database (for the category).
func isDatabase(template string) bool {
	l := strings.ToLower(template)
	for _, w := range databaseWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}
