package kernel

import (
	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
)

// Initial stack layout.
const (
	stackTop  = 0x7ffe_0000_0000
	stackSize = 8 << 20
)

// path is the program's path as the guest sees it ([Config.Path]).
func (k *Kernel) path() string {
	if k.cfg.Path != "" {
		return k.cfg.Path
	}
	return k.cfg.Binary
}

// setupStack maps the main thread's stack and writes argc, argv, envp and
// the auxiliary vector onto it as the Linux ELF loader does. AT_SYSINFO_EHDR
// points at the vDSO (unless Config.NoVDSO), through which Go reads the
// clock without a system call.
func (k *Kernel) setupStack(t *Thread, img *mm.Image) error {
	base := uint64(stackTop - stackSize)
	if _, err := k.Space.Map(base, stackSize, mm.ProtRead|mm.ProtWrite, true, false, "stack"); err != nil {
		return err
	}
	sp := uint64(stackTop)
	push := func(b []byte) (uint64, error) {
		sp -= uint64(len(b))
		return sp, k.copyOut(b, sp)
	}
	var random [16]byte
	for i := range random {
		random[i] = byte(k.rng.Uint32())
	}
	randAddr, err := push(random[:])
	if err != nil {
		return err
	}
	strs := func(ss []string) ([]uint64, error) {
		var out []uint64
		for _, s := range ss {
			a, err := push(append([]byte(s), 0))
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	}
	execfn, err := push(append([]byte(k.path()), 0))
	if err != nil {
		return err
	}
	platform, err := push([]byte("x86_64\x00"))
	if err != nil {
		return err
	}
	argv, err := strs(k.cfg.Args)
	if err != nil {
		return err
	}
	envp, err := strs(k.cfg.Env)
	if err != nil {
		return err
	}
	var auxv []uint64
	if k.vvar != nil { // mapped unless Config.NoVDSO
		auxv = append(auxv, abi.AtSysinfoEhdr, VDSOVA)
	}
	auxv = append(auxv,
		abi.AtPhdr, img.Phdr,
		abi.AtPhent, img.Phent,
		abi.AtPhnum, img.Phnum,
		abi.AtPagesz, abi.PageSize,
		abi.AtBase, 0,
		abi.AtFlags, 0,
		abi.AtEntry, img.Entry,
		abi.AtUID, 0, abi.AtEUID, 0, abi.AtGID, 0, abi.AtEGID, 0,
		abi.AtPlatfrm, platform,
		abi.AtHwcap, 0x178bfbff,
		abi.AtClktck, 100,
		abi.AtSecure, 0,
		abi.AtRandom, randAddr,
		abi.AtExecfn, execfn,
		abi.AtNull, 0,
	)
	words := []uint64{uint64(len(argv))}
	words = append(words, argv...)
	words = append(words, 0)
	words = append(words, envp...)
	words = append(words, 0)
	words = append(words, auxv...)
	sp &^= 15
	if len(words)%2 == 1 {
		sp -= 8 // keep the final stack pointer 16-byte aligned
	}
	b := make(le, 8*len(words))
	for i, w := range words {
		b.u64(8*i, w)
	}
	sp -= uint64(len(b))
	if err := k.copyOut(b, sp); err != nil {
		return err
	}
	t.Regs.RSP = sp
	return nil
}
