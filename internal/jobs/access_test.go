package jobs

import (
	"errors"
	"testing"

	"github.com/google/uuid"
)

func TestMayChange(t *testing.T) {
	owner, other := uuid.New(), uuid.New()
	owned := Job{ID: uuid.New(), OwnerID: &owner}
	nobodys := Job{ID: uuid.New()}
	tests := []struct {
		name string
		vis  Visibility
		a    *Actor
		j    Job
		ok   bool
	}{
		{"nobody checked (AUTH_MODE=off, a worker)", VisibilityOwner, nil, owned, true},
		{"the owner", VisibilityOwner, &Actor{UserID: owner}, owned, true},
		{"another user", VisibilityOwner, &Actor{UserID: other}, owned, false},
		{"an admin", VisibilityOwner, &Actor{UserID: other, Admin: true}, owned, true},
		{"another user, team visibility", VisibilityTeam, &Actor{UserID: other}, owned, true},
		{"another user, nobody's job", VisibilityOwner, &Actor{UserID: other}, nobodys, true},
		{"the zero policy is owner", "", &Actor{UserID: other}, owned, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Policy{Visibility: tt.vis}.MayChange(tt.a, tt.j)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrNotYours)) {
				t.Fatalf("MayChange = %v, want allowed=%v", err, tt.ok)
			}
		})
	}
}

func TestMaySee(t *testing.T) {
	owner, other := uuid.New(), uuid.New()
	owned := Job{ID: uuid.New(), OwnerID: &owner}
	nobodys := Job{ID: uuid.New()}
	tests := []struct {
		name string
		vis  Visibility
		a    *Actor
		j    Job
		want error
	}{
		{"AUTH_MODE=off", VisibilityOwner, nil, owned, nil},
		{"the owner", VisibilityOwner, &Actor{UserID: owner}, owned, nil},
		{"an admin", VisibilityOwner, &Actor{UserID: other, Admin: true}, owned, nil},
		{"another user", VisibilityOwner, &Actor{UserID: other}, owned, ErrMayNotSee},
		{"another user, team visibility", VisibilityTeam, &Actor{UserID: other}, owned, nil},
		{"another user, nobody's job", VisibilityOwner, &Actor{UserID: other}, nobodys, nil},
		{"anonymous, open reads", VisibilityOwner, &Actor{}, nobodys, ErrSignInToSee},
		{"anonymous, team visibility", VisibilityTeam, &Actor{}, owned, ErrSignInToSee},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := (Policy{Visibility: tt.vis}).MaySee(tt.a, tt.j); !errors.Is(err, tt.want) && err != tt.want {
				t.Fatalf("MaySee = %v, want %v", err, tt.want)
			}
		})
	}
}
