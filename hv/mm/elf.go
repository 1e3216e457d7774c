package mm

import (
	"debug/elf"
	"fmt"
	"io"
)

// Image describes a loaded ELF executable.
type Image struct {
	Entry  uint64
	Phdr   uint64 // guest address of the program headers
	Phent  uint64
	Phnum  uint64
	BrkMin uint64 // first page after the highest segment
}

// rebuild says what to do about a binary hv cannot run.
const rebuild = "hv runs static, non-PIE linux/amd64 executables: for Go, rebuild with CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build (without -buildmode=pie)"

// CheckELF reports whether r is an executable hv can load: a static,
// non-PIE x86-64 ELF. name is used in errors, which say how to rebuild.
func CheckELF(r io.ReaderAt, name string) error {
	_, err := checkELF(r, name)
	return err
}

func checkELF(r io.ReaderAt, name string) (*elf.File, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s is not an ELF executable (%v); %s", name, err, rebuild)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s is a binary for %s (%s); %s", name, f.Machine, f.Class, rebuild)
	}
	if f.Type != elf.ET_EXEC {
		return nil, fmt.Errorf("%s is ELF type %s (position-independent or not an executable); %s", name, f.Type, rebuild)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return nil, fmt.Errorf("%s is dynamically linked; %s", name, rebuild)
		}
	}
	return f, nil
}

// LoadELF maps the PT_LOAD segments of the static x86-64 executable r into s.
// name is used in errors.
func LoadELF(s *Space, r io.ReaderAt, name string) (*Image, error) {
	f, err := checkELF(r, name)
	if err != nil {
		return nil, err
	}
	img := &Image{Entry: f.Entry, Phent: 56, Phnum: uint64(len(f.Progs))}
	var phoff uint64
	for _, p := range f.Progs {
		if p.Type == elf.PT_PHDR {
			img.Phdr = p.Vaddr
		}
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		start := p.Vaddr &^ (PageSize - 1)
		end := pageAlign(p.Vaddr + p.Memsz)
		prot := 0
		if p.Flags&elf.PF_R != 0 {
			prot |= ProtRead
		}
		if p.Flags&elf.PF_W != 0 {
			prot |= ProtWrite
		}
		if p.Flags&elf.PF_X != 0 {
			prot |= ProtExec
		}
		if _, err := s.Map(start, end-start, prot, false, true, "elf"); err != nil {
			return nil, fmt.Errorf("%s: map segment at %#x: %w", name, p.Vaddr, err)
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: read segment at %#x: %w", name, p.Vaddr, err)
		}
		if err := s.Poke(data, p.Vaddr); err != nil {
			return nil, fmt.Errorf("%s: fill segment at %#x: %w", name, p.Vaddr, err)
		}
		if p.Off == 0 && img.Phdr == 0 {
			phoff = p.Vaddr
		}
		img.BrkMin = max(img.BrkMin, end)
	}
	if img.Phdr == 0 && phoff != 0 {
		img.Phdr = phoff + 64 // program headers follow the ELF header
	}
	return img, nil
}
