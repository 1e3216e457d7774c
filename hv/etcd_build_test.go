package hv_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mvrun/multiverse/hv"
)

// etcdModule is the Go module (its own go.mod and go.sum) that builds the
// etcd target: an unmodified etcd v3.5 server, the clientv3 workload, and a
// storage probe running etcd's WAL and bbolt backend without sockets.
const etcdModule = "testdata/etcd"

var (
	etcdOnce sync.Once
	etcdDir  string // cache directory holding the binaries
	etcdSkip string // non-empty: why the module could not be fetched
	etcdErr  error
)

// etcdPrograms are the main packages of the etcd module, built together.
var etcdPrograms = []string{"server", "client", "storage"}

// buildEtcd returns the paths of the etcd server and client binaries, built
// from testdata/etcd as static, non-PIE linux/amd64 executables together
// with the module's other programs ([etcdPrograms]). They are cached under
// os.TempDir()/mvrun-etcd-<hash>, the hash covering the Go version, GOAMD64,
// GOEXPERIMENT and every file of the module, so only the first run after a
// change pays for the build (about three minutes with an empty build cache).
// The test is skipped, naming the reason, only when the module's
// dependencies cannot be downloaded; any other failure fails it.
func buildEtcd(tb testing.TB) (server, client string) {
	tb.Helper()
	return etcdProgram(tb, "server"), etcdProgram(tb, "client")
}

// etcdProgram returns the path of one program of the etcd module (one of
// [etcdPrograms]), building them all as [buildEtcd] does.
func etcdProgram(tb testing.TB, name string) string {
	tb.Helper()
	etcdOnce.Do(func() { etcdDir, etcdSkip, etcdErr = buildEtcdOnce() })
	if etcdSkip != "" {
		tb.Skip(etcdSkip)
	}
	if etcdErr != nil {
		tb.Fatal(etcdErr)
	}
	return filepath.Join(etcdDir, name)
}

// etcdBuildEnv is the environment of every go command run on the etcd
// module. GOFLAGS is replaced, not appended to, so a developer's -mod=vendor
// or -buildmode=pie cannot change what is built; GOPROXY and the caches come
// from the environment.
func etcdBuildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "GOFLAGS" || k == "CGO_ENABLED" || k == "GOOS" || k == "GOARCH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
}

// buildEtcdOnce builds every program of the etcd module into its cache
// directory, unless that directory is already complete, and returns it.
func buildEtcdOnce() (cache, skip string, err error) {
	dir, err := filepath.Abs(etcdModule)
	if err != nil {
		return "", "", err
	}
	// The toolchain settings that change the code generated, besides the
	// fixed ones in etcdBuildEnv, are part of the cache key.
	toolchain, err := goCommand(dir, "env", "GOVERSION", "GOAMD64", "GOEXPERIMENT")
	if err != nil {
		return "", "", err
	}
	sum, err := hashTree(dir, toolchain)
	if err != nil {
		return "", "", fmt.Errorf("hash %s: %w", etcdModule, err)
	}
	cache = filepath.Join(os.TempDir(), "mvrun-etcd-"+sum[:16])
	complete := func() bool {
		for _, p := range etcdPrograms {
			if !fileExists(filepath.Join(cache, p)) {
				return false
			}
		}
		return true
	}
	if complete() {
		return cache, "", nil
	}

	// Downloading is the one step that may fail for reasons outside this
	// repository (no module proxy reachable); everything after it must work.
	if out, err := goCommand(dir, "mod", "download"); err != nil {
		return "", fmt.Sprintf("etcd module cannot be fetched (GOPROXY=%s): %v\n%s", os.Getenv("GOPROXY"), err, out), nil
	}

	// Build into a fresh directory beside the cache entry and rename it into
	// place, so a concurrent test process never sees half a binary.
	tmp, err := os.MkdirTemp(os.TempDir(), "mvrun-etcd-build-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	// The default build mode of linux/amd64 gives the static, non-PIE
	// executables hv loads (GOFLAGS is ours, so -buildmode=pie cannot creep
	// in; -buildmode=exe itself refuses two packages). -trimpath and
	// -buildvcs=false keep host paths and the repository state out of the
	// binaries, so the cache key describes them completely.
	args := []string{"build", "-trimpath", "-buildvcs=false", "-o", tmp + string(filepath.Separator)}
	for _, p := range etcdPrograms {
		args = append(args, "./"+p)
	}
	if out, err := goCommand(dir, args...); err != nil {
		return "", "", fmt.Errorf("build etcd: %w\n%s", err, out)
	}
	if err := os.Rename(tmp, cache); err != nil && !complete() {
		// An incomplete leftover (a program deleted by hand) blocks the
		// rename; replace it. A complete one means another process
		// installed the same build first.
		if rmErr := os.RemoveAll(cache); rmErr != nil {
			return "", "", fmt.Errorf("install etcd build: %w (removing %s: %w)", err, cache, rmErr)
		}
		if err := os.Rename(tmp, cache); err != nil {
			return "", "", fmt.Errorf("install etcd build: %w", err)
		}
	}
	return cache, "", nil
}

// goCommand runs the go command in dir with [etcdBuildEnv] and returns its
// combined output.
func goCommand(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = etcdBuildEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), err
}

// hashTree returns a hex SHA-256 over salt and the relative path and
// contents of every regular file under dir, in lexical order.
func hashTree(dir, salt string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", salt)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), fi.Size())
		_, err = io.Copy(h, f)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// TestEtcdBuild checks that the etcd harness produces binaries hv accepts.
func TestEtcdBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd (minutes on a cold cache); skipped with -short")
	}
	for _, p := range etcdPrograms {
		bin := etcdProgram(t, p)
		if err := hv.CheckBinary(bin); err != nil {
			t.Errorf("hv refuses the etcd build: %v", err)
		}
	}
}
