package hv

import (
	"encoding/binary"
	"fmt"

	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/hv/kvm"
	"github.com/mvrun/multiverse/hv/mm"
)

// Guest layout owned by the VMM.
const (
	// stubVA is the user page holding the system call stub (LSTAR points
	// here); mmioVA is the next page, mapped to a guest physical address no
	// memory slot covers, so touching it exits to the VMM.
	stubVA = mm.UserTop
	mmioVA = mm.UserTop + mm.PageSize
	// mmioGPA lies outside guest memory.
	mmioGPA = 0xf_0000_0000
	// The vDSO and its data pages (kernel.CounterVA up to kernel.VDSOEnd)
	// are further up in the same VMM-owned range; the checks below keep
	// the two apart.

	// The supervisor-only pages: GDT, IDT, TSS, exception stubs and the
	// stack exceptions are delivered on, at the top of the address space.
	kernelVA  = 0xffff_ff80_0000_0000
	gdtVA     = kernelVA
	idtVA     = kernelVA + 0x1000
	tssVA     = kernelVA + 0x2000
	excStubVA = kernelVA + 0x3000
	kstackVA  = kernelVA + 0x4000 // one page; the top is RSP0
	kernelLen = 0x5000
)

// Compile-time layout checks (a negative uint64 constant does not compile):
// the stub pages stay below the vDSO's, and the vDSO's pages stay in the
// lower canonical half of the address space.
const (
	_ uint64 = kernel.CounterVA - (mmioVA + mm.PageSize)
	_ uint64 = 1<<47 - kernel.VDSOEnd
)

// Segment selectors, as Linux numbers them, so STAR's SYSRET ordering
// (user code32, user data, user code64) holds.
const (
	selKernelCS = 0x10
	selKernelDS = 0x18
	selUser32CS = 0x23
	selUserDS   = 0x2b
	selUserCS   = 0x33
	selTSS      = 0x40
)

// Control register values: the state a 64-bit user-mode guest needs.
const (
	cr0      = 0x80010033                  // PG WP NE ET MP PE
	cr4      = 1<<5 | 1<<9 | 1<<10 | 1<<18 // PAE OSFXSR OSXMMEXCPT OSXSAVE
	efer     = 0xd01                       // SCE LME LMA NXE
	xcr0Mask = 0xe7                        // x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM
)

// MSR numbers.
const (
	msrSTAR         = 0xc0000081
	msrLSTAR        = 0xc0000082
	msrCSTAR        = 0xc0000083
	msrSFMASK       = 0xc0000084
	msrFSBase       = 0xc0000100
	msrGSBase       = 0xc0000101
	msrKernelGSBase = 0xc0000102
)

// Exceptions that push an error code.
func hasErrorCode(vec int) bool {
	switch vec {
	case 8, 10, 11, 12, 13, 14, 17, 21, 29, 30:
		return true
	}
	return false
}

// kernelPages maps the supervisor pages into pt and fills them. It returns
// the guest physical address of the exception stack page.
func kernelPages(phys *mm.Physical, pt *mm.PageTable) (kstack uint64, err error) {
	frames := make([]uint64, kernelLen/mm.PageSize)
	for i := range frames {
		if frames[i], err = phys.Alloc(); err != nil {
			return 0, err
		}
		flags := uint64(mm.PteWrite | mm.PteNX)
		if kernelVA+uint64(i)*mm.PageSize == excStubVA {
			flags = 0
		}
		if err := pt.Map(kernelVA+uint64(i)*mm.PageSize, frames[i], flags); err != nil {
			return 0, err
		}
	}
	page := func(va uint64) []byte { return phys.Frame(frames[(va-kernelVA)/mm.PageSize]) }

	// GDT.
	gdt := page(gdtVA)
	put := func(sel int, v uint64) { binary.LittleEndian.PutUint64(gdt[sel&^7:], v) }
	put(selKernelCS, 0x00af9b000000ffff)
	put(selKernelDS, 0x00cf93000000ffff)
	put(selUser32CS, 0x00cffb000000ffff)
	put(selUserDS, 0x00cff3000000ffff)
	put(selUserCS, 0x00affb000000ffff)
	tss := uint64(tssVA)
	put(selTSS, 0x67|(tss&0xffffff)<<16|0x89<<40|(tss>>24&0xff)<<56)
	put(selTSS+8, tss>>32)

	// TSS: RSP0 is the top of the exception stack; no I/O bitmap.
	t := page(tssVA)
	binary.LittleEndian.PutUint64(t[4:], kstackVA+mm.PageSize)
	binary.LittleEndian.PutUint16(t[0x66:], 0x68)

	// Exception stubs, 16 bytes apart: push a zero error code where the CPU
	// pushes none, push the vector, halt. The halt exits to the VMM, which
	// reads the frame off the exception stack.
	stubs := page(excStubVA)
	idt := page(idtVA)
	for vec := 0; vec < 32; vec++ {
		code := []byte{0x6a, byte(vec), 0xf4, 0xeb, 0xfd}
		if !hasErrorCode(vec) {
			code = append([]byte{0x6a, 0x00}, code...)
		}
		copy(stubs[16*vec:], code)
		off := uint64(excStubVA) + uint64(16*vec)
		lo := off&0xffff | selKernelCS<<16 | 0x8e<<40 | (off>>16&0xffff)<<48
		binary.LittleEndian.PutUint64(idt[16*vec:], lo)
		binary.LittleEndian.PutUint64(idt[16*vec+8:], off>>32)
	}
	return frames[(kstackVA-kernelVA)/mm.PageSize], nil
}

// stubPages maps the system call stub page and the MMIO trap page.
func stubPages(phys *mm.Physical, pt *mm.PageTable, code []byte) error {
	f, err := phys.Alloc()
	if err != nil {
		return err
	}
	copy(phys.Frame(f), code)
	if err := pt.Map(stubVA, f, mm.PteUser); err != nil {
		return err
	}
	return pt.Map(mmioVA, mmioGPA, mm.PteUser|mm.PteWrite|mm.PteNX)
}

func userSeg(sel uint16, code bool) kvm.Segment {
	s := kvm.Segment{Limit: 0xffffffff, Selector: sel, Present: 1, DPL: 3, S: 1, G: 1}
	if code {
		s.Typ, s.L = 11, 1
	} else {
		s.Typ, s.DB = 3, 1
	}
	return s
}

// setupVCPU loads the long-mode, CPL3 register state every guest starts in.
func setupVCPU(sys *kvm.System, c *kvm.VCPU, root uint64) error {
	id, err := sys.SupportedCPUID()
	if err != nil {
		return err
	}
	if err := c.SetCPUID(id); err != nil {
		return fmt.Errorf("KVM_SET_CPUID2: %w", err)
	}
	xcr0, err := sys.SupportedXCR0()
	if err != nil {
		return err
	}
	if err := c.SetXCR0(xcr0 & xcr0Mask); err != nil {
		return fmt.Errorf("KVM_SET_XCRS: %w", err)
	}
	s, err := c.Sregs()
	if err != nil {
		return fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	s.CR0, s.CR3, s.CR4, s.EFER = cr0, root, cr4, efer
	s.GDT.Base, s.GDT.Limit = gdtVA, 0xfff
	s.IDT.Base, s.IDT.Limit = idtVA, 32*16-1
	s.CS = userSeg(selUserCS, true)
	s.SS = userSeg(selUserDS, false)
	s.DS, s.ES, s.FS, s.GS = s.SS, s.SS, s.SS, s.SS
	s.TR = kvm.Segment{Base: tssVA, Limit: 0x67, Selector: selTSS, Typ: 11, Present: 1}
	s.LDT = kvm.Segment{Unusable: 1}
	if err := c.SetSregs(s); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	star := uint64(selUser32CS)<<48 | uint64(selKernelCS)<<32
	if err := c.SetMSRs(
		kvm.MSR{Index: msrSTAR, Value: star},
		kvm.MSR{Index: msrLSTAR, Value: stubVA},
		kvm.MSR{Index: msrCSTAR, Value: stubVA},
		kvm.MSR{Index: msrSFMASK, Value: 0},
	); err != nil {
		return fmt.Errorf("KVM_SET_MSRS: %w", err)
	}
	return nil
}
