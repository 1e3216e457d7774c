// Command harness is a small Antithesis-style test harness for mvrun's
// examples/harness: one program that acts by the name it is run as, the
// way a test-composer template directory holds one executable per command.
//
//	harness write FILE TEXT   append TEXT to FILE and fsync (the writer service)
//	harness serve             signal setup complete and wait (the client service)
//	first_config              the read-only config bind mount is there and read-only
//	singleton_driver_read     the writer's line is in the shared named volume
//	finally_read              the same, and the client's root is read-only
//
// It uses the Antithesis Go SDK as a harness would; without libvoidstar the
// SDK writes its messages to $ANTITHESIS_SDK_LOCAL_OUTPUT, which mvrun sets.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/antithesishq/antithesis-sdk-go/assert"
	"github.com/antithesishq/antithesis-sdk-go/lifecycle"
)

// Paths inside the nodes, as the compose file mounts them.
const (
	greeting = "/var/harness/shared/greeting"
	config   = "/etc/harness/config.txt"
	stateDir = "/var/harness/state"
	want     = "hello from writer\n"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "harness" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	var err error
	switch name {
	case "write":
		err = write(args)
	case "serve":
		lifecycle.SetupComplete(map[string]any{"service": "client"})
		for { // select{} alone would be a deadlock to the Go runtime
			time.Sleep(time.Hour)
		}
	case "first_config":
		err = checkConfig()
	case "singleton_driver_read":
		err = readShared()
	case "finally_read":
		err = readShared()
		if err == nil {
			err = checkReadOnlyRoot()
		}
	default:
		err = fmt.Errorf("unknown command %q", name)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func write(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: harness write FILE TEXT")
	}
	f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(args[1] + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The writable bind mount of the host's state directory: a seed's
	// writes land in its own copy, never on the host.
	if _, err := os.Stat(stateDir); err == nil {
		return os.WriteFile(filepath.Join(stateDir, "writes"), []byte(args[1]+"\n"), 0o644)
	}
	return nil
}

// readShared checks that the named volume holds exactly the writer's line:
// every seed starts with a fresh volume, so a second line would mean a
// seed saw another seed's files.
func readShared() error {
	b, err := os.ReadFile(greeting)
	assert.Always(err == nil, "the reader finds the writer's file in the shared volume", map[string]any{"error": fmt.Sprint(err)})
	if err != nil {
		return err
	}
	assert.Always(string(b) == want, "the shared volume holds exactly what the writer wrote", map[string]any{"content": string(b)})
	assert.Sometimes(strings.HasPrefix(string(b), "hello"), "the reader sees the greeting", nil)
	if string(b) != want {
		return fmt.Errorf("%s holds %q, want %q", greeting, b, want)
	}
	return nil
}

func checkConfig() error {
	b, err := os.ReadFile(config)
	assert.Always(err == nil && strings.TrimSpace(string(b)) == "mode=harness", "the config bind mount is visible", map[string]any{"content": string(b), "error": fmt.Sprint(err)})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(config, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		f.Close()
	}
	assert.Always(errors.Is(err, syscall.EROFS), "the read-only config bind mount refuses writes", map[string]any{"error": fmt.Sprint(err)})
	return nil
}

// checkReadOnlyRoot checks compose read_only: creating a file at the root
// of the client's file system fails with EROFS.
func checkReadOnlyRoot() error {
	const probe = "/harness-read-only-probe"
	f, err := os.Create(probe)
	if err == nil {
		f.Close()
		os.Remove(probe)
	}
	assert.Always(errors.Is(err, syscall.EROFS), "read_only makes the client's root file system read-only", map[string]any{"error": fmt.Sprint(err)})
	return nil
}
