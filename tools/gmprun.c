/*
 * gmprun: run a program under libgmpthread without typing LD_PRELOAD.
 *
 *   gmprun [-p N] [--stacksize SIZE] [--stackguard page|canary]
 *          [--tls per-g|shared] [--fsbase auto|wrfsbase|arch_prctl] [--] prog [args...]
 *
 * The library is found next to this executable (build/) or in ../lib
 * (an installed tree).  An existing LD_PRELOAD is kept, after ours.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gmprun [options] [--] program [args...]\n"
		"Runs program with its pthreads replaced by libgmpthread goroutines.\n"
		"  -p, --procs N          processors (GMP_MAXPROCS; default: CPUs available)\n"
		"      --stacksize SIZE   default thread stack (GMP_STACKSIZE, e.g. 256k, 8M)\n"
		"      --stackguard MODE  page (default) or canary (GMP_STACKGUARD)\n"
		"      --maxthreads N     cap on OS threads (GMP_MAXTHREADS; default 10000)\n"
		"      --tls MODE         per-g (default): each thread its own TLS; shared: threads\n"
		"                         use their OS thread's TLS, only errno is carried (GMP_TLS)\n"
		"      --fsbase METHOD    auto (default), wrfsbase or arch_prctl: how per-g mode\n"
		"                         switches the thread pointer (GMP_FSBASE)\n"
		"  -h, --help             this text\n");
}

/* Set NAME=VAL if VAL is one of the NULL-terminated choices. */
static int set_choice(const char *opt, const char *name, const char *val, const char *const *choices)
{
	for (const char *const *c = choices; *c; c++)
		if (strcmp(val, *c) == 0)
			return setenv(name, val, 1);
	fprintf(stderr, "gmprun: %s %s: expected one of", opt, val);
	for (const char *const *c = choices; *c; c++)
		fprintf(stderr, " %s", *c);
	fprintf(stderr, "\n");
	return -1;
}

static int find_lib(const char *self, char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		if (!realpath(self, exe))
			return -1;
	} else {
		exe[n] = '\0';
	}
	char *dir = dirname(exe);
	const char *cands[] = { "%s/libgmpthread.so", "%s/../lib/libgmpthread.so" };
	for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
		snprintf(out, cap, cands[i], dir);
		if (access(out, R_OK) == 0) {
			char real[PATH_MAX];
			if (realpath(out, real))
				snprintf(out, cap, "%s", real);
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if ((strcmp(a, "-p") == 0 || strcmp(a, "--procs") == 0) && val) {
			setenv("GMP_MAXPROCS", val, 1), i++;
		} else if (strcmp(a, "--stacksize") == 0 && val) {
			setenv("GMP_STACKSIZE", val, 1), i++;
		} else if (strcmp(a, "--stackguard") == 0 && val) {
			setenv("GMP_STACKGUARD", val, 1), i++;
		} else if (strcmp(a, "--maxthreads") == 0 && val) {
			setenv("GMP_MAXTHREADS", val, 1), i++;
		} else if (strcmp(a, "--tls") == 0 && val) {
			static const char *const modes[] = { "per-g", "shared", NULL };
			if (set_choice(a, "GMP_TLS", val, modes) != 0)
				return 2;
			i++;
		} else if (strcmp(a, "--fsbase") == 0 && val) {
			static const char *const ways[] = { "auto", "wrfsbase", "arch_prctl", NULL };
			if (set_choice(a, "GMP_FSBASE", val, ways) != 0)
				return 2;
			i++;
		} else if (a[0] == '-') {
			fprintf(stderr, "gmprun: unknown or incomplete option '%s'\n", a);
			usage(stderr);
			return 2;
		} else {
			break;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	char lib[PATH_MAX];
	if (find_lib(argv[0], lib, sizeof lib) != 0) {
		fprintf(stderr, "gmprun: cannot find libgmpthread.so next to gmprun or in ../lib\n");
		return 127;
	}
	const char *old = getenv("LD_PRELOAD");
	char *pre;
	if (old && *old) {
		size_t len = strlen(lib) + strlen(old) + 2;
		pre = malloc(len);
		snprintf(pre, len, "%s:%s", lib, old);
	} else {
		pre = lib;
	}
	setenv("LD_PRELOAD", pre, 1);
	execvp(argv[i], argv + i);
	fprintf(stderr, "gmprun: cannot run '%s': %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
