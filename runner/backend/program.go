package backend

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mvrun/multiverse/internal/gobuild"
	"github.com/mvrun/multiverse/specs"
)

// How a compose service's commands map to programs on backends that run
// host binaries (process, hv): the rules every such backend shares.

// LocalProgram returns the host path of service s's program when it is an
// x-mvrun.binary (checked to be an executable file) or a Go main package
// (built with CGO_ENABLED=0 for goos/goarch, empty for the host's, into
// binDir/<service>; services sharing a build context share one build,
// hard-linked under each name); with cover, built with coverage counters
// ([gobuild.Request.Cover]). ok is false for any other service, which the
// backend handles in its own way. composeFile names the file in errors.
func LocalProgram(ctx context.Context, s *specs.Service, composeFile, binDir, goos, goarch string, cover bool, built map[string]string, log *slog.Logger) (path string, ok bool, err error) {
	switch {
	case s.Binary != "":
		if err := CheckExecutable(s.Binary); errors.Is(err, fs.ErrNotExist) {
			return "", true, fmt.Errorf("service %q in %s: x-mvrun.binary %s does not exist; build it first or fix the path (relative paths start at the compose file's directory)", s.Name, composeFile, s.Binary)
		} else if err != nil {
			return "", true, fmt.Errorf("service %q in %s: x-mvrun.binary: %w", s.Name, composeFile, err)
		}
		return s.Binary, true, nil
	case s.Build != nil && s.Build.GoMain:
		out := filepath.Join(binDir, s.Name)
		if prev, ok := built[s.Build.Context]; ok {
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return "", true, err
			}
			os.Remove(out)
			if err := os.Link(prev, out); err != nil {
				return "", true, fmt.Errorf("service %q: %w", s.Name, err)
			}
			return out, true, nil
		}
		log.Info("building Go service", "service", s.Name, "context", s.Build.Context, "coverage_counters", cover)
		if err := gobuild.Build(ctx, gobuild.Request{Dir: s.Build.Context, Out: out, GOOS: goos, GOARCH: goarch, Cover: cover, Logger: log}); err != nil {
			return "", true, fmt.Errorf("service %q: building its Go main package: %w", s.Name, err)
		}
		built[s.Build.Context] = out
		return out, true, nil
	}
	return "", false, nil
}

// CheckExecutable returns nil if path is a regular file someone may execute.
func CheckExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not executable (chmod +x it)", path)
	}
	return nil
}

// NamesProgram reports whether name, as written in a compose file or a
// workload command, means service s's own program.
func NamesProgram(name string, s *specs.Service, prog string) bool {
	if name == prog || (s.Binary != "" && name == s.Binary) {
		return true
	}
	base := filepath.Base(name)
	return base == filepath.Base(prog) || base == s.Name
}

// ResolveName maps the first element of an argv, as it would be looked up
// inside service s's container, to a host path:
//
//  1. it names the service's program (the same path, or the same base name
//     as the program or the service): the program;
//  2. a file of that path under the service's x-mvrun.root, its build
//     context or the compose directory, in that order (leading "/" is
//     dropped, so "/bin/client" is <compose dir>/bin/client);
//  3. the host: the path itself if it contains a slash, else a PATH lookup;
//  4. for a path that is missing on the host, its base name in PATH.
func ResolveName(name string, s *specs.Service, prog, composeDir string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("service %q: empty command name", s.Name)
	}
	if prog != "" && NamesProgram(name, s, prog) {
		return prog, nil
	}
	for _, base := range HostBases(s, composeDir) {
		p := filepath.Join(base, strings.TrimPrefix(name, "/"))
		if CheckExecutable(p) == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	if strings.Contains(name, "/") {
		if p, err := exec.LookPath(filepath.Base(name)); err == nil {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("service %q: command %q is not the service's program (%s), not an executable under the compose directory %s, and not in PATH",
		s.Name, name, prog, composeDir)
}

// ResolveCommand resolves a workload command's argv; it returns the host
// path to execute.
func ResolveCommand(argv []string, s *specs.Service, prog, composeDir string) (string, error) {
	if len(argv) == 0 {
		return "", fmt.Errorf("service %q: empty command", s.Name)
	}
	return ResolveName(argv[0], s, prog, composeDir)
}

// NodeArgv returns the path and argv of service s's own process. The program
// plays the part of the image's ENTRYPOINT: without a compose entrypoint,
// command gives its arguments (a first element that names the program
// itself is dropped, so both `command: [serve]` and
// `command: [/bin/server, serve]` work); with one, entrypoint[0] is resolved
// like a workload command.
func NodeArgv(s *specs.Service, prog, composeDir string) (string, []string, error) {
	if len(s.Entrypoint) > 0 {
		p, err := ResolveName(s.Entrypoint[0], s, prog, composeDir)
		if err != nil {
			return "", nil, fmt.Errorf("%w (in its entrypoint)", err)
		}
		return p, s.Argv(), nil
	}
	if len(s.Command) > 0 && NamesProgram(s.Command[0], s, prog) {
		return prog, append([]string(nil), s.Command...), nil
	}
	return prog, append([]string{prog}, s.Command...), nil
}
