// Package procs names host processes in a way that survives pid reuse, and
// tells whether the process a name refers to still runs. Backends write the
// identity of the mvrun process that owns their resources (an owner file, a
// container label) and sweep the resources of owners that are gone.
package procs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Identity returns "pid starttime" for pid. The start time (clock ticks since
// boot, field 22 of /proc/<pid>/stat) makes the name unique even after the
// kernel reuses the pid.
func Identity(pid int) (string, error) {
	id, _, err := stat(pid)
	return id, err
}

// Alive reports whether the process that identity (from [Identity]) names
// still runs. A malformed identity counts as dead, and so does a zombie: a
// runner killed a moment ago whose parent has not reaped it is gone for good.
func Alive(identity string) bool {
	pidStr, _, ok := strings.Cut(identity, " ")
	if !ok {
		return false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	id, state, err := stat(pid)
	return err == nil && id == identity && state != "Z" && state != "X"
}

// stat returns pid's identity and its state letter.
func stat(pid int) (id, state string, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", err
	}
	// The command name (field 2) may hold spaces and parentheses; the fields
	// after the last ')' are plain: state is field 3, starttime field 22.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.Itoa(pid) + " " + f[19], f[0], nil
}
