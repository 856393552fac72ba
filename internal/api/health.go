package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/dependency"
)

// Everything here reads state the supervisors keep fresh in the background:
// no handler touches a dependency, so probes answer in microseconds even
// while PostgreSQL is blackholed, and polling them costs the database nothing.

// live answers while the process serves. It checks nothing else on purpose:
// restarting the process cannot fix a database outage.
func (s *server) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "app": s.opts.AppName, "version": s.opts.Version})
}

// ready is 200 when PostgreSQL is up and migrated, so a load balancer sends
// traffic elsewhere while it is not. READINESS_REQUIRES_DATABASE=false keeps
// it 200 for single-instance set-ups, where there is nowhere else to send it.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	st := s.database.State()
	up := st.Status == dependency.Up
	body := map[string]any{"status": "ready", "database": up, "environment": s.opts.Environment}
	code := http.StatusOK
	if !up {
		body["reason"] = reason(st)
		if s.opts.ReadinessRequiresDB {
			body["status"] = "starting"
			if st.Status == dependency.Down {
				body["status"] = "unavailable"
			}
			w.Header().Set("Retry-After", strconv.Itoa(st.RetryAfter(time.Now())))
			code = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, body)
}

func reason(st dependency.State) string {
	switch {
	case st.Status == dependency.Connecting:
		return st.Name + " connection not yet established"
	case st.Cause != "":
		return st.Name + " " + string(st.Status) + ": " + string(st.Cause)
	}
	return st.Name + " " + string(st.Status)
}

// healthReport follows draft-inadarei-api-health-check-06.
type healthReport struct {
	Status      string                  `json:"status"`
	Version     string                  `json:"version"`
	ServiceID   string                  `json:"serviceId"`
	Description string                  `json:"description"`
	Notes       []string                `json:"notes,omitempty"`
	Checks      map[string][]checkEntry `json:"checks"`
}

type checkEntry struct {
	ComponentType string     `json:"componentType"`
	Status        string     `json:"status"`
	ObservedValue any        `json:"observedValue,omitempty"`
	ObservedUnit  string     `json:"observedUnit,omitempty"`
	Time          *time.Time `json:"time,omitempty"`
	Output        string     `json:"output,omitempty"`

	State         string     `json:"state,omitempty"`
	Cause         string     `json:"cause,omitempty"`
	Since         *time.Time `json:"since,omitempty"`
	Attempts      *int       `json:"attempts,omitempty"`
	TotalAttempts *int64     `json:"totalAttempts,omitempty"`
	NextRetry     *time.Time `json:"nextRetry,omitempty"`
	Pool          *poolStat  `json:"pool,omitempty"`
}

type poolStat struct {
	Total        int32 `json:"total"`
	Idle         int32 `json:"idle"`
	Acquired     int32 `json:"acquired"`
	Constructing int32 `json:"constructing"`
	Max          int32 `json:"max"`
	Acquires     int64 `json:"acquires"`
	EmptyWaits   int64 `json:"emptyAcquires"`
	Canceled     int64 `json:"canceledAcquires"`
	Opened       int64 `json:"opened"`
	ClosedIdle   int64 `json:"closedIdle"`
	ClosedOld    int64 `json:"closedLifetime"`
}

// health is the full report: fail (503) while PostgreSQL is unusable, warn
// (200) while only Redis is, pass otherwise.
//
// A dependency's raw error (which names the database's user, host, port
// and database) is shown to admins only; anyone else gets its state and
// cause, and the logs have the error.
func (s *server) health(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	p, signed := principalOf(r.Context())
	details := signed && p.Role == auth.RoleAdmin
	rep := healthReport{Status: "pass", Version: s.opts.Version, ServiceID: "rca-engine-api",
		Description: s.opts.AppName, Checks: map[string][]checkEntry{}}
	for _, st := range s.deps.States() {
		e := dependencyEntry(st, details)
		if st.Name == s.database.State().Name {
			ps := s.database.PoolStats()
			e.Pool = &poolStat{Total: ps.Total, Idle: ps.Idle, Acquired: ps.Acquired,
				Constructing: ps.Constructing, Max: ps.Max, Acquires: ps.Acquires,
				EmptyWaits: ps.EmptyAcquires, Canceled: ps.CanceledAcquires, Opened: ps.Opened,
				ClosedIdle: ps.ClosedIdle, ClosedOld: ps.ClosedLifetime}
			if st.Degraded() {
				e.Status = "fail"
				rep.Status = "fail"
			}
			mig := checkEntry{ComponentType: "component", Status: "pass"}
			switch {
			case st.Cause == dependency.CauseMigrationFailed:
				mig.Status, mig.Output = "fail", "the schema could not be brought up to date; the logs say why"
				if details {
					mig.Output = st.LastError
				}
			case st.Status == dependency.Up:
				mig.ObservedValue = st.Version
				mig.ObservedUnit = "version"
			default:
				mig.Status, mig.Output = "warn", "not checked while postgres is "+string(st.Status)
			}
			rep.Checks["migrations"] = []checkEntry{mig}
		} else if st.Degraded() {
			e.Status = "warn"
			if rep.Status == "pass" {
				rep.Status = "warn"
			}
		}
		rep.Checks[st.Name] = []checkEntry{e}
	}
	uptime := now.Sub(s.started).Seconds()
	rep.Checks["uptime"] = []checkEntry{{ComponentType: "system", Status: "pass",
		ObservedValue: int64(uptime), ObservedUnit: "s", Time: &now}}
	if names := s.deps.Degraded(); len(names) > 0 {
		rep.Notes = []string{"degraded: " + strings.Join(names, ", ")}
	}
	code := http.StatusOK
	if rep.Status == "fail" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSONType(w, code, "application/health+json", rep)
}

func dependencyEntry(st dependency.State, details bool) checkEntry {
	e := checkEntry{ComponentType: "datastore", Status: "pass", State: string(st.Status),
		Cause: string(st.Cause), Output: publicOutput(st)}
	if details {
		e.Output = st.LastError
	}
	since := st.Since
	e.Since = &since
	if st.Status == dependency.Disabled {
		e.Output = "not configured"
		return e
	}
	attempts, total := st.Attempts, st.TotalAttempts
	e.Attempts, e.TotalAttempts = &attempts, &total
	if !st.LastCheck.IsZero() {
		t := st.LastCheck
		e.Time = &t
	}
	if !st.NextRetry.IsZero() {
		t := st.NextRetry
		e.NextRetry = &t
	}
	if st.Status == dependency.Up {
		e.ObservedValue = float64(st.Latency.Microseconds()) / 1000
		e.ObservedUnit = "ms"
	}
	return e
}

// publicOutput says what is wrong with a dependency without its raw error.
func publicOutput(st dependency.State) string {
	switch st.Cause {
	case "":
		return ""
	case dependency.CauseDatabaseMissing:
		return "the database does not exist; the logs (and this report, to an admin) give the command that creates it"
	case dependency.CauseAuthFailed:
		return "the server refused the service's credentials"
	case dependency.CauseMigrationFailed:
		return "the schema could not be brought up to date"
	case dependency.CauseTimeout:
		return "the server did not answer in time"
	}
	return "the server cannot be reached"
}

// root keeps the original's GET /api/ shape, with a status that tells the
// truth.
func (s *server) root(w http.ResponseWriter, r *http.Request) {
	status := "operational"
	if len(s.deps.Degraded()) > 0 {
		status = "degraded"
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": s.opts.AppName, "version": s.opts.Version,
		"status": status, "docs": "/api/health"})
}

// status keeps the original's GET /api/status shape; the original always
// said "healthy".
func (s *server) status(w http.ResponseWriter, r *http.Request) {
	degraded := s.deps.Degraded()
	status := "healthy"
	if len(degraded) > 0 {
		status = "degraded"
	}
	redisUp := false
	for _, st := range s.deps.States() {
		if st.Name == "redis" {
			redisUp = st.Status == dependency.Up
		}
	}
	if degraded == nil {
		degraded = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status":      status,
		"timestamp":   float64(time.Now().UnixMilli()) / 1000,
		"version":     s.opts.Version,
		"environment": s.opts.Environment,
		"features":    map[string]bool{"redis": redisUp, "metrics": true, "streaming": true},
		"degraded":    degraded,
	})
}
