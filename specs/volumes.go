package specs

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// The compose keys that real test harnesses use beyond the basics, and
// what mvrun does with each. Keys decoded here are honoured by every
// backend that can (a backend that cannot refuses them in Prepare, naming
// the service and key); keys refused here have no meaning mvrun can give
// them on any backend.

// convertMounts decodes a service's volumes: and tmpfs: entries into
// s.Mounts and returns every reason they are unusable.
func convertMounts(s *Service, sc types.ServiceConfig) []string {
	var errs []string
	for _, v := range sc.Volumes {
		m := Mount{Type: MountType(v.Type), Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		where := fmt.Sprintf("volumes entry %q", v.String())
		switch {
		case !path.IsAbs(v.Target):
			errs = append(errs, fmt.Sprintf("%s: the target %q is not an absolute path", where, v.Target))
			continue
		case v.Bind != nil && v.Bind.Propagation != "" && v.Bind.Propagation != "rprivate" && v.Bind.Propagation != "private":
			errs = append(errs, fmt.Sprintf("%s: bind propagation %q is not supported; mvrun mounts are private to each node", where, v.Bind.Propagation))
			continue
		case v.Volume != nil && v.Volume.Subpath != "":
			errs = append(errs, fmt.Sprintf("%s: volume subpath is not supported; mount the whole volume", where))
			continue
		}
		m.Target = path.Clean(v.Target)
		switch m.Type {
		case MountBind:
			// compose-go has made the source absolute (relative to the
			// project directory).
			if !path.IsAbs(m.Source) {
				errs = append(errs, fmt.Sprintf("%s: bind source %q is not an absolute path", where, m.Source))
				continue
			}
			m.Source = path.Clean(m.Source)
		case MountVolume:
			// An anonymous volume has no source: it is the service's own.
		case MountTmpfs:
			m.Source = ""
		default:
			errs = append(errs, fmt.Sprintf("%s: volume type %q is not supported; use bind, volume or tmpfs", where, v.Type))
			continue
		}
		s.Mounts = append(s.Mounts, m)
	}
	for _, t := range sc.Tmpfs {
		target, _, _ := strings.Cut(t, ":") // options such as size= do not change what a test sees
		if !path.IsAbs(target) {
			errs = append(errs, fmt.Sprintf("tmpfs entry %q: the target is not an absolute path", t))
			continue
		}
		s.Mounts = append(s.Mounts, Mount{Type: MountTmpfs, Target: path.Clean(target)})
	}
	// Parents before children, so nested targets land inside their
	// parent's mount; ties (the same target twice) are an error.
	slices.SortStableFunc(s.Mounts, func(a, b Mount) int { return strings.Compare(a.Target, b.Target) })
	for i := 1; i < len(s.Mounts); i++ {
		if s.Mounts[i].Target == s.Mounts[i-1].Target {
			errs = append(errs, fmt.Sprintf("two volumes are mounted on %s", s.Mounts[i].Target))
		}
	}
	return errs
}

// convertIdentity decodes the keys that say who and where a node is:
// user, group_add, hostname, container_name, read_only.
func convertIdentity(s *Service, sc types.ServiceConfig) {
	s.User = sc.User
	s.GroupAdd = slices.Clone(sc.GroupAdd)
	s.Hostname = sc.Hostname
	if sc.ContainerName != s.Name {
		s.ContainerName = sc.ContainerName
	}
	s.ReadOnly = sc.ReadOnly
}

// refusedKeys returns an error for each compose key of sc that mvrun
// cannot honour on any backend. Each names the key and says what to do.
func refusedKeys(sc types.ServiceConfig) []string {
	var errs []string
	if len(sc.VolumesFrom) > 0 {
		errs = append(errs, "volumes_from is not supported; declare the shared volumes in this service's volumes: instead")
	}
	if sc.NetworkMode != "" && sc.NetworkMode != "bridge" && sc.NetworkMode != "default" {
		errs = append(errs, fmt.Sprintf("network_mode %q is not supported; every mvrun node has its own network namespace on the test's network", sc.NetworkMode))
	}
	if len(sc.ExtraHosts) > 0 {
		errs = append(errs, "extra_hosts is not supported; nodes resolve the project's service names (and container_name) only")
	}
	if len(sc.Secrets) > 0 {
		errs = append(errs, "secrets is not supported; bind-mount the file with volumes: [./secret:/run/secrets/name:ro] instead")
	}
	if len(sc.Configs) > 0 {
		errs = append(errs, "configs is not supported; bind-mount the file with volumes: [./file:/path:ro] instead")
	}
	if sc.DomainName != "" {
		errs = append(errs, "domainname is not supported")
	}
	return errs
}

// convertVolumes returns the project's named volumes, sorted, and an error
// for each one mvrun cannot create fresh per seed.
func convertVolumes(vols types.Volumes) ([]string, []serviceError) {
	var names []string
	var bad []serviceError
	for _, name := range sortedKeys(vols) {
		v := vols[name]
		switch {
		case bool(v.External):
			bad = append(bad, serviceError{service: "volumes." + name, msg: "external volumes are not supported: every seed starts from fresh, empty volumes; drop external: true, or bind-mount a host directory"})
		case v.Driver != "" && v.Driver != "local":
			bad = append(bad, serviceError{service: "volumes." + name, msg: fmt.Sprintf("volume driver %q is not supported; mvrun volumes are local directories", v.Driver)})
		case len(v.DriverOpts) > 0:
			bad = append(bad, serviceError{service: "volumes." + name, msg: "driver_opts are not supported; mvrun volumes are plain local directories"})
		}
		names = append(names, name)
	}
	return names, bad
}
