package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// findTemplates lists the test's test-composer templates through the
// prepared backend. With no service named, every service that has the
// directory contributes its templates; it is an error when none has any.
func findTemplates(ctx context.Context, b backend.Backend, t *specs.Test, log *slog.Logger) ([]*specs.Template, error) {
	tp := t.Templates
	if tp == nil {
		return nil, nil
	}
	lister, ok := b.(backend.TemplateLister)
	if !ok {
		return nil, fmt.Errorf("the %s backend cannot list test-composer templates; list the commands in the spec's workload block instead", b.Name())
	}
	services := []string{tp.Service}
	if tp.Service == "" {
		services = t.Project.ServiceNames()
	}
	var out []*specs.Template
	for _, svc := range services {
		files, err := lister.ListTemplates(ctx, svc, tp.Dir)
		if errors.Is(err, fs.ErrNotExist) && tp.Service == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("service %q: listing test-composer templates in %s: %w", svc, tp.Dir, err)
		}
		tpls, ignored, err := specs.BuildTemplates(svc, tp.Dir, files)
		if err != nil {
			return nil, err
		}
		if len(ignored) > 0 {
			log.Info("test-composer files that are not commands (helper_, no known prefix, directories) are ignored",
				"service", svc, "dir", tp.Dir, "files", strings.Join(ignored, ", "))
		}
		out = append(out, tpls...)
	}
	if len(out) == 0 {
		where := fmt.Sprintf("service %q", tp.Service)
		if tp.Service == "" {
			where = "any service"
		}
		return nil, fmt.Errorf("no test-composer template with commands (first_, parallel_driver_, ..., finally_) in %s of %s", tp.Dir, where)
	}
	return out, nil
}

// pickTemplate chooses the template a seed runs, from the seed alone, as
// Antithesis runs one template per timeline.
func pickTemplate(seed uint64, tpls []*specs.Template) *specs.Template {
	if len(tpls) == 0 {
		return nil
	}
	return tpls[seeds.Stream(seed, "template").IntN(len(tpls))]
}
