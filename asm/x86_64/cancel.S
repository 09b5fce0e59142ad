/*
 * Cancellable blocking system calls (the musl design).
 *
 *   long gmp_cp_syscall(long nr, long a, long b, long c, long d, long e,
 *                       long f, const _Atomic uint32_t *cancel)
 *
 * Makes system call nr unless *cancel says "cancel pending and enabled"
 * (see preload/shim.h: C_PENDING set, C_DISABLED and C_ACTING clear), in
 * which case it returns -4096 (GMP_CP_CANCELED) without making it.  pthread_cancel sends
 * the thread's OS thread a signal; the handler (preload/cancel_sig.c) sees
 * whether the interrupted instruction lies in [gmp_cp_begin, gmp_cp_end):
 * between the flag test and the syscall instruction, or on the syscall
 * itself (the kernel rewinds %rip onto it to restart the call after an
 * SA_RESTART handler) -- and if so moves it to gmp_cp_cancel.  So a cancel
 * is acted on whether it came before the call, during it, or in between.
 */
	.text
	.globl	gmp_cp_syscall
	.hidden	gmp_cp_syscall
	.globl	gmp_cp_begin, gmp_cp_end, gmp_cp_cancel
	.hidden	gmp_cp_begin, gmp_cp_end, gmp_cp_cancel
	.type	gmp_cp_syscall, @function
gmp_cp_syscall:
	.cfi_startproc
	movq	%rdi, %rax		/* nr */
	movq	%rsi, %rdi		/* a */
	movq	%rdx, %rsi		/* b */
	movq	%rcx, %rdx		/* c */
	movq	%r8, %r10		/* d */
	movq	%r9, %r8		/* e */
	movq	8(%rsp), %r9		/* f */
	movq	16(%rsp), %r11		/* cancel word */
gmp_cp_begin:
	movl	(%r11), %ecx
	andl	$13, %ecx		/* C_PENDING | C_DISABLED | C_ACTING */
	cmpl	$4, %ecx		/* == C_PENDING */
	je	gmp_cp_cancel
	syscall
gmp_cp_end:
	ret
gmp_cp_cancel:
	movq	$-4096, %rax		/* no system call returns this (errors are -1..-4095) */
	ret
	.cfi_endproc
	.size	gmp_cp_syscall, .-gmp_cp_syscall

/* Signal return trampoline for handlers installed with rt_sigaction. */
	.globl	gmp_sigreturn
	.hidden	gmp_sigreturn
	.type	gmp_sigreturn, @function
gmp_sigreturn:
	movq	$15, %rax		/* SYS_rt_sigreturn */
	syscall
	.size	gmp_sigreturn, .-gmp_sigreturn

	.section .note.GNU-stack,"",@progbits
