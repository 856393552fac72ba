package jobs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/eventlog"
)

func intp(n int) *int { return &n }

// TestWithDefaults: what a job looks like when the client sends little, and
// that a signed-in caller cannot file a job in someone else's name.
func TestWithDefaults(t *testing.T) {
	owner := &Owner{ID: uuid.New(), Username: "olivia"}
	tests := []struct {
		name      string
		in        NewJob
		owner     *Owner
		wantUser  string
		wantProv  string
		wantModel string
		wantPrio  int
		wantInput string
	}{
		{name: "nothing sent: the original's defaults", in: NewJob{JobType: "rca"},
			wantUser: DefaultUserID, wantProv: DefaultProvider, wantModel: DefaultModel, wantPrio: DefaultPriority, wantInput: `{}`},
		{name: "explicit values are kept",
			in: NewJob{JobType: "rca", UserID: "bob", Provider: "openai", Model: "gpt-4", Priority: intp(7),
				InputManifest: json.RawMessage(`{"files":[1]}`)},
			wantUser: "bob", wantProv: "openai", wantModel: "gpt-4", wantPrio: 7, wantInput: `{"files":[1]}`},
		{name: "priority 0 sent is kept as 0, not replaced", in: NewJob{JobType: "rca", Priority: intp(0)},
			wantUser: DefaultUserID, wantProv: DefaultProvider, wantModel: DefaultModel, wantPrio: 0, wantInput: `{}`},
		{name: "null input_manifest becomes {}", in: NewJob{JobType: "rca", InputManifest: json.RawMessage(`null`)},
			wantUser: DefaultUserID, wantProv: DefaultProvider, wantModel: DefaultModel, wantPrio: 0, wantInput: `{}`},
		{name: "a signed-in owner replaces the user_id sent", in: NewJob{JobType: "rca", UserID: "mallory"}, owner: owner,
			wantUser: "olivia", wantProv: DefaultProvider, wantModel: DefaultModel, wantPrio: 0, wantInput: `{}`},
		{name: "a signed-in owner without user_id sent", in: NewJob{JobType: "rca"}, owner: owner,
			wantUser: "olivia", wantProv: DefaultProvider, wantModel: DefaultModel, wantPrio: 0, wantInput: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.withDefaults(tt.owner)
			if got.UserID != tt.wantUser || got.Provider != tt.wantProv || got.Model != tt.wantModel {
				t.Errorf("user/provider/model = %q/%q/%q, want %q/%q/%q",
					got.UserID, got.Provider, got.Model, tt.wantUser, tt.wantProv, tt.wantModel)
			}
			if got.Priority == nil || *got.Priority != tt.wantPrio {
				t.Errorf("priority = %v, want %d", got.Priority, tt.wantPrio)
			}
			if string(got.InputManifest) != tt.wantInput {
				t.Errorf("input_manifest = %s, want %s", got.InputManifest, tt.wantInput)
			}
			if got.JobType != tt.in.JobType {
				t.Errorf("job_type changed to %q", got.JobType)
			}
		})
	}
}

// TestNewJobValidate: each rule refuses with an Invalid error that names
// the field a client must fix (by its JSON name), and accepts what it
// should.
func TestNewJobValidate(t *testing.T) {
	ok := NewJob{JobType: "rca"}
	with := func(f func(*NewJob)) NewJob { n := ok; f(&n); return n }
	tests := []struct {
		name  string
		in    NewJob
		field string // "" means valid
	}{
		{"minimal job is valid", ok, ""},
		{"job_type missing", NewJob{}, "job_type"},
		{"job_type of 50 characters", with(func(n *NewJob) { n.JobType = strings.Repeat("j", 50) }), ""},
		{"job_type of 51 characters", with(func(n *NewJob) { n.JobType = strings.Repeat("j", 51) }), "job_type"},
		{"job_type of 50 multi-byte characters", with(func(n *NewJob) { n.JobType = strings.Repeat("é", 50) }), ""},
		{"job_type with a NUL", with(func(n *NewJob) { n.JobType = "rca\x00" }), "job_type"},
		{"job_type with an escape", with(func(n *NewJob) { n.JobType = "rca\x1b[31m" }), "job_type"},
		{"job_type with a newline", with(func(n *NewJob) { n.JobType = "rca\nx" }), "job_type"},
		{"job_type of invalid UTF-8", with(func(n *NewJob) { n.JobType = "rca\xff" }), "job_type"},
		{"user_id of 101 characters", with(func(n *NewJob) { n.UserID = strings.Repeat("u", 101) }), "user_id"},
		{"user_id with a control character", with(func(n *NewJob) { n.UserID = "bob\x07" }), "user_id"},
		{"provider of 51 characters", with(func(n *NewJob) { n.Provider = strings.Repeat("p", 51) }), "provider"},
		{"model with a NUL", with(func(n *NewJob) { n.Model = "\x00" }), "model"},
		{"priority 0", with(func(n *NewJob) { n.Priority = intp(0) }), ""},
		{"priority 10", with(func(n *NewJob) { n.Priority = intp(10) }), ""},
		{"priority -1", with(func(n *NewJob) { n.Priority = intp(-1) }), "priority"},
		{"priority 11", with(func(n *NewJob) { n.Priority = intp(11) }), "priority"},
		{"input_manifest object", with(func(n *NewJob) { n.InputManifest = json.RawMessage(` {"a":1}`) }), ""},
		{"input_manifest null", with(func(n *NewJob) { n.InputManifest = json.RawMessage(`null`) }), ""},
		{"input_manifest array", with(func(n *NewJob) { n.InputManifest = json.RawMessage(`[1,2]`) }), "input_manifest"},
		{"input_manifest string", with(func(n *NewJob) { n.InputManifest = json.RawMessage(`"x"`) }), "input_manifest"},
		{"model_config array", with(func(n *NewJob) { n.ModelConfig = json.RawMessage(`[]`) }), "model_config"},
		{"model_config number", with(func(n *NewJob) { n.ModelConfig = json.RawMessage(`5`) }), "model_config"},
		{"ticketing string", with(func(n *NewJob) { n.Ticketing = json.RawMessage(`"jira"`) }), "ticketing"},
		{"ticketing null", with(func(n *NewJob) { n.Ticketing = json.RawMessage(`null`) }), ""},
		{"source array", with(func(n *NewJob) { n.Source = json.RawMessage(`[{}]`) }), "source"},
		{"source object", with(func(n *NewJob) { n.Source = json.RawMessage(`{"kind":"watcher"}`) }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Invalid {
				t.Fatalf("Validate = %v (%T), want an *apperr.Error of kind Invalid", err, err)
			}
			if len(e.Fields) != 1 || e.Fields[0].Name != tt.field {
				t.Fatalf("fields = %+v, want exactly %q", e.Fields, tt.field)
			}
			if !strings.Contains(e.Message, tt.field) {
				t.Errorf("message %q does not name %q", e.Message, tt.field)
			}
		})
	}
}

// TestRetryAfter: the backoff grows with each failure and is capped, so a
// flaky job waits longer each time but never for hours.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		failed int
		want   time.Duration
	}{
		{1, 10 * time.Second},
		{2, 40 * time.Second},
		{3, 90 * time.Second},
		{7, 490 * time.Second},
		{8, 10 * time.Minute}, // 640 s, capped
		{50, 10 * time.Minute},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.failed); got != tt.want {
			t.Errorf("retryAfter(%d) = %s, want %s", tt.failed, got, tt.want)
		}
	}
	for n := 2; n <= 100; n++ {
		if retryAfter(n) < retryAfter(n-1) {
			t.Fatalf("retryAfter(%d) = %s < retryAfter(%d) = %s", n, retryAfter(n), n-1, retryAfter(n-1))
		}
	}
}

// TestDecideRetry: a failed attempt is retried while it is worth retrying
// and fewer than max_retries attempts have failed; otherwise the job ends.
func TestDecideRetry(t *testing.T) {
	tests := []struct {
		name       string
		retryCount int // failures before this one
		maxRetries int
		retryable  bool
		want       Retry
	}{
		{"first failure of three allowed", 0, 3, true, Retry{Again: true, After: 10 * time.Second}},
		{"second failure of three allowed", 1, 3, true, Retry{Again: true, After: 40 * time.Second}},
		{"third failure of three allowed ends it", 2, 3, true, Retry{}},
		{"beyond max (max lowered since) ends it", 5, 3, true, Retry{}},
		{"not retryable ends it at once", 0, 3, false, Retry{}},
		{"max_retries 1: the first failure ends it", 0, 1, true, Retry{}},
		{"max_retries 0: never retried", 0, 0, true, Retry{}},
		{"many allowed: the backoff is capped", 9, 20, true, Retry{Again: true, After: 10 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decideRetry(Job{RetryCount: tt.retryCount, MaxRetries: tt.maxRetries}, tt.retryable)
			if got != tt.want {
				t.Fatalf("decideRetry = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestStatusAfter: only the lifecycle events change a job's status; every
// other event type (a phase, a file, a ticket) leaves it as it is. It runs
// over eventlog.Types, so a new event type must be placed here too.
func TestStatusAfter(t *testing.T) {
	want := map[eventlog.Type]Status{
		eventlog.Started:   Running,
		eventlog.Retrying:  Pending,
		eventlog.Completed: Completed,
		eventlog.Failed:    Failed,
		eventlog.Cancelled: Cancelled,
	}
	seen := 0
	for _, typ := range eventlog.Types {
		t.Run(string(typ), func(t *testing.T) {
			got, ok := StatusAfter(typ)
			w, changes := want[typ]
			if changes {
				seen++
			}
			if ok != changes || got != w {
				t.Fatalf("StatusAfter(%s) = %q, %v; want %q, %v", typ, got, ok, w, changes)
			}
		})
	}
	if seen != len(want) {
		t.Fatalf("eventlog.Types holds %d of the %d status-changing types", seen, len(want))
	}
	if got, ok := StatusAfter("no-such-type"); ok || got != "" {
		t.Fatalf("StatusAfter(unknown) = %q, %v", got, ok)
	}
}

// TestCheckCancel: pending and running jobs can be cancelled; a finished
// one is a Conflict whose message says what state it is in.
func TestCheckCancel(t *testing.T) {
	tests := []struct {
		status   Status
		conflict bool
	}{
		{Pending, false},
		{Running, false},
		{Completed, true},
		{Failed, true},
		{Cancelled, true},
	}
	if len(tests) != len(Statuses) {
		t.Fatalf("the table covers %d statuses, Statuses has %d", len(tests), len(Statuses))
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			if tt.status.Terminal() != tt.conflict {
				t.Errorf("Terminal() = %v, want %v", tt.status.Terminal(), tt.conflict)
			}
			err := checkCancel(Job{Status: tt.status})
			if !tt.conflict {
				if err != nil {
					t.Fatalf("checkCancel = %v, want nil", err)
				}
				return
			}
			if apperr.KindOf(err) != apperr.Conflict {
				t.Fatalf("checkCancel = %v, want a Conflict", err)
			}
			if !strings.Contains(err.Error(), string(tt.status)) {
				t.Errorf("message %q does not say the job is %s", err, tt.status)
			}
		})
	}
}

// TestRetryAfterNeverOverflows: however many attempts failed, the wait is
// the cap, never a negative duration that would make a job run at once.
func TestRetryAfterNeverOverflows(t *testing.T) {
	for _, n := range []int{8, 100, 1 << 20, 1 << 40} {
		if got := retryAfter(n); got != 10*time.Minute {
			t.Errorf("retryAfter(%d) = %s, want the 10 min cap", n, got)
		}
	}
}
