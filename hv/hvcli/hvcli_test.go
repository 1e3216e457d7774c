package hvcli

import (
	"bytes"
	"context"
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
		if code := Main(context.Background(), tc.args, &out, &errb); code != 2 {
			t.Errorf("Main(%q) = %d, want 2", tc.args, code)
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("Main(%q) stderr %q, want it to mention %q", tc.args, errb.String(), tc.want)
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
	code := Main(context.Background(), []string{"run", "--seed", "7", bin, "5"}, &out, &errb)
	if code != 5 {
		t.Fatalf("exit code %d, want 5; stderr %s", code, errb.String())
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
	if code := Main(context.Background(), []string{"run", enosys}, &out, &errb); code != 0 {
		t.Fatalf("enosys exit code %d; stderr %s", code, errb.String())
	}
	if want := "hv: " + enosys + " called unimplemented syscalls (they returned an error): acct (1)\n"; !strings.Contains(errb.String(), want) {
		t.Errorf("summary %q lacks %q", errb.String(), want)
	}
	var dr bytes.Buffer
	if Doctor(&dr) != 0 || !strings.Contains(dr.String(), "trap strategy") {
		t.Errorf("Doctor: %s", dr.String())
	}
}
