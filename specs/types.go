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
	SeedTimeout time.Duration // wall-clock limit for one seed; a seed past it is a failure
	Project     *Project
	Workload    []*Command
	Faults      faults.Config
	DeclRange   hcl.Range
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
	// Replicas is deploy.replicas or scale; mvrun runs exactly one node per
	// service and rejects other values.
}

// Argv returns the service's argv: entrypoint then command.
func (s *Service) Argv() []string {
	return append(append([]string(nil), s.Entrypoint...), s.Command...)
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
