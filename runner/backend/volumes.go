package backend

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mvrun/multiverse/specs"
)

// Compose volumes on backends that mount host directories into nodes
// (process, docker). Every seed starts from the same files: named and
// anonymous volumes are fresh empty directories of the seed, and a
// writable bind mount is a copy of its host source made for the seed, so
// nothing a seed writes reaches the host or another seed, and a replay
// starts where the original did. Read-only bind mounts use the host path
// itself. All of them live under <seed dir>/volumes, where they stay as
// artifacts.

// VolumesDir is the directory, in a seed's artifacts, that holds its
// volumes.
const VolumesDir = "volumes"

// MaxBindCopy bounds how much a writable bind mount's source may hold,
// since it is copied for every seed.
const MaxBindCopy = 256 << 20

// HostMount is one mount of a node, with its host source resolved for the
// seed.
type HostMount struct {
	Source   string // host path; "" for tmpfs
	Target   string // absolute path in the node
	ReadOnly bool
	Tmpfs    bool
	File     bool // the source is a file, not a directory
}

// CheckMounts checks, before any seed, that every writable bind mount of
// the project can be copied per seed: its source is a directory or a
// regular file no larger than [MaxBindCopy] in all.
func CheckMounts(p *specs.Project) error {
	var errs []error
	for _, s := range p.Services {
		for _, m := range s.Mounts {
			if m.Type != specs.MountBind || m.ReadOnly {
				continue
			}
			size, err := TreeSize(m.Source)
			if errors.Is(err, fs.ErrNotExist) {
				continue // compose creates it empty; so does every seed
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("service %q: volumes %s:%s: %w", s.Name, m.Source, m.Target, err))
			} else if size > MaxBindCopy {
				errs = append(errs, fmt.Errorf("service %q: volumes %s:%s: the source holds %d MiB, and writable bind mounts are copied for every seed (at most %d MiB); mount it read-only (:ro) if the service only reads it",
					s.Name, m.Source, m.Target, size>>20, MaxBindCopy>>20))
			}
		}
	}
	return errors.Join(errs...)
}

// TreeSize returns the bytes of the regular files under root (a bind
// mount's source, whose copy or read per seed the backends bound).
func TreeSize(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// SeedMounts creates the seed's volumes under seedDir/volumes and returns
// each service's mounts with their host sources, in mount order. perm is
// the mode of new volume directories (0o777 where nodes may run as any
// user).
func SeedMounts(p *specs.Project, seedDir string, perm fs.FileMode) (map[string][]HostMount, error) {
	root := filepath.Join(seedDir, VolumesDir)
	out := map[string][]HostMount{}
	made := map[string]bool{} // host sources already made, so services share them
	mkdir := func(dir string) error {
		if made[dir] {
			return nil
		}
		made[dir] = true
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.Chmod(dir, perm)
	}
	for _, s := range p.Services {
		for i, m := range s.Mounts {
			hm := HostMount{Target: m.Target, ReadOnly: m.ReadOnly}
			switch m.Type {
			case specs.MountTmpfs:
				hm.Tmpfs = true
			case specs.MountVolume:
				if m.Source == "" {
					hm.Source = filepath.Join(root, "anonymous", s.Name, fmt.Sprint(i))
				} else {
					hm.Source = filepath.Join(root, m.Source)
				}
				if err := mkdir(hm.Source); err != nil {
					return nil, fmt.Errorf("service %q: volume for %s: %w", s.Name, m.Target, err)
				}
			case specs.MountBind:
				st, err := os.Stat(m.Source)
				if err == nil && !st.IsDir() {
					hm.File = true
				}
				if m.ReadOnly && err == nil {
					hm.Source = m.Source
					break
				}
				hm.Source = filepath.Join(root, "bind", strings.TrimPrefix(m.Source, "/"))
				if made[hm.Source] {
					break
				}
				switch {
				case err != nil && !errors.Is(err, fs.ErrNotExist):
					return nil, fmt.Errorf("service %q: volumes %s: %w", s.Name, m.Source, err)
				case err != nil || st.IsDir():
					// A missing source is created empty, as compose does
					// (on the host there; here in the seed).
					if err := mkdir(hm.Source); err != nil {
						return nil, fmt.Errorf("service %q: volumes %s: %w", s.Name, m.Source, err)
					}
					if err == nil {
						if err := os.CopyFS(hm.Source, os.DirFS(m.Source)); err != nil {
							return nil, fmt.Errorf("service %q: copying bind source %s for the seed: %w", s.Name, m.Source, err)
						}
					}
				default:
					made[hm.Source] = true
					if err := copyFile(m.Source, hm.Source); err != nil {
						return nil, fmt.Errorf("service %q: copying bind source %s for the seed: %w", s.Name, m.Source, err)
					}
				}
			}
			out[s.Name] = append(out[s.Name], hm)
		}
	}
	return out, nil
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// AddAliases appends to a hosts file (as the network writes it: "addr\tname"
// lines) a line for each service's container_name, at the service's
// address, so nodes resolve it as they would under compose.
func AddAliases(hosts []byte, p *specs.Project) []byte {
	addr := map[string]string{}
	for _, l := range strings.Split(string(hosts), "\n") {
		if a, name, ok := strings.Cut(l, "\t"); ok {
			addr[name] = a
		}
	}
	var b bytes.Buffer
	b.Write(hosts)
	for _, s := range p.Services {
		if s.ContainerName == "" || addr[s.Name] == "" || addr[s.ContainerName] != "" {
			continue
		}
		fmt.Fprintf(&b, "%s\t%s\n", addr[s.Name], s.ContainerName)
	}
	return b.Bytes()
}

// RootOnly returns an error naming service s and the key when its user or
// group_add asks for anything but root, for backends that run every
// program as root. backendName is for the message.
func RootOnly(s *specs.Service, backendName string) error {
	user, group, _ := strings.Cut(s.User, ":")
	if !isRoot(user) || !isRoot(group) {
		return fmt.Errorf("service %q: user %q: the %s backend runs programs as root only; drop user (or set it to root), or use --backend docker", s.Name, s.User, backendName)
	}
	return nil
}

func isRoot(id string) bool { return id == "" || id == "0" || id == "root" }
