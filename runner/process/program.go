package process

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Prepare decides the program of every service and builds the ones that come
// from a Go main package, once per run, into workDir/bin/<service>:
//
//   - x-mvrun.binary: used as is; it must be an executable file;
//   - build: whose context is a Go main package: built with CGO_ENABLED=0;
//   - image: only: an error, since images need the docker backend.
//
// It also resolves every service's and workload command's argv (see
// [Cluster.Exec] for the rules), so a command that cannot run fails here,
// before any seed.
func (b *Backend) Prepare(ctx context.Context, t *specs.Test, workDir string) error {
	if t == nil || t.Project == nil {
		return errors.New("process backend: Prepare needs a test with a compose project")
	}
	workDir, err := filepath.Abs(workDir)
	if err != nil {
		return err
	}
	programs := make(map[string]string)
	built := make(map[string]string) // build context → binary, so shared contexts build once
	var errs []error
	for _, s := range t.Project.Services {
		p, err := b.program(ctx, s, t.ComposeFile, workDir, built)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		programs[s.Name] = p
		if _, _, err := backend.NodeArgv(s, p, t.Project.Dir); err != nil {
			errs = append(errs, err)
		}
		if err := backend.RootOnly(s, "process"); err != nil {
			errs = append(errs, err)
		}
		if s.WorkingDir != "" {
			b.log.Warn("compose working_dir is not applied on the process backend; the node runs in its own directory under the seed's artifacts",
				"service", s.Name, "working_dir", s.WorkingDir)
		}
	}
	if err := backend.CheckMounts(t.Project); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		for _, c := range t.Workload {
			s := t.Project.Service(c.Service)
			if s == nil {
				errs = append(errs, fmt.Errorf("%s: workload command %q: no service %q in the compose project", c.DeclRange, c.Name, c.Service))
				continue
			}
			if _, err := backend.ResolveCommand(c.Argv, s, programs[s.Name], t.Project.Dir); err != nil {
				errs = append(errs, fmt.Errorf("%s: workload command %q: %w", c.DeclRange, c.Name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.mu.Lock()
	b.test, b.programs = t, programs
	b.mu.Unlock()
	return nil
}

// program returns the host path of service s's program. composeFile names
// the file in errors.
func (b *Backend) program(ctx context.Context, s *specs.Service, composeFile, workDir string, built map[string]string) (string, error) {
	if p, ok, err := backend.LocalProgram(ctx, s, composeFile, filepath.Join(workDir, "bin"), "", "", false, built, b.log); ok {
		return p, err
	}
	switch {
	case s.Build != nil:
		return "", fmt.Errorf("service %q: build context %s is not a Go main package, and the process backend builds only those; add x-mvrun: {binary: ...} or use --backend docker", s.Name, s.Build.Context)
	case s.Image != "":
		return "", fmt.Errorf("service %q: image-only services need the docker backend (--backend docker), or add x-mvrun: {binary: ...}", s.Name)
	}
	return "", fmt.Errorf("service %q: has no image, build or x-mvrun.binary, so there is nothing to run", s.Name)
}

// ListTemplates lists the test-composer templates in dir as service's node
// sees it: under its x-mvrun.root, build context or the compose directory
// ([backend.HostPath]).
func (b *Backend) ListTemplates(ctx context.Context, service, dir string) ([]specs.TemplateFile, error) {
	b.mu.Lock()
	t := b.test
	b.mu.Unlock()
	if t == nil {
		return nil, errors.New("process backend: ListTemplates before Prepare")
	}
	s := t.Project.Service(service)
	if s == nil {
		return nil, fmt.Errorf("no service %q in the compose project", service)
	}
	p, err := backend.HostPath(s, dir, t.Project.Dir)
	if err != nil {
		return nil, err
	}
	return backend.ListHostTemplates(p)
}

var _ backend.TemplateLister = (*Backend)(nil)
