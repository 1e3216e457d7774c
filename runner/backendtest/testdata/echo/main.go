// Command echo is the service of the backend conformance suite
// (runner/backendtest). "echo serve" answers TCP on :7000 and UDP on :7001
// with "<hostname>:<message>", and logs one-way UDP probes ("echo send")
// on stdout; its other subcommands are the workload commands the suite
// runs inside nodes.
//
// It reports through the SDK file transport by hand, one JSON line per
// write, to the file named by MVRUN_SDK ("file:<path>") or
// ANTITHESIS_SDK_LOCAL_OUTPUT.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const timeout = time.Second

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"serve"}
	}
	arg := func(i int) string {
		if i >= len(args) {
			fail(2, "usage: echo %s: missing argument %d", args[0], i)
		}
		return args[i]
	}
	switch args[0] {
	case "serve":
		spawn := ""
		if len(args) > 1 {
			spawn = args[1]
		}
		serve(spawn)
	case "dial":
		dial("tcp", arg(1), arg(2))
	case "udp":
		dial("udp", arg(1), arg(2))
	case "send":
		send(arg(1), arg(2))
	case "exit":
		fmt.Fprintln(os.Stdout, "out")
		fmt.Fprintln(os.Stderr, "err")
		code, _ := strconv.Atoi(arg(1))
		os.Exit(code)
	case "kill-self":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Hour)
	case "sdk":
		// "sdk N" writes N lines; "sdk N partial" leaves the last one
		// without its newline, as a process that dies mid-line would.
		n, _ := strconv.Atoi(arg(1))
		for i := 1; i <= n; i++ {
			line := fmt.Sprintf(`{"probe":{"i":%d}}`, i)
			if i < n || len(args) < 3 {
				line += "\n"
			}
			sdk(line)
		}
	case "env":
		fmt.Println(os.Getenv(arg(1)))
	case "cat":
		b, err := os.ReadFile(arg(1))
		if err != nil {
			fail(1, "%v", err)
		}
		os.Stdout.Write(b)
	case "write":
		if err := os.WriteFile(arg(1), []byte(arg(2)), 0o644); err != nil {
			fail(1, "%v", err)
		}
	case "resolve":
		addrs, err := net.LookupHost(arg(1))
		if err != nil {
			fail(1, "%v", err)
		}
		fmt.Println(strings.Join(addrs, " "))
	case "hostname":
		h, _ := os.Hostname()
		fmt.Println(h)
	case "sleep":
		d, _ := time.ParseDuration(arg(1))
		time.Sleep(d)
	default:
		fail(2, "echo: unknown subcommand %q", args[0])
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}

// sdk appends line (which carries its own newline) to the SDK output file,
// in one write.
func sdk(line string) {
	path := os.Getenv("ANTITHESIS_SDK_LOCAL_OUTPUT")
	if p, ok := strings.CutPrefix(os.Getenv("MVRUN_SDK"), "file:"); ok {
		path = p
	}
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fail(1, "sdk: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		fail(1, "sdk: %v", err)
	}
}

// writeSynced writes a file and fsyncs it and its directory, so it survives
// a kill of the node on every backend (hv's kill is a power cut: unsynced
// data is lost, as it would be on a real machine).
func writeSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
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
	d, err := os.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func serve(spawn string) {
	// Count starts in the working directory, so restarts show that files
	// survive.
	starts := 0
	if b, err := os.ReadFile("starts"); err == nil {
		starts, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	starts++
	if err := writeSynced("starts", []byte(strconv.Itoa(starts))); err != nil {
		fail(1, "%v", err)
	}
	if spawn == "-spawn" || spawn == "-spawn-noenv" {
		// A child without a parent-death signal, in a session of its own
		// (so a kill of the node's process group misses it), as a
		// daemonizing helper of a real service would be.
		self, err := os.Executable()
		if err != nil {
			fail(1, "%v", err)
		}
		cmd := exec.Command(self, "sleep", "1h")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if spawn == "-spawn-noenv" {
			// Also shed the environment, and with it every marker a
			// runner could find the process by.
			cmd.Env = []string{}
		}
		if err := cmd.Start(); err != nil {
			fail(1, "%v", err)
		}
		fmt.Println("child", cmd.Process.Pid)
	}
	host, _ := os.Hostname()
	tl, err := net.Listen("tcp", ":7000")
	if err != nil {
		fail(1, "%v", err)
	}
	ul, err := net.ListenPacket("udp", ":7001")
	if err != nil {
		fail(1, "%v", err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			if strings.HasPrefix(msg, probePrefix) {
				// A one-way probe: say it arrived, answer nothing, so
				// that only the direction it came in matters.
				fmt.Println("heard", msg)
				continue
			}
			ul.WriteTo([]byte(host+":"+msg), from)
		}
	}()
	sdk(`{"antithesis_sdk":{"language":{"name":"Go","version":"go"},"protocol_version":"1.1.0","sdk_version":"0.0.0"}}` + "\n")
	sdk(fmt.Sprintf(`{"antithesis_setup":{"status":"complete","details":{"starts":%d}}}`+"\n", starts))
	// The uptime shows the node's CLOCK_BOOTTIME, offset in a time namespace.
	up, _ := os.ReadFile("/proc/uptime")
	fmt.Println("serving", host, "start", starts, "uptime", strings.Fields(string(up) + " ?")[0])
	for {
		c, err := tl.Accept()
		if err != nil {
			fail(1, "%v", err)
		}
		go func() {
			defer c.Close()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s:%s", host, line)
		}()
	}
}

// probePrefix starts the UDP messages "echo send" sends: the server logs
// them on stdout ("heard <message>") instead of answering.
const probePrefix = "probe-"

// send sends msg, which must start with probePrefix, to the UDP address
// addr three times 20ms apart and expects no answer: whether it arrived
// shows in the receiving node's stdout.
func send(addr, msg string) {
	if !strings.HasPrefix(msg, probePrefix) {
		fail(2, "echo send: message %q does not start with %q", msg, probePrefix)
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		fail(3, "%v", err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		// A refused earlier datagram (ICMP port unreachable) makes a
		// later write fail; the probe is still sent.
		c.Write([]byte(msg))
	}
}

// dial sends msg to addr and prints the reply; it exits 3 if there is none
// within a second.
func dial(network, addr, msg string) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		fail(3, "%v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		fail(3, "%v", err)
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		fail(3, "%v", err)
	}
	fmt.Print(string(buf[:n]))
}
