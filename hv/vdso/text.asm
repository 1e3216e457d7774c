# The code of hv's vDSO (GNU as, Intel syntax). text.go encodes exactly
# these instructions, in this order, without an assembler;
# TestTextMatchesGNUAs assembles this file and compares the bytes when
# GNU as is installed. Edit both together.
#
# The test prepends the two symbols the layout decides:
#   ORG         image-relative address of the first instruction
#   USER_LIMIT  UserTop-17: p is a usable 16-byte user buffer iff
#               p-1 <= USER_LIMIT (unsigned), which also rejects NULL
#
# Two data pages sit below the image. The vvar page, right below it, is
# read-only for the guest and written by the VMM only while the guest is
# stopped (one vCPU), so no seqlock is needed:
#   +0   int64  monotonic virtual nanoseconds since boot
#   +8   int64  wall-clock base: epoch + the node's clock offset, in ns
#   +16  int64  virtual nanoseconds one clock read costs
# The counter page below it is the guest's: +0 counts the clock reads
# answered here since the VMM last charged them to the virtual clock (at
# the next exit). Read number n returns mono + n*cost, so time moves for a
# guest that spins on the clock exactly as it did with one system call per
# read, only without the exits. CLOCK_REALTIME adds the wall-clock base.
#
# Every function answers from the pages when it can and otherwise makes the
# real system call, which traps to the VMM: other clock ids, a time zone,
# a pointer that is NULL or not a user address (the kernel says EFAULT),
# and wall times before 1970. Only caller-saved registers are used.

	.intel_syntax noprefix
	.text
start:
	.set VVAR_MONO, start - ORG - 0x1000
	.set VVAR_WALL, start - ORG - 0x1000 + 8
	.set VVAR_COST, start - ORG - 0x1000 + 16
	.set READS, start - ORG - 0x2000

# int clock_gettime(clockid_t id /* edi */, struct timespec *ts /* rsi */)
__vdso_clock_gettime:
	cmp	edi, 7
	ja	.Lcgt_sys		# not a clock the page answers (or negative)
	mov	eax, 0xf3		# REALTIME (0), MONOTONIC (1), MONOTONIC_RAW (4),
	bt	eax, edi		# REALTIME_COARSE (5), MONOTONIC_COARSE (6), BOOTTIME (7)
	jnc	.Lcgt_sys		# the CPU-time clocks (2, 3)
	lea	rdx, [rsi - 1]
	movabs	r8, USER_LIMIT
	cmp	rdx, r8
	ja	.Lcgt_sys
	mov	r9, [rip + READS]	# this read's number, stored once it is answered
	inc	r9
	mov	rax, r9
	imul	rax, [rip + VVAR_COST]
	add	rax, [rip + VVAR_MONO]
	mov	edx, 0x21		# REALTIME (0), REALTIME_COARSE (5)
	bt	edx, edi
	jnc	.Lcgt_store
	add	rax, [rip + VVAR_WALL]
	js	.Lcgt_sys		# before 1970: the kernel formats it
.Lcgt_store:
	mov	[rip + READS], r9
	xor	edx, edx
	mov	ecx, 1000000000
	div	rcx
	mov	[rsi], rax
	mov	[rsi + 8], rdx
	xor	eax, eax
	ret
.Lcgt_sys:
	movsxd	rdi, edi		# clockid_t is an int; the kernel reads 64 bits
	mov	eax, 228		# SYS_clock_gettime
	syscall
	ret

# int gettimeofday(struct timeval *tv /* rdi */, struct timezone *tz /* rsi */)
__vdso_gettimeofday:
	test	rsi, rsi
	jnz	.Lgtod_sys		# the time zone is the kernel's to fill
	test	rdi, rdi
	jz	.Lgtod_done		# nothing asked for
	lea	rdx, [rdi - 1]
	movabs	r8, USER_LIMIT
	cmp	rdx, r8
	ja	.Lgtod_sys
	mov	r9, [rip + READS]
	inc	r9
	mov	rax, r9
	imul	rax, [rip + VVAR_COST]
	add	rax, [rip + VVAR_MONO]
	add	rax, [rip + VVAR_WALL]
	js	.Lgtod_sys
	mov	[rip + READS], r9
	xor	edx, edx
	mov	ecx, 1000000000
	div	rcx
	mov	[rdi], rax
	mov	eax, edx
	xor	edx, edx
	mov	ecx, 1000
	div	ecx			# microseconds
	mov	[rdi + 8], rax
.Lgtod_done:
	xor	eax, eax
	ret
.Lgtod_sys:
	mov	eax, 96			# SYS_gettimeofday
	syscall
	ret

# time_t time(time_t *t /* rdi */)
__vdso_time:
	test	rdi, rdi
	jz	.Ltime_read
	lea	rdx, [rdi - 1]
	movabs	r8, USER_LIMIT
	cmp	rdx, r8
	ja	.Ltime_sys
.Ltime_read:
	mov	r9, [rip + READS]
	inc	r9
	mov	rax, r9
	imul	rax, [rip + VVAR_COST]
	add	rax, [rip + VVAR_MONO]
	add	rax, [rip + VVAR_WALL]
	js	.Ltime_sys
	mov	[rip + READS], r9
	xor	edx, edx
	mov	ecx, 1000000000
	div	rcx
	test	rdi, rdi
	jz	.Ltime_done
	mov	[rdi], rax
.Ltime_done:
	ret
.Ltime_sys:
	mov	eax, 201		# SYS_time
	syscall
	ret

# int clock_getres(clockid_t id /* edi */, struct timespec *res /* rsi */)
__vdso_clock_getres:
	cmp	edi, 7
	ja	.Lres_sys
	mov	eax, 0xf3		# the clocks clock_gettime answers: 0, 1, 4, 5, 6, 7
	bt	eax, edi
	jnc	.Lres_sys
	test	rsi, rsi
	jz	.Lres_done		# a NULL res only checks the id
	lea	rdx, [rsi - 1]
	movabs	r8, USER_LIMIT
	cmp	rdx, r8
	ja	.Lres_sys
	mov	qword ptr [rsi], 0
	mov	qword ptr [rsi + 8], 1	# 1 ns, as hv's clock_getres(2) answers
.Lres_done:
	xor	eax, eax
	ret
.Lres_sys:
	movsxd	rdi, edi
	mov	eax, 229		# SYS_clock_getres
	syscall
	ret
