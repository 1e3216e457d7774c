package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/mvrun/multiverse/internal/procs"
)

// Sweep removes every container, network and image labelled with
// [LabelRun] whose [LabelOwner] process is gone: what runs that were killed
// left behind. Objects of live runs, this one included, are kept. It is
// called once at the start of every run.
//
// Then the disk fault mounts of those runs (their data goes back into the
// node directories). Nothing else needs sweeping: the switch's TAP devices
// live in the containers' network namespaces and vanish with them, and the
// backend makes no namespaces of its own.
func (b *Backend) Sweep(ctx context.Context) error {
	cli, err := b.client(ctx)
	if err != nil {
		return fmt.Errorf("docker backend: sweep: %w", err)
	}
	// Containers first: they hold the disk fault mounts' binds.
	err = sweep(ctx, cli, procs.Alive)
	if derr := sweepDisks(procs.Alive); derr != nil {
		err = errors.Join(err, fmt.Errorf("docker backend: sweeping disk fault mounts: %w", derr))
	}
	return err
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
