/*
 * Thread-local state across G switches.
 *
 * Today Gs share their M's TLS block ("shared" mode): glibc's per-thread
 * state belongs to the OS thread, so the one piece of it every program
 * relies on between two calls -- errno -- is saved when a G leaves its M
 * and restored into whichever M's block it resumes on.  What this cannot
 * fix: compiled code may cache the address of errno or of a __thread
 * variable across a call (__errno_location is declared const), so a G
 * that migrates in the middle of a function can still read the old M's
 * copy.  The per-G TLS mode (a TCB per G and a thread-pointer switch) is
 * the cure and will hook in here.
 *
 * Both hooks run in the scheduler with the M's own TLS live: save on the
 * G's way out (before mcall leaves its stack), load on the way in (last
 * thing before the jump), so runtime code in between may clobber errno.
 */
#include "runtime.h"

#include <errno.h>

void gmp_tls_save(struct gmp_g *g)
{
	g->errno_save = errno;
}

void gmp_tls_load(struct gmp_g *g)
{
	errno = g->errno_save;
}
