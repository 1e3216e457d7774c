package process

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	Mounts   []shimMount   `json:"mounts,omitempty"`
	// ReadOnlyRoot makes the root mount read-only (compose read_only);
	// Writable are directories that stay writable (the node's own
	// directory and SDK files).
	ReadOnlyRoot bool     `json:"read_only_root,omitempty"`
	Writable     []string `json:"writable,omitempty"`
	// Dir is the working directory, entered by the shim rather than by
	// the fork: it may be a FUSE mount served by the runner itself, and a
	// child that blocks on it between vfork and exec would stall the
	// runner's threads (a stop-the-world waits for the forking one).
	Dir    string   `json:"dir,omitempty"`
	Parent int      `json:"parent"` // the runner's pid
	Path   string   `json:"path"`   // program to exec
	Argv   []string `json:"argv"`
}

// shimMount is one compose volume of the node.
type shimMount struct {
	Source   string `json:"source,omitempty"` // "" with Tmpfs
	Target   string `json:"target"`
	ReadOnly bool   `json:"ro,omitempty"`
	Tmpfs    bool   `json:"tmpfs,omitempty"`
	File     bool   `json:"file,omitempty"`
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
	// If the status pipe is gone the spawner sees EOF instead, which it
	// reports as a shim failure too.
	_, _ = fmt.Fprintf(status, "node shim: %v", err)
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
	if err := mountVolumes(cfg); err != nil {
		return err
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

// mountVolumes mounts the node's volumes in its mount namespace, in order
// (parents first), and then makes the root read-only if asked. A target
// missing on the host is created there (an empty directory or file) as a
// mount point: a mount namespace shares the host's files, and a mount
// needs somewhere to go. Those mount points are left behind on purpose:
// removing one while another run's node has a mount on it would detach
// that mount.
func mountVolumes(cfg *shimConfig) error {
	for _, m := range cfg.Mounts {
		if _, err := os.Lstat(m.Target); err != nil {
			if m.File {
				if err := os.MkdirAll(filepath.Dir(m.Target), 0o755); err != nil {
					return fmt.Errorf("volume mount point %s: %w", m.Target, err)
				}
				f, err := os.OpenFile(m.Target, os.O_CREATE|os.O_WRONLY, 0o644)
				if err != nil {
					return fmt.Errorf("volume mount point %s: %w", m.Target, err)
				}
				_ = f.Close() // an empty mount point: nothing was written
			} else if err := os.MkdirAll(m.Target, 0o755); err != nil {
				return fmt.Errorf("volume mount point %s: %w", m.Target, err)
			}
		}
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.Tmpfs {
			if err := unix.Mount("tmpfs", m.Target, "tmpfs", flags, "mode=1777"); err != nil {
				return fmt.Errorf("tmpfs on %s: %w", m.Target, err)
			}
		} else if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", m.Source, m.Target, err)
		}
		if m.ReadOnly {
			if err := unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("make %s read-only: %w", m.Target, err)
			}
		}
	}
	if !cfg.ReadOnlyRoot {
		return nil
	}
	// Each writable directory becomes a mount of its own, which a
	// read-only remount of / leaves alone.
	for _, w := range cfg.Writable {
		if err := unix.Mount(w, w, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("keep %s writable: %w", w, err)
		}
	}
	if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("make / read-only (read_only): %w", err)
	}
	return nil
}
