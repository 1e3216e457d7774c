package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces are bind-mounted, as with
// `ip netns add`.
const NetnsDir = "/run/netns"

// Do runs fn on an OS thread that has entered the network namespace at
// nsPath, and returns fn's error. Sockets fn creates belong to that
// namespace for their whole life and may be used from any goroutine
// afterwards; processes fn starts inherit it.
//
// fn must not start goroutines that expect to be in the namespace: only the
// calling goroutine's thread is. If the thread cannot be moved back to the
// original namespace, it is left locked and so destroyed when Do returns.
func Do(nsPath string, fn func() error) error {
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer target.Close()
	return doIn(target, fn)
}

// doIn runs fn in a new goroutine locked to its thread while that thread is
// in target. A fresh goroutine keeps the caller's thread untouched.
func doIn(target netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the runtime destroys the thread when this
			// goroutine exits, so no other goroutine ever runs in target.
			errc <- errors.Join(ferr, fmt.Errorf("leave network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// createNamedNetns makes a new network namespace bind-mounted at
// NetnsDir/name and returns a handle to it. The calling thread's namespace is
// not changed.
func createNamedNetns(name string) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	resc := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			resc <- result{netns.None(), fmt.Errorf("get current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		// NewNamed unshares this thread into the new namespace.
		h, err := netns.NewNamed(name)
		if err != nil {
			// NewNamed may have unshared before failing; never reuse
			// the thread.
			if serr := netns.Set(orig); serr == nil {
				runtime.UnlockOSThread()
			}
			_ = removeNetnsFile(filepath.Join(NetnsDir, name))
			resc <- result{netns.None(), fmt.Errorf("create network namespace %s: %w", name, err)}
			return
		}
		if err := netns.Set(orig); err != nil {
			h.Close()
			_ = removeNetnsFile(filepath.Join(NetnsDir, name))
			resc <- result{netns.None(), fmt.Errorf("leave new network namespace %s: %w", name, err)}
			return
		}
		runtime.UnlockOSThread()
		resc <- result{h, nil}
	}()
	r := <-resc
	return r.h, r.err
}

// removeNetnsFile unmounts and removes a namespace bind mount. A file that
// is not mounted (left by a crash between create and mount) is removed too.
// A missing file is not an error.
func removeNetnsFile(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}

// writeSysctl writes value to a /proc/sys file of the calling thread's
// network namespace. It must run inside Do or doIn.
func writeSysctl(path, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys", path), []byte(value), 0o644)
}
