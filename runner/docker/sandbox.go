package docker

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
)

// The sandbox container of a node only has to exist: it holds the node's
// network namespace (and hostname) while the service container comes and
// goes. Its program is a hand-assembled static ELF that calls pause(2) in a
// loop, so the sandbox image needs neither a registry nor a Go toolchain.
// As PID 1 of its container it ignores every signal it has no handler for
// except SIGKILL, which is how the backend stops it.

// sandboxCode is the amd64 machine code of the sandbox program:
//
//	loop: mov eax, 34   ; pause
//	      syscall
//	      jmp loop
var sandboxCode = []byte{0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7}

// sandboxProgram returns the sandbox program, a static linux/amd64 ELF
// executable, or an error on other architectures.
func sandboxProgram() ([]byte, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("the docker backend's network sandbox exists for linux/amd64 only (this is %s)", runtime.GOARCH)
	}
	const (
		base   = 0x400000
		ehsize = 64
		phsize = 56
	)
	size := uint64(ehsize + phsize + len(sandboxCode))
	var b bytes.Buffer
	le := binary.LittleEndian
	// binary.Write of fixed-size values into a bytes.Buffer cannot fail.
	w := func(v any) { _ = binary.Write(&b, le, v) }
	// ELF header: 64-bit, little endian, version 1, System V ABI.
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	w(uint16(2))                      // e_type: ET_EXEC
	w(uint16(0x3e))                   // e_machine: EM_X86_64
	w(uint32(1))                      // e_version
	w(uint64(base + ehsize + phsize)) // e_entry: the code after the headers
	w(uint64(ehsize))                 // e_phoff
	w(uint64(0))                      // e_shoff: no sections
	w(uint32(0))                      // e_flags
	w(uint16(ehsize))                 // e_ehsize
	w(uint16(phsize))                 // e_phentsize
	w(uint16(1))                      // e_phnum
	w(uint16(64))                     // e_shentsize
	w(uint16(0))                      // e_shnum
	w(uint16(0))                      // e_shstrndx
	// One PT_LOAD segment mapping the whole file read+execute.
	w(uint32(1))      // p_type: PT_LOAD
	w(uint32(5))      // p_flags: PF_R|PF_X
	w(uint64(0))      // p_offset
	w(uint64(base))   // p_vaddr
	w(uint64(base))   // p_paddr
	w(size)           // p_filesz
	w(size)           // p_memsz
	w(uint64(0x1000)) // p_align
	b.Write(sandboxCode)
	return b.Bytes(), nil
}

// sandboxContext returns the docker build context (a tar stream) of the
// sandbox image and the image's reference, which names its content so runs
// share the image and a changed program gets a new one.
func sandboxContext() (ctx []byte, ref string, err error) {
	prog, err := sandboxProgram()
	if err != nil {
		return nil, "", err
	}
	dockerfile := []byte("FROM scratch\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"pause", 0o755, prog}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	h := sha256.New()
	h.Write(dockerfile)
	h.Write(prog)
	return buf.Bytes(), fmt.Sprintf("mvrun-sandbox:%x", h.Sum(nil)[:6]), nil
}
