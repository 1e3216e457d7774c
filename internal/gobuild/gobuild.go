// Package gobuild builds Go main packages into static binaries, the way the
// process and hv backends need them: CGO_ENABLED=0, one binary per service.
package gobuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Request says what to build.
type Request struct {
	// Dir is the directory of the main package (a compose build context).
	Dir string
	// Out is the path of the binary to write. Its directory is created.
	Out string
	// GOOS and GOARCH select the target; empty means the host's.
	GOOS, GOARCH string
	// Env holds extra environment variables for the go command (KEY=VALUE).
	Env []string
}

// Error is a failed build. Output holds what the go command printed, which
// names the files and lines the compiler rejected.
type Error struct {
	Dir    string
	Output string
	Err    error
}

// Error returns the failure followed by the compiler's output.
func (e *Error) Error() string {
	out := strings.TrimSpace(e.Output)
	if out == "" {
		return fmt.Sprintf("go build in %s: %v", e.Dir, e.Err)
	}
	return fmt.Sprintf("go build in %s: %v:\n%s", e.Dir, e.Err, out)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ErrNoToolchain is returned when no go command can be found.
var ErrNoToolchain = errors.New("no go toolchain found (put go in PATH, or give the service a prebuilt x-mvrun.binary)")

// ErrNotMain is wrapped by the error of a build whose directory holds a
// package other than main.
var ErrNotMain = errors.New("not a Go main package")

// GoCommand returns the path of the go command: the one in PATH, else the one
// of the toolchain that built this program.
func GoCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNoToolchain
}

// Build compiles the main package in r.Dir to r.Out with CGO_ENABLED=0, so
// the result is a static binary that needs nothing from the host.
func Build(ctx context.Context, r Request) error {
	if r.Dir == "" || r.Out == "" {
		return fmt.Errorf("gobuild: Dir and Out must be set")
	}
	st, err := os.Stat(r.Dir)
	if err != nil {
		return &Error{Dir: r.Dir, Err: err}
	}
	if !st.IsDir() {
		return &Error{Dir: r.Dir, Err: fmt.Errorf("not a directory")}
	}
	out, err := filepath.Abs(r.Out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	gocmd, err := GoCommand()
	if err != nil {
		return err
	}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if r.GOOS != "" {
		env = append(env, "GOOS="+r.GOOS)
	}
	if r.GOARCH != "" {
		env = append(env, "GOARCH="+r.GOARCH)
	}
	env = append(env, r.Env...)
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, gocmd, args...)
		cmd.Dir = r.Dir
		cmd.Env = env
		var buf bytes.Buffer
		cmd.Stdout = &buf
		cmd.Stderr = &buf
		err := cmd.Run()
		if err != nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		return buf.String(), err
	}
	// go build -o of a non-main package quietly writes an archive, so ask
	// for the package name first.
	name, err := run("list", "-f", "{{.Name}}", ".")
	if err != nil {
		return &Error{Dir: r.Dir, Output: name, Err: err}
	}
	if name = strings.TrimSpace(name); name != "main" {
		return &Error{Dir: r.Dir, Err: fmt.Errorf("%w (it is package %s)", ErrNotMain, name)}
	}
	if output, err := run("build", "-o", out, "."); err != nil {
		return &Error{Dir: r.Dir, Output: output, Err: err}
	}
	return nil
}
