package tickets

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/jobs"
)

var jobID = uuid.MustParse("6f1c1f3e-8a51-4c55-9a39-0a4a0e6c2b11")

// jobWith returns a job whose outcome is outputs.json = outcome, the
// place a worker puts it.
func jobWith(outcome string) jobs.Job {
	return jobs.Job{ID: jobID, JobType: "rca", Outputs: json.RawMessage(`{"json":` + outcome + `}`)}
}

var testDefaults = Defaults{
	ServiceNowAssignmentGroup:   "SRE",
	ServiceNowConfigurationItem: "payments-api",
	ServiceNowCategory:          "Software",
	ServiceNowSubcategory:       "Application",
	ServiceNowAssignedTo:        "oncall",
	JiraProjectKey:              "OPS",
	JiraLabels:                  []string{"rca", "automated"},
	JiraAssignee:                "jdoe",
}

func build(t *testing.T, p Platform, job jobs.Job, d Defaults, overrides string) map[string]any {
	t.Helper()
	var raw json.RawMessage
	if overrides != "" {
		raw = json.RawMessage(overrides)
	}
	got, err := BuildPayload(p, job, d, raw)
	if err != nil {
		t.Fatalf("BuildPayload: %v", err)
	}
	return got
}

// TestTitle: the ticket's headline is the outcome's summary, cut to what
// each platform accepts without producing invalid UTF-8, else a sentence
// naming the job.
func TestTitle(t *testing.T) {
	long := strings.Repeat("a", 300)
	multi := strings.Repeat("é", 300) // 2 bytes each
	emoji := strings.Repeat("🔥", 300) // 4 bytes each
	tests := []struct {
		name     string
		job      jobs.Job
		wantSN   string
		wantJira string
	}{
		{"summary", jobWith(`{"summary":"Disk full on db-1"}`), "Disk full on db-1", "Disk full on db-1"},
		{"no summary", jobWith(`{"severity":"low"}`), "RCA outcome for job " + jobID.String(), "RCA outcome for job " + jobID.String()},
		{"empty summary", jobWith(`{"summary":""}`), "RCA outcome for job " + jobID.String(), "RCA outcome for job " + jobID.String()},
		{"summary not a string", jobWith(`{"summary":42}`), "RCA outcome for job " + jobID.String(), "RCA outcome for job " + jobID.String()},
		{"no outcome at all", jobs.Job{ID: jobID}, "RCA outcome for job " + jobID.String(), "RCA outcome for job " + jobID.String()},
		{"exactly 160 characters", jobWith(`{"summary":"` + long[:160] + `"}`), long[:160], long[:160]},
		{"long ASCII", jobWith(`{"summary":"` + long + `"}`), long[:160], long[:255]},
		{"long two-byte runes", jobWith(`{"summary":"` + multi + `"}`),
			strings.Repeat("é", 160), strings.Repeat("é", 255)},
		{"long four-byte runes", jobWith(`{"summary":"` + emoji + `"}`),
			strings.Repeat("🔥", 160), strings.Repeat("🔥", 255)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sn := build(t, ServiceNow, tt.job, testDefaults, "")["short_description"].(string)
			jira := build(t, Jira, tt.job, testDefaults, "")["summary"].(string)
			if sn != tt.wantSN {
				t.Errorf("short_description = %q (%d runes), want %d runes", sn, utf8.RuneCountInString(sn), utf8.RuneCountInString(tt.wantSN))
			}
			if jira != tt.wantJira {
				t.Errorf("summary = %q (%d runes), want %d runes", jira, utf8.RuneCountInString(jira), utf8.RuneCountInString(tt.wantJira))
			}
			if !utf8.ValidString(sn) || !utf8.ValidString(jira) {
				t.Error("a title is not valid UTF-8")
			}
		})
	}
}

// TestSeverityToPriority: the outcome's severity, or one derived from its
// metrics, decides how urgent the ticket is on each platform.
func TestSeverityToPriority(t *testing.T) {
	tests := []struct {
		name     string
		outcome  string
		wantSN   string
		wantJira string
	}{
		{"severity critical", `{"severity":"critical"}`, "1", "Highest"},
		{"severity high", `{"severity":"high"}`, "2", "High"},
		{"severity moderate", `{"severity":"moderate"}`, "3", "Medium"},
		{"severity low", `{"severity":"low"}`, "4", "Low"},
		{"severity in capitals", `{"severity":"CRITICAL"}`, "1", "Highest"},
		{"severity beats metrics", `{"severity":"low","metrics":{"critical":5}}`, "4", "Low"},
		{"unknown severity falls back to metrics", `{"severity":"urgent","metrics":{"errors":1}}`, "2", "High"},
		{"metrics: critical", `{"metrics":{"critical":1,"errors":3,"warnings":9}}`, "1", "Highest"},
		{"metrics: errors", `{"metrics":{"critical":0,"errors":3,"warnings":9}}`, "2", "High"},
		{"metrics: warnings", `{"metrics":{"warnings":9}}`, "3", "Medium"},
		{"metrics: all zero", `{"metrics":{"critical":0,"errors":0,"warnings":0}}`, "4", "Low"},
		{"no severity, no metrics", `{}`, "4", "Low"},
		{"metrics not numbers", `{"metrics":{"critical":"many"}}`, "4", "Low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := jobWith(tt.outcome)
			if got := build(t, ServiceNow, job, testDefaults, "")["priority"]; got != tt.wantSN {
				t.Errorf("ServiceNow priority = %v, want %s", got, tt.wantSN)
			}
			if got := build(t, Jira, job, testDefaults, "")["priority"]; got != tt.wantJira {
				t.Errorf("Jira priority = %v, want %s", got, tt.wantJira)
			}
		})
	}
}

// TestServiceNowFields: the category comes from the outcome when it has
// one, the rest from the operator's defaults.
func TestServiceNowFields(t *testing.T) {
	tests := []struct {
		name         string
		outcome      string
		defaults     Defaults
		wantCategory string
		wantState    string
	}{
		{"categories[0]", `{"categories":["Database","Storage"]}`, testDefaults, "Database", "1"},
		{"empty entries are skipped", `{"categories":["","Network"]}`, testDefaults, "Network", "1"},
		{"no categories: the default", `{}`, testDefaults, "Software", "1"},
		{"empty categories: the default", `{"categories":[]}`, testDefaults, "Software", "1"},
		{"a configured state is kept", `{}`, Defaults{ServiceNowCategory: "x", ServiceNowState: "2"}, "x", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := build(t, ServiceNow, jobWith(tt.outcome), tt.defaults, "")
			if got["category"] != tt.wantCategory || got["state"] != tt.wantState {
				t.Errorf("category/state = %v/%v, want %s/%s", got["category"], got["state"], tt.wantCategory, tt.wantState)
			}
			if got["subcategory"] != tt.defaults.ServiceNowSubcategory || got["assignment_group"] != tt.defaults.ServiceNowAssignmentGroup ||
				got["configuration_item"] != tt.defaults.ServiceNowConfigurationItem || got["assigned_to"] != tt.defaults.ServiceNowAssignedTo {
				t.Errorf("defaults not applied: %v", got)
			}
		})
	}
}

// TestJiraFields: labels are the outcome's tags plus the operator's, each
// once; the issue type defaults to Task.
func TestJiraFields(t *testing.T) {
	tests := []struct {
		name       string
		outcome    string
		defaults   Defaults
		wantLabels []string
		wantType   string
	}{
		{"tags then default labels", `{"tags":["db","disk"]}`, testDefaults, []string{"db", "disk", "rca", "automated"}, "Task"},
		{"a tag equal to a default label appears once", `{"tags":["rca","db"]}`, testDefaults, []string{"rca", "db", "automated"}, "Task"},
		{"a tag repeated in the outcome appears once", `{"tags":["db","db"]}`, testDefaults, []string{"db", "rca", "automated"}, "Task"},
		{"a default label repeated appears once", `{}`, Defaults{JiraLabels: []string{"rca", "rca"}}, []string{"rca"}, "Task"},
		{"no tags: the default labels", `{}`, testDefaults, []string{"rca", "automated"}, "Task"},
		{"neither: an empty list, not null", `{}`, Defaults{}, []string{}, "Task"},
		{"a configured issue type is kept", `{}`, Defaults{JiraIssueType: "Bug"}, []string{}, "Bug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := build(t, Jira, jobWith(tt.outcome), tt.defaults, "")
			labels, ok := got["labels"].([]string)
			if !ok || labels == nil || !reflect.DeepEqual(labels, tt.wantLabels) {
				t.Errorf("labels = %#v, want %#v", got["labels"], tt.wantLabels)
			}
			if got["issue_type"] != tt.wantType {
				t.Errorf("issue_type = %v, want %s", got["issue_type"], tt.wantType)
			}
			if got["project_key"] != tt.defaults.JiraProjectKey || got["assignee"] != tt.defaults.JiraAssignee {
				t.Errorf("defaults not applied: %v", got)
			}
			b, _ := json.Marshal(got)
			if strings.Contains(string(b), `"labels":null`) {
				t.Errorf("labels encode as null: %s", b)
			}
		})
	}
}

// TestOutcomeSource: the outcome is read from outputs.json, else outputs,
// else result_data.outputs, which is where different worker versions put
// it.
func TestOutcomeSource(t *testing.T) {
	tests := []struct {
		name    string
		outputs string
		result  string
		want    string // the summary the ticket shows; "" means the default title
	}{
		{"outputs.json", `{"json":{"summary":"from json"},"summary":"from outputs"}`, `{"outputs":{"summary":"from result"}}`, "from json"},
		{"outputs without json", `{"summary":"from outputs"}`, `{"outputs":{"summary":"from result"}}`, "from outputs"},
		{"outputs.json empty: outputs", `{"json":{},"summary":"from outputs"}`, ``, "from outputs"},
		{"outputs.json not an object: outputs", `{"json":"text","summary":"from outputs"}`, ``, "from outputs"},
		{"no outputs: result_data.outputs", ``, `{"outputs":{"summary":"from result"}}`, "from result"},
		{"outputs null: result_data.outputs", `null`, `{"outputs":{"summary":"from result"}}`, "from result"},
		{"outputs empty: result_data.outputs", `{}`, `{"outputs":{"summary":"from result"}}`, "from result"},
		{"result_data without outputs", ``, `{"summary":"top level is not the outcome"}`, ""},
		{"nothing", ``, ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := jobs.Job{ID: jobID, JobType: "rca"}
			if tt.outputs != "" {
				job.Outputs = json.RawMessage(tt.outputs)
			}
			if tt.result != "" {
				job.ResultData = json.RawMessage(tt.result)
			}
			want := tt.want
			if want == "" {
				want = "RCA outcome for job " + jobID.String()
			}
			if got := build(t, ServiceNow, job, Defaults{}, "")["short_description"]; got != want {
				t.Fatalf("short_description = %v, want %q", got, want)
			}
		})
	}
}

// TestDescription: the body carries what the analysis found, for the
// person who picks the ticket up.
func TestDescription(t *testing.T) {
	job := jobWith(`{"summary":"Disk full","severity":"high","root_causes":["log rotation off"],"recommendations":["enable logrotate"]}`)
	sn := build(t, ServiceNow, job, testDefaults, "")["description"].(string)
	for _, want := range []string{jobID.String(), "(rca)", "Disk full", "Severity: high", "- log rotation off", "- enable logrotate"} {
		if !strings.Contains(sn, want) {
			t.Errorf("description lacks %q:\n%s", want, sn)
		}
	}
	jira := build(t, Jira, job, testDefaults, "")["description"].(string)
	if jira != "h2. Root cause analysis\n"+sn {
		t.Errorf("Jira description = %q, want the heading and the same text", jira)
	}
}

// TestOverrides: what a client sends replaces or removes the derived
// fields.
func TestOverrides(t *testing.T) {
	job := jobWith(`{"summary":"Disk full","tags":["db"]}`)
	tests := []struct {
		name      string
		platform  Platform
		overrides string
		check     func(t *testing.T, got map[string]any)
	}{
		{"a scalar replaces", ServiceNow, `{"priority":"1","short_description":"Mine"}`, func(t *testing.T, got map[string]any) {
			if got["priority"] != "1" || got["short_description"] != "Mine" || got["category"] != "Software" {
				t.Errorf("payload = %v", got)
			}
		}},
		{"null deletes a field", ServiceNow, `{"assigned_to":null,"no_such_field":null}`, func(t *testing.T, got map[string]any) {
			if _, ok := got["assigned_to"]; ok {
				t.Errorf("assigned_to still present: %v", got)
			}
			if _, ok := got["no_such_field"]; ok || got["assignment_group"] != "SRE" {
				t.Errorf("payload = %v", got)
			}
		}},
		{"an array replaces, not appends", Jira, `{"labels":["only"]}`, func(t *testing.T, got map[string]any) {
			if !reflect.DeepEqual(got["labels"], []any{"only"}) {
				t.Errorf("labels = %#v", got["labels"])
			}
		}},
		{"a new object is added without its nulls", Jira, `{"fields":{"customfield_1":"x","gone":null,"deep":{"a":1,"b":null}}}`,
			func(t *testing.T, got map[string]any) {
				want := map[string]any{"customfield_1": "x", "deep": map[string]any{"a": float64(1)}}
				if !reflect.DeepEqual(got["fields"], want) {
					t.Errorf("fields = %#v, want %#v", got["fields"], want)
				}
			}},
		{"an object replaces a scalar", ServiceNow, `{"category":{"name":"DB"}}`, func(t *testing.T, got map[string]any) {
			if !reflect.DeepEqual(got["category"], map[string]any{"name": "DB"}) {
				t.Errorf("category = %#v", got["category"])
			}
		}},
		{"null overrides change nothing", ServiceNow, `null`, func(t *testing.T, got map[string]any) {
			if got["short_description"] != "Disk full" || len(got) != 9 {
				t.Errorf("payload = %v", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, build(t, tt.platform, job, testDefaults, tt.overrides))
		})
	}
}

// TestMergeNested: objects merge key by key at every depth. BuildPayload's
// own fields are all flat, so this is checked on merge itself; it is what
// a nested override (Jira "fields") gets once payloads carry objects.
func TestMergeNested(t *testing.T) {
	tests := []struct {
		name     string
		dst, src string
		want     string
	}{
		{"nested objects merge", `{"f":{"a":1,"b":2},"x":1}`, `{"f":{"b":3,"c":4}}`, `{"f":{"a":1,"b":3,"c":4},"x":1}`},
		{"null deletes inside a nested object", `{"f":{"a":1,"b":2}}`, `{"f":{"a":null}}`, `{"f":{"b":2}}`},
		{"deeper", `{"f":{"g":{"a":1}}}`, `{"f":{"g":{"b":2}}}`, `{"f":{"g":{"a":1,"b":2}}}`},
		{"a scalar replaces an object", `{"f":{"a":1}}`, `{"f":"flat"}`, `{"f":"flat"}`},
		{"a new object drops its nulls", `{}`, `{"f":{"a":null,"b":{"c":null,"d":1}}}`, `{"f":{"b":{"d":1}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst, src, want map[string]any
			for _, p := range []struct {
				s string
				v *map[string]any
			}{{tt.dst, &dst}, {tt.src, &src}, {tt.want, &want}} {
				if err := json.Unmarshal([]byte(p.s), p.v); err != nil {
					t.Fatal(err)
				}
			}
			merge(dst, src)
			if !reflect.DeepEqual(dst, want) {
				t.Fatalf("merge = %v, want %v", dst, want)
			}
		})
	}
}

func TestBuildPayloadErrors(t *testing.T) {
	tests := []struct {
		name      string
		platform  Platform
		overrides string
	}{
		{"unknown platform", "pagerduty", ""},
		{"empty platform", "", ""},
		{"overrides an array", ServiceNow, `[1]`},
		{"overrides a string", Jira, `"x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw json.RawMessage
			if tt.overrides != "" {
				raw = json.RawMessage(tt.overrides)
			}
			if got, err := BuildPayload(tt.platform, jobWith(`{}`), testDefaults, raw); err == nil {
				t.Fatalf("BuildPayload = %v, want an error", got)
			}
		})
	}
}
