package api

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
)

// TestWhoMayActOnAJob is the ownership table: every route that takes a
// job, for its owner, another user, an admin and an anonymous caller,
// under JOB_VISIBILITY owner and team, in AUTH_MODE=writes. Reads follow
// AUTH_MODE (open here); changes are the owner's and the admins' unless
// the visibility is team. A job with no owner (created with authentication
// off) is anyone's to change once signed in.
func TestWhoMayActOnAJob(t *testing.T) {
	d := newLiveDB(t)
	type route struct {
		name, method, path, body string
		write                    bool
		ok                       int
	}
	routes := func(job uuid.UUID) []route {
		id := job.String()
		return []route{
			{"GET job", "GET", "/api/jobs/" + id, "", false, 200},
			{"GET job events", "GET", "/api/jobs/" + id + "/events", "", false, 200},
			{"GET job tickets", "GET", "/api/tickets/" + id, "", false, 200},
			{"POST ticket", "POST", "/api/tickets", `{"job_id":"` + id + `","platform":"jira"}`, true, 201},
			{"POST dispatch", "POST", "/api/tickets/dispatch", `{"job_id":"` + id + `"}`, true, 201},
			{"POST cancel", "POST", "/api/jobs/" + id + "/cancel", "", true, 200}, // last: it ends the job
		}
	}
	for _, vis := range jobs.Visibilities {
		t.Run(string(vis), func(t *testing.T) {
			h := newEdgeWithPolicy(t, d, eventlog.New(d), jobs.Policy{Visibility: vis}, Options{AuthMode: auth.ModeWrites}, nil)
			callers := map[string]*client{"anonymous": {h: h}}
			for _, name := range []string{"owner", "other", "admin"} {
				username := fmt.Sprintf("%s-%s", name, vis)
				c := &client{h: h}
				if rec := c.json("POST", "/api/auth/register", fmt.Sprintf(
					`{"email":"%s@example.com","username":"%s","password":"password-of-%s"}`, username, username, username)); rec.Code != 201 {
					t.Fatalf("register %s = %d %s", username, rec.Code, rec.Body)
				}
				if name == "admin" {
					if _, err := d.Exec(t.Context(), `UPDATE users SET role = 'admin' WHERE username = $1`, username); err != nil {
						t.Fatal(err)
					}
				}
				c.signIn(t, username, "password-of-"+username)
				callers[name] = c
			}
			newJob := func(ownerless bool) uuid.UUID {
				creator := callers["owner"]
				rec := creator.json("POST", "/api/jobs", `{"job_type":"rca_analysis"}`)
				if rec.Code != 201 {
					t.Fatalf("create = %d %s", rec.Code, rec.Body)
				}
				var j jobs.Job
				_ = json.Unmarshal(rec.Body.Bytes(), &j)
				if j.OwnerID == nil {
					t.Fatal("a signed-in caller's job has no owner_id")
				}
				if ownerless {
					if _, err := d.Exec(t.Context(), `UPDATE jobs SET owner_id = NULL WHERE id = $1`, j.ID); err != nil {
						t.Fatal(err)
					}
				}
				return j.ID
			}
			for _, ownerless := range []bool{false, true} {
				for _, who := range []string{"owner", "other", "admin", "anonymous"} {
					job := newJob(ownerless)
					for _, r := range routes(job) {
						name := fmt.Sprintf("%s/ownerless=%v/%s", who, ownerless, r.name)
						rec := callers[who].json(r.method, r.path, r.body)
						want := r.ok
						switch {
						case !r.write:
						case who == "anonymous":
							want = 401
						case who == "other" && vis == jobs.VisibilityOwner && !ownerless:
							want = 403
						}
						if rec.Code != want {
							t.Errorf("%s = %d, want %d: %s", name, rec.Code, want, rec.Body)
							continue
						}
						if want == 403 {
							if p := decodeProblem(t, rec); p.Type != typeForbidden || p.Detail == "" {
								t.Errorf("%s: problem %+v", name, p)
							}
						}
					}
				}
			}
		})
	}
}
