/*
 * gmp_asyncpreempt: where the SIGURG handler sends a G it preempts
 * (src/preempt.c).  The kernel has restored the interrupted context except
 * %rip, which points here; the interrupted %rip is in m->asyncpc.  This
 * code makes a call frame out of it, below the interrupted function's red
 * zone, saves everything the interrupted code may have live -- the general
 * registers, the flags, the x87/SSE/AVX... state (xsave with XCR0's
 * features, or fxsave) -- calls gmp_asyncpreempt2 (which switches to the
 * scheduler and returns when the G runs again, maybe on another M), and
 * restores it all, returning to the interrupted instruction with %rsp as
 * it was.
 *
 * Frame, from the interrupted %rsp (S) down:
 *   S-128 .. S       the red zone of the interrupted code (untouched)
 *   S-136            return address (the interrupted %rip)
 *   S-144            flags
 *   S-152            %rbp             <- %rbp points here
 *   S-160 .. S-264   %rax %rbx %rcx %rdx %rsi %rdi %r8 .. %r15
 *   below            64-byte aligned extended state area
 * The CFI describes this frame, so debuggers and libunwind unwind through
 * a preempted G into the interrupted function with its registers.
 */
#include "context.h"

	.text
	.globl	gmp_asyncpreempt
	.hidden	gmp_asyncpreempt
	.type	gmp_asyncpreempt, @function
gmp_asyncpreempt:
	.cfi_startproc
	.cfi_undefined rip		/* until the return address is in place */
	leaq	-128(%rsp), %rsp	/* step over the red zone (lea: flags kept) */
	pushq	%rax
	movq	gmp_tls_m@gottpoff(%rip), %rax
	movq	%fs:(%rax), %rax	/* the M */
	movq	GMP_M_ASYNCPC(%rax), %rax
	xchgq	%rax, (%rsp)		/* return address in place, %rax back */
	.cfi_def_cfa rsp, 136
	.cfi_offset rip, -136
	pushfq
	.cfi_adjust_cfa_offset 8
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_offset rbp, -152
	movq	%rsp, %rbp
	.cfi_def_cfa_register rbp
	pushq	%rax
	.cfi_offset rax, -160
	pushq	%rbx
	.cfi_offset rbx, -168
	pushq	%rcx
	.cfi_offset rcx, -176
	pushq	%rdx
	.cfi_offset rdx, -184
	pushq	%rsi
	.cfi_offset rsi, -192
	pushq	%rdi
	.cfi_offset rdi, -200
	pushq	%r8
	.cfi_offset r8, -208
	pushq	%r9
	.cfi_offset r9, -216
	pushq	%r10
	.cfi_offset r10, -224
	pushq	%r11
	.cfi_offset r11, -232
	pushq	%r12
	.cfi_offset r12, -240
	pushq	%r13
	.cfi_offset r13, -248
	pushq	%r14
	.cfi_offset r14, -256
	pushq	%r15
	.cfi_offset r15, -264
	andq	$-64, %rsp
	subq	gmp_xsave_size(%rip), %rsp
	cmpl	$0, gmp_xsave_mode(%rip)
	je	1f
	xorl	%eax, %eax		/* XRSTOR wants the header beyond XSTATE_BV zero */
	movq	%rax, 512(%rsp)
	movq	%rax, 520(%rsp)
	movq	%rax, 528(%rsp)
	movq	%rax, 536(%rsp)
	movq	%rax, 544(%rsp)
	movq	%rax, 552(%rsp)
	movq	%rax, 560(%rsp)
	movq	%rax, 568(%rsp)
	movl	gmp_xsave_mask(%rip), %eax
	movl	gmp_xsave_mask+4(%rip), %edx
	xsave	(%rsp)
	testb	$4, gmp_xsave_mask(%rip)	/* AVX state: no dirty upper halves in C */
	jz	2f
	vzeroupper
	jmp	2f
1:	fxsave	(%rsp)
2:	/* The C code below expects the ABI's state: DF clear, an empty x87
	 * stack, default control words. */
	cld
	fninit
	ldmxcsr	gmp_mxcsr_default(%rip)
	call	gmp_asyncpreempt2
	cmpl	$0, gmp_xsave_mode(%rip)
	je	3f
	movl	gmp_xsave_mask(%rip), %eax
	movl	gmp_xsave_mask+4(%rip), %edx
	xrstor	(%rsp)
	jmp	4f
3:	fxrstor	(%rsp)
4:	leaq	-112(%rbp), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	popq	%rbp
	.cfi_def_cfa rsp, 144
	.cfi_restore rbp
	popfq
	.cfi_adjust_cfa_offset -8
	ret	$128			/* to the interrupted %rip, %rsp = S */
	.cfi_endproc
	.size	gmp_asyncpreempt, .-gmp_asyncpreempt

	.section .note.GNU-stack,"",@progbits
