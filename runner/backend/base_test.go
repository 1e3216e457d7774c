package backend

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/faults"
)

func TestSupportCheck(t *testing.T) {
	errJump := fmt.Errorf("clock_jump: %w here", ErrUnsupported)
	s := Support{Backend: "toy", Can: []faults.ActionKind{faults.ActKill, faults.ActRestart},
		Cannot: map[faults.ActionKind]error{faults.ActClockJump: errJump}}
	for _, k := range []faults.ActionKind{faults.ActKill, faults.ActRestart} {
		if err := s.Check(k); err != nil {
			t.Errorf("Check(%s) = %v, want nil", k, err)
		}
	}
	if err := s.Check(faults.ActClockJump); err != errJump {
		t.Errorf("Check(clock_jump) = %v, want the backend's own error %v", err, errJump)
	}
	err := s.Check("no_such_kind")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "toy backend") || !strings.Contains(err.Error(), "no_such_kind") {
		t.Errorf("Check(no_such_kind) = %v, want an ErrUnsupported error naming the kind and the backend", err)
	}
}

func TestNewRunID(t *testing.T) {
	id := NewRunID()
	if len(id) != RunIDLen || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("NewRunID() = %q, want %d hex digits", id, RunIDLen)
	}
}

func TestNetPrefix(t *testing.T) {
	for _, tt := range []struct {
		index int
		want  string
	}{
		{0, "mvpabcde00"},
		{35, "mvpabcde0z"},
		{36, "mvpabcde10"},
		{36*36 + 1, "mvpabcde01"},
	} {
		if got := NetPrefix("mvp", "abcde", tt.index); got != tt.want {
			t.Errorf("NetPrefix(mvp, abcde, %d) = %q, want %q", tt.index, got, tt.want)
		}
	}
}

func TestEnvList(t *testing.T) {
	got := EnvList(map[string]string{"B": "2", "A": "1", "C": "x=y"})
	want := []string{"A=1", "B=2", "C=x=y"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("EnvList = %q, want %q", got, want)
	}
}
