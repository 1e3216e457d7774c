package vdso

import (
	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
)

// userLimit is the largest value p-1 may have for a 16-byte buffer at p to
// lie below mm.UserTop, where guest memory ends (see text.asm).
const userLimit = mm.UserTop - 17

// Resolution is what clock_getres reports for the clocks the page answers,
// in nanoseconds: the virtual clock counts whole nanoseconds.
const Resolution = 1

// function is one exported function of the text: its name, the weak alias
// libc would also look up, and its extent in the image.
type function struct {
	name, alias string
	start, end  int64
}

// assemble encodes text.asm with its first instruction at image-relative
// address org. The vvar page is the page below the image (address
// -PageSize), the counter page the one below that. Each block below is one
// function of text.asm, line for line.
func assemble(org int64) ([]byte, []function, error) {
	a := newAsm(org)
	mono := ripAt(-mm.PageSize + VvarMono)
	wall := ripAt(-mm.PageSize + VvarWallBase)
	cost := ripAt(-mm.PageSize + VvarReadCost)
	reads := ripAt(-2*mm.PageSize + CounterReads)
	var funcs []function
	begin := func(name, alias string) {
		if n := len(funcs); n > 0 {
			funcs[n-1].end = a.here()
		}
		a.label(name)
		funcs = append(funcs, function{name: name, alias: alias, start: a.here()})
	}
	// checkUser jumps to bad unless p is a usable 16-byte user buffer.
	checkUser := func(p reg, bad string) {
		a.lea(rdx, mem(p, -1))
		a.movabs(r8, userLimit)
		a.cmp(true, r(rdx), r8)
		a.jcc(ccA, bad)
	}
	// readMono numbers this read in r9 (stored by commitRead once the read
	// is answered) and loads the monotonic time it returns into rax.
	readMono := func() {
		a.movLoad(true, r9, reads)
		a.inc(true, r(r9))
		a.movStore(true, r(rax), r9)
		a.imulLoad(rax, cost)
		a.addLoad(true, rax, mono)
	}
	commitRead := func() { a.movStore(true, reads, r9) }
	// splitSeconds turns nanoseconds in rax into seconds (rax) and the
	// remainder (rdx).
	splitSeconds := func() {
		a.xor(false, r(rdx), rdx)
		a.movImm32(rcx, 1e9)
		a.div(true, r(rcx))
	}
	const (
		realtime = 1<<abi.ClockRealtime | 1<<abi.ClockRealtimeCoarse
		answered = realtime | 1<<abi.ClockMonotonic | 1<<abi.ClockMonotonicRaw |
			1<<abi.ClockMonotonicCoarse | 1<<abi.ClockBoottime
	)

	begin("__vdso_clock_gettime", "clock_gettime")
	a.cmpImm8(false, r(rdi), 7)
	a.jcc(ccA, ".Lcgt_sys")
	a.movImm32(rax, answered)
	a.bt(false, r(rax), rdi)
	a.jcc(ccAE, ".Lcgt_sys")
	checkUser(rsi, ".Lcgt_sys")
	readMono()
	a.movImm32(rdx, realtime)
	a.bt(false, r(rdx), rdi)
	a.jcc(ccAE, ".Lcgt_store")
	a.addLoad(true, rax, wall)
	a.jcc(ccS, ".Lcgt_sys")
	a.label(".Lcgt_store")
	commitRead()
	splitSeconds()
	a.movStore(true, mem(rsi, 0), rax)
	a.movStore(true, mem(rsi, 8), rdx)
	a.xor(false, r(rax), rax)
	a.ret()
	a.label(".Lcgt_sys")
	a.movsxd(rdi, r(rdi))
	a.movImm32(rax, abi.SysClockGettime)
	a.syscall()
	a.ret()

	begin("__vdso_gettimeofday", "gettimeofday")
	a.test(true, r(rsi), rsi)
	a.jcc(ccNE, ".Lgtod_sys")
	a.test(true, r(rdi), rdi)
	a.jcc(ccE, ".Lgtod_done")
	checkUser(rdi, ".Lgtod_sys")
	readMono()
	a.addLoad(true, rax, wall)
	a.jcc(ccS, ".Lgtod_sys")
	commitRead()
	splitSeconds()
	a.movStore(true, mem(rdi, 0), rax)
	a.movStore(false, r(rax), rdx)
	a.xor(false, r(rdx), rdx)
	a.movImm32(rcx, 1000)
	a.div(false, r(rcx))
	a.movStore(true, mem(rdi, 8), rax)
	a.label(".Lgtod_done")
	a.xor(false, r(rax), rax)
	a.ret()
	a.label(".Lgtod_sys")
	a.movImm32(rax, abi.SysGettimeofday)
	a.syscall()
	a.ret()

	begin("__vdso_time", "time")
	a.test(true, r(rdi), rdi)
	a.jcc(ccE, ".Ltime_read")
	checkUser(rdi, ".Ltime_sys")
	a.label(".Ltime_read")
	readMono()
	a.addLoad(true, rax, wall)
	a.jcc(ccS, ".Ltime_sys")
	commitRead()
	splitSeconds()
	a.test(true, r(rdi), rdi)
	a.jcc(ccE, ".Ltime_done")
	a.movStore(true, mem(rdi, 0), rax)
	a.label(".Ltime_done")
	a.ret()
	a.label(".Ltime_sys")
	a.movImm32(rax, abi.SysTime)
	a.syscall()
	a.ret()

	begin("__vdso_clock_getres", "clock_getres")
	a.cmpImm8(false, r(rdi), 7)
	a.jcc(ccA, ".Lres_sys")
	a.movImm32(rax, answered)
	a.bt(false, r(rax), rdi)
	a.jcc(ccAE, ".Lres_sys")
	a.test(true, r(rsi), rsi)
	a.jcc(ccE, ".Lres_done")
	checkUser(rsi, ".Lres_sys")
	a.movStoreImm32(true, mem(rsi, 0), 0)
	a.movStoreImm32(true, mem(rsi, 8), Resolution)
	a.label(".Lres_done")
	a.xor(false, r(rax), rax)
	a.ret()
	a.label(".Lres_sys")
	a.movsxd(rdi, r(rdi))
	a.movImm32(rax, abi.SysClockGetres)
	a.syscall()
	a.ret()

	funcs[len(funcs)-1].end = a.here()
	code, err := a.finish()
	return code, funcs, err
}
