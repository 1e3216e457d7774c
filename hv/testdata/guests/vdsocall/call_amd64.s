#include "textflag.h"
#include "funcdata.h"

// func call2(fn, a0, a1 uintptr) uintptr
//
// Calls the C function fn(a0, a1) with the System V ABI. The 4 KiB frame
// is the callee's stack: a vDSO function may use more stack than a
// goroutine's guard leaves below a Go frame (Go's runtime switches to g0).
TEXT ·call2(SB), 0, $4096-32
	NO_LOCAL_POINTERS
	MOVQ	fn+0(FP), AX
	MOVQ	a0+8(FP), DI
	MOVQ	a1+16(FP), SI
	MOVQ	SP, R12		// callee-saved in the System V ABI
	LEAQ	4080(SP), SP	// the callee grows down into this frame
	ANDQ	$~15, SP	// aligned as the ABI requires at a call
	CALL	AX
	MOVQ	R12, SP
	MOVQ	AX, ret+24(FP)
	RET
