/*
 * Context switching for Gs on x86-64 (System V ABI).
 * Offsets come from context.h, which C checks against struct gmp_ctx.
 */
#include "context.h"

	.text

/* Save callee-saved state of the caller into the ctx in %rdi.
 * On entry (%rsp) is our return address. Clobbers %r10, %r11 only, so
 * all argument registers survive for the caller of the macro. */
.macro SAVE_CTX reg
	movq	(%rsp), %r10			/* return address = resume point */
	leaq	8(%rsp), %r11			/* caller's %rsp after our ret */
	movq	%r11, GMP_CTX_RSP(\reg)
	movq	%r10, GMP_CTX_RIP(\reg)
	movq	%rbx, GMP_CTX_RBX(\reg)
	movq	%rbp, GMP_CTX_RBP(\reg)
	movq	%r12, GMP_CTX_R12(\reg)
	movq	%r13, GMP_CTX_R13(\reg)
	movq	%r14, GMP_CTX_R14(\reg)
	movq	%r15, GMP_CTX_R15(\reg)
	stmxcsr	GMP_CTX_MXCSR(\reg)		/* SSE rounding/exception control */
	fnstcw	GMP_CTX_FPUCW(\reg)		/* x87 control word */
.endm

/* Load ctx in \reg and jump to its rip. */
.macro LOAD_CTX reg
	ldmxcsr	GMP_CTX_MXCSR(\reg)
	fldcw	GMP_CTX_FPUCW(\reg)
	movq	GMP_CTX_RBX(\reg), %rbx
	movq	GMP_CTX_RBP(\reg), %rbp
	movq	GMP_CTX_R12(\reg), %r12
	movq	GMP_CTX_R13(\reg), %r13
	movq	GMP_CTX_R14(\reg), %r14
	movq	GMP_CTX_R15(\reg), %r15
	movq	GMP_CTX_RSP(\reg), %rsp		/* now on the target stack */
	jmpq	*GMP_CTX_RIP(\reg)		/* "return" into the target */
.endm

/* void gmp_ctx_mcall(struct gmp_ctx *save, void *sp, void (*fn)(void *), void *arg) */
	.globl	gmp_ctx_mcall
	.hidden	gmp_ctx_mcall
	.type	gmp_ctx_mcall, @function
gmp_ctx_mcall:
	.cfi_startproc
	SAVE_CTX %rdi
	.cfi_undefined rip			/* from here on: bottom of g0, unwinders stop */
	andq	$-16, %rsi			/* align the new stack */
	movq	%rsi, %rsp			/* switch to the scheduler stack */
	movq	%rcx, %rdi			/* fn(arg): arg was in %rcx */
	xorl	%ebp, %ebp			/* no frame chain across stacks */
	callq	*%rdx
	ud2					/* fn must not return */
	.cfi_endproc
	.size	gmp_ctx_mcall, .-gmp_ctx_mcall

/* void gmp_ctx_jump(const struct gmp_ctx *to) */
	.globl	gmp_ctx_jump
	.hidden	gmp_ctx_jump
	.type	gmp_ctx_jump, @function
gmp_ctx_jump:
	.cfi_startproc
	.cfi_undefined rip			/* one-way: no caller to unwind to */
	LOAD_CTX %rdi
	.cfi_endproc
	.size	gmp_ctx_jump, .-gmp_ctx_jump

/* void gmp_ctx_swap(struct gmp_ctx *save, const struct gmp_ctx *to) */
	.globl	gmp_ctx_swap
	.hidden	gmp_ctx_swap
	.type	gmp_ctx_swap, @function
gmp_ctx_swap:
	.cfi_startproc
	SAVE_CTX %rdi
	LOAD_CTX %rsi
	.cfi_endproc
	.size	gmp_ctx_swap, .-gmp_ctx_swap

/* First code run by a new G: r12 = entry, r13 = arg, %rsp 16-aligned. */
	.globl	gmp_ctx_trampoline
	.hidden	gmp_ctx_trampoline
	.type	gmp_ctx_trampoline, @function
gmp_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip			/* bottom of the G's stack */
	movq	%r13, %rdi			/* entry(arg) */
	callq	*%r12
	ud2					/* entry must not return */
	.cfi_endproc
	.size	gmp_ctx_trampoline, .-gmp_ctx_trampoline

/*
 * void gmp_entersyscall(void): the entry of syscall.c's gmp_entersyscall_c.
 * On an M, outside any other call (syscalldepth 0), it first records the
 * caller's context as it will be when the call returns -- return address,
 * stack pointer after the return, callee-saved registers -- in m->sysctx:
 * a dump unwinds a G blocked in a system call from there (the frames above
 * the caller stay put until exitsyscall, which a dump holds back).
 */
	.globl	gmp_entersyscall
	.hidden	gmp_entersyscall
	.type	gmp_entersyscall, @function
gmp_entersyscall:
	.cfi_startproc
	movq	gmp_tls_m@gottpoff(%rip), %rax
	movq	%fs:(%rax), %rax
	testq	%rax, %rax
	jz	1f
	cmpl	$0, GMP_M_SYSCALLDEPTH(%rax)
	jne	1f
	movq	(%rsp), %rcx
	movq	%rcx, GMP_M_SYSCTX+GMP_CTX_RIP(%rax)
	leaq	8(%rsp), %rcx
	movq	%rcx, GMP_M_SYSCTX+GMP_CTX_RSP(%rax)
	movq	%rbx, GMP_M_SYSCTX+GMP_CTX_RBX(%rax)
	movq	%rbp, GMP_M_SYSCTX+GMP_CTX_RBP(%rax)
	movq	%r12, GMP_M_SYSCTX+GMP_CTX_R12(%rax)
	movq	%r13, GMP_M_SYSCTX+GMP_CTX_R13(%rax)
	movq	%r14, GMP_M_SYSCTX+GMP_CTX_R14(%rax)
	movq	%r15, GMP_M_SYSCTX+GMP_CTX_R15(%rax)
1:	jmp	gmp_entersyscall_c
	.cfi_endproc
	.size	gmp_entersyscall, .-gmp_entersyscall

	.section .note.GNU-stack,"",@progbits
