/*
 * Saved execution context of a G (x86-64 System V).
 *
 * Only what the ABI says a callee must preserve is saved: a switch is a
 * function call from the compiler's point of view, so caller-saved registers
 * are already dead.  MXCSR and the x87 control word are callee-saved "control"
 * state in the psABI (rounding mode, exception masks) and travel with the G.
 *
 * This header is included by both C and assembly; the offsets below are the
 * single definition, checked against struct gmp_ctx by _Static_assert in C.
 */
#ifndef GMP_ASM_X86_64_CONTEXT_H
#define GMP_ASM_X86_64_CONTEXT_H

#define GMP_CTX_RSP   0
#define GMP_CTX_RIP   8
#define GMP_CTX_RBX   16
#define GMP_CTX_RBP   24
#define GMP_CTX_R12   32
#define GMP_CTX_R13   40
#define GMP_CTX_R14   48
#define GMP_CTX_R15   56
#define GMP_CTX_MXCSR 64
#define GMP_CTX_FPUCW 68
#define GMP_CTX_SIZE  72

/* Offset of gmp_m.asyncpc (runtime.h checks it): the PC an asynchronously
 * preempted G resumes at, read by gmp_asyncpreempt (preempt.S). */
#define GMP_M_ASYNCPC 0
/* Offsets of gmp_m.sysctx (a struct gmp_ctx) and gmp_m.syscalldepth (an
 * int), written by the gmp_entersyscall entry (context.S). */
#define GMP_M_SYSCTX 8
#define GMP_M_SYSCALLDEPTH 80

/* Default control state for a new G: all FP exceptions masked, round to
 * nearest (the values the kernel gives a new process). */
#define GMP_MXCSR_DEFAULT 0x1f80
#define GMP_FPUCW_DEFAULT 0x037f

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

struct gmp_ctx {
	uint64_t rsp;   /* stack pointer to resume with (after the return) */
	uint64_t rip;   /* where to resume */
	uint64_t rbx, rbp, r12, r13, r14, r15;
	uint32_t mxcsr;
	uint16_t fpucw;
	uint16_t pad;
};

_Static_assert(offsetof(struct gmp_ctx, rsp) == GMP_CTX_RSP, "ctx rsp");
_Static_assert(offsetof(struct gmp_ctx, rip) == GMP_CTX_RIP, "ctx rip");
_Static_assert(offsetof(struct gmp_ctx, rbx) == GMP_CTX_RBX, "ctx rbx");
_Static_assert(offsetof(struct gmp_ctx, rbp) == GMP_CTX_RBP, "ctx rbp");
_Static_assert(offsetof(struct gmp_ctx, r12) == GMP_CTX_R12, "ctx r12");
_Static_assert(offsetof(struct gmp_ctx, r13) == GMP_CTX_R13, "ctx r13");
_Static_assert(offsetof(struct gmp_ctx, r14) == GMP_CTX_R14, "ctx r14");
_Static_assert(offsetof(struct gmp_ctx, r15) == GMP_CTX_R15, "ctx r15");
_Static_assert(offsetof(struct gmp_ctx, mxcsr) == GMP_CTX_MXCSR, "ctx mxcsr");
_Static_assert(offsetof(struct gmp_ctx, fpucw) == GMP_CTX_FPUCW, "ctx fpucw");
_Static_assert(sizeof(struct gmp_ctx) == GMP_CTX_SIZE, "ctx size");

/*
 * gmp_ctx_mcall: save the caller's context into *save, switch to the stack
 * whose top is sp and call fn(arg) there.  fn must never return.  The saved
 * context resumes as a normal return from gmp_ctx_mcall.  (Go's mcall.)
 */
void gmp_ctx_mcall(struct gmp_ctx *save, void *sp, void (*fn)(void *), void *arg);

/* gmp_ctx_jump: load *to and continue there.  Never returns. */
__attribute__((noreturn)) void gmp_ctx_jump(const struct gmp_ctx *to);

/* gmp_ctx_swap: save into *save and load *to (a direct switch). */
void gmp_ctx_swap(struct gmp_ctx *save, const struct gmp_ctx *to);

/*
 * First instruction of every new G.  gmp_ctx_make() points rip here with
 * r12 = entry function and r13 = its argument; the trampoline calls
 * entry(arg), which must not return.  Its CFI marks the return address as
 * undefined so unwinders (libunwind, gdb) stop cleanly at the bottom of a G.
 */
void gmp_ctx_trampoline(void);

static inline void gmp_ctx_make(struct gmp_ctx *c, void *stack_top, void (*entry)(void *), void *arg)
{
	c->rsp = (uint64_t)stack_top & ~(uint64_t)15; /* ABI: 16-aligned before the call */
	c->rip = (uint64_t)(uintptr_t)gmp_ctx_trampoline;
	c->rbx = 0;
	c->rbp = 0;
	c->r12 = (uint64_t)(uintptr_t)entry;
	c->r13 = (uint64_t)(uintptr_t)arg;
	c->r14 = 0;
	c->r15 = 0;
	c->mxcsr = GMP_MXCSR_DEFAULT;
	c->fpucw = GMP_FPUCW_DEFAULT;
	c->pad = 0;
}
#endif /* __ASSEMBLER__ */
#endif
