package docker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/mvrun/multiverse/internal/gobuild"
	"github.com/mvrun/multiverse/specs"
)

// image is what a service's containers are created from.
type image struct {
	ref string
	// entrypoint and cmd override the image's when non-nil (compose
	// semantics: an entrypoint override drops the image's CMD too).
	entrypoint, cmd []string
	// paths lists where the program is inside an image mvrun assembled
	// from a static binary (nil for other images).
	paths []string
}

// Prepare readies an image for every service of t, once per run, and the
// sandbox image every node uses:
//
//   - build: with a Dockerfile: built locally (docker build), tagged with
//     the service's image: name if the compose file gives one (the image is
//     then kept), else with a name of this run (removed by [Backend.Close],
//     or by a later run's Sweep);
//   - build: whose context is a Go main package without a Dockerfile, or
//     x-mvrun.binary: the static binary (built with CGO_ENABLED=0) in a
//     FROM scratch image, at /bin/<service>, at /bin/<name of the package
//     directory or binary>, and at every absolute path by which the compose
//     file or a workload command of the service names it (see
//     [programPaths]); services running the same program share one image;
//   - image: only: must be present locally.
//
// No image is ever pulled, not even a Dockerfile's FROM image: missing
// images are errors that name the service and say how to provide them.
func (b *Backend) Prepare(ctx context.Context, t *specs.Test, workDir string) error {
	if t == nil || t.Project == nil {
		return errors.New("docker backend: Prepare needs a test with a compose project")
	}
	cli, err := b.client(ctx)
	if err != nil {
		return fmt.Errorf("docker backend: %w", err)
	}
	workDir, err = filepath.Abs(workDir)
	if err != nil {
		return err
	}
	sandbox, err := b.sandboxImage(ctx, cli)
	if err != nil {
		return err
	}
	images := map[string]*image{}
	binaries := map[string]string{} // Go build context → binary, so shared contexts build once
	var groups []*programGroup
	byKey := map[string]*programGroup{}
	var errs []error
	for _, s := range t.Project.Services {
		prog, name, err := b.program(ctx, s, t.ComposeFile, workDir, binaries)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prog == "" {
			im, err := b.serviceImage(ctx, cli, t.Project.Name, s)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			images[s.Name] = im
			continue
		}
		paths, err := programPaths(t, s, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Services running the same program share one image holding it
		// at every service's paths, unless the compose file names their
		// images.
		key := prog + "\x00" + s.Image
		g := byKey[key]
		if g == nil {
			g = &programGroup{prog: prog, name: name, named: s.Image}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.services = append(g.services, s)
		for _, p := range paths {
			if !slices.Contains(g.paths, p) {
				g.paths = append(g.paths, p)
			}
		}
	}
	if len(errs) == 0 {
		for _, g := range groups {
			ref, err := b.programImage(ctx, t, g)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, s := range g.services {
				images[s.Name] = programServiceImage(ref, g.paths, s)
			}
		}
	}
	for _, c := range t.Workload {
		if t.Project.Service(c.Service) == nil {
			errs = append(errs, fmt.Errorf("%s: workload command %q: no service %q in the compose project", c.DeclRange, c.Name, c.Service))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.mu.Lock()
	b.test, b.images, b.sandbox = t, images, sandbox
	b.mu.Unlock()
	return nil
}

// sandboxImage returns the sandbox image, building it if this engine does
// not have it yet. It is shared by all runs and kept.
func (b *Backend) sandboxImage(ctx context.Context, cli client.APIClient) (string, error) {
	tarball, ref, err := sandboxContext()
	if err != nil {
		return "", fmt.Errorf("docker backend: %w", err)
	}
	if ok, err := imageExists(ctx, cli, ref); err != nil || ok {
		return ref, err
	}
	b.log.Info("building the network sandbox image", "image", ref)
	req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		ContextArchive: bytes.NewReader(tarball),
	}}
	if err := b.build(ctx, &req, ref, map[string]string{LabelSandboxImage: "1"}); err != nil {
		return "", fmt.Errorf("docker backend: building the network sandbox image: %w", err)
	}
	return ref, nil
}

// program returns the static program of service s and its own name (the Go
// package directory or the binary's file name), building Go main packages;
// "" if s runs an image or a Dockerfile build. composeFile names the file in
// errors.
func (b *Backend) program(ctx context.Context, s *specs.Service, composeFile, workDir string, binaries map[string]string) (prog, name string, err error) {
	switch {
	case s.Build != nil && s.Build.Dockerfile == "" && s.Build.GoMain:
		prog, ok := binaries[s.Build.Context]
		if !ok {
			prog = filepath.Join(workDir, "bin", s.Name)
			b.log.Info("building Go service", "service", s.Name, "context", s.Build.Context)
			if err := gobuild.Build(ctx, gobuild.Request{Dir: s.Build.Context, Out: prog}); err != nil {
				return "", "", fmt.Errorf("service %q: building its Go main package: %w", s.Name, err)
			}
			binaries[s.Build.Context] = prog
		}
		return prog, filepath.Base(s.Build.Context), nil
	case s.Build == nil && s.Image == "" && s.Binary != "":
		st, err := os.Stat(s.Binary)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", "", fmt.Errorf("service %q in %s: x-mvrun.binary %s does not exist; build it first (a static binary: CGO_ENABLED=0) or fix the path (relative paths start at the compose file's directory)", s.Name, composeFile, s.Binary)
		case err != nil:
			return "", "", fmt.Errorf("service %q in %s: x-mvrun.binary: %w", s.Name, composeFile, err)
		case !st.Mode().IsRegular():
			return "", "", fmt.Errorf("service %q in %s: x-mvrun.binary %s is not a regular file", s.Name, composeFile, s.Binary)
		}
		return s.Binary, filepath.Base(s.Binary), nil
	}
	return "", "", nil
}

// serviceImage readies the image of service s when it is not a program
// image: a Dockerfile build or a local image.
func (b *Backend) serviceImage(ctx context.Context, cli client.APIClient, proj string, s *specs.Service) (*image, error) {
	switch {
	case s.Build != nil && s.Build.Dockerfile != "":
		return b.dockerfileImage(ctx, cli, proj, s)
	case s.Build != nil:
		return nil, fmt.Errorf("service %q: build context %s has no Dockerfile and is not a Go main package; add a Dockerfile (or build: {dockerfile: ...})", s.Name, s.Build.Context)
	case s.Image != "":
		ok, err := imageExists(ctx, cli, s.Image)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", s.Name, err)
		}
		if !ok {
			return nil, fmt.Errorf("service %q: image %q is not present locally, and mvrun never pulls images; build or load it first (docker build -t %s DIR, or docker load -i FILE), or give the service a build: section", s.Name, s.Image, s.Image)
		}
		return &image{ref: s.Image, entrypoint: s.Entrypoint, cmd: s.Command}, nil
	}
	return nil, fmt.Errorf("service %q: has no image, build or x-mvrun.binary, so there is nothing to run", s.Name)
}

// dockerfileImage builds service s from its Dockerfile.
func (b *Backend) dockerfileImage(ctx context.Context, cli client.APIClient, proj string, s *specs.Service) (*image, error) {
	bc := s.Build.Context
	if strings.Contains(bc, "://") || strings.HasPrefix(bc, "git@") {
		return nil, fmt.Errorf("service %q: remote build context %s is not supported: mvrun builds offline; clone it and point build: at the directory", s.Name, bc)
	}
	df := s.Build.Dockerfile
	if filepath.IsAbs(df) {
		rel, err := filepath.Rel(bc, df)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("service %q: Dockerfile %s is outside its build context %s; move it into the context", s.Name, df, bc)
		}
		df = rel
	}
	if err := checkBaseImages(ctx, cli, s.Name, filepath.Join(bc, df)); err != nil {
		return nil, err
	}
	ref, labels := b.builtRef(proj, s.Image, s.Name, s.Name)
	b.log.Info("building image", "service", s.Name, "context", bc, "dockerfile", df, "image", ref)
	req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{Context: bc, Dockerfile: df}}
	if err := b.build(ctx, &req, ref, labels); err != nil {
		return nil, fmt.Errorf("service %q: docker build of %s: %w", s.Name, filepath.Join(bc, df), err)
	}
	return &image{ref: ref, entrypoint: s.Entrypoint, cmd: s.Command}, nil
}

// builtRef returns the reference and labels of an image mvrun builds: the
// compose image: name if given (kept after the run, so not labelled with
// the run), else mvrun/<project>-<name>:<run id>, labelled, so it is
// removed. services lists the services it is for.
func (b *Backend) builtRef(proj, named, name, services string) (string, map[string]string) {
	if named != "" {
		return named, map[string]string{LabelService: services}
	}
	repo := "mvrun/" + sanitizeRef(proj) + "-" + sanitizeRef(name)
	return repo + ":" + b.RunID(), b.labels(LabelService, services, LabelRole, roleImage)
}

// programGroup is the services whose images hold the same static program.
type programGroup struct {
	prog     string // host path of the program
	name     string // its own name
	named    string // the compose image: name, "" for a run image
	paths    []string
	services []*specs.Service
}

// programImage builds the FROM scratch image of group g: the program at
// every path in g.paths.
func (b *Backend) programImage(ctx context.Context, t *specs.Test, g *programGroup) (string, error) {
	names := make([]string, len(g.services))
	for i, s := range g.services {
		names[i] = s.Name
	}
	svcs := strings.Join(names, ",")
	dir, err := os.MkdirTemp("", "mvrun-docker-ctx-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary build context: a leftover costs only disk
	if err := copyFile(g.prog, filepath.Join(dir, "program")); err != nil {
		return "", fmt.Errorf("service %q: %w", names[0], err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), scratchDockerfile(g.paths), 0o644); err != nil {
		return "", err
	}
	ref, labels := b.builtRef(t.Project.Name, g.named, g.name, svcs)
	b.log.Info("building image from a static binary", "services", svcs, "image", ref, "paths", g.paths)
	req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{Context: dir}}
	if err := b.build(ctx, &req, ref, labels); err != nil {
		return "", fmt.Errorf("services %s: building their image from %s: %w", svcs, g.prog, err)
	}
	return ref, nil
}

// programServiceImage returns how service s runs from a program image:
// compose's entrypoint if it has one; else the program, as /bin/<service>,
// with the compose command as arguments, unless command[0] names the
// program itself (`command: [/bin/server, serve]`, as the process backend
// allows), which then runs with the rest.
func programServiceImage(ref string, paths []string, s *specs.Service) *image {
	im := &image{ref: ref, paths: paths, entrypoint: s.Entrypoint, cmd: s.Command}
	switch {
	case len(s.Entrypoint) > 0:
	case len(s.Command) > 0 && path.IsAbs(s.Command[0]) && slices.Contains(paths, path.Clean(s.Command[0])):
		im.entrypoint, im.cmd = s.Command[:1], append([]string{}, s.Command[1:]...)
	default:
		im.entrypoint = []string{"/bin/" + s.Name}
		if im.cmd == nil {
			im.cmd = []string{}
		}
	}
	return im
}

// scratchDockerfile is the Dockerfile of an image holding only the program,
// at every path in paths; the first is the entrypoint.
func scratchDockerfile(paths []string) []byte {
	var b bytes.Buffer
	b.WriteString("FROM scratch\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "COPY program %s\n", p)
	}
	fmt.Fprintf(&b, "ENTRYPOINT [%q]\n", paths[0])
	return b.Bytes()
}

// programPaths returns where an image assembled from service s's static
// program holds it: /bin/<service>, /bin/<name>, and every other path by
// which the compose file (entrypoint, command[0], healthcheck) or a
// workload command of the service names it. A name counts as naming the
// program when it is absolute or bare and its base name is the service's
// or the program's name; any other command is an error, since the image
// holds nothing else.
func programPaths(t *specs.Test, s *specs.Service, name string) ([]string, error) {
	paths := []string{"/bin/" + s.Name}
	add := func(p string) {
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	add("/bin/" + name)
	type use struct{ argv0, where string }
	var uses []use
	if len(s.Entrypoint) > 0 {
		uses = append(uses, use{s.Entrypoint[0], "its compose entrypoint"})
	}
	if hc := s.Healthcheck; hc != nil && len(hc.Test) > 0 {
		uses = append(uses, use{hc.Test[0], "its healthcheck"})
	}
	for _, c := range t.Workload {
		if c.Service == s.Name && len(c.Argv) > 0 {
			uses = append(uses, use{c.Argv[0], fmt.Sprintf("workload command %q (%s)", c.Name, c.DeclRange)})
		}
	}
	var errs []error
	for _, u := range uses {
		base := path.Base(u.argv0)
		ok := (path.IsAbs(u.argv0) || !strings.Contains(u.argv0, "/")) && (base == s.Name || base == name)
		if !ok {
			errs = append(errs, fmt.Errorf("service %q: %s runs %q, but the image mvrun builds for this service holds only its program, at %s; name one of those paths (or give the service a Dockerfile)",
				s.Name, u.where, u.argv0, strings.Join(paths, ", ")))
			continue
		}
		add(absInImage(u.argv0))
	}
	// command[0] is an argument to the entrypoint unless it names the
	// program; only an absolute path can be mistaken for one.
	if len(s.Entrypoint) == 0 && len(s.Command) > 0 && path.IsAbs(s.Command[0]) {
		if base := path.Base(s.Command[0]); base == s.Name || base == name {
			add(s.Command[0])
		}
	}
	return paths, errors.Join(errs...)
}

// absInImage returns where a command name resolves in a program image: a
// bare name through PATH, which reaches /bin.
func absInImage(argv0 string) string {
	if path.IsAbs(argv0) {
		return path.Clean(argv0)
	}
	return "/bin/" + argv0
}

// build builds req's context into an image tagged ref with labels, through
// testcontainers. Only the classic builder is asked for: it needs no
// BuildKit and, like it, pulls nothing for FROM images that are present.
func (b *Backend) build(ctx context.Context, req *testcontainers.ContainerRequest, ref string, labels map[string]string) error {
	repo, tag := splitRef(ref)
	req.Repo, req.Tag, req.KeepImage = repo, tag, true
	var out bytes.Buffer
	req.FromDockerfile.BuildLogWriter = &out
	req.BuildOptionsModifier = func(o *client.ImageBuildOptions) {
		o.Labels = labels
		o.Version = "1"
	}
	p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tcLogger{b.log}))
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }() // the provider's client; the build's result is already decided
	if _, err := p.BuildImage(ctx, req); err != nil {
		if tail := lastLines(out.String(), 15); tail != "" {
			return fmt.Errorf("%w\n%s", err, tail)
		}
		return err
	}
	return nil
}

// Close removes the images this run built that the compose file did not
// name. The runner calls it once the run's last cluster is closed; images a
// killed run left behind are removed by a later run's Sweep.
func (b *Backend) Close(ctx context.Context) error {
	cli, err := b.client(ctx)
	if err != nil {
		return nil // nothing can have been built
	}
	is, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelRun+"="+b.RunID())})
	if err != nil {
		return fmt.Errorf("docker backend: list this run's images: %w", err)
	}
	var errs []error
	for _, im := range is.Items {
		if _, err := cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("docker backend: remove image %s: %w", shortID(im.ID), err))
		}
	}
	return errors.Join(errs...)
}

// checkBaseImages returns an error naming every FROM image of the
// Dockerfile at path that is not present locally, since building would try
// to pull it.
func checkBaseImages(ctx context.Context, cli client.APIClient, service, dockerfile string) error {
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		return fmt.Errorf("service %q: %w", service, err)
	}
	var errs []error
	for _, f := range fromImages(data) {
		ok, err := imageExists(ctx, cli, f.image)
		if err != nil {
			return fmt.Errorf("service %q: %w", service, err)
		}
		if !ok {
			errs = append(errs, fmt.Errorf("service %q: %s:%d: base image %q is not present locally, and mvrun never pulls images; load it first (docker load -i FILE) or build it (docker build -t %s DIR)",
				service, dockerfile, f.line, f.image, f.image))
		}
	}
	return errors.Join(errs...)
}

// fromImage is a FROM line's image.
type fromImage struct {
	image string
	line  int
}

// fromImages returns the images a Dockerfile's FROM lines need from the
// engine: not scratch, not an earlier stage, and not one that depends on a
// build argument (which cannot be checked before the build).
func fromImages(dockerfile []byte) []fromImage {
	var out []fromImage
	stages := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(dockerfile))
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		f = f[1:]
		for len(f) > 0 && strings.HasPrefix(f[0], "--") {
			f = f[1:]
		}
		if len(f) == 0 {
			continue
		}
		img := f[0]
		earlier := stages[strings.ToLower(img)]
		if len(f) >= 3 && strings.EqualFold(f[1], "AS") {
			stages[strings.ToLower(f[2])] = true
		}
		if earlier || strings.EqualFold(img, "scratch") || strings.Contains(img, "$") {
			continue
		}
		out = append(out, fromImage{image: img, line: n})
	}
	return out
}

// imageExists reports whether the engine has image ref.
func imageExists(ctx context.Context, cli client.APIClient, ref string) (bool, error) {
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return true, nil
}

// splitRef splits an image reference into repository and tag ("latest" if
// none); a registry port ("host:5000/x") is not a tag.
func splitRef(ref string) (repo, tag string) {
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// sanitizeRef makes s usable in an image repository name: lower case
// letters, digits, '.', '_' and '-'.
func sanitizeRef(s string) string {
	s = strings.ToLower(s)
	r := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, s)
	return strings.Trim(r, "._-")
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
