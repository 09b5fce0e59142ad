/*
 * Backtraces for dumps and crash reports: unwinding with libunwind, and
 * symbol names from the modules' own ELF symbol tables.
 *
 * libunwind is loaded with dlopen(RTLD_LOCAL) rather than linked: the
 * Debian library also exports _Unwind_RaiseException and the rest of the
 * C++ exception ABI, and as a dependency of a preloaded object it would
 * come before libgcc_s in the global scope and take over the program's
 * exceptions.  Loaded locally its symbols stay private.  It is loaded in
 * ordinary context (gmp_unwind_load: sysmon's start, or the dumper); a
 * crash before that, or a machine without libunwind8, gets frame-pointer
 * walking instead (correct for code built with frame pointers -- the
 * runtime is -- and cut short elsewhere; the report says which).
 *
 * The unwinding itself (unw_init_local2, unw_step) is async-signal-safe in
 * libunwind's local mode, so a running thread unwinds itself in its signal
 * handler.  Symbolisation uses dladdr() for the module and reads its
 * .symtab (static functions included) through raw system calls, caching
 * the mapped file: no malloc, no stdio, no interposed call, so it is
 * usable in a crash handler too.
 */
#define UNW_LOCAL_ONLY
#include "runtime.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <libunwind.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>

/* ------------------------------------------------------------- libunwind */

static struct {
	int (*init_local2)(unw_cursor_t *, unw_context_t *, int);
	int (*step)(unw_cursor_t *);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
} uw;
static _Atomic int uw_state; /* 0 not tried, 1 loaded, -1 unavailable */
static gmp_mutex uw_lock;

static long load(void *unused)
{
	(void)unused;
	gmp_lock(&uw_lock);
	if (atomic_load(&uw_state) == 0) {
		void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
		if (h) {
			uw.init_local2 = (int (*)(unw_cursor_t *, unw_context_t *, int))dlsym(h, "_ULx86_64_init_local2");
			uw.step = (int (*)(unw_cursor_t *))dlsym(h, "_ULx86_64_step");
			uw.get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, "_ULx86_64_get_reg");
		}
		atomic_store(&uw_state, h && uw.init_local2 && uw.step && uw.get_reg ? 1 : -1);
	}
	gmp_unlock(&uw_lock);
	return 0;
}

/* dlopen opens the library file: on the file thread, so that the number
 * it takes is not one of the program's (filethread.c). */
void gmp_unwind_load(void)
{
	if (atomic_load(&uw_state) == 0)
		gmp_filethread_call(load, NULL);
}

bool gmp_unwind_available(void)
{
	return atomic_load(&uw_state) == 1;
}

static int uw_walk(ucontext_t *uc, int flags, uintptr_t *pc, int max)
{
	unw_cursor_t cur;
	if (uw.init_local2(&cur, uc, flags) < 0)
		return 0;
	int n = 0;
	do {
		unw_word_t ip;
		if (uw.get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		pc[n++] = (uintptr_t)ip;
	} while (n < max && uw.step(&cur) > 0);
	return n;
}

/* Frame pointers: [rbp] = caller's rbp, [rbp+8] = return address, while
 * they stay inside [lo, hi) and go up. */
static int fp_walk(uintptr_t pc0, uintptr_t fp, uintptr_t lo, uintptr_t hi, uintptr_t *pc, int max)
{
	int n = 0;
	pc[n++] = pc0;
	while (n < max && fp >= lo && fp + 16 <= hi && (fp & 7) == 0) {
		uintptr_t next = ((uintptr_t *)fp)[0], ret = ((uintptr_t *)fp)[1];
		if (ret < 4096)
			break;
		pc[n++] = ret;
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

int gmp_bt_ucontext(void *ucv, uintptr_t lo, uintptr_t hi, uintptr_t *pc, int max)
{
	ucontext_t *uc = ucv;
	if (gmp_unwind_available()) {
		ucontext_t copy = *uc; /* libunwind may write through it */
		int n = uw_walk(&copy, UNW_INIT_SIGNAL_FRAME, pc, max);
		if (n > 0)
			return n;
	}
	greg_t *gr = uc->uc_mcontext.gregs;
	return fp_walk((uintptr_t)gr[REG_RIP], (uintptr_t)gr[REG_RBP], lo, hi, pc, max);
}

int gmp_bt_regs(uintptr_t sp, uintptr_t ip, uintptr_t bp, const struct gmp_ctx *callee,
		uintptr_t lo, uintptr_t hi, uintptr_t *pc, int max)
{
	if (gmp_unwind_available()) {
		ucontext_t uc;
		memset(&uc, 0, sizeof uc);
		greg_t *gr = uc.uc_mcontext.gregs;
		gr[REG_RSP] = (greg_t)sp;
		gr[REG_RIP] = (greg_t)ip;
		gr[REG_RBP] = (greg_t)bp;
		if (callee) {
			gr[REG_RBX] = (greg_t)callee->rbx;
			gr[REG_R12] = (greg_t)callee->r12;
			gr[REG_R13] = (greg_t)callee->r13;
			gr[REG_R14] = (greg_t)callee->r14;
			gr[REG_R15] = (greg_t)callee->r15;
		}
		int n = uw_walk(&uc, 0, pc, max);
		if (n > 0)
			return n;
	}
	return fp_walk(ip, bp, lo, hi, pc, max);
}

/* ---------------------------------------------------------- symbolisation */

struct symmod {
	uintptr_t base;             /* dli_fbase */
	const unsigned char *map;   /* the whole file, read-only; NULL: none */
	size_t len;
	const Elf64_Sym *syms;
	size_t nsyms;
	const char *strs;
	size_t strslen;
	bool exec;                  /* ET_EXEC: symbol values are addresses */
};
#define SYMMODS 64
static struct symmod mods[SYMMODS];
static int nmods;
static gmp_mutex symlock;

static const void *in_file(const struct symmod *sm, uint64_t off, uint64_t size)
{
	if (off > sm->len || size > sm->len - off)
		return NULL;
	return sm->map + off;
}

/* Maps path and finds its symbol table (.symtab, else .dynsym). */
static void symmod_open(struct symmod *sm, const char *path)
{
	long fd = gmp_sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return;
	struct stat st;
	if (gmp_sys(SYS_fstat, fd, &st, 0, 0, 0, 0) == 0 && st.st_size > (off_t)sizeof(Elf64_Ehdr)) {
		long p = gmp_sys(SYS_mmap, 0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p > 0 || p < -4095) {
			sm->map = (const unsigned char *)p;
			sm->len = (size_t)st.st_size;
		}
	}
	gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
	if (!sm->map)
		return;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)sm->map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr))
		return;
	sm->exec = eh->e_type == ET_EXEC;
	const Elf64_Shdr *sh = in_file(sm, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr));
	if (!sh)
		return;
	for (int want = SHT_SYMTAB; want >= 0; want = want == SHT_SYMTAB ? SHT_DYNSYM : -1) {
		for (int i = 0; i < eh->e_shnum; i++) {
			if (sh[i].sh_type != (Elf64_Word)want || sh[i].sh_link >= eh->e_shnum)
				continue;
			const Elf64_Shdr *ss = &sh[sh[i].sh_link];
			const void *syms = in_file(sm, sh[i].sh_offset, sh[i].sh_size);
			const void *strs = in_file(sm, ss->sh_offset, ss->sh_size);
			if (!syms || !strs || sh[i].sh_size < sizeof(Elf64_Sym))
				continue;
			sm->syms = syms;
			sm->nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
			sm->strs = strs;
			sm->strslen = ss->sh_size;
			return;
		}
	}
}

static struct symmod *symmod_for(uintptr_t base, const char *path)
{
	for (int i = 0; i < nmods; i++)
		if (mods[i].base == base)
			return &mods[i];
	if (nmods == SYMMODS)
		return NULL;
	struct symmod *sm = &mods[nmods];
	memset(sm, 0, sizeof *sm);
	sm->base = base;
	symmod_open(sm, path);
	nmods++;
	return sm;
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/*
 * "symbol+0xoff (module)" for pc.  A return address (exact false) is
 * looked up one byte back, inside the call.  Lock-free callers (a crash
 * handler that may have interrupted a dump) only read the cache.
 */
void gmp_symbolize(uintptr_t pc, bool exact, char *buf, size_t cap)
{
	uintptr_t look = exact ? pc : pc - 1;
	Dl_info info;
	struct link_map *lm = NULL;
	if (dladdr1((void *)look, &info, (void **)&lm, RTLD_DL_LINKMAP) == 0 || info.dli_fbase == NULL) {
		snprintf(buf, cap, "??");
		return;
	}
	/* The main program's link map has no name: read it through
	 * /proc/self/exe.  Others are opened by the name they were loaded
	 * with (relative to the same working directory, unless it changed). */
	bool mainprog = lm && lm->l_name && lm->l_name[0] == '\0';
	const char *path = mainprog ? "/proc/self/exe" : lm && lm->l_name ? lm->l_name : info.dli_fname;
	const char *modname = info.dli_fname && info.dli_fname[0] ? basename_of(info.dli_fname) : NULL;
	char exe[256];
	if (!modname) {
		long n = gmp_sys(SYS_readlink, "/proc/self/exe", exe, sizeof exe - 1, 0, 0, 0);
		exe[n > 0 ? n : 0] = '\0';
		modname = basename_of(exe);
	}
	const char *best = NULL;
	uintptr_t bestaddr = 0;
	bool locked = false;
	uint32_t zero = 0;
	if (atomic_compare_exchange_strong(&symlock.word, &zero, 1))
		locked = true; /* never wait: a crash may interrupt a lookup */
	struct symmod *sm = NULL;
	if (locked) {
		sm = symmod_for((uintptr_t)info.dli_fbase, path);
	} else {
		for (int i = 0; i < nmods; i++)
			if (mods[i].base == (uintptr_t)info.dli_fbase)
				sm = &mods[i];
	}
	if (sm && sm->syms) {
		uintptr_t rel = sm->exec ? look : look - sm->base;
		for (size_t i = 0; i < sm->nsyms; i++) {
			const Elf64_Sym *s = &sm->syms[i];
			if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
			    s->st_name >= sm->strslen)
				continue;
			if (rel >= s->st_value && rel < s->st_value + (s->st_size ? s->st_size : 1) &&
			    (!best || s->st_value > bestaddr)) {
				best = sm->strs + s->st_name;
				bestaddr = s->st_value;
			}
		}
		if (best)
			bestaddr = sm->exec ? bestaddr : bestaddr + sm->base;
	}
	if (locked)
		gmp_unlock(&symlock);
	if (!best && info.dli_sname) {
		best = info.dli_sname;
		bestaddr = (uintptr_t)info.dli_saddr;
	}
	if (best)
		snprintf(buf, cap, "%s+0x%lx (%s)", best, (unsigned long)(pc - bestaddr), modname);
	else
		snprintf(buf, cap, "?? (%s+0x%lx)", modname, (unsigned long)(pc - (uintptr_t)info.dli_fbase));
}

/* The module pc is in is libgmpthread itself. */
bool gmp_pc_in_runtime(uintptr_t pc)
{
	Dl_info a, b;
	return dladdr((void *)pc, &a) && dladdr((void *)gmp_pc_in_runtime, &b) && a.dli_fbase == b.dli_fbase;
}
