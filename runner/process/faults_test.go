package process

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backendtest"
)

// TestFaultInjector runs faults/faulttest against real process-backend
// clusters of four echo nodes.
func TestFaultInjector(t *testing.T) {
	needRoot(t)
	b := New(Options{})
	test := backendtest.NewTest([]string{"n1", "n2", "n3", "n4"})
	backendtest.RunFaults(t, b, test, func(t *testing.T, h *backendtest.Harness) *backendtest.Observer {
		c := h.Cluster.(*Cluster)
		return &backendtest.Observer{
			H:      h,
			State:  func(ctx context.Context, node string) (bool, bool, error) { return serviceState(c.marker, node) },
			LinkOf: func(from, to string) faults.Link { return c.Network().Link() },
		}
	})
}

// serviceState finds node's service process of the cluster with marker in
// the process table, by its markers and its "serve" argument, and reports
// whether it exists (a zombie does not) and whether it is stopped.
func serviceState(marker, node string) (running, paused bool, err error) {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return false, false, err
	}
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if m := markers(pid); m.run != marker || m.node != node {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if args := bytes.Split(cmdline, []byte{0}); len(args) < 2 || string(args[1]) != "serve" {
			continue // a command run in the node, or the shim before its exec
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// The state follows the command name, which is in parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 || i+2 >= len(stat) {
			continue
		}
		switch stat[i+2] {
		case 'Z', 'X':
			continue
		case 'T', 't':
			return true, true, nil
		}
		return true, false, nil
	}
	return false, false, nil
}
