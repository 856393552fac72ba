package redact

import (
	"strings"
	"testing"
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
		"2016-09-28 04:30:30, Info CBS Loaded Servicing Stack v6.1.7601.23505",
		"2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created",
		"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_-6952295868487656571 terminating",
		"blk_38865049064139660 blk_-1608999687919862906 blk_4111111111111111",
		"2024-03-01T12:00:00.123456789+01:00 request took 1.234s (1234ms, 1234567µs)",
		"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; uid=0 euid=0 rhost=218.188.2.4",
		"- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 RAS KERNEL INFO",
		"20171223-22:15:29:606|Step_LSC|30002312|onExtend:1514038530000 14 0 4",
		"trace id 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
		"request 550e8400-e29b-41d4-a716-446655440000 user 42",
		"at com.example.Foo.bar(Foo.java:123) line 4111111111111112 of nothing",
		"epoch ms 1700000000000 µs 1700000000000000 ns 1700000000000000000",
		"version 1.2.3.4 build 20240301.1 go1.26.8 sha 3f786850e387550fdab836ed7e6dc881de23001b",
		"Kind: YARN_AM_RM_TOKEN, Service: , Ident: (appAttemptId { application_id { id: 20 cluster_timestamp: 1445144423722 } attemptId: 1 } keyId: -127633188)",
		"Executing with tokens: 5, max_tokens=4096 token_count=17",
		"FastLeaderElection@774 QuorumCnxManager$Listener@493 akka.tcp://sparkExecutorActorSystem@mesos-slave-07:55904",
		"00000001@2016/9/27:20:30:31.455 WcpInitialize",
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
	in := "connect 10.1.2.3:5432 from [2001:db8::1]:443 via proxy.cse.cuhk.edu.hk at com.apple.xpc version 1.2.3.4"
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
