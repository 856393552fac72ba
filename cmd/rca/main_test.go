package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func runRCA(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const corpus = "../../internal/analysis/testdata/incidents/db-refused"

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no command", nil, 2, "Usage"},
		{"unknown command", []string{"analyse", "x"}, 2, "unknown command"},
		{"no input", []string{"analyze"}, 2, "no input"},
		{"bad format", []string{"analyze", "--format", "pdf", corpus}, 2, "--format"},
		{"bad flag", []string{"analyze", "--nope", corpus}, 2, "nope"},
		{"bad zone", []string{"analyze", "--tz", "Mars/Olympus", corpus}, 2, "--tz"},
		{"bad pattern", []string{"analyze", "--redact-pattern", "x", corpus}, 2, "NAME=REGEXP"},
		{"missing file", []string{"analyze", "/nonexistent/app.log"}, 1, "no such file"},
		{"help", []string{"--help"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runRCA(t, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errs)
			}
			if !strings.Contains(errs+out, tc.err) {
				t.Errorf("output %q lacks %q", errs+out, tc.err)
			}
		})
	}
}

func TestAnalyzeFolderText(t *testing.T) {
	code, out, errs := runRCA(t, "", "analyze", corpus)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"Probable causes", "#1  Connection refused", "app.log:", "Recommended actions"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

func TestAnalyzeJSONStdinAndFlagsAfterInputs(t *testing.T) {
	log, err := os.ReadFile(filepath.Join(corpus, "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runRCA(t, string(log), "analyze", "-", "--format", "json", "--job-id", "j-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		JobID  string `json:"job_id"`
		Causes []struct {
			Template string `json:"template"`
			Evidence []struct {
				File string `json:"file"`
				Line int    `json:"line"`
			} `json:"evidence"`
		} `json:"causes"`
		Files []struct {
			Filename  string `json:"filename"`
			LineCount int    `json:"line_count"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--format json does not parse: %v", err)
	}
	if r.JobID != "j-1" || len(r.Files) != 1 || r.Files[0].Filename != "stdin" {
		t.Errorf("job %q files %+v", r.JobID, r.Files)
	}
	if len(r.Causes) == 0 || !strings.Contains(r.Causes[0].Template, "ECONNREFUSED") || r.Causes[0].Evidence[0].File != "stdin" {
		t.Errorf("causes %+v", r.Causes)
	}
	if n := bytes.Count(log, []byte("\n")); r.Files[0].LineCount != n {
		t.Errorf("line_count %d, want %d", r.Files[0].LineCount, n)
	}
}

func TestFormats(t *testing.T) {
	for format, want := range map[string]string{"md": "# RCA Summary", "html": "<article", "text": "Severity:"} {
		code, out, errs := runRCA(t, "", "analyze", "--format", format, corpus)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("--format %s: exit %d, %q in output: %v (%s)", format, code, want, strings.Contains(out, want), errs)
		}
	}
}

// --structured writes one row per physical line of the first file, a
// multi-line record's lines sharing its event.
func TestStructured(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "worker.log")
	src, err := os.ReadFile("../../internal/analysis/testdata/incidents/oom-crashloop/worker.log")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	code, _, errs := runRCA(t, "", "analyze", "--structured", out, "-o", filepath.Join(dir, "report.txt"), in,
		"../../internal/analysis/testdata/incidents/oom-crashloop/kubelet.log")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "the first of 2 files") {
		t.Errorf("stderr does not say which file was written: %q", errs)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(src, []byte("\n"))
	if len(rows) != lines+1 {
		t.Fatalf("%d rows, want a header and %d lines", len(rows), lines)
	}
	if strings.Join(rows[0], ",") != "LineId,Content,EventId,EventTemplate" {
		t.Errorf("header %v", rows[0])
	}
	events := map[string]string{}
	for i, row := range rows[1:] {
		if row[0] != strconv.Itoa(i+1) {
			t.Fatalf("row %d has LineId %s", i+1, row[0])
		}
		if tpl, ok := events[row[2]]; ok && tpl != row[3] {
			t.Fatalf("event %s has two templates", row[2])
		}
		events[row[2]] = row[3]
	}
	// The stack trace's lines share the event of the line that starts it.
	srcLines := strings.Split(string(src), "\n")
	for i, l := range srcLines {
		if strings.HasPrefix(l, "\tat ") && rows[i+1][2] != rows[i][2] {
			t.Errorf("line %d (%q) is event %s, the line before it %s", i+1, l, rows[i+1][2], rows[i][2])
			break
		}
	}
	if rep, err := os.ReadFile(filepath.Join(dir, "report.txt")); err != nil || !strings.Contains(string(rep), "OutOfMemoryError") {
		t.Errorf("-o report: %v", err)
	}
}

// An archive is read member by member (as the upload path unpacks it), and a
// binary file found in a folder is skipped with a note.
func TestArchiveAndBinary(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range []string{"app.log", "db.log", "gateway-access.log"} {
		b, err := os.ReadFile(filepath.Join(corpus, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: "logs/" + name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	if err := os.WriteFile(filepath.Join(dir, "incident.tar.gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "core.bin"), []byte("\x7fELF\x00\x00\x01\x02binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runRCA(t, "", "analyze", "--format", "json", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "skipping") || !strings.Contains(errs, "core.bin") {
		t.Errorf("the binary file was not skipped with a note: %q", errs)
	}
	var r struct {
		Files []struct {
			Filename string `json:"filename"`
		} `json:"files"`
		Causes []struct {
			Evidence []struct {
				File string `json:"file"`
				Line int    `json:"line"`
			} `json:"evidence"`
		} `json:"causes"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 3 || !strings.HasSuffix(r.Files[0].Filename, "incident.tar.gz/logs/app.log") {
		t.Fatalf("files %+v", r.Files)
	}
	if len(r.Causes) == 0 || !strings.HasSuffix(r.Causes[0].Evidence[0].File, "incident.tar.gz/logs/app.log") {
		t.Errorf("causes %+v", r.Causes)
	}
	// A binary named on the command line is an error, not a silent skip.
	if code, _, errs := runRCA(t, "", "analyze", filepath.Join(dir, "core.bin")); code != 1 {
		t.Errorf("binary file: exit %d (%s)", code, errs)
	}
}

// --tz reads times without a zone in the zone given.
func TestTZFlag(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "local.log")
	if err := os.WriteFile(in, []byte("2026-03-14 12:00:00 ERROR disk on fire\n2026-03-14 12:00:01 INFO ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for tz, want := range map[string]string{"UTC": "2026-03-14T12:00:00Z", "Asia/Kolkata": "2026-03-14T06:30:00Z"} {
		code, out, errs := runRCA(t, "", "analyze", "--format", "json", "--tz", tz, in)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var r struct {
			FirstError struct {
				Evidence struct {
					Timestamp string `json:"timestamp"`
				} `json:"evidence"`
			} `json:"first_error"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.FirstError.Evidence.Timestamp != want {
			t.Errorf("--tz %s: first error at %q, want %q", tz, r.FirstError.Evidence.Timestamp, want)
		}
	}
}
