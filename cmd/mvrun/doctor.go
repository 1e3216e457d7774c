package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"

	"github.com/mvrun/multiverse/hv/hvcli"
)

// cmdDoctor implements `mvrun doctor`: it checks what this host offers each
// backend and exits 0 when at least one backend can run, 3 otherwise.
func (e env) cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mvrun doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mvrun doctor\n\nChecks root, network and time namespaces, KVM and Docker, and which backends can run here.\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mvrun doctor: takes no arguments\n")
		return exitUsage
	}
	check := func(name string, err error) bool {
		if err != nil {
			fmt.Fprintf(stdout, "%-20s missing: %v\n", name+":", err)
			return false
		}
		fmt.Fprintf(stdout, "%-20s ok\n", name+":")
		return true
	}
	var rootErr error
	if os.Geteuid() != 0 {
		rootErr = errors.New("not running as root; the process backend needs root for network namespaces")
	}
	check("root", rootErr)
	check("network namespaces", statErr("/proc/self/ns/net"))
	check("time namespaces", statErr("/proc/self/ns/time"))
	check("/dev/kvm", statErr("/dev/kvm"))
	check("docker", dockerErr())
	fmt.Fprintln(stdout)

	usable := 0
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, name := range []string{"process", "docker"} {
		b, err := e.newBackend(name, log)
		if err == nil {
			err = b.Available(ctx)
		}
		if check("backend "+name, err) {
			usable++
		}
	}
	// hv's own section: KVM, the trap strategy and its limits. When it is
	// ok, hv is the test backend auto picks for static binaries, and
	// `mvrun hv run` runs single binaries.
	hvOK, err := hvcli.Doctor(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun doctor: %v\n", err)
		return exitInfra
	}
	if hvOK {
		usable++
	}
	if usable == 0 {
		fmt.Fprintln(stdout, "\nNo backend can run tests on this host.")
		return exitInfra
	}
	return exitOK
}

func statErr(path string) error {
	_, err := os.Stat(path)
	return err
}

// dockerErr checks for a docker client and a reachable engine socket.
func dockerErr() error {
	if _, err := exec.LookPath("docker"); err != nil {
		return errors.New("no docker command in PATH")
	}
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		return errors.New("no Docker engine socket at /var/run/docker.sock; start dockerd")
	}
	return nil
}
