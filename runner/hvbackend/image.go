package hvbackend

import (
	"archive/tar"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/specs"
)

// How hv runs a service that has only an image: it reads the image (from
// the local Docker engine, or from an archive named by a docker-archive: or
// oci-archive: prefix), works out the program Docker would execute, and
// copies that one file out of the image's flattened layers. Nothing else of
// the image's filesystem reaches the node, so the program must be a static
// binary that needs no other file from the image.

// Image reference prefixes that name an archive on disk instead of an image
// in the Docker engine, as skopeo and podman spell them.
const (
	dockerArchivePrefix = "docker-archive:"
	ociArchivePrefix    = "oci-archive:"
)

// daemonTimeout bounds reading one image from the Docker engine: a hung
// engine fails Prepare instead of stalling it.
const daemonTimeout = 2 * time.Minute

// maxCanRunArchive is the largest archive CanRun opens. Images of static
// binaries are a few MiB; anything past this would make choosing a backend
// slow (about 20 ms per MiB here), so auto declines it and --backend hv
// still reads it.
const maxCanRunArchive = 64 << 20

// defaultPath is the PATH Docker gives a container whose image sets none; it
// is used to look up a program named without a slash.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxSymlinks bounds symlink hops while resolving a path in an image, as
// Linux's ELOOP limit does.
const maxSymlinks = 40

// imageSource is where a compose image: value points.
type imageSource struct {
	kind string // "docker-archive", "oci-archive" or "daemon"
	ref  string // the archive's absolute path, or the image reference
}

// parseImage interprets a compose image: value; archive paths are relative
// to the compose project's directory.
func parseImage(image, projDir string) imageSource {
	for _, p := range []string{dockerArchivePrefix, ociArchivePrefix} {
		if rest, ok := strings.CutPrefix(image, p); ok {
			if !filepath.IsAbs(rest) {
				rest = filepath.Join(projDir, rest)
			}
			return imageSource{kind: strings.TrimSuffix(p, ":"), ref: filepath.Clean(rest)}
		}
	}
	return imageSource{kind: "daemon", ref: image}
}

func (src imageSource) archive() bool { return src.kind != "daemon" }

// openedImage is an image read for one Prepare or CanRun. close releases
// what reading it made (an unpacked OCI layout).
type openedImage struct {
	img   v1.Image
	close func()
}

// openImage reads the image of service s. It never pulls: a daemon image
// must already be in the local engine.
func openImage(ctx context.Context, s *specs.Service, src imageSource, composeFile string) (*openedImage, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("service %q in %s: image %s: %w", s.Name, composeFile, s.Image, fmt.Errorf(format, args...))
	}
	switch src.kind {
	case "docker-archive":
		if _, err := os.Stat(src.ref); err != nil {
			return nil, fail("%w; write it with docker save -o FILE IMAGE (the path is relative to the compose file's directory)", err)
		}
		img, err := tarball.ImageFromPath(src.ref, nil)
		if err != nil {
			return nil, fail("reading the docker archive: %w (it must hold exactly one image, as docker save -o FILE IMAGE writes)", err)
		}
		return &openedImage{img: img, close: func() {}}, nil
	case "oci-archive":
		dir, err := os.MkdirTemp("", "mvrun-oci-*")
		if err != nil {
			return nil, fail("%w", err)
		}
		done := func() { os.RemoveAll(dir) }
		img, err := readOCIArchive(src.ref, dir)
		if err != nil {
			done()
			return nil, fail("%w", err)
		}
		return &openedImage{img: img, close: done}, nil
	}
	ref, err := name.ParseReference(src.ref)
	if err != nil {
		return nil, fail("not an image reference (%w); for an archive write docker-archive:PATH or oci-archive:PATH", err)
	}
	ctx, cancel := context.WithTimeout(ctx, daemonTimeout)
	img, err := daemon.Image(ref, daemon.WithContext(ctx))
	if err != nil {
		cancel()
		if cerrdefs.IsNotFound(err) {
			return nil, fail("not in the local Docker engine, and mvrun never pulls images; build or load it first (docker build -t %s DIR, docker pull %s, docker load -i FILE), or point at an archive with image: docker-archive:PATH", s.Image, s.Image)
		}
		return nil, fail("reading it from the Docker engine: %w; start Docker (or set DOCKER_HOST), or, where Docker runs, docker save -o img.tar %s and write image: docker-archive:./img.tar", err, s.Image)
	}
	return &openedImage{img: img, close: cancel}, nil
}

// readOCIArchive unpacks the OCI layout tarred at file into dir and returns
// its linux/amd64 image (or its only image).
func readOCIArchive(file, dir string) (v1.Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w; write it with skopeo copy IMAGE oci-archive:FILE or docker buildx build --output type=oci,dest=FILE (the path is relative to the compose file's directory)", err)
	}
	defer f.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the OCI archive: %w", err)
		}
		// os.Root refuses names that would leave dir.
		n := path.Clean(strings.TrimPrefix(h.Name, "/"))
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(n, 0o755)
		case tar.TypeReg:
			if d := path.Dir(n); d != "." {
				if err = root.MkdirAll(d, 0o755); err != nil {
					break
				}
			}
			var w *os.File
			if w, err = root.Create(n); err == nil {
				_, err = io.Copy(w, tr)
				err = errors.Join(err, w.Close())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("unpacking the OCI archive: %s: %w", h.Name, err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout archive: %w", err)
	}
	return pickImage(idx, 0)
}

// pickImage returns the image of idx for linux/amd64, looking into nested
// indexes; an image whose descriptor names no platform counts when it is
// the only candidate.
func pickImage(idx v1.ImageIndex, depth int) (v1.Image, error) {
	if depth > 4 {
		return nil, errors.New("image indexes nest too deeply")
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var amd64, unnamed []v1.Hash
	var others []string
	var nested error
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err == nil {
				var img v1.Image
				if img, err = pickImage(child, depth+1); err == nil {
					return img, nil
				}
			}
			nested = err
		case d.MediaType.IsImage():
			switch p := d.Platform; {
			case p == nil:
				unnamed = append(unnamed, d.Digest)
			case p.OS == "linux" && p.Architecture == "amd64":
				amd64 = append(amd64, d.Digest)
			default:
				others = append(others, p.String())
			}
		}
	}
	switch {
	case len(amd64) > 0:
		return idx.Image(amd64[0])
	case len(unnamed) == 1:
		return idx.Image(unnamed[0])
	case len(unnamed) > 1:
		return nil, fmt.Errorf("the archive holds %d images and names no platform for them; keep one image in it", len(unnamed))
	case len(others) > 0:
		return nil, fmt.Errorf("the archive has no linux/amd64 image (only %s); hv runs linux/amd64 programs", strings.Join(others, ", "))
	case nested != nil:
		return nil, nested
	}
	return nil, errors.New("the archive holds no image")
}

// imageProgram is what hv takes from a service's image.
type imageProgram struct {
	// host is the program copied out of the image: dir/<base name of the
	// program as the service's argv names it>, so that workload commands
	// naming it ("/bin/app", "app") resolve to it.
	host string
	// inImage is the program's path inside the image, symlinks followed.
	inImage string
	// svc is the service as Docker would run it from the image: entrypoint
	// and command, environment and working directory filled in from the
	// image's config where the compose file leaves them out.
	svc *specs.Service
}

// loadImageProgram reads service s's image and copies the program Docker
// would execute into dir, then checks hv can run it.
func loadImageProgram(ctx context.Context, s *specs.Service, projDir, composeFile, dir string) (*imageProgram, error) {
	src := parseImage(s.Image, projDir)
	oi, err := openImage(ctx, s, src, composeFile)
	if err != nil {
		return nil, err
	}
	defer oi.close()
	fail := func(err error) error {
		return fmt.Errorf("service %q in %s: image %s: %w", s.Name, composeFile, s.Image, err)
	}
	cfg, err := oi.img.ConfigFile()
	if err != nil {
		return nil, fail(fmt.Errorf("reading its config: %w", err))
	}
	if (cfg.OS != "" && cfg.OS != "linux") || (cfg.Architecture != "" && cfg.Architecture != "amd64") {
		return nil, fail(fmt.Errorf("it is a %s/%s image, and hv runs linux/amd64 programs; build the image for linux/amd64 (docker build --platform linux/amd64)", cfg.OS, cfg.Architecture))
	}
	svc := imageService(s, cfg.Config)
	argv := svc.Argv()
	if len(argv) == 0 {
		return nil, fail(errors.New("neither the image (ENTRYPOINT, CMD) nor the compose file (entrypoint:, command:) names a program to run"))
	}
	fsys, err := indexImage(oi.img)
	if err != nil {
		return nil, fail(err)
	}
	inImage, err := fsys.program(argv[0], svc)
	if err != nil {
		return nil, fail(err)
	}
	host := filepath.Join(dir, path.Base(argv[0]))
	if err := copyFromImage(oi.img, inImage, host); err != nil {
		return nil, fail(err)
	}
	if loader := interpreter(host); loader != "" {
		return nil, fail(fmt.Errorf("its program %s is dynamically linked (it needs %s and the image's shared libraries, and hv loads only the program); rebuild the image with a static binary (for Go, CGO_ENABLED=0; for C, -static) or use --backend docker", inImage, loader))
	}
	if err := hv.CheckBinary(host); err != nil {
		return nil, fail(fmt.Errorf("its program %s: %w; rebuild the image with a static binary (for Go, CGO_ENABLED=0) or use --backend docker", inImage, err))
	}
	return &imageProgram{host: host, inImage: inImage, svc: svc}, nil
}

// interpreter returns the dynamic loader an ELF file asks for (PT_INTERP),
// or "" if it asks for none or is not ELF (hv.CheckBinary then says what
// is wrong with it).
func interpreter(file string) string {
	f, err := elf.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
		if err != nil || len(b) == 0 {
			return "a dynamic loader"
		}
		return strings.TrimRight(string(b), "\x00")
	}
	return ""
}

// imageService returns s as Docker runs it from an image with config c: a
// compose entrypoint replaces the image's and drops its CMD; a compose
// command replaces CMD; the image's environment is the base the compose
// environment overrides; its working directory applies when the compose
// file names none.
func imageService(s *specs.Service, c v1.Config) *specs.Service {
	e := *s
	if len(s.Entrypoint) == 0 {
		e.Entrypoint = slices.Clone(c.Entrypoint)
		if len(s.Command) == 0 {
			e.Command = slices.Clone(c.Cmd)
		}
	}
	e.Environment = map[string]string{}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		e.Environment[k] = v
	}
	for k, v := range s.Environment {
		e.Environment[k] = v
	}
	if e.WorkingDir == "" {
		e.WorkingDir = c.WorkingDir
	}
	return &e
}

// imageEntry is one file of an image's flattened filesystem.
type imageEntry struct {
	typ  byte // a tar type flag
	link string
	mode int64
}

// imageFS indexes an image's flattened filesystem by path, relative to its
// root ("bin/app"), without the files' contents.
type imageFS map[string]imageEntry

// indexImage reads the headers of img's flattened layers: mutate.Extract
// applies whiteouts (.wh. files and opaque directories), so what is left
// is the filesystem a container would see.
func indexImage(img v1.Image) (imageFS, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	fsys := imageFS{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fsys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading its layers: %w", err)
		}
		n := cleanImagePath(h.Name)
		if _, dup := fsys[n]; !dup {
			fsys[n] = imageEntry{typ: h.Typeflag, link: h.Linkname, mode: h.Mode}
		}
	}
}

// cleanImagePath turns a tar entry name or absolute image path into the
// imageFS key; the root is "".
func cleanImagePath(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

// program finds the file an image's runtime would execute for argv[0] name
// in service svc: a name with a slash is a path (relative to the working
// directory), one without is looked up in the service's PATH.
func (fsys imageFS) program(name string, svc *specs.Service) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !path.IsAbs(p) {
			p = path.Join("/", svc.WorkingDir, p)
		}
		return fsys.executable(p)
	}
	search, ok := svc.Environment["PATH"]
	if !ok {
		search = defaultPath
	}
	for _, dir := range strings.Split(search, ":") {
		if !path.IsAbs(dir) {
			continue
		}
		if p, err := fsys.executable(path.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("its program %q is not in the image's PATH (%s)", name, search)
}

// executable resolves p and returns the key of the regular, executable file
// it names.
func (fsys imageFS) executable(p string) (string, error) {
	key, err := fsys.resolve(p)
	if err != nil {
		return "", err
	}
	e, ok := fsys[key]
	if ok && e.typ == tar.TypeLink {
		// A hard link names the entry that carries the data.
		key = cleanImagePath(e.link)
		e, ok = fsys[key]
	}
	switch {
	case !ok:
		return "", fmt.Errorf("its program %s is not in the image", p)
	case e.typ != tar.TypeReg:
		return "", fmt.Errorf("its program %s is not a regular file in the image", p)
	case e.mode&0o111 == 0:
		return "", fmt.Errorf("its program %s is not executable in the image (mode %o); chmod +x it when building the image", p, e.mode&0o7777)
	}
	return "/" + key, nil
}

// resolve follows symbolic links in p inside the image, as the kernel does
// inside a container: absolute targets start at the image's root, relative
// ones at the link's directory, and ".." never leaves the root.
func (fsys imageFS) resolve(p string) (string, error) {
	todo := strings.Split(p, "/")
	cur := ""
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, c)
		if e, ok := fsys[next]; ok && e.typ == tar.TypeSymlink {
			if hops++; hops > maxSymlinks {
				return "", fmt.Errorf("resolving %s in the image: too many symbolic links", p)
			}
			if path.IsAbs(e.link) {
				cur = ""
			}
			todo = append(strings.Split(e.link, "/"), todo...)
			continue
		}
		cur = next
	}
	return cur, nil
}

// copyFromImage writes the image file at inImage (a resolved path from
// imageFS.program) to host with mode 0755, through a temporary file so a
// failed copy leaves nothing half-written.
func copyFromImage(img v1.Image, inImage, host string) error {
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		return err
	}
	want := cleanImagePath(inImage)
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("its program %s vanished from the image while it was read", inImage)
		}
		if err != nil {
			return fmt.Errorf("reading its layers: %w", err)
		}
		// The flattened stream lists the top layer first and each path
		// once, so the first match is the file a container sees.
		if cleanImagePath(h.Name) != want || h.Typeflag != tar.TypeReg {
			continue
		}
		tmp, err := os.CreateTemp(filepath.Dir(host), ".extract-*")
		if err != nil {
			return err
		}
		_, err = io.Copy(tmp, tr)
		err = errors.Join(err, tmp.Chmod(0o755), tmp.Close())
		if err == nil {
			err = os.Rename(tmp.Name(), host)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("copying its program %s out of the image: %w", inImage, err)
		}
		return nil
	}
}
