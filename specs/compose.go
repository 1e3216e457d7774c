package specs

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Healthcheck defaults, the same as Docker's, filled in for fields a compose
// healthcheck leaves out.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 30 * time.Second
	DefaultHealthRetries  = 3
)

// mvrunExtension is the compose extension key mvrun reads on services.
const mvrunExtension = "x-mvrun"

// serviceError is a problem with one compose service.
type serviceError struct {
	service string
	msg     string
}

// composeError is a compose file mvrun cannot use: either compose-go could
// not load it (err) or some services are unusable (services).
type composeError struct {
	err      error
	services []serviceError
}

func (e *composeError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	msgs := make([]string, len(e.services))
	for i, s := range e.services {
		msgs[i] = fmt.Sprintf("service %q: %s", s.service, s.msg)
	}
	return strings.Join(msgs, "; ")
}

// LoadCompose loads the compose file at path the way [Load] does for a
// test's compose attribute: with the OS environment and the .env file next
// to it for interpolation, env_file entries resolved, and services in
// dependency order. name is the project name ("" lets compose pick one).
func LoadCompose(ctx context.Context, path, name string) (*Project, error) {
	return loadCompose(ctx, path, name)
}

func loadCompose(ctx context.Context, path, name string) (*Project, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &composeError{err: err}
	}
	dir := filepath.Dir(abs)
	// compose-go's consistency check insists on an image or build for every
	// service, but mvrun also runs services that only name an
	// x-mvrun.binary. So load without the check first, and then check again
	// with a placeholder image for those services.
	cp, err := loadComposeProject(ctx, []string{abs}, dir, name, false)
	if err != nil {
		return nil, &composeError{err: err}
	}
	p := &Project{Name: cp.Name, Dir: cp.WorkingDir}
	if p.Dir == "" {
		p.Dir = dir
	}
	var bad []serviceError
	byName := map[string]*Service{}
	var binaryOnly []string
	for _, name := range sortedKeys(cp.Services) {
		s, errs := convertService(name, cp.Services[name], p.Dir)
		for _, e := range errs {
			bad = append(bad, serviceError{service: name, msg: e})
		}
		byName[name] = s
		if s.Build == nil && s.Image == "" && s.Binary != "" {
			binaryOnly = append(binaryOnly, name)
		}
	}
	vols, vbad := convertVolumes(cp.Volumes)
	bad = append(bad, vbad...)
	p.Volumes = vols
	if len(bad) > 0 {
		return nil, &composeError{services: bad}
	}
	if err := checkComposeConsistency(ctx, abs, dir, name, binaryOnly); err != nil {
		return nil, &composeError{err: err}
	}
	for _, s := range byName {
		// compose-go keeps optional (required: false) dependencies on
		// services that are not there; nothing can wait for those.
		s.DependsOn = slices.DeleteFunc(s.DependsOn, func(d Dependency) bool { return byName[d.Service] == nil })
	}
	order, cycle := dependencyOrder(byName)
	if cycle != nil {
		return nil, &composeError{services: []serviceError{{service: cycle[0],
			msg: "depends_on forms a cycle among " + strings.Join(cycle, ", ")}}}
	}
	for _, n := range order {
		p.Services = append(p.Services, byName[n])
	}
	return p, nil
}

// loadComposeProject loads compose files with interpolation from the OS
// environment and dir/.env.
func loadComposeProject(ctx context.Context, files []string, dir, name string, consistency bool) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
		cli.WithOsEnv,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithConsistency(consistency),
	}
	if n := loader.NormalizeProjectName(name); n != "" {
		opts = append(opts, cli.WithName(n))
	}
	po, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		return nil, err
	}
	return po.LoadProject(ctx)
}

// checkComposeConsistency runs compose-go's consistency check (undefined
// services, networks, volumes, ...) on the compose file, giving the
// binaryOnly services a placeholder image through a temporary override
// file.
func checkComposeConsistency(ctx context.Context, file, dir, name string, binaryOnly []string) error {
	files := []string{file}
	if len(binaryOnly) > 0 {
		var b strings.Builder
		b.WriteString("services:\n")
		for _, n := range binaryOnly {
			fmt.Fprintf(&b, "  %s:\n    image: mvrun-binary-placeholder\n", strconv.Quote(n))
		}
		f, err := os.CreateTemp("", "mvrun-compose-override-*.yaml")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		_, werr := f.WriteString(b.String())
		if err := errors.Join(werr, f.Close()); err != nil {
			return err
		}
		files = append(files, f.Name())
	}
	_, err := loadComposeProject(ctx, files, dir, name, true)
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// convertService turns one compose service into a [Service], returning
// every reason it is unusable.
func convertService(name string, sc types.ServiceConfig, dir string) (*Service, []string) {
	var errs []string
	s := &Service{
		Name:        name,
		Entrypoint:  slices.Clone([]string(sc.Entrypoint)),
		Command:     slices.Clone([]string(sc.Command)),
		Environment: map[string]string{},
		WorkingDir:  sc.WorkingDir,
		Image:       sc.Image,
	}
	if n := sc.GetScale(); n != 1 {
		errs = append(errs, fmt.Sprintf("scale/deploy.replicas is %d; mvrun runs exactly one node per service, so define one service per replica", n))
	}
	for k, v := range sc.Environment {
		if v != nil { // a bare name with no value in the environment is unset
			s.Environment[k] = *v
		}
	}
	for _, dep := range sortedKeys(sc.DependsOn) {
		d := sc.DependsOn[dep]
		c := DependencyCondition(d.Condition)
		if c == "" {
			c = ServiceStarted
		}
		switch c {
		case ServiceStarted, ServiceHealthy, ServiceCompletedSuccessfully:
		default:
			errs = append(errs, fmt.Sprintf("depends_on %q has condition %q; use service_started, service_healthy or service_completed_successfully", dep, d.Condition))
		}
		s.DependsOn = append(s.DependsOn, Dependency{Service: dep, Condition: c})
	}
	if hc := sc.HealthCheck; hc != nil && !hc.Disable {
		h, err := convertHealthcheck(hc)
		if err != "" {
			errs = append(errs, err)
		}
		s.Healthcheck = h
	}
	if b := sc.Build; b != nil {
		ctxDir := b.Context
		if ctxDir == "" {
			ctxDir = "."
		}
		if !isRemoteContext(ctxDir) && !filepath.IsAbs(ctxDir) {
			ctxDir = filepath.Join(dir, ctxDir)
		}
		if isRemoteContext(ctxDir) {
			s.Build = &Build{Context: ctxDir, Dockerfile: b.Dockerfile}
		} else {
			ctxDir = filepath.Clean(ctxDir)
			s.Build = &Build{Context: ctxDir, Dockerfile: b.Dockerfile, GoMain: isGoMain(ctxDir)}
			// compose-go fills in "Dockerfile" whether or not there is one;
			// a Go main package needs none.
			if df := s.Build.Dockerfile; df != "" && !filepath.IsAbs(df) {
				if _, err := os.Stat(filepath.Join(ctxDir, df)); err != nil {
					s.Build.Dockerfile = ""
				}
			}
		}
	}
	if ext, ok := sc.Extensions[mvrunExtension]; ok {
		x, e := decodeMvrunExtension(ext)
		errs = append(errs, e...)
		abs := func(p string) string {
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			return filepath.Clean(p)
		}
		if x.binary != "" {
			s.Binary = abs(x.binary)
			if msg := checkBinary(s.Binary); msg != "" {
				errs = append(errs, msg)
			}
		}
		if x.root != "" {
			s.Root = abs(x.root)
			if fi, err := os.Stat(s.Root); err != nil || !fi.IsDir() {
				errs = append(errs, fmt.Sprintf("%s.root %s is not a directory", mvrunExtension, s.Root))
			}
		}
	}
	errs = append(errs, convertMounts(s, sc)...)
	convertIdentity(s, sc)
	errs = append(errs, refusedKeys(sc)...)
	if s.Build == nil && s.Binary == "" && s.Image == "" {
		errs = append(errs, "it has no build, image or x-mvrun.binary, so mvrun has no program to run; add one of them")
	}
	for _, p := range sc.Ports {
		if p.Target != 0 {
			s.Ports = append(s.Ports, int(p.Target))
		}
	}
	for _, e := range sc.Expose {
		port, _, _ := strings.Cut(e, "/")
		lo, _, _ := strings.Cut(port, "-")
		if n, err := strconv.Atoi(lo); err == nil {
			s.Ports = append(s.Ports, n)
		}
	}
	slices.Sort(s.Ports)
	s.Ports = slices.Compact(s.Ports)
	return s, errs
}

// checkBinary says what is wrong with an x-mvrun.binary path, or "" when
// it names an executable regular file. Backends run it as is, so a
// missing or non-executable file would only fail once a run has started.
func checkBinary(path string) string {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Sprintf("%s.binary %s: %v", mvrunExtension, path, errors.Unwrap(err))
	case !st.Mode().IsRegular():
		return fmt.Sprintf("%s.binary %s is not a regular file", mvrunExtension, path)
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("%s.binary %s is not executable (mode %v); chmod +x it", mvrunExtension, path, st.Mode().Perm())
	}
	return ""
}

// isRemoteContext reports whether a build context is a URL rather than a
// directory.
func isRemoteContext(c string) bool {
	return strings.Contains(c, "://") || strings.HasPrefix(c, "git@")
}

// convertHealthcheck converts a compose healthcheck; it returns nil for
// test: ["NONE"].
func convertHealthcheck(hc *types.HealthCheckConfig) (*Healthcheck, string) {
	h := &Healthcheck{Interval: DefaultHealthInterval, Timeout: DefaultHealthTimeout, Retries: DefaultHealthRetries}
	if hc.Interval != nil {
		h.Interval = time.Duration(*hc.Interval)
	}
	if hc.Timeout != nil {
		h.Timeout = time.Duration(*hc.Timeout)
	}
	if hc.Retries != nil {
		h.Retries = int(*hc.Retries)
	}
	if hc.StartPeriod != nil {
		h.StartPeriod = time.Duration(*hc.StartPeriod)
	}
	test := []string(hc.Test)
	switch {
	case len(test) == 0:
		// A healthcheck that only tunes timings of the image's own check:
		// mvrun has no image check to run.
		return nil, "healthcheck has no test; mvrun cannot use an image's built-in healthcheck, so give test: [\"CMD\", ...]"
	case test[0] == "NONE":
		return nil, ""
	case test[0] == "CMD" && len(test) > 1:
		h.Test = slices.Clone(test[1:])
	case test[0] == "CMD-SHELL" && len(test) == 2:
		h.Test = []string{"/bin/sh", "-c", test[1]}
	default:
		return nil, fmt.Sprintf("healthcheck test %q is not [\"CMD\", args...], [\"CMD-SHELL\", command] or [\"NONE\"]", test)
	}
	return h, ""
}

// mvrunExt is a service's decoded x-mvrun extension.
type mvrunExt struct {
	binary string // the service's program
	root   string // a host directory standing for the image's file system
}

// decodeMvrunExtension reads a service's x-mvrun extension.
func decodeMvrunExtension(ext any) (x mvrunExt, errs []string) {
	m, ok := ext.(map[string]any)
	if !ok {
		return x, []string{fmt.Sprintf("%s must be a mapping such as {binary: ./bin/server}, not %T", mvrunExtension, ext)}
	}
	for _, k := range sortedKeys(m) {
		var dst *string
		switch k {
		case "binary":
			dst = &x.binary
		case "root":
			dst = &x.root
		default:
			errs = append(errs, fmt.Sprintf("%s has unknown key %q; its keys are binary and root", mvrunExtension, k))
			continue
		}
		s, ok := m[k].(string)
		if !ok || s == "" {
			errs = append(errs, fmt.Sprintf("%s.%s must be a non-empty path", mvrunExtension, k))
			continue
		}
		*dst = s
	}
	return x, errs
}

// isGoMain reports whether dir holds a Go main package: every non-test Go
// file that builds for linux/amd64 declares package main. It reads only the
// package clauses.
func isGoMain(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	ctxt := build.Default
	ctxt.GOOS, ctxt.GOARCH, ctxt.CgoEnabled = "linux", "amd64", false
	fset := token.NewFileSet()
	found := false
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		if ok, err := ctxt.MatchFile(dir, n); err != nil || !ok {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err != nil {
			return false
		}
		if f.Name.Name != "main" {
			return false
		}
		found = true
	}
	return found
}

// dependencyOrder sorts services so each comes after everything it depends
// on; ties go by name, so the order is stable. A dependency on a service
// not in the project is ignored. On a cycle it returns the cycle's services.
func dependencyOrder(services map[string]*Service) (order, cycle []string) {
	indeg := map[string]int{}
	users := map[string][]string{}
	for _, n := range sortedKeys(services) {
		indeg[n] += 0
		for _, d := range services[n].DependsOn {
			if _, ok := services[d.Service]; !ok {
				continue
			}
			indeg[n]++
			users[d.Service] = append(users[d.Service], n)
		}
	}
	var ready []string
	for _, n := range sortedKeys(indeg) {
		if indeg[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		n := ready[0]
		ready = ready[1:]
		order = append(order, n)
		for _, u := range users[n] {
			if indeg[u]--; indeg[u] == 0 {
				ready = append(ready, u)
				sort.Strings(ready)
			}
		}
	}
	if len(order) == len(services) {
		return order, nil
	}
	for _, n := range sortedKeys(indeg) {
		if indeg[n] > 0 {
			cycle = append(cycle, n)
		}
	}
	return nil, cycle
}
