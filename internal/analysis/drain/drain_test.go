package drain

import (
	"fmt"
	"strings"
	"testing"
)

func maskString(t string) (string, uint8) {
	b, k := maskToken(nil, t)
	return string(b), k
}

func TestMaskToken(t *testing.T) {
	cases := []struct{ in, want string }{
		// not variables
		{"connection", "connection"},
		{"refused", "refused"},
		{"ERROR", "ERROR"},
		{"org.apache.hadoop.Job", "org.apache.hadoop.Job"},
		{"done.", "done."},
		{"(reserved)", "(reserved)"},
		{"logname=", "logname="},
		{"-", "-"},
		{"ssh2", "ssh2"}, // a word with a version digit names a thing
		{"SOCKS5", "SOCKS5"},
		{"eth0", "eth0"},
		{"u0", "<*>"},
		{"cn304", "<*>"},
		{"node-148", "node-<*>"}, // the word before a numbered value stays
		{"jetty-6.1.26", "jetty-<*>"},
		{"Slf4jLogger", "Slf4jLogger"},
		{"r24=0x0", "r24=<*>"}, // keys are names, even with digits
		{"instruction......0", "instruction......<*>"},
		{"msra-sa-41:9000", "<*>"},
		{"msra-sa-41/10.190.173.170:8030", "<*>"},
		{"Floor:240", "Floor:<*>"},                               // a key, not a host
		{"state.clipTopAmount:180,", "state.clipTopAmount:<*>,"}, // camelCase is no host name
		{"true", "<*>"},
		{"ws=null,", "ws=<*>,"},
		// numbers, hex, ids
		{"42", "<*>"},
		{"-17", "<*>"},
		{"3.14", "<*>"},
		{"1,024", "<*>"},
		{"0x7fed806eb5d", "<*>"},
		{"de9231d0", "<*>"},
		{"blk_-2918118818249673980", "<*>"},
		{"b9000564-fe1a-409b-b8cc-1e88b294cd1d", "<*>"},
		{"job_1445144423722_0020", "<*>"},
		// durations and sizes
		{"10ms", "<*>"},
		{"1.5s", "<*>"},
		{"250µs", "<*>"},
		// addresses
		{"10.251.30.85", "<*>"},
		{"10.251.30.85:50010", "<*>"},
		{"/10.10.34.11:45307", "<*>"},
		{"/10.251.90.64", "<*>"},
		{"proxy.cse.cuhk.edu.hk:5070", "<*>"},
		{"[173.234.31.186]", "[<*>]"},
		{"fe80::1", "<*>"},
		{"FE80:0000:0000:0000:D8A5:90FF:FEF5:7FFF", "<*>"},
		{"00:1a:2b:3c:4d:5e", "<*>"},
		// paths and URLs
		{"/var/lib/nova/instances/_base", "<*>"},
		{"(/var/log/app.log)", "(<*>)"},
		{`C:\Windows\winsxs`, "<*>"},
		{"hdfs://msra-sa-41:9000", "<*>"},
		{"https://example.com/a?b=1", "<*>"},
		// timestamps
		{"07:07:00", "<*>"},
		{"2024-01-02", "<*>"},
		{"Jun", "<*>"},
		{"Fri", "<*>"},
		// key=value
		{"uid=0", "uid=<*>"},
		{"(uid=0)", "(uid=<*>)"},
		{"tty=NODEVssh", "tty=NODEVssh"}, // a word value stays; Refine decides
		{"mask=ffffffff", "mask=<*>"},
		{"deadbeefcafe", "<*>"},
		{"HTTP/1.1", "<*>"},
		{"jk2_init()", "jk2_init()"},
		{"broadcast_9", "<*>"},
		{"ws=WorkSource{10113},", "ws=<*>,"},
		{"ready=true,policy=3", "ready=<*>,policy=<*>"},
		// values inside structure
		{"mice.c(1234)]:", "mice.c(<*>)]:"},
		{"core.2275", "<*>"}, // dots do not split: versions, floats, IPs stay one value,
		{"1256521728.", "<*>."},
		{"0,", "<*>,"},
		{"#3#", "<*>"},
		{"()", "(<*>)"},
		// placeholders (the redactor's, Drain3's, ours)
		{"<email>", "<*>"},
		{"<secret>", "<*>"},
		{"<ip>", "<*>"},
		{"<:NUM:>", "<*>"},
		{"<*>", "<*>"},
		{"user=<email>", "user=<*>"},
		{"IOThunderboltSwitch<0>(0x0)::listenerCallback", "IOThunderboltSwitch<*>(<*>)::listenerCallback"},
	}
	for _, c := range cases {
		got, _ := maskString(c.in)
		if got != c.want {
			t.Errorf("mask(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSameEventDifferentVariables(t *testing.T) {
	m := New(Config{})
	msgs := []string{
		"Connection refused to 10.0.0.1:5432 after 30ms",
		"Connection refused to 10.0.0.7:5433 after 1.5s",
		"Connection refused to db.internal.example:5432 after 2s",
		"Connection refused to /192.168.1.20:6000 after 120ms",
	}
	id := m.Add(msgs[0])
	for _, s := range msgs[1:] {
		if got := m.Add(s); m.Canonical(got) != m.Canonical(id) {
			t.Fatalf("%q got cluster %d (%q), want %d (%q)", s, got, m.Template(got), id, m.Template(id))
		}
	}
	if got, want := m.Template(id), "Connection refused to <*> after <*>"; got != want {
		t.Errorf("template %q, want %q", got, want)
	}
}

func TestDifferentEventsStayApart(t *testing.T) {
	m := New(Config{})
	pairs := [][2]string{
		{"VM Paused (Lifecycle Event) for 3f2a", "VM Resumed (Lifecycle Event) for 3f2a"},
		{"open through proxy 10.0.0.1:80 HTTPS", "open through proxy 10.0.0.1:80 SOCKS5"},
		{"disk full on /dev/sda1", "disk ok on /dev/sda1"},
	}
	for _, p := range pairs {
		a, b := m.Add(p[0]), m.Add(p[1])
		if m.Canonical(a) == m.Canonical(b) {
			t.Errorf("%q and %q share template %q", p[0], p[1], m.Template(a))
		}
	}
	// different lengths are different clusters
	a := m.Add("user alice logged in")
	b := m.Add("user alice logged in twice from 10.0.0.1")
	if a == b {
		t.Errorf("messages of different lengths share cluster %d", a)
	}
}

func TestWordVariableMergedByRefine(t *testing.T) {
	m := New(Config{})
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	var ids []ClusterID
	for _, u := range users {
		ids = append(ids, m.Add("session opened for user "+u+" by sshd"))
	}
	m.Refine()
	want := "session opened for user <*> by sshd"
	for i, id := range ids {
		if got := m.Template(id); got != want {
			t.Errorf("user %s: template %q, want %q", users[i], got, want)
		}
	}
	cl := m.Clusters()
	if len(cl) != 1 || cl[0].Size != len(users) {
		t.Errorf("Clusters() = %+v, want one cluster of %d", cl, len(users))
	}
	// two values are not enough to call a position a variable
	m2 := New(Config{})
	a := m2.Add("driver hub registered with usbcore")
	b := m2.Add("driver usbfs registered with usbcore")
	m2.Refine()
	if m2.Canonical(a) == m2.Canonical(b) {
		t.Errorf("two values merged: %q", m2.Template(a))
	}
}

func TestSizesWithUnits(t *testing.T) {
	m := New(Config{})
	a := m.Add("conn 7 close, 0 bytes sent, 0 bytes received, lifetime 00:01")
	b := m.Add("conn 9 close, 1143 bytes (1.11 KB) sent, 18846 bytes (18.4 KB) received, lifetime <1 sec")
	c := m.Add("conn 12 close, 851 bytes sent, 5.2 KB received, lifetime 00:02")
	m.Refine()
	sa, sb, sc := SignatureID(m.Template(a)), SignatureID(m.Template(b)), SignatureID(m.Template(c))
	if sa != sb || sa != sc {
		t.Errorf("one event, three signatures:\n %q\n %q\n %q", m.Template(a), m.Template(b), m.Template(c))
	}
	if got, want := NormalizeTemplate(m.Template(b)), "conn <*> close, <*> sent, <*> received, lifetime <*>"; got != want {
		t.Errorf("normalised %q, want %q", got, want)
	}
	// time units stay literal: "took <*> ms" is what people search for
	d := m.Add("request took 12 ms")
	if got := m.Template(d); got != "request took <*> ms" {
		t.Errorf("template %q", got)
	}
}

func TestVariableShapesJoin(t *testing.T) {
	// one message's value has structure ("LOCAL(0),"), the others' do not
	m := New(Config{})
	a := m.Add("synchronized to 10.100.20.250, stratum 3")
	b := m.Add("synchronized to LOCAL(0), stratum 10")
	m.Refine()
	if m.Canonical(a) != m.Canonical(b) {
		t.Errorf("%q and %q apart", m.Template(a), m.Template(b))
	}
}

func TestParams(t *testing.T) {
	m := New(Config{})
	msg1 := "session 42 opened for (uid=0) from 10.1.2.3:22 in 10ms"
	msg2 := "session 43 opened for (uid=1000) from 10.1.2.4:2222 in 1.5s"
	m.Add(msg1)
	id := m.Add(msg2)
	if got, want := m.Template(id), "session <*> opened for (uid=<*>) from <*> in <*>"; got != want {
		t.Fatalf("template %q, want %q", got, want)
	}
	got := m.Params(id, msg2)
	want := []string{"43", "1000", "10.1.2.4:2222", "1.5s"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Params = %q, want %q", got, want)
	}
	// multi-variable tokens
	id = m.Add("Calories:153367 ratio:2/3")
	if got, want := m.Params(id, "Calories:153367 ratio:2/3"), []string{"153367", "2", "3"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Params = %q (template %q), want %q", got, m.Template(id), want)
	}
}

func TestSignatureIDStable(t *testing.T) {
	// fixed values: the id must not change between runs, processes or
	// releases (jobs are compared by it)
	if got, want := SignatureID("Connection refused to <*> after <*>"), SignatureID("Connection  refused to <*>   after <*>"); got != want {
		t.Errorf("whitespace changes the id: %s vs %s", got, want)
	}
	if got, want := SignatureID("a <*> <*> b"), SignatureID("a <*> b"); got != want {
		t.Errorf("a run of <*> is one variable: %s vs %s", got, want)
	}
	if got, want := SignatureID("user <email> logged in"), SignatureID("user <*> logged in"); got != want {
		t.Errorf("placeholders are <*>: %s vs %s", got, want)
	}
	if SignatureID("disk full") == SignatureID("disk ok") {
		t.Error("different templates share an id")
	}
	const golden = "0d39b556cab5" // sha256("Connection refused to <*> after <*>")[:6]
	if got := SignatureID("Connection refused to <*> after <*>"); got != golden {
		t.Errorf("SignatureID changed: %s, was %s", got, golden)
	}
	// same input, two miners: same templates, same ids
	a, b := New(Config{}), New(Config{})
	for i := 0; i < 200; i++ {
		s := fmt.Sprintf("worker %d finished job %d in %dms", i%7, i, i*3)
		a.Add(s)
		b.Add(s)
	}
	ca, cb := a.Clusters(), b.Clusters()
	if len(ca) != len(cb) {
		t.Fatalf("%d vs %d clusters", len(ca), len(cb))
	}
	for i := range ca {
		if SignatureID(ca[i].Template) != SignatureID(cb[i].Template) {
			t.Errorf("cluster %d: %q vs %q", i, ca[i].Template, cb[i].Template)
		}
	}
}

func TestMaxClustersBound(t *testing.T) {
	const max = 1000
	m := New(Config{MaxClusters: max})
	var ids []ClusterID
	for i := 0; i < 100000; i++ {
		// a distinct shape each time: distinct words, distinct lengths
		n := 1 + i%17
		words := make([]string, n)
		for j := range words {
			words[j] = fmt.Sprintf("w%c%c%c", 'a'+i%26, 'a'+(i/26)%26, 'a'+(i/676+j)%26)
		}
		msg := strings.Join(words, " ")
		id := m.Add(msg)
		ids = append(ids, id)
		if got := len(Fields(m.Template(id))); got != n {
			t.Fatalf("message %d: template %q has %d tokens, message %d", i, m.Template(id), got, n)
		}
	}
	if m.live > max+64 {
		t.Errorf("%d live clusters, bound %d (+ one overflow per length)", m.live, max)
	}
	if len(m.clusters) > 4*max+64 {
		t.Errorf("%d cluster records, bound %d", len(m.clusters), 4*max)
	}
	total := 0
	for _, c := range m.Clusters() {
		total += c.Size
	}
	if total != len(ids) {
		t.Errorf("clusters hold %d messages, %d added", total, len(ids))
	}
}

func TestMaxChildrenBound(t *testing.T) {
	m := New(Config{MaxChildren: 10})
	for i := 0; i < 5000; i++ {
		m.Add(fmt.Sprintf("x%c%c%c says hello", 'a'+i%26, 'a'+(i/26)%26, 'a'+(i/676)%26))
	}
	for n, nd := range m.byLen {
		if len(nd.children) > 10 {
			t.Errorf("length %d: %d children", n, len(nd.children))
		}
		for _, c := range nd.children {
			if len(c.children) > 10 {
				t.Errorf("length %d, second layer: %d children", n, len(c.children))
			}
		}
	}
}

func TestEmptyAndBlank(t *testing.T) {
	m := New(Config{})
	a := m.Add("")
	b := m.Add("   \t ")
	if a != b || m.Template(a) != "" || len(m.Params(a, "")) != 0 {
		t.Errorf("empty messages: %d %d %q", a, b, m.Template(a))
	}
}

func FuzzMiner(f *testing.F) {
	for _, s := range []string{
		"Connection refused to 10.0.0.1:5432 after 30ms",
		"uid=0 (uid=0) [173.234.31.186] <email> <*> a<*>b <<*>> <a><b>",
		"mice.c(1234)]: ready=true,policy=3 ws=WorkSource{10113},",
		"", " ", "\u00a0x\u2028y", "()", "<", "=", "a=b=c", "#3#", "\xff\xfe",
	} {
		f.Add(s, "other message 42")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		m := New(Config{MaxClusters: 8})
		for _, s := range []string{a, b, a + " " + b, b} {
			id := m.Add(s)
			tpl := m.Template(id)
			if got, want := len(Fields(tpl)), len(Fields(s)); got != want {
				t.Fatalf("template %q has %d tokens, message %q has %d", tpl, got, s, want)
			}
			if got, want := len(m.Params(id, s)), strings.Count(tpl, wildcard); got != want {
				t.Fatalf("%d params for %d <*> in %q (message %q)", got, want, tpl, s)
			}
			_ = SignatureID(tpl)
		}
		m.Refine()
		for _, c := range m.Clusters() {
			if len(Fields(c.Template)) == 0 && c.Template != "" {
				t.Fatalf("bad template %q", c.Template)
			}
		}
	})
}

func TestSignaturesJoinLengths(t *testing.T) {
	m := New(Config{})
	m.Add("conn 1 close, 0 bytes sent")
	m.Add("conn 2 close, 1143 bytes (1.11 KB) sent")
	m.Add("conn 3 close, 12 bytes sent")
	m.Add("disk full")
	sigs := m.Signatures()
	if len(sigs) != 2 {
		t.Fatalf("%d signatures: %+v", len(sigs), sigs)
	}
	// the template shown is the largest cluster's ("0 bytes", "12 bytes")
	if sigs[0].Size != 3 || len(sigs[0].Clusters) != 2 || sigs[0].Template != "conn <*> close, <*> <*> sent" {
		t.Errorf("first signature %+v", sigs[0])
	}
	if sigs[0].ID != SignatureID(sigs[0].Template) {
		t.Errorf("id %s is not SignatureID(%q)", sigs[0].ID, sigs[0].Template)
	}
}

func TestSharedValuesAcrossEvents(t *testing.T) {
	// four users: too few for one event alone to call "user X" a variable,
	// but the same four fill two events, so they are values
	m := New(Config{})
	var opened, closed []ClusterID
	for _, u := range []string{"news", "test", "root", "cyrus"} {
		opened = append(opened, m.Add("session opened for user "+u+" by cron"))
		closed = append(closed, m.Add("session closed for user "+u+" by cron"))
	}
	// four states of one event stay constants
	var states []ClusterID
	for _, s := range []string{"Paused", "Resumed", "Started", "Stopped"} {
		states = append(states, m.Add("instance 42 VM "+s+" (Lifecycle Event)"))
	}
	m.Refine()
	for i := range opened {
		if m.Canonical(opened[i]) != m.Canonical(opened[0]) || m.Canonical(closed[i]) != m.Canonical(closed[0]) {
			t.Errorf("users not merged: %q / %q", m.Template(opened[i]), m.Template(closed[i]))
		}
	}
	if m.Canonical(opened[0]) == m.Canonical(closed[0]) {
		t.Errorf("opened and closed merged: %q", m.Template(opened[0]))
	}
	for i := 1; i < len(states); i++ {
		if m.Canonical(states[i]) == m.Canonical(states[0]) {
			t.Errorf("states merged: %q", m.Template(states[i]))
		}
	}
}

func TestHighCardinalityWordVariable(t *testing.T) {
	// a user name of plain letters, 20,000 different ones: once Refine has
	// called the position a variable, new names join that cluster instead
	// of each opening one
	m := New(Config{})
	name := func(i int) string {
		b := []byte("user")
		for ; i > 0; i /= 26 {
			b = append(b, byte('a'+i%26))
		}
		return string(b)
	}
	var first ClusterID
	for i := 0; i < 20000; i++ {
		id := m.Add("Invalid user " + name(i) + " from 10.0.0.1 port 22")
		if i == 0 {
			first = id
		}
	}
	if got := len(m.clusters); got > 600 {
		t.Errorf("%d cluster records for one event", got)
	}
	cl := m.Clusters()
	if len(cl) != 1 || cl[0].Size != 20000 || m.Canonical(first) != cl[0].ID {
		t.Errorf("clusters %+v", cl)
	}
	if got, want := m.Template(first), "Invalid user <*> from <*> port <*>"; got != want {
		t.Errorf("template %q, want %q", got, want)
	}
}

func TestQuotedValues(t *testing.T) {
	m := New(Config{})
	a := m.Add(`acquire lock=1, tag="View Lock", name=android, uid=1000`)
	b := m.Add(`acquire lock=2, tag="*launch*", name=android, uid=1000`)
	if got, want := m.Template(a), `acquire lock=<*>, tag="<*> <*>", name=android, uid=<*>`; got != want {
		t.Errorf("template %q, want %q", got, want)
	}
	if SignatureID(m.Template(a)) != SignatureID(m.Template(b)) {
		t.Errorf("%q and %q: two signatures", m.Template(a), m.Template(b))
	}
	if got := m.Params(a, `acquire lock=1, tag="View Lock", name=android, uid=1000`); strings.Join(got, "|") != `1|View|Lock|1000` {
		t.Errorf("params %q", got)
	}
	// an unclosed quote stops after maxQuoted tokens
	long := `x tag="` + strings.Repeat("w ", 40) + "end"
	id := m.Add(long)
	if got := strings.Count(m.Template(id), wildcard); got != maxQuoted+1 {
		t.Errorf("%d <*> in %q", got, m.Template(id))
	}
}

func TestTemplateBytesBound(t *testing.T) {
	// long lines, every one a new shape: the templates' bytes stay bounded
	m := New(Config{MaxTemplateBytes: 1 << 20})
	for i := 0; i < 600; i++ { // 600 × ~10 KB of template ≫ 1 MB
		words := make([]string, 500)
		for j := range words {
			words[j] = fmt.Sprintf("w%c%c", 'a'+(i+j)%26, 'a'+(i/26+j)%26)
		}
		id := m.Add(strings.Join(words, " "))
		if got := len(Fields(m.Template(id))); got != 500 {
			t.Fatalf("template of %d tokens", got)
		}
	}
	if m.tplBytes > 1<<20+16<<10 { // one template of slack: the check comes before the add
		t.Errorf("%d template bytes, bound %d", m.tplBytes, 1<<20)
	}
}

func TestNumberedNames(t *testing.T) {
	m := New(Config{})
	var irq []ClusterID
	for _, s := range []string{"IRQ0", "IRQ2", "IRQ9"} {
		irq = append(irq, m.Add(s+" used by override now"))
	}
	a := m.Add("wl0 MDNS IPV4 Addr 10.0.0.1")
	b := m.Add("wl0 MDNS IPV6 Addr fe80::1")
	m.Refine()
	if m.Canonical(irq[0]) != m.Canonical(irq[2]) {
		t.Errorf("IRQ0/IRQ2/IRQ9 apart: %q", m.Template(irq[0]))
	}
	if m.Canonical(a) == m.Canonical(b) {
		t.Errorf("IPV4 and IPV6 merged: %q", m.Template(a))
	}
}
