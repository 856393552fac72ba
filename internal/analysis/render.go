package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Outputs is the original's outputs object: the report as Markdown, as an
// HTML fragment safe to embed, and as JSON.
type Outputs struct {
	Markdown string  `json:"markdown"`
	HTML     string  `json:"html"`
	JSON     *Report `json:"json"`
}

// Outputs renders the report in the three forms.
func (r *Report) Outputs() (Outputs, error) {
	h, err := r.HTML()
	if err != nil {
		return Outputs{}, err
	}
	return Outputs{Markdown: r.Markdown(), HTML: h, JSON: r}, nil
}

// JSON is the report as indented JSON. The same input gives the same bytes
// apart from generated_at.
func (r *Report) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(true) // safe to drop into a <script type="application/json"> or an HTML attribute
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fence returns a code fence longer than any run of backticks in s, so no log
// line can close it (CommonMark: a fence closes only on a run at least as
// long).
func fence(s string) string {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// code is s as a Markdown inline code span that no backtick inside can
// close; line breaks become spaces (a span is one line).
func code(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	ticks := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || s == "" {
		s = " " + s + " "
	}
	return ticks + s + ticks
}

// mdText escapes Markdown's inline syntax in plain prose built from log
// content (titles, reasons).
func mdText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '#', '|', '!', '~', '&':
			b.WriteByte('\\')
		case '\n', '\r':
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func evLoc(e Evidence) string {
	s := fmt.Sprintf("%s:%d", e.File, e.Line)
	if e.Timestamp != nil {
		s += " · " + fmtTime(*e.Timestamp)
	}
	return s + " · " + e.Level
}

// Markdown renders the report for people reading Markdown (tickets, chat).
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# RCA Summary – Job %s\n\n", mdText(orDash(r.JobID)))
	fmt.Fprintf(&b, "- **Mode:** %s\n- **Severity:** %s\n- **Files Analysed:** %d\n- **Lines:** %s\n- **Errors:** %s\n- **Warnings:** %s\n- **Critical Events:** %s\n",
		mdText(r.AnalysisType), titleCase(r.Severity), r.Metrics.Files, fmtInt(r.Metrics.Lines),
		fmtInt(r.Metrics.Errors), fmtInt(r.Metrics.Warnings), fmtInt(r.Metrics.Critical))
	if len(r.Tags) > 0 {
		fmt.Fprintf(&b, "- **Tags:** %s\n", mdText(strings.Join(r.Tags, ", ")))
	}
	if r.TimeRange != nil {
		fmt.Fprintf(&b, "- **Time range:** %s – %s\n", fmtTime(r.TimeRange.Start), fmtTime(r.TimeRange.End))
	}
	fmt.Fprintf(&b, "\n## Summary\n\n%s\n", mdText(r.Summary))
	b.WriteString("\n## Probable Causes\n\n")
	if len(r.Causes) == 0 {
		b.WriteString("None found.\n")
	}
	for _, c := range r.Causes {
		fmt.Fprintf(&b, "### %d. %s\n\n", c.Rank, mdText(c.Title))
		fmt.Fprintf(&b, "Signature %s · level %s · score %.3f · %s\n\n", code(c.SignatureID), c.Level, c.Score, plural(c.Count, "occurrence"))
		fmt.Fprintf(&b, "Template: %s\n\n", code(c.Template))
		for _, reason := range c.Reasons {
			fmt.Fprintf(&b, "- %s\n", mdText(reason))
		}
		if len(c.Evidence) > 0 {
			b.WriteString("\nEvidence:\n\n")
			for _, e := range c.Evidence {
				fmt.Fprintf(&b, "%s (%s)\n\n", mdText(evLoc(e)), mdText(strings.ReplaceAll(e.Role, "_", " ")))
				f := fence(e.Text)
				fmt.Fprintf(&b, "%stext\n%s\n%s\n\n", f, e.Text, f)
			}
		}
		b.WriteString("\n")
	}
	if fe := r.FirstError; fe != nil {
		b.WriteString("## First Error\n\n")
		fmt.Fprintf(&b, "%s\n\n", mdText(evLoc(fe.Evidence)))
		var all strings.Builder
		for _, p := range fe.Preceding {
			all.WriteString(p.Text + "\n")
		}
		all.WriteString(fe.Evidence.Text)
		f := fence(all.String())
		fmt.Fprintf(&b, "%stext\n%s\n%s\n\n", f, all.String(), f)
	}
	b.WriteString("## Recommended Actions\n\n")
	for _, a := range r.RecommendedActions {
		fmt.Fprintf(&b, "- %s\n", mdText(a))
	}
	b.WriteString("\n## File Highlights\n\n")
	for _, f := range r.Files {
		fmt.Fprintf(&b, "### %s\n\n", mdText(f.Filename))
		fmt.Fprintf(&b, "- Lines: %s · Errors: %s · Warnings: %s · Critical: %s · Format: %s\n",
			fmtInt(int64(f.LineCount)), fmtInt(f.ErrorCount), fmtInt(f.WarningCount), fmtInt(f.CriticalCount), mdText(orDash(f.Format)))
		if len(f.RedactionCounts) > 0 {
			var parts []string
			for _, k := range sortedKeys(f.RedactionCounts) {
				parts = append(parts, fmt.Sprintf("%s %d", k, f.RedactionCounts[k]))
			}
			fmt.Fprintf(&b, "- Redacted: %s\n", mdText(strings.Join(parts, ", ")))
		}
		if len(f.TopKeywords) > 0 {
			fmt.Fprintf(&b, "- Keywords: %s\n", mdText(strings.Join(f.TopKeywords, ", ")))
		}
		b.WriteString("\n")
	}
	if len(r.Signatures) > 0 {
		b.WriteString("## Top Signatures\n\n")
		for i, s := range r.Signatures {
			if i == 15 {
				fmt.Fprintf(&b, "- … %s more in the JSON\n", fmtInt(int64(len(r.Signatures)-15)))
				break
			}
			fmt.Fprintf(&b, "- %s × %s (%s): %s\n", fmtInt(s.Count), code(s.ID), s.Level, code(s.Template))
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// htmlTmpl renders one <article>: no script, no style, no URL built from log
// content; html/template escapes every value for its context.
var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"title": titleCase, "int": fmtInt, "time": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return fmtTime(*t)
	}, "role": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"score": func(f float64) string { return fmt.Sprintf("%.3f", f) },
	"int64": func(n int) int64 { return int64(n) },
}).Parse(`<article class="rca-report">
<h1>RCA Summary – Job {{.JobID}}</h1>
<ul class="rca-meta">
<li><strong>Mode:</strong> {{.AnalysisType}}</li>
<li><strong>Severity:</strong> <span class="rca-severity rca-severity-{{.Severity}}">{{title .Severity}}</span></li>
<li><strong>Files Analysed:</strong> {{.Metrics.Files}}</li>
<li><strong>Lines:</strong> {{int .Metrics.Lines}}</li>
<li><strong>Errors:</strong> {{int .Metrics.Errors}}</li>
<li><strong>Warnings:</strong> {{int .Metrics.Warnings}}</li>
<li><strong>Critical Events:</strong> {{int .Metrics.Critical}}</li>
{{- if .Tags}}<li><strong>Tags:</strong> {{range $i, $t := .Tags}}{{if $i}}, {{end}}{{$t}}{{end}}</li>{{end}}
</ul>
<h2>Summary</h2>
<p>{{.Summary}}</p>
<h2>Probable Causes</h2>
{{- if not .Causes}}<p>None found.</p>{{end}}
<ol class="rca-causes">
{{- range .Causes}}
<li class="rca-cause">
<h3>{{.Title}}</h3>
<p class="rca-cause-meta">Signature <code>{{.SignatureID}}</code> · level {{.Level}} · score {{score .Score}} · {{int .Count}} occurrences</p>
<p>Template: <code>{{.Template}}</code></p>
<ul class="rca-reasons">{{range .Reasons}}<li>{{.}}</li>{{end}}</ul>
{{- if .Evidence}}
<table class="rca-evidence"><thead><tr><th>File</th><th>Line</th><th>Time</th><th>Level</th><th>Role</th><th>Text</th></tr></thead><tbody>
{{- range .Evidence}}
<tr><td>{{.File}}</td><td>{{.Line}}</td><td>{{time .Timestamp}}</td><td>{{.Level}}</td><td>{{role .Role}}</td><td><pre>{{.Text}}</pre></td></tr>
{{- end}}
</tbody></table>
{{- end}}
</li>
{{- end}}
</ol>
{{- with .FirstError}}
<h2>First Error</h2>
<p>{{.Evidence.File}}:{{.Evidence.Line}} {{time .Evidence.Timestamp}}</p>
<pre>{{range .Preceding}}{{.Text}}
{{end}}{{.Evidence.Text}}</pre>
{{- end}}
<h2>Recommended Actions</h2>
<ul class="rca-actions">{{range .RecommendedActions}}<li>{{.}}</li>{{end}}</ul>
<h2>File Highlights</h2>
<table class="rca-files"><thead><tr><th>File</th><th>Lines</th><th>Errors</th><th>Warnings</th><th>Critical</th><th>Format</th></tr></thead><tbody>
{{- range .Files}}
<tr><td>{{.Filename}}</td><td>{{int64 .LineCount | int}}</td><td>{{int .ErrorCount}}</td><td>{{int .WarningCount}}</td><td>{{int .CriticalCount}}</td><td>{{.Format}}</td></tr>
{{- end}}
</tbody></table>
</article>
`))

// HTML renders the report as one <article> fragment, every value escaped:
// safe to embed in a page.
func (r *Report) HTML() (string, error) {
	var b strings.Builder
	if err := htmlTmpl.Execute(&b, r); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Text renders the report for a terminal: the causes with their reasons and
// evidence first, then the totals.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Severity: %s   files %d · lines %s · errors %s · warnings %s · critical %s\n",
		strings.ToUpper(r.Severity), r.Metrics.Files, fmtInt(r.Metrics.Lines), fmtInt(r.Metrics.Errors),
		fmtInt(r.Metrics.Warnings), fmtInt(r.Metrics.Critical))
	if r.TimeRange != nil {
		fmt.Fprintf(&b, "Time range: %s – %s\n", fmtTime(r.TimeRange.Start), fmtTime(r.TimeRange.End))
	}
	fmt.Fprintf(&b, "\n%s\n", terminalSafe(r.Summary))
	if len(r.Causes) > 0 {
		b.WriteString("\nProbable causes\n")
	}
	for _, c := range r.Causes {
		fmt.Fprintf(&b, "\n#%d  %s\n    score %.3f · %s · %s · signature %s\n", c.Rank, terminalSafe(c.Title), c.Score, c.Level,
			plural(c.Count, "occurrence"), c.SignatureID)
		for _, reason := range c.Reasons {
			fmt.Fprintf(&b, "    - %s\n", terminalSafe(reason))
		}
		for i, e := range c.Evidence {
			if i == 6 {
				break
			}
			fmt.Fprintf(&b, "    %s (%s)\n", terminalSafe(evLoc(e)), strings.ReplaceAll(e.Role, "_", " "))
			lines := strings.Split(e.Text, "\n")
			for j, l := range lines {
				if j == 8 {
					fmt.Fprintf(&b, "      | … %d more lines\n", len(lines)-8)
					break
				}
				l, cut := capText(l, 240)
				if cut {
					l += "…"
				}
				fmt.Fprintf(&b, "      | %s\n", terminalSafe(l))
			}
		}
	}
	if len(r.RecommendedActions) > 0 {
		b.WriteString("\nRecommended actions\n")
		for _, a := range r.RecommendedActions {
			fmt.Fprintf(&b, "  - %s\n", terminalSafe(a))
		}
	}
	b.WriteString("\nFiles\n")
	for _, f := range r.Files {
		fmt.Fprintf(&b, "  %s: %s lines, %s errors, %s warnings, %s critical, format %s",
			terminalSafe(f.Filename), fmtInt(int64(f.LineCount)), fmtInt(f.ErrorCount), fmtInt(f.WarningCount),
			fmtInt(f.CriticalCount), orDash(f.Format))
		if f.Records > 0 && f.TimedRecords == 0 {
			b.WriteString(", no timestamps")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// terminalSafe drops control characters (escape sequences in a log line must
// not drive the user's terminal).
func terminalSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// Result is the original's result_data (jobs.result_data): the totals, the
// files, the llm block and the three outputs. The worker stores it as is.
type Result struct {
	JobID        string        `json:"job_id"`
	AnalysisType string        `json:"analysis_type"`
	GeneratedAt  time.Time     `json:"generated_at"`
	Metrics      Metrics       `json:"metrics"`
	Files        []FileSummary `json:"files"`
	LLM          LLM           `json:"llm"`
	Outputs      Outputs       `json:"outputs"`
	// SuspectedErrorLogs is set for log_analysis jobs, as the original did:
	// the files with errors or critical records.
	SuspectedErrorLogs []string `json:"suspected_error_logs,omitempty"`
}

// Result renders the report into the original's result_data.
func (r *Report) Result() (Result, error) {
	out, err := r.Outputs()
	if err != nil {
		return Result{}, err
	}
	res := Result{JobID: r.JobID, AnalysisType: r.AnalysisType, GeneratedAt: r.GeneratedAt, Metrics: r.Metrics,
		Files: r.Files, LLM: r.LLM, Outputs: out}
	if r.AnalysisType == "log_analysis" {
		res.SuspectedErrorLogs = []string{}
		for _, f := range r.Files {
			if f.ErrorCount+f.CriticalCount > 0 {
				res.SuspectedErrorLogs = append(res.SuspectedErrorLogs, f.Filename)
			}
		}
	}
	return res, nil
}
