package process

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// shimArg is the hidden first argument that makes the mvrun binary act as the
// node init shim instead of the CLI.
const shimArg = "__mvrun_node"

// statusFD is the descriptor of the pipe on which the shim reports to the
// runner: one byte when it starts, then an error message if it fails. A
// successful exec closes it (close-on-exec) without further data.
const statusFD = 3

// shimStarted is the byte the shim writes first.
const shimStarted = 'S'

// shimConfig is what the runner tells the shim, as JSON in argv[2].
type shimConfig struct {
	Netns    string        `json:"netns,omitempty"` // path of the node's network namespace
	Hosts    string        `json:"hosts,omitempty"` // file bind-mounted on /etc/hosts
	Hostname string        `json:"hostname,omitempty"`
	Mono     time.Duration `json:"mono,omitempty"` // CLOCK_MONOTONIC and CLOCK_BOOTTIME offset; 0: host time namespace
	// Dir is the working directory, entered by the shim rather than by
	// the fork: it may be a FUSE mount served by the runner itself, and a
	// child that blocks on it between vfork and exec would stall the
	// runner's threads (a stop-the-world waits for the forking one).
	Dir    string   `json:"dir,omitempty"`
	Parent int      `json:"parent"` // the runner's pid
	Path   string   `json:"path"`   // program to exec
	Argv   []string `json:"argv"`
}

// MaybeRunShim turns the current process into a node's init shim if it was
// started as one, and never returns in that case. Programs that use the
// process backend (cmd/mvrun, and the TestMain of tests that boot process
// clusters) must call it first thing in main, before anything else runs.
// In every other process it returns immediately.
func MaybeRunShim() {
	if len(os.Args) < 3 || os.Args[1] != shimArg {
		return
	}
	status := os.NewFile(statusFD, "status")
	if _, err := status.Write([]byte{shimStarted}); err != nil {
		os.Exit(126)
	}
	var cfg shimConfig
	err := json.Unmarshal([]byte(os.Args[2]), &cfg)
	if err == nil {
		err = runShim(&cfg)
	}
	// runShim only returns on failure.
	fmt.Fprintf(status, "node shim: %v", err)
	os.Exit(127)
}

// runShim enters the node's namespaces and execs its program. Namespaces are
// per thread until exec, so everything happens on one locked thread, and exec
// makes that thread the whole process.
func runShim(cfg *shimConfig) error {
	runtime.LockOSThread()
	if cfg.Netns != "" {
		fd, err := unix.Open(cfg.Netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open network namespace: %w", err)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", cfg.Netns, err)
		}
		unix.Close(fd)
	}
	flags := unix.CLONE_NEWNS | unix.CLONE_NEWUTS
	if cfg.Mono != 0 {
		flags |= unix.CLONE_NEWTIME
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare namespaces: %w", err)
	}
	if cfg.Mono != 0 {
		// The new time namespace is only for children until exec moves this
		// process into it; its offsets are writable until then. The file is
		// per task, and only /proc/<tid> names this thread.
		sec := int64(cfg.Mono / time.Second)
		nsec := int64(cfg.Mono % time.Second)
		if nsec < 0 {
			sec--
			nsec += int64(time.Second)
		}
		offs := fmt.Sprintf("monotonic %d %d\nboottime %d %d\n", sec, nsec, sec, nsec)
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/timens_offsets", unix.Gettid()), []byte(offs), 0); err != nil {
			return fmt.Errorf("set clock offset %v: %w", cfg.Mono, err)
		}
	}
	// Keep our mounts out of the host's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if cfg.Hosts != "" {
		if err := unix.Mount(cfg.Hosts, "/etc/hosts", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on /etc/hosts: %w", cfg.Hosts, err)
		}
	}
	if cfg.Dir != "" {
		if err := unix.Chdir(cfg.Dir); err != nil {
			return fmt.Errorf("enter working directory %s: %w", cfg.Dir, err)
		}
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	// The runner sets this too; setting it here again covers the window in
	// which the runner thread that forked us could have gone away.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent-death signal: %w", err)
	}
	if os.Getppid() != cfg.Parent {
		return fmt.Errorf("the runner exited while the node was starting")
	}
	unix.CloseOnExec(statusFD)
	err := unix.Exec(cfg.Path, cfg.Argv, os.Environ())
	return fmt.Errorf("exec %s: %w", cfg.Path, err)
}
