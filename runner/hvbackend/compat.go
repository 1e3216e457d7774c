package hvbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// composeLimits returns an error for each compose key of t's services that
// hv cannot honour, naming the service and the key. Volumes, tmpfs and
// read_only are honoured (volumes.go), and container_name is another
// name of the node in every node's /etc/hosts.
func composeLimits(t *specs.Test) []error {
	var errs []error
	for _, s := range t.Project.Services {
		if err := backend.RootOnly(s, "hv"); err != nil {
			errs = append(errs, err)
		}
		if s.Hostname != "" && s.Hostname != s.Name {
			errs = append(errs, fmt.Errorf("service %q: hostname %q: on the hv backend a node's hostname is its service name; drop hostname or use --backend process or docker", s.Name, s.Hostname))
		}
	}
	return errs
}

// StaticCgoBuild is the command that builds a Go main package that needs cgo
// as an executable hv runs: static, non-PIE, with the C library linked in.
const StaticCgoBuild = `CGO_ENABLED=1 go build -ldflags '-linkmode external -extldflags "-static"'`

// cgoHint adds to an error about a dynamically linked program what to do
// when the program builds only with cgo, as Antithesis SDK clients built
// with its cgo tag do.
func cgoHint(err error) error {
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		return err
	}
	return fmt.Errorf("%w; a program that builds only with cgo (such as one using the Antithesis SDK's cgo build tag) runs on hv when linked statically, built with %s (glibc's libc.a, from libc6-dev; CC=musl-gcc for musl), and on --backend process or docker as it is", err, StaticCgoBuild)
}

// ListTemplates lists the test-composer templates in dir as service's node
// sees it: under its x-mvrun.root, build context or the compose directory.
func (b *Backend) ListTemplates(ctx context.Context, service, dir string) ([]specs.TemplateFile, error) {
	b.mu.Lock()
	t, prog := b.test, b.programs[service]
	b.mu.Unlock()
	if t == nil {
		return nil, errors.New("hv backend: ListTemplates before Prepare")
	}
	s := t.Project.Service(service)
	if s == nil {
		return nil, fmt.Errorf("no service %q in the compose project", service)
	}
	p, err := backend.HostPath(s, dir, t.Project.Dir)
	if err != nil {
		return nil, err
	}
	files, err := backend.ListHostTemplates(p)
	if err != nil {
		return nil, err
	}
	// Each command must be something hv can run; say so now, not per seed.
	var errs []error
	for _, f := range files {
		if _, ok := specs.TemplateRole(f.Name); ok && f.Executable && !f.Dir {
			argv := []string{dir + "/" + f.Template + "/" + f.Name}
			if err := b.checkCommand(argv, s, prog, t.Project.Dir); err != nil {
				errs = append(errs, fmt.Errorf("test-composer command %s/%s: %w", f.Template, f.Name, cgoHint(err)))
			}
		}
	}
	return files, errors.Join(errs...)
}

var _ backend.TemplateLister = (*Backend)(nil)
