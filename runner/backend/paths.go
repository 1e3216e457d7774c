package backend

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mvrun/multiverse/specs"
)

// Where a path inside a service's node is found on the host, for backends
// that run host binaries (process, hv): the service's x-mvrun.root, then
// its build context, then the compose directory, each standing for the
// image's file system ("/opt/x" is <base>/opt/x).

// HostBases returns the host directories that stand for service s's image
// file system, in the order they are tried.
func HostBases(s *specs.Service, composeDir string) []string {
	var out []string
	if s.Root != "" {
		out = append(out, s.Root)
	}
	if s.Build != nil && s.Build.Context != "" && filepath.IsAbs(s.Build.Context) {
		out = append(out, s.Build.Context)
	}
	if composeDir != "" {
		out = append(out, composeDir)
	}
	return out
}

// HostPath returns the first existing host path that stands for the in-node
// path name of service s, or an error wrapping fs.ErrNotExist.
func HostPath(s *specs.Service, name, composeDir string) (string, error) {
	for _, base := range HostBases(s, composeDir) {
		p := filepath.Join(base, strings.TrimPrefix(name, "/"))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is in none of %s: %w", name, strings.Join(HostBases(s, composeDir), ", "), fs.ErrNotExist)
}

// ListHostTemplates lists the test-composer templates under the host
// directory dir: each subdirectory is a template.
func ListHostTemplates(dir string) ([]specs.TemplateFile, error) {
	tpls, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []specs.TemplateFile
	for _, t := range tpls {
		if !t.IsDir() {
			continue // a file beside the templates is not part of any
		}
		entries, err := os.ReadDir(filepath.Join(dir, t.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			f := specs.TemplateFile{Template: t.Name(), Name: e.Name()}
			st, err := os.Stat(filepath.Join(dir, t.Name(), e.Name())) // follows links
			switch {
			case errors.Is(err, fs.ErrNotExist):
				// a dangling link: not executable
			case err != nil:
				return nil, err
			case st.IsDir():
				f.Dir = true
			default:
				f.Executable = st.Mode().IsRegular() && st.Mode()&0o111 != 0
			}
			out = append(out, f)
		}
	}
	return out, nil
}
