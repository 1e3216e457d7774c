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
		{[]string{"run", "--cpus", "0", "x"}, "--cpus 0: want 1 to 64"},
		{[]string{"run", "--cpus", "-1", "x"}, "--cpus -1: want 1 to 64"},
		{[]string{"run", "--cpus", "65", "x"}, "--cpus 65: want 1 to 64"},
		{[]string{"run", "--mem", "lots", "x"}, `--mem: "lots": want a positive size`},
		{[]string{"run", "--mem", "0", "x"}, `--mem: "0": want a positive size`},
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

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"4096": 4096, "512M": 512 << 20, "8G": 8 << 30, "8GiB": 8 << 30, "1t": 1 << 40, "64k": 64 << 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "1.5G", "99999999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

// TestOutOfMemoryNamed runs a guest that allocates until it runs out of a
// small --mem: the summary must say the guest ran out of memory.
func TestOutOfMemoryNamed(t *testing.T) {
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		t.Skipf("hv needs /dev/kvm: %v", err)
	} else {
		f.Close()
	}
	bin := filepath.Join(t.TempDir(), "oom")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/oom")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	var out, errb bytes.Buffer
	code, err := Main(context.Background(), []string{"run", "--mem", "256M", bin}, &out, &errb)
	if (code == 0 && err == nil) || !strings.Contains(errb.String(), "hv: the guest ran out of its 256 MiB of memory") {
		t.Fatalf("exit %d, error %v; stderr:\n%s", code, err, tail(errb.String(), 2000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
