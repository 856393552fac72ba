package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rca-engine/api/internal/apperr"
)

type unavailable struct{}

func (unavailable) Error() string          { return "postgres is down" }
func (unavailable) ErrorKind() apperr.Kind { return apperr.Unavailable }

func TestKindOf(t *testing.T) {
	notFound := apperr.New(apperr.NotFound, "Job not found")
	tests := []struct {
		name string
		err  error
		want apperr.Kind
	}{
		{"nil", nil, ""},
		{"plain error is internal", errors.New("boom"), apperr.Internal},
		{"direct", notFound, apperr.NotFound},
		{"wrapped with %w", fmt.Errorf("get job: %w", notFound), apperr.NotFound},
		{"other package's kinded error", fmt.Errorf("list: %w", unavailable{}), apperr.Unavailable},
		{"outermost wins", apperr.Wrap(apperr.Conflict, unavailable{}, "busy"), apperr.Conflict},
		{"joined", errors.Join(errors.New("x"), notFound), apperr.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apperr.KindOf(tt.err); got != tt.want {
				t.Fatalf("KindOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestIsMatchesKind(t *testing.T) {
	err := fmt.Errorf("cancel: %w", apperr.New(apperr.Conflict, "The job is already completed."))
	if !errors.Is(err, &apperr.Error{Kind: apperr.Conflict}) {
		t.Fatal("errors.Is does not match an error of the same kind")
	}
	if errors.Is(err, &apperr.Error{Kind: apperr.NotFound}) {
		t.Fatal("errors.Is matches an error of another kind")
	}
}

func TestMessageHidesCause(t *testing.T) {
	cause := errors.New(`pq: invalid input syntax for type json`)
	e := apperr.Wrap(apperr.Invalid, cause, "A value in the request cannot be stored.")
	if e.Message != "A value in the request cannot be stored." {
		t.Fatalf("message = %q", e.Message)
	}
	if !errors.Is(e, cause) {
		t.Fatal("the cause is not in the chain")
	}
}

func TestInvalidf(t *testing.T) {
	e := apperr.Invalidf("priority", "must be from %d to %d", 0, 10)
	if e.Kind != apperr.Invalid || len(e.Fields) != 1 || e.Fields[0].Name != "priority" ||
		e.Message != "Invalid priority: must be from 0 to 10." {
		t.Fatalf("got %+v", e)
	}
}
