package runner

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
)

// sdkLostPrefix starts the line the mvrun SDK prints on a process's stderr
// the first time it loses a message because its channel broke (the output
// file went away, the socket closed). The SDK's own tests pin this text.
const sdkLostPrefix = "mvrun-sdk: lost an SDK message (later losses are counted, not printed): "

// sdkLosses records, for the seed that just ended, the SDK messages lost
// where the loss could not be reported on the wire: it reads each node's
// stderr (nodes/<service>.stderr, written by the backend) and each workload
// command's output (workload/<name>.log) for the SDK's stderr line. Each
// such line is one process that lost at least one message.
func (s *seedRun) sdkLosses() {
	scan := func(path, node, proc string) {
		f, err := os.Open(path)
		if err != nil {
			return // the backend wrote no such file: nothing to scan
		}
		defer f.Close()
		// Read line starts only: a process may write lines of any length
		// to stderr, and a Scanner would stop at the first one too long.
		r := bufio.NewReaderSize(f, 64<<10)
		for {
			line, err := r.ReadSlice('\n')
			if reason, ok := bytes.CutPrefix(line, []byte(sdkLostPrefix)); ok {
				reason = bytes.TrimRight(reason, "\n")
				s.rec.AddLost(s.cfg.seed, node, proc, 1, "channel broke: "+string(reason)+" (at least 1 message; see the process's stderr)")
			}
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			if err != nil {
				return
			}
		}
	}
	for _, svc := range s.t.Project.Services {
		scan(filepath.Join(s.art.dir, "nodes", svc.Name+".stderr"), svc.Name, "")
	}
	for _, c := range s.workload {
		scan(filepath.Join(s.art.dir, workloadDir, sanitize(c.Name)+".log"), c.Service, c.Name)
	}
}
