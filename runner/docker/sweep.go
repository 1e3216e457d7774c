package docker

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// procIdentity returns "pid starttime", which names a process uniquely even
// after its pid is reused.
func procIdentity(pid int) (string, error) {
	id, _, err := procStat(pid)
	return id, err
}

// procStat returns pid's identity ("pid starttime") and its state letter
// (R, S, Z, ...).
func procStat(pid int) (id, state string, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", err
	}
	// The command name (field 2) may hold spaces and parentheses; fields
	// after the last ')' are plain: state is field 3, starttime field 22.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.Itoa(pid) + " " + f[19], f[0], nil
}

// ownerAlive reports whether the process an owner label names still runs.
// A label that names no process (empty, malformed) counts as dead, and so
// does a zombie: a runner killed a moment ago whose parent has not reaped
// it yet is gone for good.
func ownerAlive(owner string) bool {
	pidStr, _, ok := strings.Cut(owner, " ")
	if !ok {
		return false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	id, state, err := procStat(pid)
	return err == nil && id == owner && state != "Z" && state != "X"
}

// Sweep removes every container, network and image labelled with
// [LabelRun] whose [LabelOwner] process is gone: what runs that were killed
// left behind. Objects of live runs, this one included, are kept. It is
// called once at the start of every run.
//
// Nothing else needs sweeping: the switch's TAP devices live in the
// containers' network namespaces and vanish with them, and the backend
// makes no namespaces of its own.
func (b *Backend) Sweep(ctx context.Context) error {
	cli, err := b.client(ctx)
	if err != nil {
		return fmt.Errorf("docker backend: sweep: %w", err)
	}
	return sweep(ctx, cli, ownerAlive)
}

// sweep removes the objects whose owner alive reports as gone.
func sweep(ctx context.Context, cli client.APIClient, alive func(owner string) bool) error {
	stale := map[string]bool{}
	isStale := func(labels map[string]string) bool {
		o := labels[LabelOwner]
		s, ok := stale[o]
		if !ok {
			s = !alive(o)
			stale[o] = s
		}
		return s
	}
	filter := make(client.Filters).Add("label", LabelRun)
	var errs []error
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return fmt.Errorf("docker backend: sweep: list containers: %w", err)
	}
	// Service containers first: each shares its sandbox's network
	// namespace, and removing a sandbox first would leave it without one.
	slices.SortStableFunc(cs.Items, func(a, b container.Summary) int {
		return cmp.Compare(rolePriority(a.Labels[LabelRole]), rolePriority(b.Labels[LabelRole]))
	})
	for _, c := range cs.Items {
		if !isStale(c.Labels) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s (%s): %w", shortID(c.ID), strings.Join(c.Names, ","), err))
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, n := range ns.Items {
		if isStale(n.Labels) {
			if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			}
		}
	}
	is, err := cli.ImageList(ctx, client.ImageListOptions{Filters: filter})
	if err != nil {
		errs = append(errs, fmt.Errorf("list images: %w", err))
	}
	for _, im := range is.Items {
		if isStale(im.Labels) {
			if _, err := cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove image %s: %w", shortID(im.ID), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("docker backend: sweep: %w", err)
	}
	return nil
}

// rolePriority orders containers for removal: service containers first.
func rolePriority(role string) int {
	if role == roleService {
		return 0
	}
	return 1
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
