package diskfs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mvrun/multiverse/internal/diskmodel"
	"github.com/mvrun/multiverse/internal/diskmodel/diskiotest"
)

// requireFUSE skips the test when this host cannot mount the file system.
func requireFUSE(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

var (
	diskioOnce sync.Once
	diskioBin  string
	diskioErr  error
)

// diskio builds hv's disk test program (hv/testdata/guests/diskio), which
// writes, fsyncs and reads a file and prints what each call returned.
func diskio(t *testing.T) string {
	t.Helper()
	diskioOnce.Do(func() {
		dir, err := os.MkdirTemp("", "diskfs-test")
		if err != nil {
			diskioErr = err
			return
		}
		diskioBin = filepath.Join(dir, "diskio")
		out, err := exec.Command("go", "build", "-o", diskioBin, "../../hv/testdata/guests/diskio").CombinedOutput()
		if err != nil {
			diskioErr = fmt.Errorf("building diskio: %v\n%s", err, out)
		}
	})
	if diskioErr != nil {
		t.Fatal(diskioErr)
	}
	return diskioBin
}

// mount mounts a file system over a fresh directory and unmounts it at the
// end of the test; hits collects what it reports.
func mount(t *testing.T, hits *[]diskmodel.Hit) *FS {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	d, err := Mount(Config{Dir: dir, Tag: "test", OnHit: func(h diskmodel.Hit) {
		mu.Lock()
		*hits = append(*hits, h)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// diskRun is one run of diskio under a disk fault.
type diskRun struct {
	out, dump string
	hits      []diskmodel.Hit
}

// runDiskio runs `diskio write DIR/f ROUNDS` on a fresh mount with f armed
// from the start; for lose_unsynced it then crashes the disk and dumps
// the file.
func runDiskio(t *testing.T, f diskmodel.Fault, rounds int) diskRun {
	t.Helper()
	var r diskRun
	d := mount(t, &r.hits)
	if err := d.Arm(f); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		cmd := exec.Command(diskio(t), args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil || errb.Len() > 0 {
			t.Fatalf("diskio %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	file := filepath.Join(d.Dir(), "f")
	r.out = run("write", file, strconv.Itoa(rounds))
	if f.Kind == diskmodel.LoseUnsynced {
		d.Crash()
		r.dump = run("dump", file)
	}
	return r
}

var slowRe = regexp.MustCompile(` slow \d+`)

// TestDiskFaultsSeen runs a program that writes, fsyncs and reads through
// the file system under each fault kind and checks that it sees exactly
// the faults reported as hits, and that the same fault seed hits the same
// calls again (the program's calls are sequential, so they arrive in the
// same order). It is hv's TestDiskFaultsSeen on a real kernel.
func TestDiskFaultsSeen(t *testing.T) {
	requireFUSE(t)
	const rounds = 24
	slowLat := 5 * time.Millisecond
	for _, f := range []diskmodel.Fault{
		{Kind: diskmodel.Full},
		{Kind: diskmodel.FsyncError, Probability: 0.5},
		{Kind: diskmodel.IOError, Probability: 0.5},
		{Kind: diskmodel.Corrupt, Probability: 0.5},
		{Kind: diskmodel.Slow, Probability: 0.5, Latency: diskmodel.Range{Min: slowLat, Max: slowLat}},
		{Kind: diskmodel.LoseUnsynced, Torn: true},
		{Kind: diskmodel.LoseUnsynced},
	} {
		name := string(f.Kind)
		if f.Torn {
			name += "-torn"
		}
		t.Run(name, func(t *testing.T) {
			f.Seed = 0x5eed
			rounds := rounds
			if f.Kind == diskmodel.LoseUnsynced {
				rounds-- // the last round's record stays unsynced
			}
			a := runDiskio(t, f, rounds)
			b := runDiskio(t, f, rounds)
			if slowRe.ReplaceAllString(a.out, "") != slowRe.ReplaceAllString(b.out, "") || !slices.Equal(a.hits, b.hits) || a.dump != b.dump {
				t.Fatalf("the same seed hit differently:\n%s\nvs\n%s\nhits %v\nvs %v", a.out, b.out, a.hits, b.hits)
			}
			if len(a.hits) == 0 {
				t.Fatalf("no fault hit:\n%s", a.out)
			}
			if f.Kind != diskmodel.Full && f.Kind != diskmodel.LoseUnsynced {
				f2 := f
				f2.Seed++
				if c := runDiskio(t, f2, rounds); slices.Equal(c.hits, a.hits) {
					t.Errorf("another fault seed hit the same calls: %v", c.hits)
				}
			}
			// Host time: the slow calls may take up to twice their latency.
			diskiotest.Check(t, f, diskiotest.Run{Out: a.out, Dump: a.dump, Hits: a.hits}, slowLat, time.Duration(len(a.hits))*slowLat)
		})
	}
}

// childEnv makes the test binary a process that mounts the file system
// over the directory it names, says "ready" and waits to be killed.
const childEnv = "DISKFS_TEST_MOUNT"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if _, err := Mount(Config{Dir: dir, Tag: os.Getenv(childEnv + "_TAG")}); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ready")
		select {}
	}
	os.Exit(m.Run())
}

// TestUnmountRestores: what was written through the mount is in the data
// directory after Unmount, and the backing directory is gone.
func TestUnmountRestores(t *testing.T) {
	requireFUSE(t)
	var hits []diskmodel.Hit
	d := mount(t, &hits)
	if err := os.WriteFile(filepath.Join(d.Dir(), "a"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mounted(d.Dir()) {
		t.Fatalf("%s is not in the mount table", d.Dir())
	}
	// Programs started later must not hold the FUSE device: they would
	// keep a dead server's connection alive.
	if out, err := exec.Command("ls", "-l", "/proc/self/fd/").CombinedOutput(); err != nil || strings.Contains(string(out), "/dev/fuse") {
		t.Errorf("a child process holds the FUSE device (%v):\n%s", err, out)
	}
	if err := d.Unmount(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(d.Dir(), "a")); err != nil || string(b) != "x" {
		t.Fatalf("after Unmount: %q, %v", b, err)
	}
	if _, err := os.Stat(BackingDir(d.Dir())); !os.IsNotExist(err) {
		t.Errorf("backing directory left behind: %v", err)
	}
	if mounted(d.Dir()) {
		t.Errorf("still mounted")
	}
}

// TestSweepAfterKill: the mount of a process killed with SIGKILL is dead;
// Sweep unmounts it, leaves a live run's mounts alone and puts the data
// back.
func TestSweepAfterKill(t *testing.T) {
	requireFUSE(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "sweeptest-" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, childEnv+"_TAG="+tag)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 6)
	if _, err := out.Read(line); err != nil || string(line) != "ready\n" {
		cmd.Process.Kill()
		t.Fatalf("child: %q %v", line, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A live run's mount is left alone.
	if err := Sweep(func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if !mounted(dir) {
		t.Fatal("Sweep unmounted a live run's mount")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.ReadDir(dir); err == nil {
		t.Fatal("the dead mount still answers")
	}
	if err := Sweep(func(got string) bool { return got == tag }); err != nil {
		t.Fatal(err)
	}
	if mounted(dir) {
		t.Fatal("still mounted after Sweep")
	}
	for _, f := range []string{"old", "new"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(b) != f {
			t.Errorf("%s after Sweep: %q, %v", f, b, err)
		}
	}
}
