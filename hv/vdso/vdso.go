// Package vdso builds the virtual dynamic shared object hv maps into every
// guest process, so that reading the clock costs no VM exit.
//
// On Linux the kernel hands each process a small ELF shared object (its
// address is AT_SYSINFO_EHDR in the auxiliary vector) whose functions read
// the time from a data page the kernel keeps current; Go's runtime and libc
// call __vdso_clock_gettime instead of making a system call. Under hv every
// system call is a VM exit (~27 µs on the PVM hosts), and Go reads the clock
// constantly, so hv provides the same thing: [Image] is an ET_DYN ELF
// written here byte by byte, whose code (text.asm, encoded by text.go
// without an external assembler) reads the "vvar" page the VMM writes. The
// page sits one page below the image and holds the virtual monotonic time,
// the wall-clock base and the cost of a read ([VvarMono], [VvarWallBase],
// [VvarReadCost]); a counter page below it counts the reads ([CounterReads]).
//
// Determinism: the VMM rewrites the vvar page only while the guest is
// stopped, from the virtual clock, which itself only moves while the VMM
// runs. Between two exits a guest's clock advances only by its own reads,
// which the VMM charges to the virtual clock at the next exit, so what it
// reads is a function of the seed and of its own instructions, as it was
// with a system call per read.
package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/mvrun/multiverse/hv/mm"
)

// Offsets in the vvar page, the page right below the image, which is
// read-only for the guest. All fields are little-endian int64 nanoseconds.
const (
	// VvarMono is the monotonic virtual time since boot (CLOCK_MONOTONIC,
	// MONOTONIC_RAW, MONOTONIC_COARSE and BOOTTIME) at the last entry.
	VvarMono = 0
	// VvarWallBase is the wall-clock time at virtual boot plus the clock
	// offset (skew); CLOCK_REALTIME is VvarWallBase plus monotonic time.
	VvarWallBase = 8
	// VvarReadCost is the virtual time one clock read costs.
	VvarReadCost = 16
)

// CounterReads is the offset, in the counter page (the page below the vvar
// page, writable by the guest), of a little-endian uint64: the number of
// clock reads the vDSO answered since the VMM last charged them. Read
// number n returns VvarMono + n*VvarReadCost, so a guest that waits for
// time to pass by reading the clock (Go's runtime does, e.g. in
// casgstatus) sees it move exactly as if every read were a system call
// costing VvarReadCost; the VMM adds n*VvarReadCost to the virtual clock
// and zeroes the counter at the next exit.
const CounterReads = 0

// DataPages is the number of pages below the image the code reads: the
// vvar page and, below it, the counter page.
const DataPages = 2

// Version is the symbol version the functions are defined in, the one
// Linux's vDSO uses and Go's runtime asks for.
const Version = "LINUX_2.6"

// SOName is the shared object's name (DT_SONAME), as on Linux.
const SOName = "linux-vdso.so.1"

// Symbols lists the dynamic symbols the image defines: each __vdso_
// function and, like Linux, a weak alias without the prefix.
var Symbols = []string{
	"__vdso_clock_gettime", "clock_gettime",
	"__vdso_gettimeofday", "gettimeofday",
	"__vdso_time", "time",
	"__vdso_clock_getres", "clock_getres",
}

// Image returns the vDSO, an ELF file to be mapped page-aligned right above
// its [DataPages] data pages. It is built once and shared: callers must not
// modify it.
func Image() ([]byte, error) { return image() }

var image = sync.OnceValues(build)

// Symbol version indexes: 1 is the file itself (VER_FLG_BASE), 2 Version.
const (
	verBase  = 1
	verLinux = 2
)

// Section indexes, in file order.
const (
	secNull = iota
	secHash
	secDynsym
	secDynstr
	secVersym
	secVerdef
	secDynamic
	secText
	secShstrtab
	numSections
)

// build lays the image out: ELF header, program headers, the dynamic
// linking tables, the code, and section headers last (Go's runtime reads
// only the program headers and the dynamic section; section headers serve
// debug/elf, readelf and objdump).
func build() ([]byte, error) {
	// The code's length does not depend on where it sits, so assemble once
	// to learn the functions, lay out, then assemble at the real address.
	_, funcs, err := assemble(0)
	if err != nil {
		return nil, err
	}

	// Strings.
	var dynstr strtab
	dynstr.add("")
	soname := dynstr.add(SOName)
	version := dynstr.add(Version)
	type sym struct {
		name uint32
		bind elf.SymBind
		fn   int
	}
	syms := []sym{{}} // index 0 is the undefined symbol
	names := []string{""}
	for i, f := range funcs {
		syms = append(syms, sym{dynstr.add(f.name), elf.STB_GLOBAL, i}, sym{dynstr.add(f.alias), elf.STB_WEAK, i})
		names = append(names, f.name, f.alias)
	}
	if fmt.Sprint(names[1:]) != fmt.Sprint(Symbols) {
		return nil, fmt.Errorf("vdso: text defines %v, Symbols says %v", names[1:], Symbols)
	}

	// Layout.
	const (
		ehdrSize = 64
		phdrSize = 56
		phnum    = 2
		symSize  = 24
		dynSize  = 16
		verdef   = 20 + 8 // Elf64_Verdef and its one Elf64_Verdaux
		shdrSize = 64
	)
	nbucket := len(syms)
	dynamic := []elf.Dyn64{
		{Tag: int64(elf.DT_HASH)}, {Tag: int64(elf.DT_STRTAB)}, {Tag: int64(elf.DT_SYMTAB)},
		{Tag: int64(elf.DT_STRSZ), Val: uint64(len(dynstr.b))}, {Tag: int64(elf.DT_SYMENT), Val: symSize},
		{Tag: int64(elf.DT_SONAME), Val: uint64(soname)},
		{Tag: int64(elf.DT_VERSYM)}, {Tag: int64(elf.DT_VERDEF)}, {Tag: int64(elf.DT_VERDEFNUM), Val: 2},
		{Tag: int64(elf.DT_NULL)},
	}
	var off [numSections]int
	var size [numSections]int
	at := ehdrSize + phnum*phdrSize
	place := func(sec, align, n int) {
		at = (at + align - 1) &^ (align - 1)
		off[sec], size[sec] = at, n
		at += n
	}
	place(secHash, 4, 4*(2+nbucket+len(syms)))
	place(secDynsym, 8, symSize*len(syms))
	place(secDynstr, 1, len(dynstr.b))
	place(secVersym, 2, 2*len(syms))
	place(secVerdef, 4, 2*verdef)
	place(secDynamic, 8, dynSize*len(dynamic))
	place(secText, 16, 0)
	code, funcs, err := assemble(int64(off[secText]))
	if err != nil {
		return nil, err
	}
	size[secText] = len(code)
	at += len(code)
	var shstr strtab
	shstr.add("")
	secNames := [numSections]string{"", ".hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".text", ".shstrtab"}
	var shname [numSections]uint32
	for i, n := range secNames[1:] {
		shname[i+1] = shstr.add(n)
	}
	place(secShstrtab, 1, len(shstr.b))
	shoff := (at + 7) &^ 7
	total := shoff + numSections*shdrSize
	if total > 2*mm.PageSize {
		return nil, fmt.Errorf("vdso: image is %d bytes; the layout expects at most two pages", total)
	}
	dynamic[0].Val = uint64(off[secHash])
	dynamic[1].Val = uint64(off[secDynstr])
	dynamic[2].Val = uint64(off[secDynsym])
	dynamic[6].Val = uint64(off[secVersym])
	dynamic[7].Val = uint64(off[secVerdef])

	img := make([]byte, total)
	put := func(at int, v any) {
		var b bytes.Buffer
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			panic(err) // only fixed-size values are written
		}
		copy(img[at:], b.Bytes())
	}
	le := binary.LittleEndian

	put(0, elf.Header64{
		Ident: [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB),
			byte(elf.EV_CURRENT), byte(elf.ELFOSABI_NONE)},
		Type: uint16(elf.ET_DYN), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Phoff: ehdrSize, Shoff: uint64(shoff), Ehsize: ehdrSize,
		Phentsize: phdrSize, Phnum: phnum, Shentsize: shdrSize, Shnum: numSections, Shstrndx: secShstrtab,
	})
	put(ehdrSize, elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Filesz: uint64(total), Memsz: uint64(total), Align: mm.PageSize})
	put(ehdrSize+phdrSize, elf.Prog64{Type: uint32(elf.PT_DYNAMIC), Flags: uint32(elf.PF_R),
		Off: uint64(off[secDynamic]), Vaddr: uint64(off[secDynamic]), Paddr: uint64(off[secDynamic]),
		Filesz: uint64(size[secDynamic]), Memsz: uint64(size[secDynamic]), Align: 8})

	// SysV hash table: nbucket, nchain, buckets, chains.
	h := img[off[secHash]:]
	le.PutUint32(h[0:], uint32(nbucket))
	le.PutUint32(h[4:], uint32(len(syms)))
	bucket := func(i int) []byte { return h[8+4*i:] }
	chain := func(i int) []byte { return h[8+4*nbucket+4*i:] }
	for i := len(syms) - 1; i >= 1; i-- { // prepend, so chains run in symbol order
		b := bucket(int(elfHash(names[i]) % uint32(nbucket)))
		le.PutUint32(chain(i), le.Uint32(b))
		le.PutUint32(b, uint32(i))
	}

	for i, s := range syms[1:] {
		f := funcs[s.fn]
		put(off[secDynsym]+symSize*(i+1), elf.Sym64{
			Name: s.name, Info: elf.ST_INFO(s.bind, elf.STT_FUNC), Other: byte(elf.STV_DEFAULT),
			Shndx: secText, Value: uint64(f.start), Size: uint64(f.end - f.start),
		})
		le.PutUint16(img[off[secVersym]+2*(i+1):], verLinux)
	}
	copy(img[off[secDynstr]:], dynstr.b)

	// Version definitions: the file itself, then LINUX_2.6.
	for i, d := range []struct {
		flags, ndx uint16
		name       uint32
		str        string
	}{{uint16(elf.VER_FLG_BASE), verBase, soname, SOName}, {0, verLinux, version, Version}} {
		v := img[off[secVerdef]+i*verdef:]
		le.PutUint16(v[0:], 1) // vd_version
		le.PutUint16(v[2:], d.flags)
		le.PutUint16(v[4:], d.ndx)
		le.PutUint16(v[6:], 1) // vd_cnt: one name
		le.PutUint32(v[8:], elfHash(d.str))
		le.PutUint32(v[12:], 20) // vd_aux: the name follows
		if i == 0 {
			le.PutUint32(v[16:], verdef) // vd_next
		}
		le.PutUint32(v[20:], d.name) // vda_name; vda_next stays 0
	}
	for i, d := range dynamic {
		put(off[secDynamic]+dynSize*i, d)
	}
	copy(img[off[secText]:], code)
	copy(img[off[secShstrtab]:], shstr.b)

	sh := func(sec int, typ elf.SectionType, flags elf.SectionFlag, link, info uint32, align, entsize uint64) {
		addr := uint64(off[sec])
		if flags&elf.SHF_ALLOC == 0 {
			addr = 0
		}
		put(shoff+sec*shdrSize, elf.Section64{
			Name: shname[sec], Type: uint32(typ), Flags: uint64(flags), Addr: addr,
			Off: uint64(off[sec]), Size: uint64(size[sec]), Link: link, Info: info,
			Addralign: align, Entsize: entsize,
		})
	}
	sh(secHash, elf.SHT_HASH, elf.SHF_ALLOC, secDynsym, 0, 4, 4)
	sh(secDynsym, elf.SHT_DYNSYM, elf.SHF_ALLOC, secDynstr, 1, 8, symSize)
	sh(secDynstr, elf.SHT_STRTAB, elf.SHF_ALLOC, 0, 0, 1, 0)
	sh(secVersym, elf.SHT_GNU_VERSYM, elf.SHF_ALLOC, secDynsym, 0, 2, 2)
	sh(secVerdef, elf.SHT_GNU_VERDEF, elf.SHF_ALLOC, secDynstr, 2, 4, 0)
	sh(secDynamic, elf.SHT_DYNAMIC, elf.SHF_ALLOC, secDynstr, 0, 8, dynSize)
	sh(secText, elf.SHT_PROGBITS, elf.SHF_ALLOC|elf.SHF_EXECINSTR, 0, 0, 16, 0)
	sh(secShstrtab, elf.SHT_STRTAB, 0, 0, 0, 1, 0)
	return img, nil
}

// strtab is an ELF string table under construction.
type strtab struct{ b []byte }

// add appends s and returns its offset; the empty string is offset 0 once
// the table starts with it.
func (t *strtab) add(s string) uint32 {
	if s == "" && len(t.b) > 0 {
		return 0
	}
	o := uint32(len(t.b))
	t.b = append(append(t.b, s...), 0)
	return o
}

// elfHash is the System V ABI symbol hash (DT_HASH buckets and the
// vd_hash of version definitions).
func elfHash(name string) uint32 {
	var h uint32
	for i := 0; i < len(name); i++ {
		h = h<<4 + uint32(name[i])
		if g := h & 0xf000_0000; g != 0 {
			h ^= g >> 24
			h &^= g
		}
	}
	return h
}
