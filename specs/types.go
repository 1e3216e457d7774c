// Package specs decodes mvrun test specs (HCL) and the compose projects they
// name into plain Go types. It is the only package that imports hcl/v2 and
// compose-go; everything else works on the types below.
package specs

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/mvrun/multiverse/faults"
)

// Spec is one decoded spec file.
type Spec struct {
	File  string // path as given
	Tests []*Test
	// Warnings holds non-fatal findings (such as a quiet period as long as
	// the test); nil if there are none.
	Warnings *DiagnosticsError
}

// Test is one `test "name" { ... }` block, fully decoded and validated
// against its compose project.
type Test struct {
	Name        string
	SpecFile    string        // absolute path of the spec file
	Dir         string        // directory of the spec file; relative paths resolve here
	ComposeFile string        // absolute path
	Backend     string        // "auto", "hv", "process" or "docker"
	Duration    time.Duration // length of the fault phase per seed (simulated time on hv)
	Seeds       int
	SeedTimeout time.Duration // limit for one seed (simulated time on hv); a seed past it is a failure
	Project     *Project
	Workload    []*Command
	// Templates is where test-composer templates are found (nil: none).
	// The runner lists them once the backend is prepared, and each seed
	// runs the commands of one template besides Workload.
	Templates *Templates
	Faults    faults.Config
	// Checks are the histories checked after each seed, in spec order.
	Checks []*Check
	// Explore configures `mvrun test --explore`; nil when the test has
	// no explore block (then [DefaultExplore] applies).
	Explore   *Explore
	DeclRange hcl.Range
	// Digest is the hex SHA-256 of the spec file and the test's compose
	// file. Runs record it so a replay can tell that it compares with a
	// run of another spec (or another version of it).
	Digest string
}

// Project is the part of a compose project mvrun uses.
type Project struct {
	Name     string
	Dir      string     // compose working directory
	Services []*Service // in dependency order (dependencies first)
	// Volumes lists the project's named volumes (top-level volumes:),
	// sorted. Every seed gets each of them empty and fresh.
	Volumes []string
}

// Service returns the service called name, or nil.
func (p *Project) Service(name string) *Service {
	for _, s := range p.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ServiceNames returns the names of all services in dependency order.
func (p *Project) ServiceNames() []string {
	names := make([]string, len(p.Services))
	for i, s := range p.Services {
		names[i] = s.Name
	}
	return names
}

// Service is one compose service.
type Service struct {
	Name        string
	Entrypoint  []string
	Command     []string
	Environment map[string]string // from environment:, env_file:, with .env interpolation done
	WorkingDir  string
	DependsOn   []Dependency
	Healthcheck *Healthcheck
	Build       *Build // compose build:, nil if none
	Image       string
	Binary      string // x-mvrun.binary, absolute; "" if not set
	Ports       []int  // container ports the service listens on (informational)
	// Mounts are the service's volumes: and tmpfs: entries, sorted by
	// target so a mount comes after the one it is nested in.
	Mounts []Mount
	// ReadOnly is compose read_only: the node's root file system is read
	// only; its mounts keep their own mode.
	ReadOnly bool
	// User and GroupAdd are compose user ("uid[:gid]" or names) and
	// group_add, as written.
	User     string
	GroupAdd []string
	// Hostname is compose hostname; "" means the service name.
	Hostname string
	// ContainerName is compose container_name; other nodes resolve it as
	// well as the service name. "" if not set.
	ContainerName string
	// Root is x-mvrun.root, absolute: a host directory that stands for
	// the service image's file system on the process and hv backends, so a
	// command or test template at /opt/x is looked up at <Root>/opt/x. ""
	// if not set.
	Root string
	// Replicas is deploy.replicas or scale; mvrun runs exactly one node per
	// service and rejects other values.
}

// Argv returns the service's argv: entrypoint then command.
func (s *Service) Argv() []string {
	return append(append([]string(nil), s.Entrypoint...), s.Command...)
}

// MountType is the kind of a [Mount].
type MountType string

// Mount types.
const (
	MountBind   MountType = "bind"   // a host directory or file
	MountVolume MountType = "volume" // a named (or anonymous) volume of the project
	MountTmpfs  MountType = "tmpfs"  // an empty in-memory directory per node start
)

// Mount is one entry of a service's volumes: (or tmpfs:).
type Mount struct {
	Type MountType
	// Source is, for a bind mount, the absolute host path; for a volume,
	// the project's volume name, or "" for an anonymous volume (private to
	// the service); for tmpfs, "".
	Source   string
	Target   string // absolute path inside the node
	ReadOnly bool
}

// HostName returns the hostname of the service's node.
func (s *Service) HostName() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	return s.Name
}

// DependencyCondition is a compose depends_on condition.
type DependencyCondition string

// Compose depends_on conditions.
const (
	ServiceStarted               DependencyCondition = "service_started"
	ServiceHealthy               DependencyCondition = "service_healthy"
	ServiceCompletedSuccessfully DependencyCondition = "service_completed_successfully"
)

// Dependency is one depends_on entry.
type Dependency struct {
	Service   string
	Condition DependencyCondition
}

// Healthcheck is a compose healthcheck. Test is the argv to run inside the
// service (CMD form; CMD-SHELL is run with /bin/sh -c).
type Healthcheck struct {
	Test        []string
	Interval    time.Duration
	Timeout     time.Duration
	Retries     int
	StartPeriod time.Duration
}

// Build is a compose build section.
type Build struct {
	Context    string // absolute
	Dockerfile string // relative to Context; "" if none
	// GoMain is true when Context holds a Go main package that mvrun builds
	// with CGO_ENABLED=0 for the process and hv backends.
	GoMain bool
}

// Role is a test-composer role of a workload command.
type Role string

// Workload roles, run in this order: First before faults; the drivers and
// Anytime while faults run; Eventually after faults stop and the cluster
// heals; Finally last.
const (
	RoleFirst           Role = "first"
	RoleParallelDriver  Role = "parallel_driver"  // several instances at once, repeatedly
	RoleSerialDriver    Role = "serial_driver"    // one at a time, never alongside another serial driver
	RoleSingletonDriver Role = "singleton_driver" // runs once, alone among drivers
	RoleAnytime         Role = "anytime"          // checks run at random times during faults
	RoleEventually      Role = "eventually"       // after faults stop and the cluster heals
	RoleFinally         Role = "finally"          // after everything else
)

// DefaultTemplatesDir is where Antithesis' test composer looks for test
// templates, and where `mvrun test --compose` looks when there is no spec.
const DefaultTemplatesDir = "/opt/antithesis/test/v1"

// Templates says where a test's test-composer templates are: Dir, as the
// node of Service sees it, holds one directory per template, each holding
// executables named <role>_<name> (parallel_driver_load, finally_check,
// ...).
type Templates struct {
	Dir string
	// Service is the service whose file system holds Dir; "" (only from
	// [FromCompose]) means every service that has it.
	Service   string
	DeclRange hcl.Range
}

// Command is one workload command.
type Command struct {
	Role        Role
	Name        string
	Service     string // the service whose node it runs in
	Argv        []string
	Environment map[string]string
	Timeout     time.Duration // 0: the seed's remaining time
	Instances   int           // parallel_driver: how many run at once (default 2)
	DeclRange   hcl.Range
}
