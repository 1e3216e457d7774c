package vdso

import (
	"encoding/binary"
	"fmt"
)

// reg is an x86-64 general-purpose register number as the CPU encodes it.
type reg uint8

const (
	rax reg = iota
	rcx
	rdx
	rbx
	rsp
	rbp
	rsi
	rdi
	r8
	r9
)

// Condition codes for jcc (the low nibble of opcode 0x70+cc).
const (
	ccB  = 0x2 // below / carry
	ccAE = 0x3 // above or equal / no carry
	ccE  = 0x4 // equal / zero
	ccNE = 0x5 // not equal / not zero
	ccA  = 0x7 // above (unsigned)
	ccS  = 0x8 // sign
)

// operand is the r/m operand of an instruction: a register, a base
// register plus displacement, or an address reached RIP-relative.
type operand struct {
	kind   int // opReg, opMem or opRIP
	r      reg
	disp   int32
	target int64 // image-relative address, for opRIP
}

const (
	opReg = iota
	opMem
	opRIP
)

// Operand constructors: a register, [base+d], and [rip+...] reaching an
// image-relative address.
func r(x reg) operand               { return operand{kind: opReg, r: x} }
func mem(base reg, d int32) operand { return operand{kind: opMem, r: base, disp: d} }
func ripAt(target int64) operand    { return operand{kind: opRIP, target: target} }

// Little-endian immediates.
func imm32(v int32) []byte  { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
func imm64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// asm is a minimal x86-64 assembler: exactly the instruction forms the vDSO
// text (text.asm) uses, encoded the way GNU as encodes them, with 8-bit
// jumps to labels resolved at the end. It exists so the build needs no
// external assembler; TestTextMatchesGNUAs checks it against GNU as.
type asm struct {
	org    int64 // image-relative address of buf[0]
	buf    []byte
	labels map[string]int64 // looked up only, never iterated
	jumps  []jump
	err    error
}

// jump is an 8-bit displacement at buf[at] to be resolved to label.
type jump struct {
	at    int
	label string
}

func newAsm(org int64) *asm { return &asm{org: org, labels: map[string]int64{}} }

// here returns the image-relative address of the next byte.
func (a *asm) here() int64 { return a.org + int64(len(a.buf)) }

func (a *asm) emit(b ...byte) { a.buf = append(a.buf, b...) }

// fail records the first encoding error; finish returns it.
func (a *asm) fail(f string, v ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("vdso: assemble: "+f, v...)
	}
}

// label defines name at the current address.
func (a *asm) label(name string) {
	if _, dup := a.labels[name]; dup {
		a.fail("label %s defined twice", name)
	}
	a.labels[name] = a.here()
}

// inst emits one instruction: an optional REX prefix, the opcode, a ModRM
// byte with field reg and operand rm (plus displacement), then imm.
func (a *asm) inst(w bool, op []byte, regField reg, rm operand, imm []byte) {
	rex := byte(0)
	if w {
		rex |= 8
	}
	if regField >= 8 {
		rex |= 4
	}
	if rm.kind != opRIP && rm.r >= 8 {
		rex |= 1
	}
	if rex != 0 {
		a.emit(0x40 | rex)
	}
	a.emit(op...)
	modrm := func(mod byte, rmBits reg) byte { return mod<<6 | byte(regField&7)<<3 | byte(rmBits&7) }
	switch rm.kind {
	case opReg:
		a.emit(modrm(3, rm.r))
	case opMem:
		if rm.r&7 == rsp {
			a.fail("base register %d needs a SIB byte, which this assembler does not emit", rm.r)
			return
		}
		switch {
		case rm.disp == 0 && rm.r&7 != rbp:
			a.emit(modrm(0, rm.r))
		case rm.disp >= -128 && rm.disp <= 127:
			a.emit(modrm(1, rm.r), byte(int8(rm.disp)))
		default:
			a.emit(modrm(2, rm.r))
			a.emit(imm32(rm.disp)...)
		}
	case opRIP:
		a.emit(modrm(0, rbp)) // mod 00, r/m 101: RIP + disp32
		next := a.here() + 4 + int64(len(imm))
		d := rm.target - next
		if d != int64(int32(d)) {
			a.fail("RIP-relative target %#x out of range", rm.target)
		}
		a.emit(imm32(int32(d))...)
	}
	a.emit(imm...)
}

// jcc emits a conditional 8-bit jump to label.
func (a *asm) jcc(cc byte, label string) {
	a.emit(0x70|cc, 0)
	a.jumps = append(a.jumps, jump{at: len(a.buf) - 1, label: label})
}

// The instructions, named like their Intel mnemonics; operand order is
// Intel's (destination first).

func (a *asm) ret()     { a.emit(0xc3) }
func (a *asm) syscall() { a.emit(0x0f, 0x05) }

// movImm32 is mov r32, imm32 (zero-extends into the 64-bit register).
func (a *asm) movImm32(dst reg, v uint32) {
	if dst >= 8 {
		a.emit(0x41)
	}
	a.emit(0xb8 + byte(dst&7))
	a.emit(imm32(int32(v))...)
}

// movabs is mov r64, imm64.
func (a *asm) movabs(dst reg, v uint64) {
	rex := byte(0x48)
	if dst >= 8 {
		rex |= 1
	}
	a.emit(rex, 0xb8+byte(dst&7))
	a.emit(imm64(v)...)
}

func (a *asm) cmpImm8(w bool, dst operand, v int8) { a.inst(w, []byte{0x83}, 7, dst, []byte{byte(v)}) }
func (a *asm) cmp(w bool, dst operand, src reg)    { a.inst(w, []byte{0x39}, src, dst, nil) }
func (a *asm) test(w bool, dst operand, src reg)   { a.inst(w, []byte{0x85}, src, dst, nil) }
func (a *asm) xor(w bool, dst operand, src reg)    { a.inst(w, []byte{0x31}, src, dst, nil) }
func (a *asm) bt(w bool, dst operand, bit reg)     { a.inst(w, []byte{0x0f, 0xa3}, bit, dst, nil) }
func (a *asm) movStore(w bool, dst operand, src reg) {
	a.inst(w, []byte{0x89}, src, dst, nil)
}
func (a *asm) movLoad(w bool, dst reg, src operand) { a.inst(w, []byte{0x8b}, dst, src, nil) }
func (a *asm) addLoad(w bool, dst reg, src operand) { a.inst(w, []byte{0x03}, dst, src, nil) }
func (a *asm) inc(w bool, dst operand)              { a.inst(w, []byte{0xff}, 0, dst, nil) }
func (a *asm) imulLoad(dst reg, src operand)        { a.inst(true, []byte{0x0f, 0xaf}, dst, src, nil) }
func (a *asm) lea(dst reg, src operand)             { a.inst(true, []byte{0x8d}, dst, src, nil) }
func (a *asm) movsxd(dst reg, src operand)          { a.inst(true, []byte{0x63}, dst, src, nil) }
func (a *asm) div(w bool, src operand)              { a.inst(w, []byte{0xf7}, 6, src, nil) }
func (a *asm) movStoreImm32(w bool, dst operand, v int32) {
	a.inst(w, []byte{0xc7}, 0, dst, imm32(v))
}

// finish resolves the jumps and returns the code.
func (a *asm) finish() ([]byte, error) {
	for _, j := range a.jumps {
		t, ok := a.labels[j.label]
		if !ok {
			a.fail("undefined label %s", j.label)
			break
		}
		d := t - (a.org + int64(j.at) + 1)
		if d < -128 || d > 127 {
			a.fail("jump to %s is %d bytes, beyond an 8-bit displacement", j.label, d)
			break
		}
		a.buf[j.at] = byte(int8(d))
	}
	return a.buf, a.err
}
