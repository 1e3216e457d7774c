// Package gobuild builds Go main packages into static binaries, the way the
// backends need them: CGO_ENABLED=0, one binary per service.
//
// Every build also registers the program's assertions: gobuild generates the
// assertion catalog of the main package (see internal/catalog) and adds it to
// the build with `go build -overlay`, so an assertion that is never reached
// still reaches the report, and nothing is written into the user's source
// tree. A package that already has a catalog from `mvrun catalog` keeps it.
package gobuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/catalog"
	"github.com/mvrun/multiverse/internal/procs"
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
	// NoCatalog leaves the assertion catalog out of the build.
	NoCatalog bool
	// Cover builds the program with coverage counters (go build -cover,
	// -covermode=count) in the packages [CoverPackages] names, so that a
	// runner can read what code ran from the program's memory.
	Cover bool
	// Logger receives a line about the catalog of the build; nil means
	// slog.Default().
	Logger *slog.Logger
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
	// The toolchain that built this program is the last guess: it may not
	// exist on this machine, which the Stat below finds out.
	//lint:ignore SA1019 no other source knows that toolchain's location
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
	// for the package name first; the directory and files tell whether the
	// package already carries an assertion catalog.
	listed, err := run("list", "-f", "{{.Name}}\n{{.Dir}}{{range .GoFiles}}\n{{.}}{{end}}", ".")
	if err != nil {
		return &Error{Dir: r.Dir, Output: listed, Err: err}
	}
	fields := strings.Split(strings.TrimSpace(listed), "\n")
	if name := fields[0]; name != "main" || len(fields) < 2 {
		return &Error{Dir: r.Dir, Err: fmt.Errorf("%w (it is package %s)", ErrNotMain, name)}
	}
	args := []string{"build", "-o", out}
	var catalogErr error
	if !r.NoCatalog {
		log := r.Logger
		if log == nil {
			log = slog.Default()
		}
		overlay, cleanup, err := catalogOverlay(ctx, r.Dir, env, fields[1], fields[2:], log)
		if err != nil {
			catalogErr = &Error{Dir: r.Dir, Output: catalogErrorText(err), Err: errCatalog}
			// Type errors are better reported by the compiler itself, so
			// build without a catalog to get its message.
			var serr *catalog.SourceError
			if !errors.As(err, &serr) || !serr.Load {
				return catalogErr
			}
		}
		defer cleanup()
		if overlay != "" {
			args = append(args, "-overlay", overlay)
			if r.Cover {
				wrap, err := coverToolexec(overlay)
				if err != nil {
					return err
				}
				args = append(args, "-toolexec", wrap)
			}
		}
	}
	if r.Cover {
		pkgs, err := coverPackages(run)
		if err != nil {
			return err
		}
		args = append(args, "-cover", "-covermode=count")
		if len(pkgs) > 0 {
			args = append(args, "-coverpkg="+strings.Join(pkgs, ","))
		}
		if r.Logger != nil {
			r.Logger.Debug("gobuild: coverage counters", "dir", r.Dir, "packages", pkgs)
		}
	}
	if output, err := run(append(args, ".")...); err != nil {
		return &Error{Dir: r.Dir, Output: output, Err: err}
	}
	return catalogErr
}

// sdkPrefix is the import path of mvrun's SDK: linked into services, but
// not their code, so never counted (it matters for the examples in mvrun's
// own module, whose main module includes it).
const sdkPrefix = "github.com/mvrun/multiverse/sdk"

// coverPackages returns the import paths a build with [Request.Cover]
// instruments: the packages of the main package's own module that it links
// (the service's code, not the standard library or other modules), leaving
// out mvrun's SDK. Nil means the main package alone (a build outside
// module mode). run runs the go command in the package's directory with
// the build's environment.
func coverPackages(run func(args ...string) (string, error)) ([]string, error) {
	out, err := run("list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}", ".")
	if err != nil {
		return nil, fmt.Errorf("gobuild: listing the packages to build with coverage counters: %w: %s", err, strings.TrimSpace(out))
	}
	var pkgs []string
	for _, p := range strings.Fields(out) {
		if p == sdkPrefix || strings.HasPrefix(p, sdkPrefix+"/") {
			continue
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// coverToolexec works around the cover tool ignoring -overlay (the go
// command gives it the package's file paths as on disk, golang/go#73802):
// a file the overlay adds, the assertion catalog, does not exist there, so
// a -cover build of a package with a catalog fails. It writes, next to
// the overlay file, a -toolexec script that runs every tool as is, except
// that it hands the cover tool each overlaid file's replacement instead.
// Tool IDs (tool -V=full) pass through unchanged, so the build cache
// still serves every package.
func coverToolexec(overlay string) (string, error) {
	data, err := os.ReadFile(overlay)
	if err != nil {
		return "", err
	}
	var spec struct{ Replace map[string]string }
	if err := json.Unmarshal(data, &spec); err != nil {
		return "", fmt.Errorf("gobuild: reading the overlay: %w", err)
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Written by mvrun for one go build -cover: the cover tool reads\n# overlaid files from their replacements (golang/go#73802).\n")
	b.WriteString("case \"${1##*/}\" in\ncover|cover.exe)\n\ttool=$1\n\tshift\n\tfor a do\n\t\tshift\n\t\tcase $a in\n")
	for _, from := range slices.Sorted(maps.Keys(spec.Replace)) {
		fmt.Fprintf(&b, "\t\t%s) set -- \"$@\" %s ;;\n", quote(from), quote(spec.Replace[from]))
	}
	b.WriteString("\t\t*) set -- \"$@\" \"$a\" ;;\n\t\tesac\n\tdone\n\texec \"$tool\" \"$@\" ;;\nesac\nexec \"$@\"\n")
	path := filepath.Join(filepath.Dir(overlay), "toolexec.sh")
	if err := os.WriteFile(path, []byte(b.String()), 0o755); err != nil {
		return "", err
	}
	return path, nil
}

// errCatalog is the Err of a build stopped because its assertions cannot be
// catalogued; the Error's Output says where and why.
var errCatalog = errors.New("cannot register the program's assertions")

func catalogErrorText(err error) string {
	var serr *catalog.SourceError
	if errors.As(err, &serr) {
		return strings.Join(serr.Errs, "\n") +
			"\n(mvrun registers every assertion at start-up so that never-reached ones are reported; fix the lines above)"
	}
	return err.Error()
}

// catalogOverlay generates the assertion catalog of the main package in dir
// (pkgDir as the go command names it, with files goFiles) and returns the
// path of a `go build -overlay` file that adds it to the package, or "" when
// the package links no assertion or already has a catalog. cleanup removes
// the temporary files; it is never nil.
func catalogOverlay(ctx context.Context, dir string, env []string, pkgDir string, goFiles []string, log *slog.Logger) (overlay string, cleanup func(), err error) {
	cleanup = func() {}
	for _, f := range goFiles {
		if p := filepath.Join(pkgDir, f); catalog.IsGenerated(p) {
			log.Info("gobuild: the package has its own assertion catalog; not generating one", "file", p)
			return "", cleanup, nil
		}
	}
	gens, err := catalog.Generate(ctx, catalog.Options{Dir: dir, Env: env}, []string{"."})
	if err != nil {
		return "", cleanup, err
	}
	if len(gens) != 1 || len(gens[0].Sites) == 0 {
		log.Debug("gobuild: no assertions to register", "dir", pkgDir)
		return "", cleanup, nil
	}
	// A name no file of the package has (one excluded by build tags, say).
	name := catalog.DefaultOutput
	for i := 1; ; i++ {
		if _, err := os.Lstat(filepath.Join(pkgDir, name)); errors.Is(err, os.ErrNotExist) {
			break
		}
		name = fmt.Sprintf("mvrun_catalog%d_gen.go", i)
	}
	tmp, err := os.MkdirTemp("", catalogTempPrefix)
	if err != nil {
		return "", cleanup, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	// The owner file lets SweepTemp tell a live build's directory from
	// one left by a process killed before its cleanup ran.
	if id, err := procs.Identity(os.Getpid()); err == nil {
		if err := os.WriteFile(filepath.Join(tmp, ownerFile), []byte(id), 0o644); err != nil {
			cleanup()
			return "", func() {}, err
		}
	}
	src := filepath.Join(tmp, name)
	if err := os.WriteFile(src, gens[0].Source, 0o644); err != nil {
		cleanup()
		return "", func() {}, err
	}
	spec, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(pkgDir, name): src}})
	if err != nil {
		cleanup()
		return "", func() {}, err
	}
	overlay = filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlay, spec, 0o644); err != nil {
		cleanup()
		return "", func() {}, err
	}
	log.Debug("gobuild: registering assertions", "dir", pkgDir, "assertions", len(gens[0].Sites))
	return overlay, cleanup, nil
}

// catalogTempPrefix starts the names of the temporary directories that
// hold a build's generated catalog; ownerFile in each names its process.
const (
	catalogTempPrefix = "mvrun-catalog-"
	ownerFile         = "owner"
)

// unownedAge is how old a catalog directory without an owner file (made
// by a version before owner files, or killed between creating it and
// writing the file) must be before SweepTemp removes it.
const unownedAge = time.Hour

// SweepTemp removes the catalog directories in the temporary directory
// that builds killed before their cleanup left behind: those whose owner
// process is gone, and unowned ones older than an hour. Directories of
// live builds stay.
func SweepTemp() error {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), catalogTempPrefix+"*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		owner, err := os.ReadFile(filepath.Join(d, ownerFile))
		switch {
		case err == nil && procs.Alive(string(owner)):
			continue
		case err != nil:
			st, serr := os.Lstat(d)
			if serr != nil || time.Since(st.ModTime()) < unownedAge {
				continue
			}
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
