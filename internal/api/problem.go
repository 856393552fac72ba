package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rca-engine/api/internal/dependency"
)

// Problem is an RFC 9457 problem detail. The original UI shows `detail`, so
// every problem has a sentence there a person can read.
type Problem struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Status     int             `json:"status"`
	Detail     string          `json:"detail"`
	Instance   string          `json:"instance,omitempty"`
	RequestID  string          `json:"request_id,omitempty"`
	Errors     []FieldError    `json:"errors,omitempty"`
	Dependency *DependencyInfo `json:"dependency,omitempty"`
}

// FieldError names one invalid input, by its JSON or query name.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// DependencyInfo tells a client which dependency refused its request and
// when it is worth trying again.
type DependencyInfo struct {
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	Cause      string     `json:"cause,omitempty"`
	Since      time.Time  `json:"since"`
	NextRetry  *time.Time `json:"next_retry,omitempty"`
	RetryAfter int        `json:"retry_after_seconds"`
}

const (
	typeUnavailable = "urn:rca:problem:dependency-unavailable"
	typeValidation  = "urn:rca:problem:validation"
)

// writeProblem sends p as application/problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = r.URL.Path
	p.RequestID = requestID(r.Context())
	writeJSONType(w, p.Status, "application/problem+json", p)
}

func notFound(w http.ResponseWriter, r *http.Request, detail string) {
	writeProblem(w, r, Problem{Status: http.StatusNotFound, Detail: detail})
}

func invalid(w http.ResponseWriter, r *http.Request, errs []FieldError) {
	detail := "The request has an invalid value."
	if len(errs) == 1 {
		detail = fmt.Sprintf("Invalid %s: %s.", errs[0].Field, errs[0].Message)
	} else if len(errs) > 1 {
		detail = fmt.Sprintf("The request has %d invalid values; see errors.", len(errs))
	}
	writeProblem(w, r, Problem{Type: typeValidation, Status: http.StatusUnprocessableEntity,
		Title: "Invalid request", Detail: detail, Errors: errs})
}

var dependencyTitles = map[string]string{"postgres": "PostgreSQL", "redis": "Redis", "storage": "File storage"}

// unavailable answers 503 with Retry-After for a dependency that is down.
func unavailable(w http.ResponseWriter, r *http.Request, st dependency.State, now time.Time) {
	name := dependencyTitles[st.Name]
	if name == "" {
		name = st.Name
	}
	detail := fmt.Sprintf("%s is unavailable; the service is reconnecting. Try again shortly.", name)
	switch st.Cause {
	case dependency.CauseTimeout:
		detail = fmt.Sprintf("%s did not answer in time. Try again shortly.", name)
	case dependency.CauseAuthFailed:
		detail = fmt.Sprintf("%s refused the service's credentials; an operator must fix the configuration.", name)
	case dependency.CauseDatabaseMissing:
		detail = fmt.Sprintf("The %s database does not exist yet; an operator must create it.", name)
	case dependency.CauseMigrationFailed:
		detail = fmt.Sprintf("The %s schema could not be brought up to date; an operator must look at the logs.", name)
	}
	retry := st.RetryAfter(now)
	info := &DependencyInfo{Name: st.Name, Status: string(st.Status), Cause: string(st.Cause),
		Since: st.Since, RetryAfter: retry}
	if !st.NextRetry.IsZero() {
		next := st.NextRetry
		info.NextRetry = &next
	}
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	// This answer is itself evidence that the dependency is impaired, even
	// if its supervisor has not confirmed it yet.
	w.Header().Add("X-Degraded", st.Name)
	writeProblem(w, r, Problem{Type: typeUnavailable, Status: http.StatusServiceUnavailable,
		Title: "Dependency unavailable", Detail: detail, Dependency: info})
}
