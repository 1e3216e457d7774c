package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/hv/mm"
)

func parse(t *testing.T) (*elf.File, []byte) {
	t.Helper()
	img, err := Image()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("debug/elf rejects the image: %v", err)
	}
	return f, img
}

// TestElfHash checks the hash against the values Go's runtime
// (runtime/vdso_linux_amd64.go) looks the symbols and version up with.
func TestElfHash(t *testing.T) {
	for name, want := range map[string]uint32{
		"__vdso_gettimeofday":  0x315ca59,
		"__vdso_clock_gettime": 0xd35ec75,
		"LINUX_2.6":            0x3ae75f6,
	} {
		if got := elfHash(name); got != want {
			t.Errorf("elfHash(%q) = %#x, want %#x", name, got, want)
		}
	}
}

// TestImageELF parses the image with debug/elf: a 64-bit x86-64 ET_DYN
// whose one PT_LOAD covers the file from address 0, whose dynamic section
// points at the tables, and whose symbols are functions in .text defined in
// version LINUX_2.6.
func TestImageELF(t *testing.T) {
	f, img := parse(t)
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 {
		t.Fatalf("header: class %v data %v type %v machine %v", f.Class, f.Data, f.Type, f.Machine)
	}
	var load, dyn []*elf.Prog
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			load = append(load, p)
		case elf.PT_DYNAMIC:
			dyn = append(dyn, p)
		}
	}
	if len(load) != 1 || load[0].Off != 0 || load[0].Vaddr != 0 || load[0].Filesz != uint64(len(img)) ||
		load[0].Flags != elf.PF_R|elf.PF_X {
		t.Fatalf("PT_LOAD segments %+v, want one R+X segment covering the %d-byte file at 0", load, len(img))
	}
	dynSec := f.Section(".dynamic")
	if len(dyn) != 1 || dynSec == nil || dyn[0].Off != dynSec.Offset || dyn[0].Filesz != dynSec.Size {
		t.Fatalf("PT_DYNAMIC %+v does not match .dynamic %+v", dyn, dynSec)
	}
	for tag, sec := range map[elf.DynTag]string{
		elf.DT_HASH: ".hash", elf.DT_STRTAB: ".dynstr", elf.DT_SYMTAB: ".dynsym",
		elf.DT_VERSYM: ".gnu.version", elf.DT_VERDEF: ".gnu.version_d",
	} {
		v, err := f.DynValue(tag)
		if err != nil || len(v) != 1 {
			t.Errorf("%v: %v %v", tag, v, err)
			continue
		}
		if s := f.Section(sec); s == nil || s.Addr != v[0] {
			t.Errorf("%v = %#x, section %s at %+v", tag, v[0], sec, s)
		}
	}
	if so, err := f.DynString(elf.DT_SONAME); err != nil || len(so) != 1 || so[0] != SOName {
		t.Errorf("DT_SONAME %v %v, want %s", so, err, SOName)
	}

	vers, err := f.DynamicVersions()
	if err != nil {
		t.Fatal(err)
	}
	if len(vers) != 2 || vers[0].Name != SOName || vers[0].Flags&elf.VER_FLG_BASE == 0 ||
		vers[1].Name != Version || vers[1].Index != verLinux {
		t.Errorf("version definitions %+v, want the base %s then %s (index %d)", vers, SOName, Version, verLinux)
	}

	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	var names []string
	for _, s := range syms {
		names = append(names, s.Name)
		bind := elf.STB_GLOBAL
		if !strings.HasPrefix(s.Name, "__vdso_") {
			bind = elf.STB_WEAK
		}
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || elf.ST_BIND(s.Info) != bind {
			t.Errorf("%s: type %v bind %v, want FUNC %v", s.Name, elf.ST_TYPE(s.Info), elf.ST_BIND(s.Info), bind)
		}
		if s.Section != elf.SectionIndex(secText) || s.Value < text.Addr || s.Value+s.Size > text.Addr+text.Size || s.Size == 0 {
			t.Errorf("%s at %#x+%d, outside .text %#x+%d", s.Name, s.Value, s.Size, text.Addr, text.Size)
		}
		if !s.HasVersion || s.Version != Version || s.VersionIndex.Index() != verLinux {
			t.Errorf("%s: version %q (index %d), want %s", s.Name, s.Version, s.VersionIndex.Index(), Version)
		}
	}
	if fmt.Sprint(names) != fmt.Sprint(Symbols) {
		t.Errorf("dynamic symbols %v, want %v", names, Symbols)
	}
	aliases := map[string]uint64{}
	for _, s := range syms {
		aliases[strings.TrimPrefix(s.Name, "__vdso_")] ^= s.Value ^ 1<<63 // pairs cancel
	}
	for name, v := range aliases {
		if v != 0 {
			t.Errorf("%s and __vdso_%s are not at the same address", name, name)
		}
	}
}

// TestRuntimeLookup finds the symbols the way Go's runtime does
// (vdsoInitFromSysinfoEhdr, vdsoFindVersion, vdsoParseSymbols): from the
// program headers, the dynamic section and the DT_HASH chains alone.
func TestRuntimeLookup(t *testing.T) {
	_, img := parse(t)
	le := binary.LittleEndian
	phoff, phnum := le.Uint64(img[0x20:]), int(le.Uint16(img[0x38:]))
	var dyn uint64
	for i := 0; i < phnum; i++ {
		p := img[phoff+56*uint64(i):]
		if elf.ProgType(le.Uint32(p)) == elf.PT_DYNAMIC {
			dyn = le.Uint64(p[8:])
		}
	}
	if dyn == 0 {
		t.Fatal("no PT_DYNAMIC")
	}
	var strtab, symtab, hash, versym, verdef uint64
	for d := img[dyn:]; elf.DynTag(le.Uint64(d)) != elf.DT_NULL; d = d[16:] {
		v := le.Uint64(d[8:])
		switch elf.DynTag(le.Uint64(d)) {
		case elf.DT_STRTAB:
			strtab = v
		case elf.DT_SYMTAB:
			symtab = v
		case elf.DT_HASH:
			hash = v
		case elf.DT_VERSYM:
			versym = v
		case elf.DT_VERDEF:
			verdef = v
		}
	}
	str := func(o uint32) string {
		b := img[strtab+uint64(o):]
		return string(b[:bytes.IndexByte(b, 0)])
	}
	version := -1
	for def := img[verdef:]; ; {
		aux := def[le.Uint32(def[12:]):]
		if le.Uint16(def[2:])&uint16(elf.VER_FLG_BASE) == 0 && le.Uint32(def[8:]) == 0x3ae75f6 && str(le.Uint32(aux)) == "LINUX_2.6" {
			version = int(le.Uint16(def[4:]) & 0x7fff)
		}
		next := le.Uint32(def[16:])
		if next == 0 {
			break
		}
		def = def[next:]
	}
	if version != verLinux {
		t.Fatalf("runtime-style version lookup found %d", version)
	}
	nbucket := le.Uint32(img[hash:])
	bucket := func(i uint32) uint32 { return le.Uint32(img[hash+8+4*uint64(i):]) }
	chain := func(i uint32) uint32 { return le.Uint32(img[hash+8+4*uint64(nbucket)+4*uint64(i):]) }
	for _, name := range Symbols {
		found := false
		for i := bucket(elfHash(name) % nbucket); i != 0; i = chain(i) {
			s := img[symtab+24*uint64(i):]
			typ, bind := elf.ST_TYPE(s[4]), elf.ST_BIND(s[4])
			if typ != elf.STT_FUNC || bind != elf.STB_GLOBAL && bind != elf.STB_WEAK || le.Uint16(s[6:]) == 0 {
				continue
			}
			if str(le.Uint32(s)) == name && int(le.Uint16(img[versym+2*uint64(i):])&0x7fff) == version {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s not found through DT_HASH", name)
		}
	}
}

// TestTextMatchesGNUAs assembles text.asm with GNU as and checks that
// text.go encodes the same bytes, with the functions at the same offsets.
// The build never needs as; this only guards the hand encoding.
func TestTextMatchesGNUAs(t *testing.T) {
	for _, tool := range []string{"as", "objcopy", "nm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs GNU binutils (%s): %v", tool, err)
		}
	}
	f, img := parse(t)
	text := f.Section(".text")
	want := img[text.Offset : text.Offset+text.Size]
	src, err := os.ReadFile("text.asm")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	asm := filepath.Join(dir, "text.s")
	head := fmt.Sprintf(".set ORG, %#x\n.set USER_LIMIT, %#x\n", text.Addr, uint64(userLimit))
	if err := os.WriteFile(asm, append([]byte(head), src...), 0o644); err != nil {
		t.Fatal(err)
	}
	obj, bin := filepath.Join(dir, "text.o"), filepath.Join(dir, "text.bin")
	for _, cmd := range [][]string{
		{"as", "--64", "-o", obj, asm},
		{"objcopy", "-O", "binary", "-j", ".text", obj, bin},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("text.go and GNU as differ first at .text+%#x: %x vs %x (lengths %d, %d)", i, want[i], got[i], len(want), len(got))
			}
		}
		t.Fatalf("text.go encodes %d bytes, GNU as %d", len(want), len(got))
	}
	out, err := exec.Command("nm", obj).Output()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]uint64{}
	for _, l := range strings.Split(string(out), "\n") {
		if fs := strings.Fields(l); len(fs) == 3 {
			v, _ := strconv.ParseUint(fs[0], 16, 64)
			labels[fs[2]] = v
		}
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if v, ok := labels[s.Name]; ok && v+text.Addr != s.Value {
			t.Errorf("%s at .text+%#x in text.asm, %#x in the image", s.Name, v, s.Value-text.Addr)
		}
	}
	if _, ok := labels["__vdso_clock_gettime"]; !ok {
		t.Errorf("nm found no function labels in text.asm: %s", out)
	}
}

// TestFitsLayout checks what the kernel relies on: the image fits the
// two pages reserved for it.
func TestFitsLayout(t *testing.T) {
	img, err := Image()
	if err != nil {
		t.Fatal(err)
	}
	if len(img) > 2*mm.PageSize {
		t.Fatalf("image is %d bytes", len(img))
	}
}
