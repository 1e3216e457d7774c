package network

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// crashEnv makes the test binary act as a runner that gets killed: it
// builds a network under the prefix in the variable, says "ready" and waits.
const crashEnv = "MVRUN_NETWORK_CRASH_PREFIX"

func TestMain(m *testing.M) {
	if prefix := os.Getenv(crashEnv); prefix != "" {
		crashHelper(prefix)
		return
	}
	os.Exit(m.Run())
}

func crashHelper(prefix string) {
	n, err := New(Config{Prefix: prefix, Subnet: netip.MustParsePrefix("10.77.5.0/24")})
	if err == nil {
		_, err = n.AddNode("a")
	}
	if err == nil {
		_, err = n.AddNode("b")
	}
	if err == nil {
		// A link that, unlike our TAP devices, outlives its maker.
		err = persistentLink(prefix + "-dum")
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute) // killed long before
	os.Exit(1)
}

func TestSweepAfterCrash(t *testing.T) {
	needRoot(t)
	prefix := testPrefix()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+prefix)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		Sweep(func(name string) bool { return strings.HasPrefix(name, prefix) })
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("crash helper said %q", line)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	left := leftovers(t, prefix)
	want := []string{"netns " + prefix + "-a", "netns " + prefix + "-b", "link " + prefix + "-dum"}
	for _, w := range want {
		found := false
		for _, l := range left {
			found = found || l == w
		}
		if !found {
			t.Errorf("after SIGKILL, expected leftover %q; have %v", w, left)
		}
	}
	// Another run's names must survive a sweep for this prefix.
	other := testPrefix()
	keep := other + "-keep"
	if err := persistentLink(keep); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(keep); err == nil {
			netlink.LinkDel(l)
		}
	})

	if err := Sweep(func(name string) bool { return strings.HasPrefix(name, prefix+"-") }); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if left := leftovers(t, prefix); len(left) > 0 {
		t.Errorf("Sweep left %v", left)
	}
	if _, err := netlink.LinkByName(keep); err != nil {
		t.Errorf("Sweep removed %s, which it did not match: %v", keep, err)
	}
	// A namespace file that was never mounted (a crash between creating
	// and mounting it) goes too.
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bare := NetnsDir + "/" + prefix + "-bare"
	if err := os.WriteFile(bare, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := Sweep(func(name string) bool { return strings.HasPrefix(name, prefix+"-") }); err != nil {
		t.Fatalf("Sweep of an unmounted file: %v", err)
	}
	if _, err := os.Stat(bare); !os.IsNotExist(err) {
		t.Errorf("Sweep left %s: %v", bare, err)
	}
}

// persistentLink makes a persistent TAP device (this kernel has no dummy
// links), which stays after its file is closed.
func persistentLink(name string) error {
	f, err := openTAP(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.IoctlSetInt(int(f.Fd()), unix.TUNSETPERSIST, 1)
}
