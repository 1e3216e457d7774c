package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Healthcheck defaults for fields a compose file leaves unset. Compose's own
// interval default (30s) would make every seed slow; mvrun checks often.
const (
	defaultHealthInterval = time.Second
	defaultHealthTimeout  = 10 * time.Second
	defaultHealthRetries  = 3
)

// unhealthyError says a service did not become healthy or did not complete
// successfully: a finding about the system under test, not an
// infrastructure failure.
type unhealthyError struct {
	service string
	msg     string
}

func (e *unhealthyError) Error() string { return "service " + e.service + ": " + e.msg }

// startServices starts every service in dependency order, waiting for each
// dependency's depends_on condition first, and then waits for every service
// with a healthcheck to be healthy.
func (s *seedRun) startServices(ctx context.Context, cl backend.Cluster) error {
	s.art.phase(cl.Now(), "start")
	healthy := map[string]bool{}
	for _, svc := range s.t.Project.Services {
		for _, d := range svc.DependsOn {
			switch d.Condition {
			case specs.ServiceHealthy:
				if healthy[d.Service] {
					continue
				}
				if err := s.waitHealthy(ctx, cl, d.Service); err != nil {
					return err
				}
				healthy[d.Service] = true
			case specs.ServiceCompletedSuccessfully:
				if err := s.waitCompleted(ctx, cl, d.Service); err != nil {
					return err
				}
			case specs.ServiceStarted, "":
				// Started in order above.
			default:
				return fmt.Errorf("service %s: depends_on %s: unknown condition %q", svc.Name, d.Service, d.Condition)
			}
		}
		if err := cl.Start(ctx, svc.Name); err != nil {
			return fmt.Errorf("starting service %s: %w", svc.Name, err)
		}
	}
	for _, svc := range s.t.Project.Services {
		if svc.Healthcheck == nil || healthy[svc.Name] || s.oneshot[svc.Name] {
			continue
		}
		if err := s.waitHealthy(ctx, cl, svc.Name); err != nil {
			return err
		}
		healthy[svc.Name] = true
	}
	return nil
}

// waitCompleted waits for service's node to exit and requires exit code 0.
func (s *seedRun) waitCompleted(ctx context.Context, cl backend.Cluster, service string) error {
	var last backend.Event
	err := s.waitState(ctx, func() bool {
		if ex := s.exits[service]; len(ex) > 0 {
			last = ex[len(ex)-1]
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	if last.ExitCode != 0 || last.Signal != "" {
		return &unhealthyError{service, fmt.Sprintf("others depend on it completing successfully, but it exited with code %d%s; see nodes/%s.stderr", last.ExitCode, sigSuffix(last.Signal), service)}
	}
	s.art.note(cl.Now(), service, "completed successfully")
	return nil
}

func sigSuffix(sig string) string {
	if sig == "" {
		return ""
	}
	return " (signal " + sig + ")"
}

// waitHealthy runs service's healthcheck until it passes, with compose's
// semantics: every Interval, each try bounded by Timeout; failures during
// StartPeriod do not count; Retries consecutive counted failures make the
// service unhealthy. A service without a healthcheck is healthy once it
// runs.
func (s *seedRun) waitHealthy(ctx context.Context, cl backend.Cluster, service string) error {
	svc := s.t.Project.Service(service)
	if svc == nil {
		return fmt.Errorf("depends_on names service %q, which is not in the compose project", service)
	}
	hc := svc.Healthcheck
	if hc == nil || len(hc.Test) == 0 {
		return s.waitState(ctx, func() bool { return s.running[service] })
	}
	interval := orDefault(hc.Interval, defaultHealthInterval)
	timeout := orDefault(hc.Timeout, defaultHealthTimeout)
	retries := hc.Retries
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	begin := cl.Now()
	fails, tries := 0, 0
	for {
		tries++
		var out bytes.Buffer
		w := &limitWriter{w: &out, n: 2048}
		tctx, cancel := withTimeout(cl, ctx, timeout)
		res, err := cl.Exec(tctx, backend.ExecRequest{
			Service: service, Name: "healthcheck", Argv: hc.Test, Stdout: w, Stderr: w,
		})
		timedOut := tctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && res.ExitCode == 0 && res.Signal == "" {
			s.art.note(cl.Now(), service, "healthy after %d checks", tries)
			return nil
		}
		why := ""
		switch {
		case timedOut:
			why = fmt.Sprintf("timed out after %v", timeout)
		case err != nil:
			why = err.Error()
		default:
			why = fmt.Sprintf("exit code %d%s", res.ExitCode, sigSuffix(res.Signal))
		}
		if o := strings.TrimSpace(out.String()); o != "" {
			why += ": " + o
		}
		if cl.Now()-begin >= hc.StartPeriod {
			fails++
		}
		if fails >= retries {
			return &unhealthyError{service, fmt.Sprintf("unhealthy: healthcheck %q failed %d times in a row (last: %s)", strings.Join(hc.Test, " "), fails, why)}
		}
		if err := cl.Sleep(ctx, interval); err != nil {
			return err
		}
	}
}

// waitRecovered waits, after faults were healed, for every service with a
// healthcheck to pass it again, and records PropRecovered.
func (s *seedRun) waitRecovered(ctx context.Context, cl backend.Cluster) {
	var failed []string
	checked := 0
	for _, svc := range s.t.Project.Services {
		if svc.Healthcheck == nil || s.oneshot[svc.Name] {
			continue
		}
		checked++
		if err := s.waitHealthy(ctx, cl, svc.Name); err != nil {
			if ctx.Err() != nil {
				return
			}
			failed = append(failed, err.Error())
		}
	}
	if checked == 0 {
		return
	}
	var d map[string]any
	if len(failed) > 0 {
		d = map[string]any{"error": strings.Join(failed, "; ")}
	}
	s.cfg.col.Builtin(s.cfg.seed, PropRecovered, builtinAlways, len(failed) == 0, d)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// limitWriter keeps the first n bytes written to it and drops the rest.
// It is safe for concurrent use, since a command's stdout and stderr may
// share one.
type limitWriter struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n > 0 {
		q := p
		if len(q) > l.n {
			q = q[:l.n]
		}
		l.n -= len(q)
		l.w.Write(q)
	}
	return len(p), nil
}
