package procs

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

func TestAlive(t *testing.T) {
	self, err := Identity(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	zombie := exec.Command("/bin/true")
	if err := zombie.Start(); err != nil {
		t.Skipf("skipping: cannot start /bin/true: %v", err)
	}
	defer zombie.Wait()
	// Wait until the child has exited but is not reaped yet.
	var zid string
	for deadline := time.Now().Add(10 * time.Second); ; {
		id, state, err := stat(zombie.Process.Pid)
		if err == nil && state == "Z" {
			zid = id
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child did not become a zombie")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		identity string
		want     bool
	}{
		{self, true},
		{zid, false},           // exited, not reaped
		{pid + " 1", false},    // same pid, another start time: pid reused
		{"", false},            // malformed
		{"x 1", false},         // malformed
		{"999999999 1", false}, // no such process
	} {
		if got := Alive(tc.identity); got != tc.want {
			t.Errorf("Alive(%q) = %v, want %v", tc.identity, got, tc.want)
		}
	}
}
