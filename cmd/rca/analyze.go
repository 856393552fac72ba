package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/analysis/drain"
	"github.com/rca-engine/api/internal/analysis/logparse"
	"github.com/rca-engine/api/internal/analysis/redact"
	"github.com/rca-engine/api/internal/archive"
	"github.com/rca-engine/api/internal/textenc"
)

type flags struct {
	fs          *flag.FlagSet
	format      string
	structured  string
	out         string
	redact      bool
	ips, hosts  bool
	patterns    patternList
	tz          string
	maxLine     int
	top         int
	jobID       string
	quiet       bool
	progressMin int64
}

type patternList []redact.Pattern

func (p *patternList) String() string { return "" }
func (p *patternList) Set(v string) error {
	name, re, ok := strings.Cut(v, "=")
	if !ok || name == "" || re == "" {
		return errors.New("want NAME=REGEXP")
	}
	*p = append(*p, redact.Pattern{Name: name, Regexp: re})
	return nil
}

func newFlags(w io.Writer) *flags {
	f := &flags{fs: flag.NewFlagSet("rca analyze", flag.ContinueOnError)}
	f.fs.SetOutput(w)
	f.fs.StringVar(&f.format, "format", "text", "report format: text (terminal), md, json or html")
	f.fs.StringVar(&f.structured, "structured", "", "also write `OUT.csv`: one row per physical line (LineId,Content,EventId,EventTemplate) of the first file")
	f.fs.StringVar(&f.out, "o", "", "write the report to `FILE` instead of standard output")
	f.fs.BoolVar(&f.redact, "redact", true, "redact emails, secrets and card numbers (PII_REDACTION_ENABLED)")
	f.fs.BoolVar(&f.ips, "redact-ips", false, "also redact IP addresses (PII_REDACT_IPS)")
	f.fs.BoolVar(&f.hosts, "redact-hostnames", false, "also redact hostnames")
	f.fs.Var(&f.patterns, "redact-pattern", "extra pattern to redact, `NAME=REGEXP` (RE2; repeatable)")
	f.fs.StringVar(&f.tz, "tz", "UTC", "time zone of timestamps that carry none (IANA name, or Local)")
	f.fs.IntVar(&f.maxLine, "max-line-bytes", 1<<20, "cap on one physical line; the rest is skipped")
	f.fs.IntVar(&f.top, "top", 10, "how many causes to rank")
	f.fs.StringVar(&f.jobID, "job-id", "", "job id to put in the report")
	f.fs.BoolVar(&f.quiet, "q", false, "no progress bar")
	f.progressMin = 32 << 20
	return f
}

// parse accepts flags before, between and after the inputs.
func (f *flags) parse(args []string) ([]string, error) {
	var inputs []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, err
		}
		rest := f.fs.Args()
		if len(rest) == 0 {
			return inputs, nil
		}
		if rest[0] == "--" {
			return append(inputs, rest[1:]...), nil
		}
		inputs = append(inputs, rest[0])
		args = rest[1:]
	}
}

type usageError struct{ error }

func analyze(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags(stderr)
	inputs, err := f.parse(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := f.check(inputs); err != nil {
		fmt.Fprintf(stderr, "rca analyze: %v\n", err)
		return 2
	}
	if err := f.analyze(ctx, inputs, stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "rca analyze: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func (f *flags) check(inputs []string) error {
	if len(inputs) == 0 {
		return errors.New("no input: give files, folders, or - for standard input")
	}
	switch f.format {
	case "text", "md", "markdown", "json", "html":
	default:
		return fmt.Errorf("--format %q: want text, md, json or html", f.format)
	}
	if f.top <= 0 {
		return errors.New("--top must be positive")
	}
	if f.maxLine < 256 {
		return errors.New("--max-line-bytes must be at least 256")
	}
	return nil
}

func (f *flags) location() (*time.Location, error) {
	switch f.tz {
	case "", "UTC":
		return time.UTC, nil
	case "Local", "local":
		return time.Local, nil
	}
	loc, err := time.LoadLocation(f.tz)
	if err != nil {
		return nil, usageError{fmt.Errorf("--tz %q: %w", f.tz, err)}
	}
	return loc, nil
}

// input is one source to read, found by expanding the arguments.
type input struct {
	name    string
	path    string // "" for stdin
	size    int64
	fromDir bool // found in a folder (a binary one is skipped, not an error)
}

func expand(args []string, stderr io.Writer) ([]input, error) {
	var out []input
	stdin := false
	for _, a := range args {
		if a == "-" {
			if stdin {
				return nil, usageError{errors.New("- given twice")}
			}
			stdin = true
			out = append(out, input{name: "stdin", size: -1})
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, input{name: a, path: a, size: st.Size()})
			continue
		}
		var found []input
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Size() == 0 {
				return nil
			}
			found = append(found, input{name: p, path: p, size: info.Size(), fromDir: true})
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Slice(found, func(i, j int) bool { return found[i].name < found[j].name })
		if len(found) == 0 {
			fmt.Fprintf(stderr, "rca analyze: %s: no files\n", a)
		}
		out = append(out, found...)
	}
	return out, nil
}

var archiveLimits = archive.Limits{MaxTotalBytes: 64 << 30, MaxMemberBytes: 16 << 30, MaxMembers: 100000,
	MaxRatio: 1000, MaxDepth: 3}

func (f *flags) analyze(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	loc, err := f.location()
	if err != nil {
		return err
	}
	ins, err := expand(args, stderr)
	if err != nil {
		return err
	}
	var total int64
	for _, in := range ins {
		if in.size > 0 {
			total += in.size
		}
	}
	var bar *progressBar
	if !f.quiet && total >= f.progressMin && isTerminal(stderr) {
		bar = &progressBar{w: stderr, start: time.Now()}
	}
	var st *structured
	if f.structured != "" {
		st, err = newStructured(f.structured)
		if err != nil {
			return err
		}
		defer st.close()
	}
	opts := analysis.Options{JobID: f.jobID,
		Redact:     redact.Config{Enabled: f.redact, IPs: f.ips, Hostnames: f.hosts, Extra: f.patterns},
		Parse:      logparse.Options{MaxLineBytes: f.maxLine, Location: loc},
		BytesTotal: total, MaxCauses: f.top}
	if bar != nil {
		opts.Progress = bar.update
	}
	if st != nil {
		opts.Line = st.line
	}
	a, err := analysis.NewAnalyzer(opts)
	if err != nil {
		return usageError{err}
	}
	sources := 0
	add := func(src analysis.Source, r io.Reader) error {
		if st != nil {
			st.source = sources
		}
		sources++
		return a.Add(ctx, src, r)
	}
	for _, in := range ins {
		if err := f.read(ctx, in, stdin, add, stderr); err != nil {
			return err
		}
	}
	if sources == 0 {
		return errors.New("no input: nothing readable was found")
	}
	rep, err := a.Report(ctx)
	if bar != nil {
		bar.done()
	}
	if err != nil {
		return err
	}
	if st != nil {
		n, name, err := st.write(a)
		if err != nil {
			return fmt.Errorf("--structured: %w", err)
		}
		if sources > 1 {
			fmt.Fprintf(stderr, "rca analyze: --structured: wrote the %d lines of %s, the first of %d files\n", n, name, sources)
		}
	}
	var body []byte
	switch f.format {
	case "json":
		body, err = rep.JSON()
	case "md", "markdown":
		body = []byte(rep.Markdown())
	case "html":
		var h string
		h, err = rep.HTML()
		body = []byte(h)
	default:
		body = []byte(rep.Text())
	}
	if err != nil {
		return err
	}
	w := stdout
	if f.out != "" {
		file, err := os.Create(f.out)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if f.out != "" {
		return w.(*os.File).Close()
	}
	return nil
}

// read feeds one input to the engine: a plain file, standard input, or the
// members of an archive. A folder's binary files are skipped with a note; a
// binary file named on the command line is an error.
func (f *flags) read(ctx context.Context, in input, stdin io.Reader, add func(analysis.Source, io.Reader) error,
	stderr io.Writer) error {
	if in.path == "" {
		br := bufio.NewReaderSize(stdin, 64<<10)
		return add(analysis.Source{Name: in.name, Size: -1}, br)
	}
	file, err := os.Open(in.path)
	if err != nil {
		return err
	}
	defer file.Close()
	head := make([]byte, textenc.SniffSize)
	n, err := io.ReadFull(file, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	head = head[:n]
	if format := archive.Detect(in.name, head); format != archive.None {
		return archive.Walk(ctx, in.name, file, in.size, archiveLimits, func(m archive.Member, r io.Reader) error {
			return add(analysis.Source{Name: in.name + "/" + m.Path, Size: m.Size}, r)
		})
	}
	if info := textenc.Sniff(head); !info.Text && n > 0 {
		if !in.fromDir {
			return fmt.Errorf("%s: %s", in.name, info.Reason)
		}
		fmt.Fprintf(stderr, "rca analyze: skipping %s: %s\n", in.name, info.Reason)
		return nil
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return add(analysis.Source{Name: in.name, Size: in.size}, file)
}

// structured keeps, for every record of the first source, its cluster and
// content in a temporary file (memory stays bounded), and writes the CSV at
// the end, when the templates are final.
type structured struct {
	path   string
	tmp    *os.File
	w      *bufio.Writer
	source int
	name   string
	err    error
	buf    []byte
}

func newStructured(path string) (*structured, error) {
	tmp, err := os.CreateTemp("", "rca-structured-*")
	if err != nil {
		return nil, err
	}
	return &structured{path: path, tmp: tmp, w: bufio.NewWriterSize(tmp, 256<<10)}, nil
}

func (s *structured) close() {
	s.tmp.Close()
	os.Remove(s.tmp.Name())
}

func (s *structured) line(rec *logparse.Record, c drain.ClusterID) {
	if s.source != 0 || s.err != nil {
		return
	}
	s.name = rec.Source
	lines := max(rec.Lines, 1)
	b := s.buf[:0]
	b = binary.AppendUvarint(b, uint64(rec.Line))
	b = binary.AppendUvarint(b, uint64(lines))
	b = binary.AppendUvarint(b, uint64(c))
	b = binary.AppendUvarint(b, uint64(len(rec.Message)))
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		s.err = err
	}
	if _, err := s.w.WriteString(rec.Message); err != nil {
		s.err = err
	}
}

func (s *structured) write(a *analysis.Analyzer) (int, string, error) {
	if s.err != nil {
		return 0, "", s.err
	}
	if err := s.w.Flush(); err != nil {
		return 0, "", err
	}
	if _, err := s.tmp.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	out, err := os.Create(s.path)
	if err != nil {
		return 0, "", err
	}
	defer out.Close()
	bw := bufio.NewWriterSize(out, 256<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write([]string{"LineId", "Content", "EventId", "EventTemplate"}); err != nil {
		return 0, "", err
	}
	br := bufio.NewReaderSize(s.tmp, 256<<10)
	rows := 0
	var msg []byte
	for {
		line, err := binary.ReadUvarint(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return rows, s.name, err
		}
		lines, _ := binary.ReadUvarint(br)
		c, _ := binary.ReadUvarint(br)
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return rows, s.name, err
		}
		msg = append(msg[:0], make([]byte, n)...)
		if _, err := io.ReadFull(br, msg); err != nil {
			return rows, s.name, err
		}
		id, tpl := a.Signature(drain.ClusterID(c))
		parts := strings.SplitN(string(msg), "\n", int(lines))
		for i := 0; i < int(lines); i++ {
			content := ""
			if i < len(parts) {
				content = parts[i]
			}
			if err := cw.Write([]string{strconv.FormatUint(line+uint64(i), 10), content, id, tpl}); err != nil {
				return rows, s.name, err
			}
			rows++
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return rows, s.name, err
	}
	if err := bw.Flush(); err != nil {
		return rows, s.name, err
	}
	return rows, s.name, out.Close()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws one line on stderr, rewritten in place.
type progressBar struct {
	w     io.Writer
	start time.Time
	shown bool
}

func (p *progressBar) update(pr analysis.Progress) {
	const width = 30
	frac := 0.0
	if pr.BytesTotal > 0 {
		frac = min(1, float64(pr.BytesRead)/float64(pr.BytesTotal))
	}
	done := int(frac * width)
	secs := time.Since(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(pr.BytesRead) / secs / 1e6
	}
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %7.1f MB %6.1f MB/s %-8s", strings.Repeat("#", done),
		strings.Repeat(".", width-done), frac*100, float64(pr.BytesRead)/1e6, rate, pr.Phase)
	p.shown = true
}

func (p *progressBar) done() {
	if p.shown {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 80))
	}
}
