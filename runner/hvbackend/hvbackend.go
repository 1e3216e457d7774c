// Package hvbackend is the hv backend of mvrun test: every compose service
// is a node of one deterministic hv cluster (package hv), so a seed —
// services, workload commands, faults and the runner's own actions —
// replays bit for bit, with the same trace hash.
//
// Services run as static linux/amd64 binaries inside hv: a compose build:
// whose context is a Go main package (built with CGO_ENABLED=0),
// x-mvrun.binary, or the entrypoint program of an image (image.go), read
// from the local Docker engine or a docker-archive:/oci-archive: file. The runner's goroutines take turns on the cluster's
// simulated clock ([backend.Turns]): the simulation advances only while all
// of them wait in a cluster call, so durations, timeouts, healthcheck
// intervals and fault times are simulated time, and nothing depends on how
// host goroutines were scheduled.
package hvbackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Options configures the hv backend.
type Options struct {
	// Log receives the backend's logs; nil means slog.Default().
	Log *slog.Logger
	// Moment, if set, makes every cluster capture what it holds at that
	// virtual time (mvrun replay --at): packets, files. It does not change
	// the run.
	Moment *Moment
	// Branch, if set, makes every cluster that branch of its seed: the
	// seed replayed up to Branch.At, its future redrawn from there
	// (mvrun explore; branch.go).
	Branch *Branch
	// Travel, if set, records replays to a moment so that later replays to
	// the seed's moments resume from snapshots ([Travel]).
	Travel *Travel
	// Cover configures coverage counters (cover.go); the zero value builds
	// Go services with counters and samples them every second.
	Cover Cover
}

// Backend is the hv backend. The clusters of concurrent seeds share it.
type Backend struct {
	backend.Base
	log    *slog.Logger
	moment *Moment
	branch *Branch
	travel *Travel
	record *RecordOptions // Recording
	resume *Record        // ResumingFrom
	cover  Cover
	stop   time.Duration // StoppingAt; 0: the run goes to its end

	mu       sync.Mutex
	test     *specs.Test
	programs map[string]string // service → static binary, from Prepare
	// images holds, for services run from an image, the service as Docker
	// would run it (the image's entrypoint, command, environment and
	// working directory filled in); nodes use it instead of the compose
	// service.
	images map[string]*specs.Service
	cplan  *coverPlan // which programs have coverage counters (cover.go)
}

var _ backend.Backend = (*Backend)(nil)

// support: hv carries out every fault kind natively.
var support = backend.Support{
	Backend: "hv",
	Can: []faults.ActionKind{
		faults.ActPartition, faults.ActHeal, faults.ActLink, faults.ActKill, faults.ActRestart,
		faults.ActPause, faults.ActResume, faults.ActClockSkew, faults.ActClockJump,
		faults.ActDisk, faults.ActDiskClear,
	},
}

// New returns an hv backend.
func New(opts Options) *Backend {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Backend{Base: backend.NewBase(support), log: opts.Log.With("backend", "hv"), moment: opts.Moment, branch: opts.Branch, travel: opts.Travel, cover: coverFromEnv(opts.Cover)}
}

// Available reports whether hv runs on this host: a usable /dev/kvm and a
// trap strategy that works.
func (b *Backend) Available(ctx context.Context) error {
	r := hv.Doctor()
	if !r.OK {
		why := r.KVM
		if r.Why != "" {
			why += ": " + r.Why
		}
		return fmt.Errorf("the hv backend needs a working /dev/kvm (%s); use --backend process", why)
	}
	return nil
}

// Prepare decides every service's program, builds Go main packages as
// static binaries, and checks that hv can run each service, workload
// command and healthcheck, naming the service and the fix when it cannot.
func (b *Backend) Prepare(ctx context.Context, t *specs.Test, workDir string) error {
	if t == nil || t.Project == nil {
		return errors.New("hv backend: Prepare needs a test with a compose project")
	}
	b.mu.Lock()
	done := b.test == t && b.programs != nil
	b.mu.Unlock()
	if done {
		return nil // prepared already, by the backend this one was made from (WithBranch)
	}
	workDir, err := filepath.Abs(workDir)
	if err != nil {
		return err
	}
	programs := map[string]string{}
	images := map[string]*specs.Service{}
	built := map[string]string{}
	goBuilt := map[string]bool{}
	errs := composeLimits(t)
	if err := checkMounts(t.Project); err != nil {
		errs = append(errs, err)
	}
	for _, s := range t.Project.Services {
		p, img, err := b.program(ctx, s, t, workDir, built)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		programs[s.Name] = p
		goBuilt[s.Name] = s.Binary == "" && s.Build != nil && s.Build.GoMain
		if img != nil {
			images[s.Name] = img
			s = img
		}
		path, _, err := backend.NodeArgv(s, p, t.Project.Dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := hv.CheckBinary(path); err != nil {
			errs = append(errs, fmt.Errorf("service %q: %w", s.Name, cgoHint(err)))
		}
		if hc := s.Healthcheck; hc != nil && len(hc.Test) > 0 {
			if len(hc.Test) == 3 && hc.Test[0] == "/bin/sh" && hc.Test[1] == "-c" {
				errs = append(errs, fmt.Errorf("service %q in %s: healthcheck CMD-SHELL needs /bin/sh, which hv cannot run; use the CMD form with a static binary (test: [\"CMD\", \"/bin/check\", ...])", s.Name, t.ComposeFile))
			} else if err := b.checkCommand(hc.Test, s, p, t.Project.Dir); err != nil {
				errs = append(errs, fmt.Errorf("service %q: healthcheck: %w", s.Name, err))
			}
		}
	}
	if len(errs) == 0 {
		for _, c := range t.Workload {
			s := t.Project.Service(c.Service)
			if s == nil {
				errs = append(errs, fmt.Errorf("%s: workload command %q: no service %q in the compose project", c.DeclRange, c.Name, c.Service))
				continue
			}
			if img := images[s.Name]; img != nil {
				s = img
			}
			if err := b.checkCommand(c.Argv, s, programs[s.Name], t.Project.Dir); err != nil {
				errs = append(errs, fmt.Errorf("%s: workload command %q: %w", c.DeclRange, c.Name, cgoHint(err)))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cplan := planCover(b.cover, t, programs, goBuilt)
	for _, s := range t.Project.Services {
		if why := cplan.without[s.Name]; why != "" {
			b.log.Info("no coverage counters", "service", s.Name, "why", why)
		}
	}
	b.mu.Lock()
	b.test, b.programs, b.images, b.cplan = t, programs, images, cplan
	b.mu.Unlock()
	return nil
}

// CanRun reports, without building anything, whether hv can run test t:
// every service has a Go main package to build, an x-mvrun.binary that is
// a static linux/amd64 executable, or an image archive (docker-archive: or
// oci-archive:) whose program is one, and no healthcheck needs a shell.
// mvrun's auto backend uses it to choose hv. It never contacts the Docker
// engine, so a service whose image is in the engine makes it decline:
// auto then decides quickly and the same way whatever the engine holds,
// and --backend hv reads such images.
func CanRun(t *specs.Test) error {
	if t == nil || t.Project == nil {
		return errors.New("no compose project")
	}
	if errs := composeLimits(t); len(errs) > 0 {
		return errs[0]
	}
	for _, s := range t.Project.Services {
		switch {
		case s.Binary != "":
			if err := hv.CheckBinary(s.Binary); err != nil {
				return fmt.Errorf("service %q: %w", s.Name, err)
			}
		case s.Build != nil && s.Build.GoMain:
		case s.Build == nil && s.Image != "":
			if err := canRunImage(s, t); err != nil {
				return err
			}
		default:
			return fmt.Errorf("service %q has no Go main package or static binary", s.Name)
		}
		if hc := s.Healthcheck; hc != nil && len(hc.Test) == 3 && hc.Test[0] == "/bin/sh" && hc.Test[1] == "-c" {
			return fmt.Errorf("service %q has a CMD-SHELL healthcheck", s.Name)
		}
	}
	return nil
}

// canRunImage is CanRun for a service that runs from an image: it reads an
// archive of at most maxCanRunArchive bytes into a temporary directory and
// checks its program, and declines an image in the Docker engine.
func canRunImage(s *specs.Service, t *specs.Test) error {
	src := parseImage(s.Image, t.Project.Dir)
	if !src.archive() {
		return fmt.Errorf("service %q runs image %s from the Docker engine, which auto does not inspect; pass --backend hv to run its program on hv, or point at an archive (image: docker-archive:PATH)", s.Name, s.Image)
	}
	st, err := os.Stat(src.ref)
	if err != nil {
		return fmt.Errorf("service %q: image %s: %w", s.Name, s.Image, err)
	}
	if st.Size() > maxCanRunArchive {
		return fmt.Errorf("service %q: image archive %s is %d MiB, more than auto reads (%d MiB); pass --backend hv", s.Name, src.ref, st.Size()>>20, maxCanRunArchive>>20)
	}
	dir, err := os.MkdirTemp("", "mvrun-canrun-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_, err = loadImageProgram(context.Background(), s, t.Project.Dir, t.ComposeFile, dir)
	return err
}

// checkCommand resolves argv in service s and checks hv can run it.
func (b *Backend) checkCommand(argv []string, s *specs.Service, prog, dir string) error {
	path, err := backend.ResolveCommand(argv, s, prog, dir)
	if err != nil {
		return err
	}
	return hv.CheckBinary(path)
}

// program returns the host path of service s's static binary and, for a
// service run from an image, the service as the image runs it.
func (b *Backend) program(ctx context.Context, s *specs.Service, t *specs.Test, workDir string, built map[string]string) (string, *specs.Service, error) {
	if s.Binary == "" && s.Build == nil && s.Image != "" {
		b.log.Info("reading the service's program from its image", "service", s.Name, "image", s.Image)
		ip, err := loadImageProgram(ctx, s, t.Project.Dir, t.ComposeFile, filepath.Join(workDir, "bin", "hv", s.Name))
		if err != nil {
			return "", nil, err
		}
		return ip.host, ip.svc, nil
	}
	p, err := b.binary(ctx, s, t.ComposeFile, workDir, built)
	return p, nil, err
}

// binary returns the host path of the static binary of a service that
// does not run from an image.
func (b *Backend) binary(ctx context.Context, s *specs.Service, composeFile, workDir string, built map[string]string) (string, error) {
	if p, ok, err := backend.LocalProgram(ctx, s, composeFile, filepath.Join(workDir, "bin", "hv"), "linux", "amd64", !b.cover.Off, built, b.log); ok {
		return p, err
	}
	switch {
	case s.Build != nil:
		return "", fmt.Errorf("service %q in %s: build context %s is not a Go main package, and hv runs only static binaries; add x-mvrun: {binary: ./static-binary} or use --backend docker", s.Name, composeFile, s.Build.Context)
	}
	return "", fmt.Errorf("service %q in %s: has no build or x-mvrun.binary, so there is nothing to run", s.Name, composeFile)
}

// Sweep implements [backend.Backend]. hv clusters live in this process
// only (guest memory, VMs and files are released when it exits), so a
// killed run leaves nothing behind to remove.
func (b *Backend) Sweep(ctx context.Context) error { return nil }

// Close implements [backend.Backend]; clusters release everything
// themselves.
func (b *Backend) Close(ctx context.Context) error { return nil }

// NewCluster creates the seed's hv cluster: one node per service, none
// running until Start.
func (b *Backend) NewCluster(ctx context.Context, cfg backend.ClusterConfig) (backend.Cluster, error) {
	b.mu.Lock()
	programs, images := b.programs, b.images
	b.mu.Unlock()
	if programs == nil {
		return nil, errors.New("hv backend: NewCluster before Prepare")
	}
	for _, s := range cfg.Test.Project.Services {
		if _, ok := programs[s.Name]; !ok {
			return nil, fmt.Errorf("hv backend: service %q was not prepared (Prepare ran for another test)", s.Name)
		}
	}
	from, snap := b.resumePoint(cfg.Seed)
	c, err := newCluster(ctx, cfg, programs, images, b.log, from, snap)
	if err != nil {
		return nil, err
	}
	switch {
	case b.record != nil && b.moment == nil:
		c.startRecording(b.record, b.branch)
	case b.travel != nil && b.moment != nil && b.branch == nil && b.moment.At > 0:
		start := time.Duration(0)
		if snap != nil {
			start = snap.s.At()
		}
		c.startRecording(b.travel.recordOptions(start, b.moment), nil)
	}
	// A cluster catching up from a record has no simulation yet: it sets
	// its reads up once it resumes from the snapshot (resumeLive).
	c.covPlan = b.coverPlan()
	if c.hc != nil {
		c.coverSetup()
	}
	if b.branch != nil {
		c.setBranch(b.branch)
	}
	c.stopAt = b.stop
	if m := b.moment; m != nil {
		err := c.checkMoment(m)
		if err == nil && snap == nil {
			err = c.moment(m)
		}
		if err != nil {
			c.abort()
			return nil, err
		}
		if snap != nil {
			c.onResume = func() error { return c.moment(m) }
		}
	}
	return c, nil
}

// resumePoint returns the record and snapshot a cluster of seed resumes
// from: a [Backend.ResumingFrom] record's for a run without a moment, the
// travel's nearest for a replay to a moment; nil if it runs from zero.
func (b *Backend) resumePoint(seed uint64) (*Record, *rsnap) {
	switch m := b.moment; {
	case m == nil && b.resume != nil:
		before := forever
		if b.stop > 0 {
			before = b.stop
		}
		if s, ok := b.resume.resumable(seed, b.branch, before); ok {
			return b.resume, s
		}
	case m != nil && b.travel != nil && b.branch == nil && m.Travels():
		return b.travel.nearest(seed, m.resumeBefore())
	}
	return nil, nil
}

// forever is a time after every moment.
const forever = time.Duration(1<<63 - 1)

// outFile opens (appending) the node output file name in the seed's
// artifacts directory.
func outFile(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Join(dir, "nodes"), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, "nodes", name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// WithBranch returns a backend that runs every cluster as branch br of its
// seed and shares b's prepared services: Prepare for the test b prepared
// does nothing, so many branches start without building anything again.
func (b *Backend) WithBranch(br *Branch) *Backend {
	c := b.clone()
	c.branch = br
	return c
}

// StoppingAt returns a backend that ends every cluster's run at virtual
// time t, since the cluster was created, and shares b's prepared services:
// the simulation runs up to t and no further, and every call of the runner
// that waits on it from then on fails with [backend.ErrStopped].
// The run up to t is the seed's (or branch's) own, bit for bit, so its
// trace hash, SDK lines, coverage reads and snapshots before t are those
// of the whole run; what comes after (the rest of the workload, the
// checks) does not happen. A search uses it to look at where a fresh
// schedule goes without paying for its end. It resumes only from a
// snapshot before t.
func (b *Backend) StoppingAt(t time.Duration) *Backend {
	c := b.clone()
	c.stop = t
	return c
}

// WithMoment returns a backend that looks at moment m of every cluster
// and shares b's prepared services, like [Backend.WithBranch]; it is not
// a branch.
func (b *Backend) WithMoment(m *Moment) *Backend {
	c := b.clone()
	c.moment, c.branch = m, nil
	return c
}

// clone returns a backend with b's settings that shares b's prepared
// services.
func (b *Backend) clone() *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &Backend{Base: b.Base, log: b.log, moment: b.moment, branch: b.branch, travel: b.travel, record: b.record, resume: b.resume, cover: b.cover, stop: b.stop, test: b.test, programs: b.programs, images: b.images, cplan: b.cplan}
}
