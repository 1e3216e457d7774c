package hvbackend

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Compose volumes on hv live in the VMM: each is a file system of its own
// (vfs.NewVolume) that the nodes mounting it share, so one service's writes
// are visible to the others at once, and a kill reverts only what the
// killed node wrote there since it last synced (the disk model per
// writer, see package vfs). Every seed starts from the same files:
//
//   - a named volume starts empty and is shared by every service that
//     mounts it; an anonymous volume is private to its service;
//   - a bind mount is read from its host source when the seed's cluster
//     is made (a missing source starts empty, as compose creates it), and
//     services binding the same source share that copy; nothing a seed
//     writes is ever written back to the host source, so a user's files
//     are never changed by a run (docker would write through; on hv, as on
//     the process backend, the seed works on its own copy);
//   - tmpfs is private to its node and emptied when the node is killed;
//   - read_only on a mount (":ro") makes guest writes through it fail with
//     EROFS; read_only on the service makes its own tree read-only.
//
// At the end of the seed the writable volumes are written into the seed's
// artifacts (volumes/ as on the process backend), so a failing seed's data
// can be read afterwards.

// volumeDev is the st_dev of a cluster's first volume; later ones count up
// in the order the compose file mounts them.
const volumeDev = 0x900

// volume is one of a seed's volumes.
type volume struct {
	fs   *vfs.FS
	keep string // path under the seed's volumes/ directory; "" if not kept
	file bool   // a bind-mounted host file, held as fileBindName
}

// volumes makes the seed's volumes and mounts them into its nodes.
type volumes struct {
	byKey map[string]*volume // "volume:NAME", "bind:HOSTPATH"
	order []*volume
}

func (vs *volumes) add(key string, v *volume) *volume {
	if key != "" {
		if vs.byKey == nil {
			vs.byKey = map[string]*volume{}
		}
		vs.byKey[key] = v
	}
	vs.order = append(vs.order, v)
	return v
}

func (vs *volumes) dev() uint64 { return volumeDev + uint64(len(vs.order)) }

// mount sets up s's mounts (and compose read_only) in its node's tree f;
// now is the node's clock, stamped on volumes it is the first to mount.
func (vs *volumes) mount(s *specs.Service, f *vfs.FS, now vfs.Clock) error {
	for i, m := range s.Mounts {
		v, target, err := vs.source(s, i, m, now)
		if err != nil {
			return fmt.Errorf("service %q: volumes %s: %w", s.Name, m.Target, err)
		}
		if target.IsDir() {
			_, err = f.MkdirAll(m.Target)
		} else if _, err = f.MkdirAll(path.Dir(m.Target)); err == nil {
			if _, lerr := f.Lookup(f.Root(), m.Target, true); lerr != nil {
				err = f.WriteFile(m.Target, nil, 0o644)
			}
		}
		if err == nil {
			err = f.Mount(m.Target, v.fs, target, m.ReadOnly)
		}
		if err != nil {
			return fmt.Errorf("service %q: mounting at %s: %w", s.Name, m.Target, err)
		}
	}
	if s.ReadOnly {
		// The SDK's output files are the node's to write, as mvrun keeps
		// them out of the service's file system on the other backends.
		sdk := vs.add("", &volume{fs: vfs.NewVolume(now, vs.dev())})
		if err := f.Mount("/run/mvrun/sdk", sdk.fs, sdk.fs.Root(), false); err != nil {
			return fmt.Errorf("service %q: read_only: %w", s.Name, err)
		}
		f.SetReadOnly(true)
	}
	return nil
}

// source returns the volume mount i of s mounts and the inode of it that
// is mounted (its root, or a file for a file bind mount).
func (vs *volumes) source(s *specs.Service, i int, m specs.Mount, now vfs.Clock) (*volume, *vfs.Inode, error) {
	switch m.Type {
	case specs.MountTmpfs:
		v := vs.add("", &volume{fs: vfs.NewTmpfs(now, vs.dev())})
		return v, v.fs.Root(), nil
	case specs.MountVolume:
		if m.Source == "" {
			v := vs.add("", &volume{fs: vfs.NewVolume(now, vs.dev()), keep: filepath.Join("anonymous", s.Name, fmt.Sprint(i))})
			return v, v.fs.Root(), nil
		}
		v := vs.byKey["volume:"+m.Source]
		if v == nil {
			v = vs.add("volume:"+m.Source, &volume{fs: vfs.NewVolume(now, vs.dev()), keep: m.Source})
		}
		return v, v.fs.Root(), nil
	case specs.MountBind:
		key := "bind:" + m.Source
		v := vs.byKey[key]
		if v == nil {
			v = vs.add(key, &volume{fs: vfs.NewVolume(now, vs.dev())})
			var err error
			if v.file, err = seedBind(v.fs, m.Source); err != nil {
				return nil, nil, err
			}
		}
		if !m.ReadOnly {
			// Kept in the artifacts only where a service may change it.
			v.keep = filepath.Join("bind", strings.TrimPrefix(m.Source, "/"))
		}
		if v.file {
			return v, v.fs.Root().Child(fileBindName), nil
		}
		return v, v.fs.Root(), nil
	}
	return nil, nil, fmt.Errorf("mount type %q is not supported on hv", m.Type)
}

// fileBindName is the name a bind-mounted host file has in its volume.
const fileBindName = "file"

// seedBind reads host source src into volume v: a directory's tree, or a
// file as v's only entry (file is then set). A missing source leaves v
// empty.
func seedBind(v *vfs.FS, src string) (file bool, err error) {
	st, err := os.Stat(src)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case st.IsDir():
		return false, v.SeedFrom(src)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return false, err
	}
	return true, v.WriteFile("/"+fileBindName, data, uint32(st.Mode().Perm()))
}

// checkMounts refuses, before any seed, bind sources too large to hold in
// the VMM's memory for every seed: on hv a read-only bind is read in as
// well, unlike on the process backend.
func checkMounts(p *specs.Project) error {
	if err := backend.CheckMounts(p); err != nil {
		return err
	}
	var errs []error
	for _, s := range p.Services {
		for _, m := range s.Mounts {
			if m.Type != specs.MountBind || !m.ReadOnly {
				continue
			}
			size, err := backend.TreeSize(m.Source)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("service %q: volumes %s:%s: %w", s.Name, m.Source, m.Target, err))
			} else if size > backend.MaxBindCopy {
				errs = append(errs, fmt.Errorf("service %q: volumes %s:%s: the source holds %d MiB, and the hv backend reads bind mounts into memory for every seed (at most %d MiB); use --backend process, which mounts read-only sources as they are",
					s.Name, m.Source, m.Target, size>>20, backend.MaxBindCopy>>20))
			}
		}
	}
	return errors.Join(errs...)
}

// export writes the kept volumes, as they are at the end of the seed, into
// dir (the seed's volumes/ directory).
func (vs *volumes) export(dir string) error {
	var errs []error
	for _, v := range vs.order {
		if v.keep == "" {
			continue
		}
		to := filepath.Join(dir, v.keep)
		if v.file {
			// A file bind mount: the file itself, as on the process backend.
			n := v.fs.Root().Child(fileBindName)
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, os.WriteFile(to, n.Data, 0o644))
			continue
		}
		errs = append(errs, exportTree(v.fs.Root(), to))
	}
	return errors.Join(errs...)
}

// exportTree writes directory d's tree to host directory to: directories,
// regular files and symbolic links.
func exportTree(d *vfs.Inode, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, name := range d.Names() {
		c := d.Child(name)
		p := filepath.Join(to, name)
		var err error
		switch {
		case c.IsDir():
			err = exportTree(c, p)
		case c.Target != "":
			err = os.Symlink(c.Target, p)
		case c.Type() == abi.SIfreg:
			err = os.WriteFile(p, c.Data, fs.FileMode(c.Mode&0o777))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
