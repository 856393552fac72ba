package validate_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/validate"
)

type (
	required struct {
		A string `json:"a" validate:"required"`
	}
	maxText struct {
		S string `json:"s" validate:"max=3"`
	}
	minText struct {
		S string `json:"s" validate:"min=2"`
	}
	number struct {
		N int `json:"n" validate:"min=1,max=10"`
	}
	optional struct {
		P *string `json:"p" validate:"omitempty,min=1,max=3"`
		N *int    `json:"n" validate:"omitempty,min=0,max=10"`
	}
	oneOf struct {
		O string `json:"o" validate:"oneof=servicenow jira"`
	}
	uuidField struct {
		U string `json:"u" validate:"uuid"`
	}
	object struct {
		J json.RawMessage `json:"j" validate:"object"`
	}
	text struct {
		T string `json:"t" validate:"text"`
	}
	misc struct {
		URL   string `json:"url" validate:"omitempty,http_url"`
		Email string `json:"email" validate:"omitempty,email"`
		Bare  string `json:"bare" validate:"omitempty,excludesall=<>"`
		Alpha string `json:"alpha" validate:"omitempty,alpha"`
	}
	tagged struct {
		JobType string `json:"job_type,omitempty" validate:"required"`
		NoJSON  string `validate:"required"`
	}
	leaf struct {
		Jira json.RawMessage `json:"jira" validate:"object"`
	}
	middle struct {
		Payloads leaf `json:"payloads"`
	}
	outer struct {
		Request middle `json:"request"`
		Name    string `json:"name" validate:"required"`
	}
)

// field is one expected problem.
type field struct{ name, message string }

// TestRules: each rule refuses what it should with a message a person can
// act on, naming the field as the client spelled it, and accepts the rest.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want []field // nil: valid
	}{
		{"required: missing", required{}, []field{{"a", "is required"}}},
		{"required: present", required{A: "x"}, nil},

		// Characters, not bytes: what a person counts, and what
		// PostgreSQL's varchar(n) counts.
		{"max: 3 ASCII", maxText{"abc"}, nil},
		{"max: 4 ASCII", maxText{"abcd"}, []field{{"s", "must be at most 3 characters"}}},
		{"max: 3 two-byte runes (6 bytes)", maxText{"ééé"}, nil},
		{"max: 3 three-byte runes (9 bytes)", maxText{"日本語"}, nil},
		{"max: 3 four-byte runes (12 bytes)", maxText{"🔥🔥🔥"}, nil},
		{"max: 4 four-byte runes", maxText{"🔥🔥🔥🔥"}, []field{{"s", "must be at most 3 characters"}}},
		{"min: 1 two-byte rune (2 bytes)", minText{"é"}, []field{{"s", "must be at least 2 characters"}}},
		{"min: 2 runes", minText{"éé"}, nil},
		{"min on a number", number{0}, []field{{"n", "must be at least 1"}}},
		{"max on a number", number{11}, []field{{"n", "must be at most 10"}}},
		{"number in range", number{10}, nil},
		{"optional pointers absent", optional{}, nil},
		{"optional text pointer to empty", optional{P: new("")}, []field{{"p", "must not be empty"}}},
		{"optional text pointer too long", optional{P: new("abcd")}, []field{{"p", "must be at most 3 characters"}}},
		{"optional number pointer to 0 is checked and valid", optional{N: new(0)}, nil},
		{"optional number pointer out of range", optional{N: new(-1)}, []field{{"n", "must be at least 0"}}},

		{"oneof: allowed", oneOf{"jira"}, nil},
		{"oneof: other", oneOf{"pagerduty"}, []field{{"o", "must be one of servicenow, jira"}}},
		{"oneof: case matters", oneOf{"Jira"}, []field{{"o", "must be one of servicenow, jira"}}},
		{"oneof: empty", oneOf{""}, []field{{"o", "must be one of servicenow, jira"}}},

		{"uuid: lower case", uuidField{"6f1c1f3e-8a51-4c55-9a39-0a4a0e6c2b11"}, nil},
		{"uuid: upper case", uuidField{"6F1C1F3E-8A51-4C55-9A39-0A4A0E6C2B11"}, nil},
		{"uuid: not one", uuidField{"job-1"}, []field{{"u", "must be a UUID"}}},
		{"uuid: without dashes", uuidField{"6f1c1f3e8a514c559a390a4a0e6c2b11"}, []field{{"u", "must be a UUID"}}},
		{"uuid: empty", uuidField{""}, []field{{"u", "must be a UUID"}}},

		{"object: absent", object{}, nil},
		{"object: null", object{json.RawMessage(`null`)}, nil},
		{"object: an object", object{json.RawMessage(`{"a":[1]}`)}, nil},
		{"object: an object after spaces", object{json.RawMessage(" \n{}")}, nil},
		{"object: an array", object{json.RawMessage(`[{}]`)}, []field{{"j", "must be a JSON object"}}},
		{"object: a string", object{json.RawMessage(`"{}"`)}, []field{{"j", "must be a JSON object"}}},
		{"object: a number", object{json.RawMessage(`1`)}, []field{{"j", "must be a JSON object"}}},
		{"object: false", object{json.RawMessage(`false`)}, []field{{"j", "must be a JSON object"}}},

		{"text: plain", text{"disk full on db-1"}, nil},
		{"text: accents, CJK, emoji", text{"ünïcødé 日本 🎉"}, nil},
		{"text: empty", text{""}, nil},
		{"text: NUL (PostgreSQL cannot store it)", text{"a\x00b"}, []field{{"t", "must be text without control characters"}}},
		{"text: escape (terminal control)", text{"\x1b[2J"}, []field{{"t", "must be text without control characters"}}},
		// Tabs and newlines are control characters too, so single-line
		// fields refuse them; Text is for names and labels, not bodies.
		{"text: tab", text{"a\tb"}, []field{{"t", "must be text without control characters"}}},
		{"text: newline", text{"a\nb"}, []field{{"t", "must be text without control characters"}}},
		{"text: carriage return", text{"a\rb"}, []field{{"t", "must be text without control characters"}}},
		{"text: DEL", text{"a\x7fb"}, []field{{"t", "must be text without control characters"}}},
		{"text: C1 control (NEL)", text{"a\u0085b"}, []field{{"t", "must be text without control characters"}}},
		{"text: invalid UTF-8", text{"a\xffb"}, []field{{"t", "must be text without control characters"}}},

		{"http_url", misc{URL: "ftp://example.com"}, []field{{"url", "must be an http or https URL"}}},
		{"email", misc{Email: "not-an-email"}, []field{{"email", "must be an email address"}}},
		{"excludesall", misc{Bare: "<b>"}, []field{{"bare", "must not contain <>"}}},
		{"a rule without its own message", misc{Alpha: "a1"}, []field{{"alpha", "is invalid (alpha)"}}},
		{"misc valid", misc{URL: "https://example.com/x", Email: "a@example.com", Bare: "b", Alpha: "abc"}, nil},

		// Names: the JSON name without its options, the Go name when
		// there is no JSON tag; nested fields by their path under the
		// request, without the Go type's name.
		{"json name without options", tagged{NoJSON: "x"}, []field{{"job_type", "is required"}}},
		{"no json tag: the Go name", tagged{JobType: "x"}, []field{{"NoJSON", "is required"}}},
		{"nested struct", outer{Name: "x", Request: middle{Payloads: leaf{Jira: json.RawMessage(`[]`)}}},
			[]field{{"request.payloads.jira", "must be a JSON object"}}},
		{"pointer to a struct", &outer{Name: "x", Request: middle{Payloads: leaf{Jira: json.RawMessage(`1`)}}},
			[]field{{"request.payloads.jira", "must be a JSON object"}}},
		{"several, in field order", outer{Request: middle{Payloads: leaf{Jira: json.RawMessage(`[]`)}}},
			[]field{{"request.payloads.jira", "must be a JSON object"}, {"name", "is required"}}},
		{"several, each broken rule of a struct", tagged{}, []field{{"job_type", "is required"}, {"NoJSON", "is required"}}},
		{"valid nested", outer{Name: "x", Request: middle{Payloads: leaf{Jira: json.RawMessage(`{}`)}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate.Struct(tt.v)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Struct = %v, want nil", err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Invalid {
				t.Fatalf("Struct = %v (%T), want an *apperr.Error of kind Invalid", err, err)
			}
			var got []field
			for _, f := range e.Fields {
				got = append(got, field{f.Name, f.Message})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("fields = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestMessage: one problem is spelled out in the detail; several are
// counted, and the client reads them from the fields.
func TestMessage(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"one", required{}, "Invalid a: is required."},
		{"one nested", outer{Name: "x", Request: middle{Payloads: leaf{Jira: json.RawMessage(`[]`)}}},
			"Invalid request.payloads.jira: must be a JSON object."},
		{"two", outer{Request: middle{Payloads: leaf{Jira: json.RawMessage(`[]`)}}}, "The request has 2 invalid values; see errors."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate.Struct(tt.v)
			e, ok := apperr.As(err)
			if !ok || e.Message != tt.want {
				t.Fatalf("message = %v, want %q", err, tt.want)
			}
			// The edge maps by kind; errors.Is must see it through
			// wrapping.
			if !errors.Is(errors.Join(errors.New("context"), err), &apperr.Error{Kind: apperr.Invalid}) {
				t.Error("errors.Is does not find the Invalid kind")
			}
		})
	}
}

// TestValidReturnsUntypedNil: a valid struct gives a nil error interface,
// not a typed nil that callers would take for a failure.
func TestValidReturnsUntypedNil(t *testing.T) {
	for _, v := range []any{required{A: "x"}, &required{A: "x"}, text{}, object{}} {
		if err := validate.Struct(v); err != nil {
			t.Fatalf("Struct(%#v) = %#v, want nil", v, err)
		}
	}
	if err := validate.New().Struct(required{}); apperr.KindOf(err) != apperr.Invalid {
		t.Fatalf("a Validator of its own: %v, want Invalid", err)
	}
}

func TestFields(t *testing.T) {
	if err := validate.Fields(); err != nil {
		t.Fatalf("Fields() = %v, want nil", err)
	}
	err := validate.Fields(apperr.Field{Name: "limit", Message: "must be at most 100"})
	if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Message != "Invalid limit: must be at most 100." {
		t.Fatalf("Fields(one) = %v", err)
	}
	err = validate.Fields(apperr.Field{Name: "a", Message: "x"}, apperr.Field{Name: "b", Message: "y"}, apperr.Field{Name: "c", Message: "z"})
	if e, ok := apperr.As(err); !ok || !strings.HasPrefix(e.Message, "The request has 3 invalid values") || len(e.Fields) != 3 {
		t.Fatalf("Fields(three) = %v", err)
	}
}

// TestText is the rule as other packages call it directly (query
// parameters, headers).
func TestText(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", true},
		{"plain text", true},
		{"ünïcødé 🎉", true},
		{"zero\u200bwidth", true}, // a format character, not a control one
		{"\x00", false},
		{"tab\there", false},
		{"line\nbreak", false},
		{"\x1b", false},
		{"\x7f", false},
		{"\u009f", false},
		{"\xc3", false}, // a truncated two-byte rune
	}
	for _, tt := range tests {
		if got := validate.Text(tt.s); got != tt.want {
			t.Errorf("Text(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// TestNotAStructIsTheCallersBug: validating something that is not a struct
// must not pass silently as valid, nor look like the client's mistake.
func TestNotAStructIsTheCallersBug(t *testing.T) {
	err := validate.Struct(42)
	if err == nil || apperr.KindOf(err) != apperr.Internal {
		t.Fatalf("Struct(42) = %v (kind %q), want an internal error", err, apperr.KindOf(err))
	}
}
