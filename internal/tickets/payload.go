package tickets

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/rca-engine/api/internal/jobs"
)

// Defaults are the operator's per-platform defaults (SERVICENOW_DEFAULT_*,
// JIRA_DEFAULT_*), used where the job's outcome says nothing.
type Defaults struct {
	ServiceNowAssignmentGroup   string
	ServiceNowConfigurationItem string
	ServiceNowCategory          string
	ServiceNowSubcategory       string
	ServiceNowState             string
	ServiceNowAssignedTo        string
	JiraProjectKey              string
	JiraIssueType               string
	JiraLabels                  []string
	JiraAssignee                string
}

var (
	serviceNowPriority = map[string]string{"critical": "1", "high": "2", "moderate": "3", "low": "4"}
	jiraPriority       = map[string]string{"critical": "Highest", "high": "High", "moderate": "Medium", "low": "Low"}
)

// BuildPayload returns the ticket fields for a job: defaults derived from
// the job's outcome and the operator's Defaults, with the client's
// overrides deep-merged over them (a null override removes a field).
func BuildPayload(p Platform, job jobs.Job, d Defaults, overrides json.RawMessage) (map[string]any, error) {
	c := outcome(job)
	severity := severityOf(c)
	summary := str(c["summary"])
	title := summary
	if title == "" {
		title = fmt.Sprintf("RCA outcome for job %s", job.ID)
	}
	description := describe(job, c, severity)

	var payload map[string]any
	switch p {
	case ServiceNow:
		category := d.ServiceNowCategory
		if cats := strs(c["categories"]); len(cats) > 0 {
			category = cats[0]
		}
		state := d.ServiceNowState
		if state == "" {
			state = "1"
		}
		payload = map[string]any{
			"short_description":  truncate(title, 160),
			"description":        description,
			"category":           category,
			"subcategory":        d.ServiceNowSubcategory,
			"priority":           serviceNowPriority[severity],
			"state":              state,
			"assignment_group":   d.ServiceNowAssignmentGroup,
			"configuration_item": d.ServiceNowConfigurationItem,
			"assigned_to":        d.ServiceNowAssignedTo,
		}
	case Jira:
		// Each label once: the outcome's tags may repeat one, too.
		labels := []string{}
		for _, l := range append(strs(c["tags"]), d.JiraLabels...) {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
		issueType := d.JiraIssueType
		if issueType == "" {
			issueType = "Task"
		}
		payload = map[string]any{
			"project_key": d.JiraProjectKey,
			"issue_type":  issueType,
			"summary":     truncate(title, 255),
			"description": "h2. Root cause analysis\n" + description,
			"labels":      labels,
			"priority":    jiraPriority[severity],
			"assignee":    d.JiraAssignee,
		}
	default:
		return nil, fmt.Errorf("unknown platform %q", p)
	}
	if len(overrides) > 0 && string(overrides) != "null" {
		var o map[string]any
		if err := json.Unmarshal(overrides, &o); err != nil {
			return nil, fmt.Errorf("payload overrides: %w", err)
		}
		merge(payload, o)
	}
	return payload, nil
}

// outcome is the job's analysis result: outputs.json, else outputs, else
// result_data.outputs.
func outcome(job jobs.Job) map[string]any {
	var outputs, result map[string]any
	_ = json.Unmarshal(job.Outputs, &outputs)
	_ = json.Unmarshal(job.ResultData, &result)
	if m, ok := outputs["json"].(map[string]any); ok && len(m) > 0 {
		return m
	}
	if len(outputs) > 0 {
		return outputs
	}
	if m, ok := result["outputs"].(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// severityOf uses the outcome's severity, else derives it from its metrics.
func severityOf(c map[string]any) string {
	if s := strings.ToLower(str(c["severity"])); serviceNowPriority[s] != "" {
		return s
	}
	m, _ := c["metrics"].(map[string]any)
	switch {
	case num(m["critical"]) > 0:
		return "critical"
	case num(m["errors"]) > 0:
		return "high"
	case num(m["warnings"]) > 0:
		return "moderate"
	}
	return "low"
}

func describe(job jobs.Job, c map[string]any, severity string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Root cause analysis for job %s (%s).\n", job.ID, job.JobType)
	if s := str(c["summary"]); s != "" {
		fmt.Fprintf(&b, "\n%s\n", s)
	}
	fmt.Fprintf(&b, "\nSeverity: %s\n", severity)
	if causes := strs(c["root_causes"]); len(causes) > 0 {
		b.WriteString("\nRoot causes:\n")
		for _, rc := range causes {
			fmt.Fprintf(&b, "- %s\n", rc)
		}
	}
	if recs := strs(c["recommendations"]); len(recs) > 0 {
		b.WriteString("\nRecommendations:\n")
		for _, r := range recs {
			fmt.Fprintf(&b, "- %s\n", r)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// merge deep-merges src into dst: objects merge, anything else replaces,
// and null deletes.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
			dropNulls(sm)
		}
		dst[k] = v
	}
}

func dropNulls(m map[string]any) {
	for k, v := range m {
		if v == nil {
			delete(m, k)
		} else if sm, ok := v.(map[string]any); ok {
			dropNulls(sm)
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func strs(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// truncate cuts s to at most n characters (not bytes), so that multi-byte
// text is never split into invalid UTF-8.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
