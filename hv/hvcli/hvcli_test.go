package hvcli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage: mvrun hv run"},
		{[]string{"fly"}, "usage: mvrun hv run"},
		{[]string{"run"}, "usage: mvrun hv run"},
		{[]string{"run", "--seed", "zz", "x"}, "want a decimal or 0x-prefixed hex"},
		{[]string{"run", "--env", "NOEQUALS", "x"}, "want KEY=VALUE"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		_, err := Main(context.Background(), tc.args, &out, &errb)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("Main(%q) error %v, want one wrapping ErrUsage", tc.args, err)
			continue
		}
		if said := errb.String() + err.Error(); !strings.Contains(said, tc.want) {
			t.Errorf("Main(%q) stderr %q and error %q, want them to mention %q", tc.args, errb.String(), err, tc.want)
		}
	}
}

func TestRunPassesThrough(t *testing.T) {
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		t.Skipf("hv needs /dev/kvm: %v", err)
	} else {
		f.Close()
	}
	bin := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-o", bin, "../testdata/guests/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	var out, errb bytes.Buffer
	code, err := Main(context.Background(), []string{"run", "--seed", "7", bin, "5"}, &out, &errb)
	if err != nil || code != 5 {
		t.Fatalf("exit code %d, error %v, want 5 and none; stderr %s", code, err, errb.String())
	}
	if out.String() != "hello from the guest [5]\n" {
		t.Fatalf("stdout %q", out.String())
	}
	for _, want := range []string{"seed 0x0000000000000007", "trace ", "virtual "} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("summary %q lacks %q", errb.String(), want)
		}
	}
	enosys := filepath.Join(t.TempDir(), "enosys")
	cmd = exec.Command("go", "build", "-o", enosys, "../testdata/guests/enosys")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	errb.Reset()
	if code, err := Main(context.Background(), []string{"run", enosys}, &out, &errb); err != nil || code != 0 {
		t.Fatalf("enosys exit code %d, error %v; stderr %s", code, err, errb.String())
	}
	if want := "hv: " + enosys + " called unimplemented syscalls (they returned an error): acct (1)\n"; !strings.Contains(errb.String(), want) {
		t.Errorf("summary %q lacks %q", errb.String(), want)
	}
	var dr bytes.Buffer
	if ok, err := Doctor(&dr); !ok || err != nil || !strings.Contains(dr.String(), "trap strategy") {
		t.Errorf("Doctor: %v, %v: %s", ok, err, dr.String())
	}
}
