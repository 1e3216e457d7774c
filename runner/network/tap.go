package network

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openTAP creates a TAP device called name in the calling thread's network
// namespace and returns its file. The device is not persistent: it vanishes
// when the file is closed, also when this process is killed. The file is
// non-blocking, so reads wait in the Go runtime's poller instead of holding
// an OS thread, and Close wakes a blocked reader.
func openTAP(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun (is the tun module loaded and are we root?): %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TAP device name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create TAP device %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}
