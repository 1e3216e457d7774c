package process

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mvrun/multiverse/runner/diskfs"
)

// Leftovers reports the processes, disk fault mounts, network namespaces, cgroups and state directories
// that the run with id left behind, or nil when it left nothing. Tests and
// `mvrun doctor`-style checks use it after a run or a Sweep.
func Leftovers(id string) error {
	var found []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if run, _, _ := strings.Cut(markers(pid).run, "."); run == id {
			found = append(found, "process "+p.Name())
		}
	}
	nss, _ := os.ReadDir("/run/netns")
	for _, ns := range nss {
		if strings.HasPrefix(ns.Name(), netPrefixStart+id) {
			found = append(found, "netns "+ns.Name())
		}
	}
	ms, _ := diskfs.Mounts()
	for _, m := range ms {
		if m.Tag == diskTagPrefix+id {
			found = append(found, "disk fault mount "+m.Dir)
		}
	}
	if _, err := os.Stat(filepath.Join(DefaultRunDir, id)); err == nil {
		found = append(found, "state directory "+filepath.Join(DefaultRunDir, id))
	}
	if root, _ := cgroupRoot(); root != "" {
		if _, err := os.Stat(filepath.Join(root, id)); err == nil {
			found = append(found, "cgroup "+filepath.Join(root, id))
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("%s", strings.Join(found, ", "))
	}
	return nil
}
