package redact

import (
	"strings"
	"testing"
	"time"
)

func mustNew(t testing.TB, cfg Config) *Redactor {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRedactsWhatItShould(t *testing.T) {
	r := mustNew(t, DefaultConfig())
	cases := []struct {
		in, want string
		kind     string
	}{
		{"login failed for alice.smith+ops@example.co.uk from web", "login failed for <email> from web", "email"},
		{"mail to <bob@corp.example.com>.", "mail to <<email>>.", "email"},
		{"GET /api Authorization: Bearer abc.def-ghi_123456", "GET /api Authorization: Bearer <secret>", "secret"},
		{"curl -H 'authorization: bearer 0123456789abcdef'", "curl -H 'authorization: bearer <secret>'", "secret"},
		{"aws key AKIAIOSFODNN7EXAMPLE used", "aws key <secret> used", "secret"},
		{"token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 pushed", "token <secret> pushed", "secret"},
		{"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "<secret>", "secret"},
		{"slack xoxb-123456789012-abcdefghij ok", "slack <secret> ok", "secret"},
		{"stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc charged", "stripe <secret> charged", "secret"},
		{"maps AIzaSyA-1234567890abcdefghijklmnopqrstu x", "maps <secret> x", "secret"},
		{"jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
			"jwt=<secret> end", "secret"},
		{"db connect user=app password=s3cr3t! host=db", "db connect user=app password=<secret> host=db", "secret"},
		{"passwd: hunter2", "passwd: <secret>", "secret"},
		{"client_secret=abc123&grant_type=x", "client_secret=<secret>&grant_type=x", "secret"},
		{`{"user":"bob","password":"p@ss \"w0rd\"","ok":true}`, `{"user":"bob","password":"<secret>","ok":true}`, "secret"},
		{"API_KEY=0123456789abcdef", "API_KEY=<secret>", "secret"},
		{"x-api-key: 9f8e7d6c5b4a", "x-api-key: <secret>", "secret"},
		{"dsn postgres://app:Pa55w0rd@db.internal:5432/app", "dsn postgres://app:<secret>@db.internal:5432/app", "secret"},
		{"Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic <secret>", "secret"},
		{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = <secret>", "secret"},
		{`{"password": "hunter2", "user": "bob"}`, `{"password": "<secret>", "user": "bob"}`, "secret"},
		{"GET /v1/search?q=x&api_key=abcdef123456&page=2", "GET /v1/search?q=x&api_key=<secret>&page=2", "secret"},
		{"Set-Cookie: sid=31d4d96e407aad42; Path=/", "Set-Cookie: <secret>; Path=/", "secret"},
		{"paid with 4111 1111 1111 1111 today", "paid with <card> today", "card"},
		{"card=4111-1111-1111-1111;", "card=<card>;", "card"},
		{"amex 378282246310005 ok", "amex <card> ok", "card"},
		{"pan:5555555555554444", "pan:<card>", "card"},
	}
	for _, c := range cases {
		counts := Counts{}
		got := r.String(c.in, counts)
		if got != c.want {
			t.Errorf("String(%q)\n got %q\nwant %q", c.in, got, c.want)
			continue
		}
		if counts[c.kind] == 0 {
			t.Errorf("String(%q): counts %v lack %s", c.in, counts, c.kind)
		}
	}
}

func TestPEMAcrossLines(t *testing.T) {
	r := mustNew(t, DefaultConfig())
	in := "loaded key\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nabcdef==\n-----END RSA PRIVATE KEY-----\nnext line"
	got := r.String(in, nil)
	if got != "loaded key\n<secret>\nnext line" {
		t.Fatalf("got %q", got)
	}
	cut := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
	if got := r.String(cut, nil); got != "<secret>" {
		t.Fatalf("a block cut short must go whole: %q", got)
	}
	pub := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
	if got := r.String(pub, nil); got != pub {
		t.Fatalf("a certificate is public: %q", got)
	}
}

// TestNeverTouches is the promise: timestamps, durations, ids, versions and
// line numbers come out as they went in.
func TestNeverTouches(t *testing.T) {
	r := mustNew(t, DefaultConfig())
	keep := []string{
		"2024-03-01 04:30:30, Info                  SVC    Loaded update agent v10.0.19041.3636",
		"2024-03-01 18:01:47,978 INFO [main] org.example.batch.JobMaster: Created attempt_1709280000000_0042_000001",
		"240301 203615 148 INFO store.Replica$Writer: writer 1 for block blk_-5031187206649023471 closed",
		"blk_27182818284590452 blk_-3141592653589793238 blk_4111111111111111",
		"2024-03-01T12:00:00.123456789+01:00 request took 1.234s (1234ms, 1234567µs)",
		"Jun 14 15:16:01 gateway login(pam_unix)[4242]: authentication failure; uid=0 euid=0 rhost=203.0.113.7",
		"- 1709280000 2024.03.01 R07-M0-N3-C:J04-U01 2024-03-01-08.00.00.123456 RAS KERNEL INFO",
		"20240301-22:15:29:606|Pedometer|40001234|onSample:1709330129606 12 0 3",
		"trace id 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
		"request 550e8400-e29b-41d4-a716-446655440000 user 42",
		"at com.example.Foo.bar(Foo.java:123) line 4111111111111112 of nothing",
		"epoch ms 1700000000000 µs 1700000000000000 ns 1700000000000000000",
		"version 1.2.3.4 build 20240301.1 go1.26.8 sha 3f786850e387550fdab836ed7e6dc881de23001b",
		"Kind: SCHEDULER_TOKEN, Service: , Ident: (attempt { app { id: 7 cluster_timestamp: 1709280000000 } attemptId: 2 } keyId: -204857713)",
		"Executing with tokens: 5, max_tokens=4096 token_count=17",
		"LeaderElection@774 ConnManager$Listener@493 akka.tcp://workerSystem@node-slave-03:41870",
		"00000007@2024/3/1:20:30:31.455 ComponentInit",
		"offset 4111111111111111.5 and id=41111111111111110",
		"phone-like 555-123-4567 and date 2024-01-02 and time 12:34:56.789",
		"password: ******** token=<secret> secret=null passwd=",
		"error at main.go:42 and Foo.java:4111",
		"uid 10.0.0.1 node-246 host db.example.com path /var/log/app.log",
	}
	for _, s := range keep {
		counts := Counts{}
		if got := r.String(s, counts); got != s {
			t.Errorf("changed\n  in  %q\n  out %q (%v)", s, got, counts)
		}
	}
}

func TestOptionalIPsAndHostnames(t *testing.T) {
	in := "connect 10.1.2.3:5432 from [2001:db8::1]:443 via proxy.corp.example.hk at com.apple.xpc version 1.2.3.4"
	off := mustNew(t, DefaultConfig())
	if got := off.String(in, nil); got != in {
		t.Fatalf("IPs and hostnames are kept by default: %q", got)
	}
	on := mustNew(t, Config{Enabled: true, IPs: true, Hostnames: true})
	counts := Counts{}
	got := on.String(in, counts)
	want := "connect <ip>:5432 from [<ip>]:443 via <hostname> at com.apple.xpc version 1.2.3.4"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if counts["ip"] != 2 || counts["hostname"] != 1 {
		t.Fatalf("counts %v", counts)
	}
}

func TestDisabledAndExtra(t *testing.T) {
	r := mustNew(t, Config{})
	if got := r.String("mail bob@example.com", nil); got != "mail bob@example.com" {
		t.Fatalf("disabled must not redact: %q", got)
	}
	_, err := New(Config{Enabled: true, Extra: []Pattern{{Name: "EMPLOYEE", Regexp: `E\d{6}`}, {Name: "BAD", Regexp: `([a-z`}}})
	if err == nil || !strings.Contains(err.Error(), "BAD") {
		t.Fatalf("a bad pattern must be an error naming it: %v", err)
	}
	x := mustNew(t, Config{Enabled: true, Extra: []Pattern{{Name: "EMPLOYEE", Regexp: `\bE\d{6}\b`}}})
	counts := Counts{}
	got := x.String("badge E123456 by bob@example.com", counts)
	if got != "badge <EMPLOYEE> by <email>" || counts["EMPLOYEE"] != 1 || counts["email"] != 1 {
		t.Fatalf("got %q %v", got, counts)
	}
	if again := x.String(got, nil); again != got {
		t.Fatalf("not idempotent: %q", again)
	}
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"bob@example.com password=x Authorization: Bearer abcdefghijk",
		"4111 1111 1111 1111 AKIAIOSFODNN7EXAMPLE eyJaaaaaaaaa.eyJbbbbbbbbb.cc",
		"-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----",
		"postgres://u:p@h/db 10.0.0.1 ::1 a.b.example.com",
		"", "@", "=", ":", "password=", `"secret":"`,
	} {
		f.Add(s)
	}
	r := mustNew(f, Config{Enabled: true, IPs: true, Hostnames: true})
	f.Fuzz(func(t *testing.T, s string) {
		counts := Counts{}
		once := r.String(s, counts)
		n := 0
		for _, c := range counts {
			n += c
		}
		if n == 0 && once != s {
			t.Fatalf("changed without counting: %q -> %q", s, once)
		}
		// Each replacement writes a placeholder of at most 10 bytes.
		if len(once) > len(s)+10*n {
			t.Fatalf("grew by more than its placeholders: %d -> %d with %d replacements", len(s), len(once), n)
		}
		if twice := r.String(once, nil); twice != once {
			t.Fatalf("not idempotent:\n in    %q\n once  %q\n twice %q", s, once, twice)
		}
	})
}

// TestPathological: text built to make a detector work hard is redacted in
// well under a second (a generous bound: this is no benchmark).
func TestPathological(t *testing.T) {
	const n = 1 << 20
	r := mustNew(t, Config{Enabled: true, IPs: true, Hostnames: true})
	for name, s := range map[string]string{
		"at signs":     strings.Repeat("a@", n/2),
		"emails":       strings.Repeat("bob@example.com ", n/16),
		"pairs":        strings.Repeat("password=", n/9),
		"schemes":      strings.Repeat("http://u:p", n/10),
		"bearers":      strings.Repeat("Bearer ", n/7),
		"digits":       strings.Repeat("4111 ", n/5),
		"colons":       strings.Repeat("1:", n/2),
		"dots":         strings.Repeat("1.", n/2),
		"pem":          strings.Repeat("-----BEGIN RSA PRIVATE KEY-----", n/31),
		"hostnames":    strings.Repeat("a.example.com ", n/14),
		"key prefixes": strings.Repeat("AKIA", n/4),
	} {
		start := time.Now()
		out := r.String(s, nil)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: %v for 1 MB", name, d)
		}
		if again := r.String(out, nil); again != out {
			t.Errorf("%s: not idempotent", name)
		}
	}
}
