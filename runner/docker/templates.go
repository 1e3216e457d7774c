package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

var _ backend.TemplateLister = (*Backend)(nil)

// ListTemplates lists the test-composer templates in dir of service's
// image: it creates a container of the image that never starts, copies dir
// out of it as a tar stream, and reads the entries' names and modes.
func (b *Backend) ListTemplates(ctx context.Context, service, dir string) ([]specs.TemplateFile, error) {
	b.mu.Lock()
	im := b.images[service]
	b.mu.Unlock()
	if im == nil {
		return nil, fmt.Errorf("docker backend: service %q is not prepared", service)
	}
	cli, err := b.client(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker backend: %w", err)
	}
	// The entrypoint is never run; a scratch image has no default one,
	// and create needs some command.
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: im.ref, Entrypoint: []string{"/mvrun-never-runs"},
			Labels: b.labels(LabelService, service, LabelRole, roleImage)},
	})
	if err != nil {
		return nil, fmt.Errorf("docker backend: service %q: creating a container to read image %s: %w", service, im.ref, err)
	}
	defer func() {
		// The container is labelled with this run: if removing it fails,
		// a later run's Sweep removes it.
		_, _ = cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true})
	}()
	res, err := cli.CopyFromContainer(ctx, created.ID, client.CopyFromContainerOptions{SourcePath: dir})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("image %s has no %s: %w", im.ref, dir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("docker backend: service %q: reading %s from image %s: %w", service, dir, im.ref, err)
	}
	defer func() { _ = res.Content.Close() }() // a read stream: its entries are already parsed or failed
	return templateEntries(res.Content)
}

// templateEntries reads the tar stream of a templates directory (its
// entries named "<dir base>/<template>/<file>") into template files. A
// symbolic link counts as executable when its target in the stream is.
func templateEntries(r io.Reader) ([]specs.TemplateFile, error) {
	tr := tar.NewReader(r)
	type entry struct {
		f    specs.TemplateFile
		link string // symbolic link target, resolved against the stream
	}
	var entries []*entry
	modes := map[string]int64{} // path in the stream -> mode, for links
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image's templates: %w", err)
		}
		name := strings.Trim(path.Clean(h.Name), "/")
		modes[name] = h.Mode
		parts := strings.Split(name, "/")
		if len(parts) != 3 {
			continue // the directory itself, a template directory, or deeper
		}
		e := &entry{f: specs.TemplateFile{Template: parts[1], Name: parts[2]}}
		switch h.Typeflag {
		case tar.TypeDir:
			e.f.Dir = true
		case tar.TypeReg:
			e.f.Executable = h.Mode&0o111 != 0
		case tar.TypeSymlink:
			t := h.Linkname
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(name), t)
			}
			e.link = strings.Trim(path.Clean(t), "/")
		case tar.TypeLink:
			e.link = strings.Trim(path.Clean(h.Linkname), "/")
		}
		entries = append(entries, e)
	}
	out := make([]specs.TemplateFile, len(entries))
	for i, e := range entries {
		if e.link != "" {
			// A target outside the copied directory cannot be seen here;
			// count it executable, and let running it tell.
			m, ok := modes[e.link]
			e.f.Executable = !ok || m&0o111 != 0
		}
		out[i] = e.f
	}
	return out, nil
}
