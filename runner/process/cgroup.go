package process

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Each node's processes live in a cgroup (v2) of their own,
// <cgroup2 mount>/mvrun/<run id>/c<cluster>/<service>, created with
// clone3's CLONE_INTO_CGROUP so no process of the node is ever outside it.
// Killing a node or closing a cluster writes cgroup.kill, which kills
// everything in the cgroup: what a service spawned cannot outlive it by
// leaving its process group (setsid) or clearing its environment, which
// the marker-based kills rely on. Sweep kills and removes the cgroups of
// dead runs. Without a writable cgroup v2 hierarchy with cgroup.kill
// (Linux 5.14), the backend falls back to process groups and markers and
// logs that once.

// cgroupParent is the directory of mvrun's cgroups under the mount.
const cgroupParent = "mvrun"

var cgroupProbe struct {
	once sync.Once
	root string // "<mount>/mvrun", or "" when unusable
	why  string // why it is unusable
}

// cgroupRoot returns the directory mvrun makes its cgroups in, or "" and
// the reason when there is no usable cgroup v2 hierarchy.
func cgroupRoot() (string, string) {
	cgroupProbe.once.Do(func() {
		mnt, err := cgroup2Mount()
		if err != nil {
			cgroupProbe.why = err.Error()
			return
		}
		root := filepath.Join(mnt, cgroupParent)
		if err := os.MkdirAll(root, 0o755); err != nil {
			cgroupProbe.why = fmt.Sprintf("creating %s: %v", root, err)
			return
		}
		if _, err := os.Stat(filepath.Join(root, "cgroup.kill")); err != nil {
			cgroupProbe.why = "cgroup.kill is missing (needs Linux 5.14)"
			return
		}
		cgroupProbe.root = root
	})
	return cgroupProbe.root, cgroupProbe.why
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted: on
// /sys/fs/cgroup on pure v2 hosts, elsewhere (e.g. /sys/fs/cgroup/unified)
// on hybrid ones.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options... - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" && pf[3] == "/" {
			found = append(found, pf[4])
		}
	}
	if len(found) == 0 {
		return "", errors.New("no cgroup v2 hierarchy is mounted")
	}
	for _, m := range found {
		if m == "/sys/fs/cgroup" {
			return m, nil
		}
	}
	return found[0], nil
}

// killCgroup kills every process in the cgroup dir and its descendants
// and waits (up to stopTimeout) until they are gone. A missing cgroup is
// not an error.
func killCgroup(dir string) error {
	err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("killing cgroup %s: %w", dir, err)
	}
	deadline := time.Now().Add(stopTimeout)
	for {
		ev, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil || bytes.Contains(ev, []byte("populated 0")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes %v after cgroup.kill", dir, stopTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// removeCgroup kills everything in the cgroup tree at dir and removes it,
// children first (a cgroup is removed with rmdir once it is empty).
func removeCgroup(dir string) error {
	if err := killCgroup(dir); err != nil {
		return err
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
