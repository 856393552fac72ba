package logparse

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

func readAll(t testing.TB, in string, opts Options) ([]Record, *Reader) {
	t.Helper()
	rd := NewReader(strings.NewReader(in), "test.log", opts)
	var out []Record
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out, rd
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, rec)
	}
}

// want is what a test checks of a record; empty fields are not checked,
// except Level, which is always.
type want struct {
	format Format
	level  Level
	comp   string
	msg    string
	time   string // RFC 3339 with nanoseconds, in UTC; "-" for none
	zoned  bool
	lines  int
}

func check(t *testing.T, name string, got Record, w want) {
	t.Helper()
	if w.format != "" && got.Format != w.format {
		t.Errorf("%s: format %q, want %q", name, got.Format, w.format)
	}
	if got.Level != w.level {
		t.Errorf("%s: level %v, want %v", name, got.Level, w.level)
	}
	if w.comp != "" && got.Component != w.comp {
		t.Errorf("%s: component %q, want %q", name, got.Component, w.comp)
	}
	if w.msg != "" && got.Message != w.msg {
		t.Errorf("%s: message\n  %q\nwant %q", name, got.Message, w.msg)
	}
	switch w.time {
	case "":
	case "-":
		if !got.Time.IsZero() {
			t.Errorf("%s: time %v, want none", name, got.Time)
		}
	default:
		if s := got.Time.UTC().Format(time.RFC3339Nano); s != w.time {
			t.Errorf("%s: time %s, want %s", name, s, w.time)
		}
		if got.Zoned != w.zoned {
			t.Errorf("%s: zoned %v, want %v", name, got.Zoned, w.zoned)
		}
	}
	if w.lines != 0 && got.Lines != w.lines {
		t.Errorf("%s: %d lines, want %d", name, got.Lines, w.lines)
	}
}

func TestFormats(t *testing.T) {
	opts := Options{Year: 2023}
	cases := []struct {
		name string
		in   string
		want []want
	}{
		{"syslog 3164 with PRI", "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8\n" +
			"<13>Oct 11 22:14:16 mymachine cron[123]: job done\n",
			[]want{
				{format: FormatSyslog3164, level: LevelCritical, comp: "su", msg: "'su root' failed for lonvick on /dev/pts/8", time: "2023-10-11T22:14:15Z"},
				{level: LevelNotice, comp: "cron", msg: "job done", time: "2023-10-11T22:14:16Z"},
			}},
		{"syslog as /var/log/syslog writes it", "Jun 14 15:16:01 gateway login(pam_unix)[4242]: session opened for user ops\n" +
			"Jun  4 03:04:05 web-1 kernel: [12.5] Out of memory: Killed process 42\n",
			[]want{
				{format: FormatSyslog3164, comp: "login(pam_unix)", msg: "session opened for user ops", time: "2023-06-14T15:16:01Z"},
				{comp: "kernel", msg: "[12.5] Out of memory: Killed process 42", time: "2023-06-04T03:04:05Z"},
			}},
		{"syslog: the program's own level opening its message", "Dec 10 09:32:20 bastion sshd[777]: error: maximum authentication attempts exceeded for ops\n" +
			"Dec 10 09:32:21 host app[1]: WARNING: disk 91 % full\n" +
			"Dec 10 09:32:22 host app[1]: Error getting the list\n" +
			"Dec 10 09:32:23 host app[1]: retry after error: timeout\n",
			[]want{
				{level: LevelError, comp: "sshd", msg: "error: maximum authentication attempts exceeded for ops"},
				{level: LevelWarn, msg: "WARNING: disk 91 % full"},
				{level: LevelUnknown, msg: "Error getting the list"},
				{level: LevelUnknown, msg: "retry after error: timeout"},
			}},
		{"syslog with RFC 3339 stamps", "2024-03-01T12:00:00.123456+01:00 web-1 nginx[77]: worker exited\n",
			[]want{{format: FormatSyslog3164, comp: "nginx", msg: "worker exited", time: "2024-03-01T11:00:00.123456Z", zoned: true}}},
		{"syslog 5424", `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appl]ication"] An application event` + "\n" +
			"<11>1 2003-10-11T22:14:16+02:00 host app 12 - - disk failed\n",
			[]want{
				{format: FormatSyslog5424, level: LevelNotice, comp: "evntslog", msg: "An application event", time: "2003-10-11T22:14:15.003Z", zoned: true},
				{level: LevelError, comp: "app", msg: "disk failed", time: "2003-10-11T20:14:16Z", zoned: true},
			}},
		{"json lines", `{"time":"2024-03-01T12:00:00.5+02:00","level":"ERROR","msg":"query failed","logger":"db","error":"connection refused"}` + "\n" +
			`{"@timestamp":"2024-03-01T10:00:00Z","log":{"level":"warn","logger":"app"},"message":"slow \"query\"\n took 3s"}` + "\n" +
			`{"level":50,"time":1709287200000,"msg":"boom","pid":1,"hostname":"h"}` + "\n" +
			`{"ts":1709287200.25,"lvl":"info","event":"user error shown","count":3}` + "\n",
			[]want{
				{format: FormatJSON, level: LevelError, comp: "db", msg: "query failed: connection refused", time: "2024-03-01T10:00:00.5Z", zoned: true},
				{level: LevelWarn, comp: "app", msg: "slow \"query\"\n took 3s", time: "2024-03-01T10:00:00Z", zoned: true},
				{level: LevelError, msg: "boom", time: "2024-03-01T10:00:00Z", zoned: true},
				{level: LevelInfo, msg: "user error shown", time: "2024-03-01T10:00:00.25Z", zoned: true},
			}},
		{"journald json", `{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1709287200123456","__MONOTONIC_TIMESTAMP":"1","PRIORITY":"3","_HOSTNAME":"web-1","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"error: kex_exchange_identification: Connection closed"}` + "\n" +
			`{"timestamp":"2024-03-01T10:00:00.5Z","severityText":"WARN","body":"queue is filling","resource":{"service.name":"api"}}` + "\n",
			[]want{
				{format: FormatJSON, level: LevelError, comp: "sshd", msg: "error: kex_exchange_identification: Connection closed", time: "2024-03-01T10:00:00.123456Z", zoned: true},
				{level: LevelWarn, msg: "queue is filling", time: "2024-03-01T10:00:00.5Z", zoned: true},
			}},
		{"logfmt", `time=2024-03-01T12:00:00Z level=warn msg="disk almost full" component=storage free=2%` + "\n" +
			`ts=2024-03-01T12:00:01Z lvl=error caller=main.go:12 msg=crashed` + "\n",
			[]want{
				{format: FormatLogfmt, level: LevelWarn, comp: "storage", msg: "disk almost full free=2%", time: "2024-03-01T12:00:00Z", zoned: true},
				{level: LevelError, msg: "crashed caller=main.go:12", time: "2024-03-01T12:00:01Z", zoned: true},
			}},
		{"access log", `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 503 2326 "-" "curl/8"` + "\n" +
			`10.0.0.2 - - [10/Oct/2000:13:55:37 +0000] "GET /missing HTTP/1.1" 404 12 "-" "Mozilla/5.0 (error)"` + "\n" +
			`10.0.0.3 - - [10/Oct/2000:13:55:38 +0000] "POST /api/error HTTP/1.1" 200 1 "-" "-"` + "\n",
			[]want{
				{format: FormatAccess, level: LevelError, msg: `"GET /apache_pb.gif HTTP/1.0" 503 2326 "-" "curl/8"`, time: "2000-10-10T20:55:36Z", zoned: true},
				{level: LevelWarn, time: "2000-10-10T13:55:37Z", zoned: true},
				{level: LevelInfo},
			}},
		{"apache error log", "[Mon Mar 04 09:15:02 2024] [notice] Apache/2.2.34 configured -- resuming normal operations\n" +
			"[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] File does not exist: /favicon.ico\n",
			[]want{
				{format: FormatApacheError, level: LevelNotice, msg: "Apache/2.2.34 configured -- resuming normal operations", time: "2024-03-04T09:15:02Z"},
				{level: LevelError, comp: "core", msg: "[client 72.15.99.187] File does not exist: /favicon.ico", time: "2011-09-09T10:42:29.902022Z"},
			}},
		{"nginx error log", "2024/03/01 12:00:00 [error] 1234#1234: *5 connect() failed (111: Connection refused) while connecting to upstream\n" +
			"2024/03/01 12:00:01 [warn] 1234#1234: upstream response is buffered\n",
			[]want{
				{format: FormatNginxError, level: LevelError, msg: "connect() failed (111: Connection refused) while connecting to upstream", time: "2024-03-01T12:00:00Z"},
				{level: LevelWarn, msg: "upstream response is buffered"},
			}},
		{"klog", "E0301 12:00:00.123456    1234 controller.go:42] sync failed: timeout\n" +
			"I0301 12:00:01.000000    1234 main.go:7] started\n",
			[]want{
				{format: FormatKlog, level: LevelError, comp: "controller.go", msg: "sync failed: timeout", time: "2023-03-01T12:00:00.123456Z"},
				{level: LevelInfo, comp: "main.go", msg: "started"},
			}},
		{"postgresql", `2024-03-01 12:00:00.123 UTC [4321] ERROR:  relation "users" does not exist at character 15` + "\n" +
			"2024-03-01 12:00:00.123 UTC [4321] STATEMENT:  SELECT * FROM users\n" +
			`2024-03-01 12:00:01 CET [99] app@shop FATAL:  password authentication failed for user "app"` + "\n" +
			"2024-03-01 12:00:02.5 UTC [1] LOG:  database system is ready to accept connections\n",
			[]want{
				{format: FormatPostgres, level: LevelError, msg: "relation \"users\" does not exist at character 15\n2024-03-01 12:00:00.123 UTC [4321] STATEMENT:  SELECT * FROM users", time: "2024-03-01T12:00:00.123Z", zoned: true, lines: 2},
				{level: LevelCritical, msg: `password authentication failed for user "app"`, time: "2024-03-01T11:00:01Z", zoned: true},
				{level: LevelInfo, msg: "database system is ready to accept connections"},
			}},
		{"java and python headers", "2024-03-01 12:00:00,123 INFO [main] org.example.App: Started in 1.5 s\n" +
			"2024-03-01 12:00:00.456 ERROR 1234 --- [nio-8080-exec-1] o.a.c.c.C.[dispatcherServlet] : Servlet failed\n" +
			"2024-03-01 12:00:01,000 - shop.db - WARNING - pool exhausted\n" +
			"2024-03-01 12:00:02,000 [worker-3] ERROR com.example.Job - job 7 failed\n" +
			"2024-03-01T12:00:03Z DEBUG cache warm\n",
			[]want{
				{format: FormatHeader, level: LevelInfo, comp: "org.example.App", msg: "Started in 1.5 s", time: "2024-03-01T12:00:00.123Z"},
				{level: LevelError, comp: "o.a.c.c.C.[dispatcherServlet]", msg: "Servlet failed"},
				{level: LevelWarn, comp: "shop.db", msg: "pool exhausted", time: "2024-03-01T12:00:01Z"},
				{level: LevelError, comp: "com.example.Job", msg: "job 7 failed"},
				{level: LevelDebug, msg: "cache warm", time: "2024-03-01T12:00:03Z", zoned: true},
			}},
		{"fallback: a level and a time near the start", "[2024-03-01 12:00:00] ERROR: boom\n" +
			"WARNING: low memory\n" +
			"[warn] disk at 91 %\n" +
			"2024-03-01 12:00:01 request finished with error code 5\n",
			[]want{
				{level: LevelError, msg: "boom", time: "2024-03-01T12:00:00Z"},
				{level: LevelWarn, msg: "low memory", time: "-"},
				{level: LevelWarn, msg: "disk at 91 %"},
				{level: LevelUnknown, msg: "request finished with error code 5"},
			}},
		{"python's basicConfig", "ERROR:root:connection lost\nWARNING:urllib3.connectionpool:Retrying (2 left)\n",
			[]want{
				{level: LevelError, comp: "root", msg: "connection lost", time: "-"},
				{level: LevelWarn, comp: "urllib3.connectionpool", msg: "Retrying (2 left)"},
			}},
		{"ruby logger", "E, [2024-03-01T12:00:00.123456 #1234] ERROR -- app: boom\nI, [2024-03-01T12:00:01.000000 #1234]  INFO -- : started\n",
			[]want{
				{format: FormatHeader, level: LevelError, comp: "app", msg: "boom", time: "2024-03-01T12:00:00.123456Z"},
				{level: LevelInfo, msg: "started"},
			}},
		{"redis", "1234:M 01 Mar 2024 12:00:00.123 * Ready to accept connections\n1234:M 01 Mar 2024 12:00:01.000 # Out of memory\n",
			[]want{
				{format: FormatHeader, level: LevelNotice, comp: "redis", msg: "Ready to accept connections", time: "2024-03-01T12:00:00.123Z"},
				{level: LevelWarn, msg: "Out of memory"},
			}},
		{"docker json with a header inside", `{"log":"2024-03-01 12:00:00,123 ERROR [main] com.example.App: boom\n","stream":"stderr","time":"2024-03-01T12:00:00.123456789Z"}` + "\n",
			[]want{{format: FormatJSON, level: LevelError, comp: "com.example.App", msg: "boom", time: "2024-03-01T12:00:00.123456789Z", zoned: true}}},
		{"iis w3c", "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n" +
			"#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken\n" +
			"2024-03-01 12:00:00 10.0.0.1 GET /index.html - 443 - 1.2.3.4 Mozilla/5.0 500 0 0 15\n" +
			"#Software: Microsoft Internet Information Services 10.0\n" +
			"2024-03-01 12:00:01 10.0.0.1 GET /missing - 443 - 1.2.3.4 Mozilla/5.0 404 0 2 1\n",
			[]want{
				{format: FormatPlain}, {format: FormatPlain}, {format: FormatPlain},
				{format: FormatW3C, level: LevelError, msg: "10.0.0.1 GET /index.html - 443 - 1.2.3.4 Mozilla/5.0 500 0 0 15", time: "2024-03-01T12:00:00Z", zoned: true},
				{format: FormatPlain, lines: 1},
				{format: FormatW3C, level: LevelWarn},
			}},
		{"error words in a file without headers", "Error handling is described below\nuser saw an error page\n",
			[]want{
				{format: FormatPlain, level: LevelUnknown, msg: "Error handling is described below", time: "-"},
				{level: LevelUnknown, msg: "user saw an error page"},
			}},
		{"a line without a header continues the record above", "2024-03-01 12:00:00 ERROR app.db: query failed:\nSELECT *\nFROM users\n",
			[]want{{level: LevelError, comp: "app.db", msg: "query failed:\nSELECT *\nFROM users", lines: 3}}},
		{"error inside a message is no level", "2024-03-01 12:00:00 INFO retrying after error: timeout\n2024-03-01 12:00:00 request error\n" +
			"2024-03-01 12:00:01 Error connecting to db\n2024-03-01 12:00:02 error: disk full\n2024-03-01 12:00:03 Warning   disk 91 %\n",
			[]want{
				{level: LevelInfo, msg: "retrying after error: timeout"},
				{level: LevelUnknown, msg: "request error"},
				{level: LevelUnknown, msg: "Error connecting to db"},
				{level: LevelError, msg: "disk full"},
				{level: LevelWarn, msg: "disk 91 %"},
			}},
	}
	for _, c := range cases {
		recs, _ := readAll(t, c.in, opts)
		if len(recs) != len(c.want) {
			for _, r := range recs {
				t.Logf("  %+v", r)
			}
			t.Errorf("%s: %d records, want %d", c.name, len(recs), len(c.want))
			continue
		}
		for i, w := range c.want {
			check(t, c.name+" #"+itoa(i+1), recs[i], w)
		}
	}
}

func TestWindowsExports(t *testing.T) {
	csv := "Level,Date and Time,Source,Event ID,Task Category\r\n" +
		"Information,9/28/2016 4:30:30 PM,Service Control Manager,7036,None,The Windows Update service entered the running state.\r\n" +
		"Error,9/28/2016 4:31:00 AM,Disk,7,None,\"The device, \\Device\\Harddisk0, has a bad block.\r\nSecond line of the \"\"description\"\".\"\r\n" +
		"Warning,9/28/2016 4:32:00 AM,Tcpip,4227,None,TCP/IP failed\r\n"
	recs, rd := readAll(t, csv, Options{})
	if rd.Format() != FormatWindowsCSV || len(recs) != 4 {
		t.Fatalf("format %s, %d records", rd.Format(), len(recs))
	}
	check(t, "csv 1", recs[1], want{level: LevelInfo, comp: "Service Control Manager", msg: "The Windows Update service entered the running state.", time: "2016-09-28T16:30:30Z"})
	check(t, "csv 2", recs[2], want{level: LevelError, comp: "Disk", msg: "The device, \\Device\\Harddisk0, has a bad block.\nSecond line of the \"description\".", time: "2016-09-28T04:31:00Z", lines: 2})
	check(t, "csv 3", recs[3], want{level: LevelWarn, comp: "Tcpip", msg: "TCP/IP failed"})
	if recs[3].Line != 5 {
		t.Errorf("the record after a two-line one starts on line %d, want 5", recs[3].Line)
	}

	ps := "#TYPE System.Diagnostics.Eventing.Reader.EventLogRecord\r\n" +
		`"Message","Id","LevelDisplayName","ProviderName","TimeCreated"` + "\r\n" +
		`"The service entered` + "\r\n" + `the stopped state.","7036","Information","Service Control Manager","9/28/2016 4:30:30 PM"` + "\r\n" +
		`"Disk failure","7","Error","Disk","9/28/2016 4:31:00 PM"` + "\r\n"
	recs, rd = readAll(t, ps, Options{})
	if rd.Format() != FormatWindowsCSV || len(recs) != 4 {
		t.Fatalf("PowerShell csv: format %s, %d records", rd.Format(), len(recs))
	}
	check(t, "ps 1", recs[2], want{level: LevelInfo, comp: "Service Control Manager", msg: "The service entered\nthe stopped state.", time: "2016-09-28T16:30:30Z", lines: 2})
	check(t, "ps 2", recs[3], want{level: LevelError, comp: "Disk", msg: "Disk failure"})

	open := "Level,Date and Time,Source,Event ID,Task Category\n" + `Error,9/28/2016 4:31:00 AM,Disk,7,None,"cut short`
	recs, _ = readAll(t, open, Options{})
	if len(recs) != 2 || recs[1].Message == "" || recs[1].Lines != 1 {
		t.Fatalf("a record left open at the end: %+v", recs)
	}

	de := "Ebene,Datum und Uhrzeit,Quelle,Ereignis-ID,Aufgabenkategorie\r\n" +
		"Fehler,28.09.2016 04:31:00,Disk,7,Keine,Am Gerät wurde ein fehlerhafter Block gefunden.\r\n"
	recs, rd = readAll(t, de, Options{})
	if rd.Format() != FormatWindowsCSV || len(recs) != 2 {
		t.Fatalf("German csv: format %s, %d records", rd.Format(), len(recs))
	}
	check(t, "de", recs[1], want{level: LevelError, comp: "Disk", msg: "Am Gerät wurde ein fehlerhafter Block gefunden.", time: "2016-09-28T04:31:00Z"})

	xml := `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Events>\n" +
		`<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Service Control Manager'/><EventID Qualifiers='16384'>7036</EventID><Level>4</Level><TimeCreated SystemTime='2016-09-28T04:30:30.123456700Z'/></System><EventData><Data Name='param1'>Windows Update</Data><Data Name='param2'>running</Data></EventData></Event>` + "\n" +
		"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>\n <System>\n  <Provider Name='Disk'/>\n  <EventID>7</EventID>\n  <Level>2</Level>\n" +
		"  <TimeCreated SystemTime='2016-09-28T04:31:00Z'/>\n </System>\n <RenderingInfo Culture='en-US'><Message>The device has a bad block &amp; more.</Message><Level>Error</Level></RenderingInfo>\n</Event>\n</Events>\n"
	recs, rd = readAll(t, xml, Options{})
	if rd.Format() != FormatWindowsXML {
		t.Fatalf("format %s", rd.Format())
	}
	var events []Record
	for _, r := range recs {
		if r.Format == FormatWindowsXML {
			events = append(events, r)
		}
	}
	if len(events) != 2 {
		t.Fatalf("%d events: %+v", len(events), recs)
	}
	check(t, "xml 1", events[0], want{level: LevelInfo, comp: "Service Control Manager", msg: "EventID 7036 Windows Update running", time: "2016-09-28T04:30:30.1234567Z", zoned: true})
	check(t, "xml 2", events[1], want{level: LevelError, comp: "Disk", msg: "The device has a bad block & more.", time: "2016-09-28T04:31:00Z", zoned: true, lines: 10})
}

func TestStackTraces(t *testing.T) {
	java := "2024-03-01 12:00:00,123 ERROR [main] com.example.Api: request failed\n" +
		"java.lang.IllegalStateException: pool exhausted\n" +
		"\tat com.example.Pool.get(Pool.java:42)\n" +
		"\tat com.example.Api.handle(Api.java:7)\n" +
		"Caused by: java.net.ConnectException: Connection refused\n" +
		"\t... 12 more\n" +
		"2024-03-01 12:00:01,000 INFO [main] com.example.Api: next\n"
	recs, _ := readAll(t, java, Options{})
	if len(recs) != 2 || recs[0].Lines != 6 || recs[1].Line != 7 {
		t.Fatalf("java: %d records, first spans %d lines", len(recs), recs[0].Lines)
	}
	check(t, "java", recs[0], want{level: LevelError, comp: "com.example.Api", time: "2024-03-01T12:00:00.123Z"})
	if recs[0].FirstLine() != "request failed" || !strings.Contains(recs[0].Text, "Caused by: java.net.ConnectException") {
		t.Errorf("java: first line %q, text %q", recs[0].FirstLine(), recs[0].Text)
	}

	python := "2024-03-01 12:00:00,123 ERROR worker: task failed\n" +
		"Traceback (most recent call last):\n" +
		"  File \"/app/worker.py\", line 10, in run\n" +
		"    do()\n" +
		"ValueError: invalid literal for int() with base 10: 'x'\n" +
		"2024-03-01 12:00:01,000 INFO worker: recovered\n"
	recs, _ = readAll(t, python, Options{})
	if len(recs) != 2 || recs[0].Lines != 5 || !strings.HasSuffix(recs[0].Text, "ValueError: invalid literal for int() with base 10: 'x'") {
		t.Fatalf("python: %+v", recs)
	}

	// A bare traceback in a file without headers (stderr of a script).
	bare := "starting\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nKeyError: 'a'\ndone\n"
	recs, _ = readAll(t, bare, Options{})
	if len(recs) != 3 || recs[1].Lines != 3 || recs[2].Message != "done" {
		t.Fatalf("bare python: %+v", recs)
	}

	dotnet := "2024-03-01 12:00:00.123 +01:00 [ERR] Request failed\n" +
		"System.InvalidOperationException: Sequence contains no elements\n" +
		"   at System.Linq.ThrowHelper.ThrowNoElementsException()\n" +
		"   at Shop.Api.Orders.Get(Int32 id) in C:\\src\\Orders.cs:line 42\n" +
		"   --- End of inner exception stack trace ---\n" +
		"2024-03-01 12:00:01.000 +01:00 [INF] Next request\n"
	recs, _ = readAll(t, dotnet, Options{})
	if len(recs) != 2 || recs[0].Lines != 5 || recs[0].Level != LevelError || recs[1].Level != LevelInfo {
		t.Fatalf(".NET: %+v", recs)
	}
	check(t, ".NET", recs[0], want{level: LevelError, time: "2024-03-01T11:00:00.123Z", zoned: true})

	gopanic := "listening on :8080\n" +
		"panic: runtime error: invalid memory address or nil pointer dereference\n" +
		"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b3c]\n" +
		"\n" +
		"goroutine 1 [running]:\n" +
		"main.handler(0x0)\n" +
		"\t/app/main.go:12 +0x1d\n" +
		"main.main()\n" +
		"\t/app/main.go:20 +0x25\n" +
		"\n" +
		"goroutine 7 [chan receive]:\n" +
		"main.worker()\n" +
		"\t/app/main.go:30 +0x40\n" +
		"created by main.main in goroutine 1\n" +
		"\t/app/main.go:18 +0x10\n" +
		"exit status 2\n"
	recs, _ = readAll(t, gopanic, Options{})
	if len(recs) != 2 || recs[1].Lines != 15 || recs[1].Line != 2 {
		for _, r := range recs {
			t.Logf("%d+%d %q", r.Line, r.Lines, r.Text)
		}
		t.Fatalf("go panic: %d records", len(recs))
	}
	if !strings.HasPrefix(recs[1].Text, "panic: runtime error") || recs[1].Level != LevelCritical {
		t.Errorf("go panic: level %v, text %q", recs[1].Level, recs[1].Text)
	}
}

func TestRecordCaps(t *testing.T) {
	var b strings.Builder
	b.WriteString("2024-03-01 12:00:00 ERROR x: boom\n")
	for i := 0; i < 25; i++ {
		b.WriteString("\tat frame\n")
	}
	recs, _ := readAll(t, b.String(), Options{MaxRecordLines: 10})
	total := 0
	for _, r := range recs {
		if r.Lines > 10 {
			t.Fatalf("a record of %d lines, cap 10", r.Lines)
		}
		total += r.Lines
	}
	if total != 26 || len(recs) != 3 {
		t.Fatalf("%d records covering %d lines", len(recs), total)
	}
}

func utf16Bytes(s string, bigEndian bool) []byte {
	var out []byte
	if bigEndian {
		out = []byte{0xFE, 0xFF}
	} else {
		out = []byte{0xFF, 0xFE}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

func TestEncodings(t *testing.T) {
	text := "2016-09-28 04:30:30, Info                  CBS    Démarrage terminé\r\n2016-09-28 04:30:31, Error                 CSI    échec\r\n"
	inputs := map[string][]byte{
		"utf-8":     []byte(text),
		"utf-8 bom": append([]byte{0xEF, 0xBB, 0xBF}, text...),
		"utf-16le":  utf16Bytes(text, false),
		"utf-16be":  utf16Bytes(text, true),
		// as some tools redirecting Windows output write it
		"utf-16le without bom": utf16Bytes(text, false)[2:],
		"latin-1": []byte("2016-09-28 04:30:30, Info                  CBS    D\xe9marrage termin\xe9\r\n" +
			"2016-09-28 04:30:31, Error                 CSI    \xe9chec\r\n"),
	}
	for name, in := range inputs {
		rd := NewReader(bytes.NewReader(in), name, Options{})
		var recs []Record
		for {
			r, err := rd.Next()
			if err != nil {
				break
			}
			recs = append(recs, r)
		}
		if len(recs) != 2 {
			t.Errorf("%s: %d records", name, len(recs))
			continue
		}
		check(t, name, recs[0], want{level: LevelInfo, comp: "CBS", msg: "Démarrage terminé", time: "2016-09-28T04:30:30Z"})
		check(t, name, recs[1], want{level: LevelError, comp: "CSI", msg: "échec"})
		if got := rd.Offset(); got != int64(len(in)) {
			t.Errorf("%s: offset %d after the last record, want %d", name, got, len(in))
		}
	}
}

func TestLongLines(t *testing.T) {
	oneMB := strings.Repeat("a", 1_000_000)
	recs, _ := readAll(t, "2024-03-01 12:00:00 INFO x: "+oneMB+"\nnext\n", Options{})
	if len(recs) != 2 || recs[0].Truncated || !strings.HasSuffix(recs[0].Message, oneMB) || recs[1].Message != "next" || recs[1].Line != 2 {
		t.Fatalf("1 MB line: %d records", len(recs))
	}
	threeMB := strings.Repeat("b", 3_000_000)
	recs, rd := readAll(t, "start\n"+threeMB+"\r\nend\n", Options{})
	if len(recs) != 3 {
		t.Fatalf("3 MB line: %d records", len(recs))
	}
	if !recs[1].Truncated || len(recs[1].Text) != 1<<20 || recs[1].Line != 2 {
		t.Fatalf("3 MB line: truncated %v, kept %d bytes", recs[1].Truncated, len(recs[1].Text))
	}
	if recs[2].Message != "end" || recs[2].Line != 3 {
		t.Fatalf("after the long line: %+v", recs[2])
	}
	if rd.Offset() != int64(6+3_000_002+4) {
		t.Fatalf("offset %d", rd.Offset())
	}
	// A line of exactly the cap, ending in CRLF, is whole.
	exact := strings.Repeat("c", 1<<20)
	recs, _ = readAll(t, exact+"\r\nnext\r\n", Options{})
	if len(recs) != 2 || recs[0].Truncated || recs[0].Text != exact || recs[1].Text != "next" {
		t.Fatalf("a line of exactly 1 MiB: %d records, truncated %v, %d bytes", len(recs), recs[0].Truncated, len(recs[0].Text))
	}
}

func TestNoTimestampsEmptyAndCRLF(t *testing.T) {
	recs, rd := readAll(t, "alpha\r\nbeta gamma\r\n\r\ndelta", Options{})
	if rd.Format() != FormatPlain || len(recs) != 4 {
		t.Fatalf("plain: %s, %d records", rd.Format(), len(recs))
	}
	for i, w := range []string{"alpha", "beta gamma", "", "delta"} {
		if recs[i].Message != w || recs[i].Text != w || !recs[i].Time.IsZero() || recs[i].Line != i+1 {
			t.Errorf("plain #%d: %+v", i, recs[i])
		}
	}

	rd = NewReader(strings.NewReader(""), "empty", Options{})
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("empty input: %v, want io.EOF", err)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("empty input, again: %v", err)
	}
}

func TestTimezones(t *testing.T) {
	a, _ := readAll(t, "2024-03-01T12:00:00+02:00 ERROR db: refused\n", Options{})
	b, _ := readAll(t, "2024-03-01T05:00:00-05:00 ERROR app: timeout\n", Options{})
	if !a[0].Time.Equal(b[0].Time) || !a[0].Zoned || !b[0].Zoned {
		t.Fatalf("offsets not honoured: %v vs %v", a[0].Time, b[0].Time)
	}
	ny, _ := time.LoadLocation("America/New_York")
	if ny == nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	c, _ := readAll(t, "2024-03-01 05:00:00 ERROR app: local\n", Options{Location: ny})
	if !c[0].Time.Equal(a[0].Time) || c[0].Zoned {
		t.Fatalf("Options.Location not applied: %v", c[0].Time)
	}
}

func TestYearInference(t *testing.T) {
	now := func() time.Time { return time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC) }
	recs, _ := readAll(t, "Dec 31 23:59:59 h a: one\nJan  1 00:00:01 h a: two\n", Options{Now: now})
	if recs[0].Time.Year() != 2023 || recs[1].Time.Year() != 2024 {
		t.Fatalf("years %d, %d; want 2023, 2024", recs[0].Time.Year(), recs[1].Time.Year())
	}
	recs, _ = readAll(t, "Mar  1 10:00:00 h a: x\n", Options{Now: now})
	if recs[0].Time.Year() != 2023 {
		t.Fatalf("a date two months ahead belongs to last year: %d", recs[0].Time.Year())
	}
}

// FuzzReader: arbitrary bytes never panic, records cover every physical
// line once and in order.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"", "\n", "a\nb", "\r\n\r\n", "2024-03-01 12:00:00 ERROR x: y\n\tat z\n",
		"<34>Oct 11 22:14:15 h su: x\n", `{"level":"info","msg":"x"}` + "\n{",
		"Level,Date and Time,Source,Event ID,Task Category\nError,9/28/2016 4:31:00 AM,Disk,7,None,\"a\nb\"\n",
		"<Event xmlns='x'><System>\n", "panic: x\n\ngoroutine 1 [running]:\n", "\xff\xfea\x00\n\x00",
		"Traceback (most recent call last):\n  File\nE: x\n", "2024-03-01 12:00:00.123 UTC [1] DETAIL:  x\n",
		"#Fields: date time sc-status\n2024-03-01 12:00:00 500\n#Fields: time\n12:00:00\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := NewReader(bytes.NewReader(in), "fuzz", Options{MaxLineBytes: 64, MaxRecordLines: 5, Year: 2024})
		next, total := 1, 0
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if rec.Lines < 1 || rec.Line != next {
				t.Fatalf("record at line %d spanning %d, expected line %d", rec.Line, rec.Lines, next)
			}
			if rec.Lines > 5 {
				t.Fatalf("a record of %d lines, cap 5", rec.Lines)
			}
			next += rec.Lines
			total += rec.Lines
		}
		if bytes.HasPrefix(in, []byte{0xFF, 0xFE}) || bytes.HasPrefix(in, []byte{0xFE, 0xFF}) {
			return // decoded: the raw bytes' newlines are not the text's
		}
		body := bytes.TrimPrefix(in, []byte{0xEF, 0xBB, 0xBF})
		want := bytes.Count(body, []byte{'\n'})
		if len(body) > 0 && body[len(body)-1] != '\n' {
			want++
		}
		if total != want {
			t.Fatalf("records cover %d lines, the input has %d", total, want)
		}
	})
}

// endless generates n bytes of log: ordinary lines, a 5 MB line, and a
// trace of 100,000 frames, without holding them.
type endless struct {
	n, done int
	buf     []byte
	i       int
}

func (e *endless) Read(p []byte) (int, error) {
	if e.done >= e.n {
		return 0, io.EOF
	}
	if len(e.buf) == 0 {
		switch e.i++; {
		case e.i == 50:
			e.buf = append([]byte("2024-03-01 12:00:00 INFO x.Y: "), bytes.Repeat([]byte("z"), 5<<20)...)
			e.buf = append(e.buf, '\n')
		case e.i >= 100 && e.i < 100100:
			e.buf = []byte("\tat com.example.Frame.call(Frame.java:12)\n")
		default:
			e.buf = []byte("2024-03-01 12:00:00,123 ERROR [main] com.example.App: request 1234 failed after 15 ms\n")
		}
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	e.done += n
	return n, nil
}

// TestMemoryBounded reads 300 MB with a 5 MB line and a 100,000-line trace
// in it: the heap must stay within a few times the caps, not grow with the
// input.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 300 MB")
	}
	rd := NewReader(&endless{n: 300 << 20}, "big.log", Options{})
	var ms runtime.MemStats
	peak := uint64(0)
	records, lines := 0, 0
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		records++
		lines += rec.Lines
		if records%20000 == 0 || rec.Truncated || rec.Lines > 1 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if peak > 64<<20 {
		t.Fatalf("heap in use reached %d MB reading 300 MB", peak>>20)
	}
	t.Logf("%d records, %d lines, peak heap in use %d MB", records, lines, peak>>20)
}

// TestPathologicalLines: lines built to make a parser work hard are read in
// well under a second each (a generous bound: this is no benchmark).
func TestPathologicalLines(t *testing.T) {
	const n = 1 << 20
	for name, line := range map[string]string{
		"deep json":     strings.Repeat(`{"a":`, n/5),
		"brackets":      "2024-03-01 12:00:00 " + strings.Repeat("[", n),
		"colons":        strings.Repeat(":", n),
		"digits":        strings.Repeat("2024-03-01 ", n/11),
		"quotes in csv": "Level,Date and Time,Source,Event ID,Task Category\n" + strings.Repeat(`"`, n),
		"xml":           "<Event xmlns='x'>" + strings.Repeat("<Data>", n/6),
	} {
		start := time.Now()
		for i := 0; i < 3; i++ {
			readAll(t, line+"\n"+line+"\n", Options{})
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: %v for three reads of two 1 MB lines", name, d)
		}
	}
}
