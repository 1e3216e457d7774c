package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mvrun/multiverse/internal/procs"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/network"
)

// acquireRunDir returns the run's state directory, creating it and its owner
// file for the first live cluster. The owner file ("pid starttime") tells
// Sweep of other runs whether this run is alive.
func (b *Backend) acquireRunDir() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.clusters == 0 {
		dir := filepath.Join(DefaultRunDir, b.RunID())
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("process backend state directory: %w", err)
		}
		owner, err := procs.Identity(os.Getpid())
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "owner"), []byte(owner), 0o600)
		}
		if err != nil {
			_ = os.RemoveAll(dir) // a later run's Sweep removes what is left
			return "", fmt.Errorf("process backend state directory: %w", err)
		}
	}
	b.clusters++
	return filepath.Join(DefaultRunDir, b.RunID()), nil
}

// releaseRunDir removes the run's state directory when its last cluster
// closes, so a run that ends normally leaves nothing in DefaultRunDir.
func (b *Backend) releaseRunDir() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clusters--
	if b.clusters == 0 {
		// What cannot be removed now is an ownerless run directory that
		// a later run's Sweep removes.
		_ = os.RemoveAll(filepath.Join(DefaultRunDir, b.RunID()))
		if root, _ := cgroupRoot(); root != "" {
			// Empty once its clusters' cgroups are gone; if not, a later
			// run's Sweep removes it.
			_ = os.Remove(filepath.Join(root, b.RunID()))
		}
	}
}

// netPrefixStart starts every network name of the process backend.
const netPrefixStart = "mvp"

// runOfNetName returns the run id in a network name made by netPrefix.
func runOfNetName(name string) (string, bool) {
	if len(name) < len(netPrefixStart)+backend.RunIDLen || !strings.HasPrefix(name, netPrefixStart) {
		return "", false
	}
	id := name[len(netPrefixStart) : len(netPrefixStart)+backend.RunIDLen]
	for _, r := range id {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return "", false
		}
	}
	return id, true
}

// alive reports whether the run with id is still running: this one, or one
// whose owner file names a live process (a zombie owner counts as dead).
func (b *Backend) alive(id string) bool {
	if id == b.RunID() {
		return true
	}
	owner, err := os.ReadFile(filepath.Join(DefaultRunDir, id, "owner"))
	return err == nil && procs.Alive(string(owner))
}

// Sweep removes what process-backend runs that were killed left behind:
// their node processes (found by the MVRUN_RUN marker in their environment
// and by the pid files of their process groups), their disk fault mounts
// (whose data goes back into the node directories), their network namespaces
// and devices (through runner/network), and their state directories. Runs
// that are still alive, on this host, are left alone.
func (b *Backend) Sweep(ctx context.Context) error {
	var errs []error
	// Process groups from pid files first: that also catches processes that
	// cleared their environment.
	runs, err := os.ReadDir(DefaultRunDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	var dead []string
	for _, r := range runs {
		if !r.IsDir() || b.alive(r.Name()) {
			continue
		}
		dead = append(dead, r.Name())
		pidfiles, _ := filepath.Glob(filepath.Join(DefaultRunDir, r.Name(), "*", "*.pid"))
		for _, pf := range pidfiles {
			id, err := os.ReadFile(pf)
			if err != nil {
				continue
			}
			pid, _, _ := strings.Cut(string(id), " ")
			p, err := strconv.Atoi(pid)
			if err != nil || p <= 1 {
				continue
			}
			if procs.Alive(string(id)) {
				b.log.Info("sweep: killing process group of a dead run", "run", r.Name(), "pgid", p)
				syscall.Kill(-p, syscall.SIGKILL)
			}
		}
	}
	// Then anything carrying a dead run's marker. Killing can race with
	// forks, so repeat until a pass finds nothing.
	for pass := 0; pass < 5; pass++ {
		n, err := b.killMarked()
		if err != nil {
			errs = append(errs, err)
			break
		}
		if n == 0 {
			break
		}
	}
	// Cgroups of dead runs: killing them takes whatever escaped both the
	// process groups and the markers.
	if root, _ := cgroupRoot(); root != "" {
		cgs, err := os.ReadDir(root)
		if err != nil {
			errs = append(errs, err)
		}
		for _, d := range cgs {
			if !d.IsDir() || len(d.Name()) != backend.RunIDLen || b.alive(d.Name()) {
				continue
			}
			b.log.Info("sweep: killing and removing the cgroups of a dead run", "run", d.Name())
			if err := removeCgroup(filepath.Join(root, d.Name())); err != nil {
				errs = append(errs, fmt.Errorf("process backend: %w", err))
			}
		}
	}
	// The processes are gone, so their mounts' last users are too.
	if err := b.sweepDisks(); err != nil {
		errs = append(errs, fmt.Errorf("process backend: sweeping disk fault mounts: %w", err))
	}
	if err := network.Sweep(func(name string) bool {
		id, ok := runOfNetName(name)
		return ok && !b.alive(id)
	}); err != nil {
		errs = append(errs, fmt.Errorf("process backend: sweeping network namespaces and links: %w", err))
	}
	for _, id := range dead {
		if err := os.RemoveAll(filepath.Join(DefaultRunDir, id)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killMarked SIGKILLs every process whose environment holds MVRUN_RUN of a
// run that is not alive, and returns how many it found.
func (b *Backend) killMarked() (int, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	killed := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		id, _, _ := strings.Cut(markers(pid).run, ".")
		if _, ok := runOfNetName(netPrefixStart + id); !ok || len(id) != backend.RunIDLen || b.alive(id) {
			continue
		}
		b.log.Info("sweep: killing process of a dead run", "run", id, "pid", pid)
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			killed++
		}
	}
	return killed, nil
}

// marks are the markers in a process's environment.
type marks struct {
	run  string // MVRUN_RUN: "<run id>.<cluster index>"
	node string // MVRUN_NODE
}

// markers returns the markers in pid's environment; empty if it has none
// or is gone.
func markers(pid int) marks {
	var m marks
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return m
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("MVRUN_RUN=")); ok {
			m.run = string(v)
		} else if v, ok := bytes.CutPrefix(kv, []byte("MVRUN_NODE=")); ok {
			m.node = string(v)
		}
	}
	return m
}

// killTagged SIGKILLs every process whose MVRUN_RUN is run and, unless node
// is "", whose MVRUN_NODE is node, until none is left (forks race with
// kills, so it repeats a few times). It catches what left the process groups
// mvrun kills: daemons that called setsid.
func killTagged(run, node string) {
	self := os.Getpid()
	for pass := 0; pass < 5; pass++ {
		procs, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		found := 0
		for _, p := range procs {
			pid, err := strconv.Atoi(p.Name())
			if err != nil || pid == self {
				continue
			}
			if m := markers(pid); m.run == run && (node == "" || m.node == node) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					found++
				}
			}
		}
		if found == 0 {
			return
		}
	}
}
