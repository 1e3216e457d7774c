package specs

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Test-composer templates: Antithesis runs, for each of its timelines, the
// commands of one template directory, found by the prefix of their file
// names. mvrun does the same per seed.

// templatePrefixes maps a test-composer file name prefix to its role. The
// longest prefix is tried first; "helper_" files are ignored.
var templatePrefixes = []struct {
	prefix string
	role   Role
}{
	{"singleton_driver_", RoleSingletonDriver},
	{"parallel_driver_", RoleParallelDriver},
	{"serial_driver_", RoleSerialDriver},
	{"eventually_", RoleEventually},
	{"anytime_", RoleAnytime},
	{"finally_", RoleFinally},
	{"first_", RoleFirst},
}

// HelperPrefix starts the names of template files that are not commands.
const HelperPrefix = "helper_"

// TemplateFile is one entry of a template directory, as a backend lists it.
type TemplateFile struct {
	Template   string // the template directory's name
	Name       string // the file's name in it
	Executable bool   // a regular file with an execute bit (or a link to one)
	Dir        bool   // a directory (ignored, as Antithesis does)
}

// Template is one test-composer template: the commands a seed runs when it
// picks it.
type Template struct {
	Name     string
	Service  string
	Commands []*Command // sorted by file name
}

// TemplateRole returns the role a file name's prefix gives it; ok is false
// for a helper_ file or a name with no known prefix.
func TemplateRole(name string) (role Role, ok bool) {
	for _, p := range templatePrefixes {
		if strings.HasPrefix(name, p.prefix) && len(name) > len(p.prefix) {
			return p.role, true
		}
	}
	return "", false
}

// unsafeName matches what a workload name may not contain.
var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// BuildTemplates turns the listing of a templates directory (dir, in the
// node of service) into templates sorted by name. Files without a
// test-composer prefix and helper_ files are skipped and returned in
// ignored; a command file that is not executable is an error, as it is
// for Antithesis.
func BuildTemplates(service, dir string, files []TemplateFile) (tpls []*Template, ignored []string, err error) {
	by := map[string]*Template{}
	var bad []string
	sort.Slice(files, func(i, j int) bool {
		if files[i].Template != files[j].Template {
			return files[i].Template < files[j].Template
		}
		return files[i].Name < files[j].Name
	})
	for _, f := range files {
		rel := path.Join(f.Template, f.Name)
		role, ok := TemplateRole(f.Name)
		if f.Dir || !ok || strings.HasPrefix(f.Name, ".") {
			ignored = append(ignored, rel)
			continue
		}
		if !f.Executable {
			bad = append(bad, rel)
			continue
		}
		t := by[f.Template]
		if t == nil {
			t = &Template{Name: f.Template, Service: service}
			by[f.Template] = t
			tpls = append(tpls, t)
		}
		name := unsafeName.ReplaceAllString(f.Template+"."+f.Name, "_")
		if !nameRE.MatchString(name) {
			name = "t" + name
		}
		c := &Command{Role: role, Name: name, Service: service, Argv: []string{path.Join(dir, f.Template, f.Name)}, Instances: 1}
		if role == RoleParallelDriver {
			c.Instances = DefaultInstances
		}
		t.Commands = append(t.Commands, c)
	}
	if len(bad) > 0 {
		return nil, ignored, fmt.Errorf("service %q: %s: test-composer commands must be executable; these are not: %s", service, dir, strings.Join(bad, ", "))
	}
	return tpls, ignored, nil
}

// FromCompose makes a test from a compose file alone, for
// `mvrun test --compose FILE`: its workload is the test-composer templates
// under [DefaultTemplatesDir] of every service that has them; its faults
// are mvrun's defaults (swarm over every fault kind); duration, seeds and
// backend are the spec defaults.
func FromCompose(ctx context.Context, composeFile string) (*Test, error) {
	abs, err := filepath.Abs(composeFile)
	if err != nil {
		return nil, err
	}
	name := unsafeName.ReplaceAllString(filepath.Base(filepath.Dir(abs)), "_")
	if !nameRE.MatchString(name) {
		name = "compose"
	}
	p, err := loadCompose(ctx, abs, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", composeFile, err)
	}
	return &Test{
		Name: name, SpecFile: abs, Dir: filepath.Dir(abs), ComposeFile: abs,
		Backend: DefaultBackend, Duration: DefaultDuration, Seeds: DefaultSeeds,
		SeedTimeout: DefaultSeedTimeout(DefaultDuration), Project: p,
		Templates: &Templates{Dir: DefaultTemplatesDir},
		Faults:    defaultFaults(),
	}, nil
}
