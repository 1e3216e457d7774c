package diskfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Mounted is one disk fault file system mounted on this host.
type Mounted struct {
	Dir  string // the mount point
	Tag  string // the tag of the run that mounted it
	Conn uint32 // the FUSE connection (the mount's device minor), for fusectl
}

// Mounts lists the disk fault file systems mounted in this process's
// mount namespace.
func Mounts() ([]Mounted, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []Mounted
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// "36 35 0:52 / /mnt/point rw,nosuid - fuse.mvrun mvrun-tag rw,..."
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 2 || g[0] != "fuse."+fsType || !strings.HasPrefix(g[1], sourcePrefix) {
			continue
		}
		m := Mounted{Dir: unescape(f[4]), Tag: strings.TrimPrefix(g[1], sourcePrefix)}
		if _, minor, ok := strings.Cut(f[2], ":"); ok {
			c, _ := strconv.ParseUint(minor, 10, 32)
			m.Conn = uint32(c)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes ("\040" for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Sweep unmounts the disk fault file systems of runs that are gone (dead
// reports whether the run that used a tag is) and moves their data back
// into the data directories. Each connection is aborted first (fusectl):
// a process that still holds the FUSE device open (any program started
// before the descriptor was made close-on-exec) would otherwise keep a
// dead server's connection alive, and every call on it would wait
// forever. The mount is then detached (MNT_DETACH), never waited for.
func Sweep(dead func(tag string) bool) error {
	ms, err := Mounts()
	if err != nil {
		return fmt.Errorf("diskfs: listing mounts: %w", err)
	}
	var errs []error
	for _, m := range ms {
		if !dead(m.Tag) {
			continue
		}
		if m.Conn != 0 {
			abort(m.Conn)
		}
		if err := syscall.Unmount(m.Dir, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("diskfs: unmounting %s: %w", m.Dir, err))
			continue
		}
		if _, err := os.Stat(BackingDir(m.Dir)); err == nil {
			if err := restore(m.Dir, BackingDir(m.Dir)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
