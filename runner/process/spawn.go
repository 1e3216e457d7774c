package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// shimTimeout bounds how long a starting node may take to report from the
// shim. The shim is the mvrun binary starting up, which is quick; a binary
// that does not call MaybeRunShim never reports at all.
const shimTimeout = 20 * time.Second

// spawner runs every fork on one goroutine locked to its OS thread forever.
// PR_SET_PDEATHSIG fires when the *thread* that forked a child exits, not the
// process, and the Go runtime does end threads (those a goroutine left
// locked), so forking from an ordinary goroutine could kill nodes at random.
var spawner struct {
	once sync.Once
	ch   chan func()
}

func onSpawnerThread(f func()) {
	spawner.once.Do(func() {
		spawner.ch = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for f := range spawner.ch {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawner.ch <- func() { f(); close(done) }
	<-done
}

// spawnSpec is one process to start in a node.
type spawnSpec struct {
	shim   shimConfig
	env    []string
	dir    string
	stdout io.Writer
	stderr io.Writer
	// cgroup, when set, is the cgroup v2 directory the process starts in
	// (clone3 CLONE_INTO_CGROUP): it is never outside it, not even
	// between fork and exec.
	cgroup string
}

// spawn starts s through the shim in a new process group and returns once
// the program runs (or the shim failed). It does not wait for the process.
func spawn(shimExe string, s spawnSpec) (*exec.Cmd, error) {
	s.shim.Parent = os.Getpid()
	s.shim.Dir = s.dir // see shimConfig.Dir
	cfg, err := json.Marshal(s.shim)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }() // the read end: nothing to lose
	cmd := exec.Command(shimExe, shimArg, string(cfg))
	cmd.Env = s.env
	cmd.Dir = "/"
	cmd.Stdout = s.stdout
	cmd.Stderr = s.stderr
	cmd.ExtraFiles = []*os.File{w} // fd 3 = statusFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if s.cgroup != "" {
		cg, err := os.Open(s.cgroup)
		if err != nil {
			_ = w.Close() // nothing was started; the error that matters is err
			return nil, fmt.Errorf("node cgroup: %w", err)
		}
		defer func() { _ = cg.Close() }() // a directory opened for its fd only
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.Fd())
	}
	cmd.WaitDelay = time.Second
	onSpawnerThread(func() { err = cmd.Start() })
	_ = w.Close() // our copy of the write end; the shim holds its own
	if err != nil {
		return nil, fmt.Errorf("start node shim %s: %w", shimExe, err)
	}
	fail := func(err error) (*exec.Cmd, error) {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		return nil, err
	}
	if err := r.SetReadDeadline(time.Now().Add(shimTimeout)); err != nil {
		return fail(fmt.Errorf("node shim status pipe: %w", err))
	}
	var first [1]byte
	if _, err := io.ReadFull(r, first[:]); err != nil || first[0] != shimStarted {
		return fail(fmt.Errorf("%s did not act as the node shim (a program using the process backend must call process.MaybeRunShim first thing in main, or in TestMain for tests): %v", shimExe, errOrByte(err, first[0])))
	}
	msg, err := io.ReadAll(r)
	if err != nil {
		return fail(fmt.Errorf("node shim did not finish starting %s: %w", s.shim.Path, err))
	}
	if len(msg) > 0 {
		return fail(errors.New(string(msg)))
	}
	return cmd, nil
}

func errOrByte(err error, b byte) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("unexpected status byte %q", b)
}

// exitStatus turns the outcome of cmd.Wait into an exit code and a signal
// name. A process killed by signal n gets code 128+n, as shells and Docker
// report it.
func exitStatus(cmd *exec.Cmd) (code int, signal string) {
	st := cmd.ProcessState
	if st == nil {
		return -1, ""
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), ws.Signal().String()
	}
	return st.ExitCode(), ""
}
