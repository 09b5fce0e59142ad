/*
 * gentrace: writes a synthetic GMP_TRACE file (Chrome trace-event JSON in
 * the format of the issue 7 spec) for testing `gmprun view` without the
 * runtime.  Deterministic for a given seed.
 *
 *   gcc -std=gnu11 -O2 -o gentrace tests/gmprun/gentrace.c
 *   ./gentrace [SEED [PROCS [THREADS [MILLISECONDS]]]] > trace.json
 *
 * tests/gmprun/sample-trace.json is `./gentrace 7 3 12 25`.
 *
 * A toy scheduler: PROCS Ms each run one G at a time, picked from the Gs
 * whose wake-up time has come; G1 ("main") creates the others, every G
 * runs slices of 20 us to 1.5 ms (sometimes 11 ms, then it is preempted,
 * with sysmon's preempt-request first), often makes a system call inside
 * the slice (sometimes two, nested: an interposed call wrapping the raw
 * one), and ends the slice parked (mutex, cond, sleep, fd read, join),
 * yielding, or exiting.  An M with nothing to run polls the network
 * briefly, then idles.  Ready events go on the lane of an M.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ev {
	double ts;
	long seq;
	int tid;
	char ph;
	const char *cat;
	char name[48];
	char args[96];
};

static struct ev *evs;
static size_t nev, cap;
static long seq;

static unsigned long long rs = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (unsigned)(rs % n);
}

static struct ev *add(double ts, int tid, char ph, const char *cat, const char *name)
{
	if (nev == cap) {
		cap = cap ? cap * 2 : 1024;
		evs = realloc(evs, cap * sizeof *evs);
		if (!evs) {
			perror("gentrace");
			exit(1);
		}
	}
	struct ev *e = &evs[nev++];
	memset(e, 0, sizeof *e);
	e->ts = ts;
	e->seq = seq++;
	e->tid = tid;
	e->ph = ph;
	e->cat = cat;
	snprintf(e->name, sizeof e->name, "%s", name);
	return e;
}

static int cmp(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : 1;
}

struct g {
	int alive, running, created;
	double ready;
	int life;
	char name[40];
};

int main(int argc, char **argv)
{
	unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : 7;
	int procs = argc > 2 ? atoi(argv[2]) : 3;
	int ng = argc > 3 ? atoi(argv[3]) : 12;
	double end_us = (argc > 4 ? atof(argv[4]) : 25) * 1000;
	if (procs < 1 || procs > 64 || ng < 1 || ng > 100000 || !(end_us > 0)) {
		fprintf(stderr, "usage: gentrace [SEED [PROCS 1-64 [THREADS [MS]]]]\n");
		return 2;
	}
	rs ^= (unsigned long long)seed * 0x9E3779B97F4A7C15ULL;
	for (int i = 0; i < 10; i++)
		rnd(2);
	const int pid = 4242;
	struct g *gs = calloc((size_t)ng + 1, sizeof *gs);
	double *mfree = calloc((size_t)procs, sizeof *mfree);
	static const char *const names[] = { "worker-%d", "reader", "writer", NULL, "logger", "worker-%d", NULL };
	for (int i = 1; i <= ng; i++) {
		gs[i].life = 3 + (int)rnd(40);
		const char *n = i == 1 ? "main" : names[i % 7];
		if (n)
			snprintf(gs[i].name, sizeof gs[i].name, n, i - 1);
	}
	gs[1].alive = gs[1].created = 1;
	gs[1].life = 1000000;
	int live = 1, created = 1;

	for (;;) {
		int m = 0;
		for (int k = 1; k < procs; k++)
			if (mfree[k] < mfree[m])
				m = k;
		double now = mfree[m];
		if (now >= end_us || live == 0)
			break;
		int tid = m + 1;
		int pick = 0;
		for (int i = 1; i <= ng; i++)
			if (gs[i].alive && !gs[i].running && gs[i].ready <= now &&
			    (!pick || gs[i].ready < gs[pick].ready))
				pick = i;
		if (!pick) {
			double next = 1e300;
			for (int i = 1; i <= ng; i++)
				if (gs[i].alive && !gs[i].running && gs[i].ready < next)
					next = gs[i].ready;
			if (next > 1e299)
				next = now + 30 + rnd(100);   /* everyone runs elsewhere */
			if (next > end_us)
				next = end_us;
			double poll = now + 3 + rnd(15);
			if (poll > next)
				poll = next;
			add(now, tid, 'B', "netpoll", "netpoll");
			add(poll, tid, 'E', "netpoll", "netpoll");
			if (next > poll) {
				add(poll, tid, 'B', "idle", "idle");
				add(next, tid, 'E', "idle", "idle");
			}
			mfree[m] = next + 1;
			continue;
		}
		struct g *g = &gs[pick];
		char gname[64];
		if (g->name[0])
			snprintf(gname, sizeof gname, "G%d %s", pick, g->name);
		else
			snprintf(gname, sizeof gname, "G%d", pick);
		int longrun = rnd(12) == 0;
		double dur = longrun ? 11000 + rnd(800) : 20 + rnd(1500);
		double end = now + dur;
		snprintf(add(now, tid, 'B', "g", gname)->args, 96, "\"g\":%d,\"p\":%d", pick, m);
		/* G1 creates the others early in its first slices. */
		if (pick == 1) {
			int k = 0;
			while (created < ng && k < 4) {
				created++;
				k++;
				double t = now + dur * k / 6;
				char n[32];
				snprintf(n, sizeof n, "create G%d", created);
				snprintf(add(t, tid, 'i', "create", n)->args, 96, "\"g\":%d", created);
				gs[created].alive = gs[created].created = 1;
				gs[created].ready = t + 1;
				live++;
			}
		}
		if (rnd(3) == 0 && dur > 40) {
			double a = now + 5 + rnd((unsigned)(dur / 2));
			double b = a + 2 + rnd((unsigned)(end - a - 3));
			add(a, tid, 'B', "syscall", "syscall");
			if (rnd(3) == 0 && b - a > 10) {
				/* an interposed call around the raw system call */
				add(a + 2, tid, 'B', "syscall", "read");
				add(b - 2, tid, 'E', "syscall", "read");
			}
			add(b, tid, 'E', "syscall", "syscall");
		}
		const char *why;
		double wait = 0;
		if (pick != 1 && --g->life <= 0) {
			why = "exit";
		} else if (longrun) {
			why = "preempted";
			snprintf(add(now + 10000, 1000, 'i', "preempt-request", "preempt-request")->args, 96,
				 "\"g\":%d,\"p\":%d", pick, m);
			char n[32];
			snprintf(n, sizeof n, "preempt G%d", pick);
			snprintf(add(end, tid, 'i', "preempt", n)->args, 96, "\"g\":%d,\"async\":%s",
				 pick, rnd(2) ? "true" : "false");
		} else if (pick == 1) {
			why = "park: join";
			wait = 2000 + rnd(6000);
		} else {
			switch (rnd(7)) {
			case 0: why = "park: mutex"; wait = 30 + rnd(600); break;
			case 1: why = "park: cond"; wait = 100 + rnd(2500); break;
			case 2: why = "park: sleep"; wait = 1000 + rnd(4000); break;
			case 3: why = "park: fd read"; wait = 200 + rnd(1500); break;
			case 4: why = "yield"; break;
			case 5: why = "park: mutex"; wait = 10 + rnd(200); break;
			default: why = "park: sem"; wait = 50 + rnd(900); break;
			}
		}
		snprintf(add(end, tid, 'E', "g", gname)->args, 96, "\"why\":\"%s\"", why);
		mfree[m] = end + 1 + rnd(4);
		if (strcmp(why, "exit") == 0) {
			g->alive = 0;
			live--;
			continue;
		}
		g->ready = end + wait;
		if (wait > 0) {
			char n[32];
			snprintf(n, sizeof n, "ready G%d", pick);
			snprintf(add(g->ready, 1 + (int)rnd((unsigned)procs), 'i', "ready", n)->args, 96,
				 "\"g\":%d", pick);
		}
	}
	qsort(evs, nev, sizeof *evs, cmp);

	printf("{\"displayTimeUnit\":\"ns\",\n \"otherData\":{\"producer\":\"libgmpthread 0.1.0 (gentrace)\","
	       "\"command\":\"./sample --threads %d\",\"pid\":%d,\"procs\":%d,\"events\":%zu,\"dropped\":0},\n"
	       " \"traceEvents\":[\n", ng, pid, procs, nev + (size_t)procs + 2);
	printf("  {\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":"
	       "\"./sample under libgmpthread\"}},\n", pid);
	for (int m = 0; m < procs; m++)
		printf("  {\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":"
		       "\"M%d (tid %d)\"}},\n", pid, m + 1, m, m ? pid + m + 1 : pid);
	printf("  {\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":1000,\"args\":{\"name\":\"sysmon\"}}",
	       pid);
	for (size_t i = 0; i < nev; i++) {
		const struct ev *e = &evs[i];
		printf(",\n  {\"ph\":\"%c\",%s\"cat\":\"%s\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f%s%s%s}",
		       e->ph, e->ph == 'i' ? "\"s\":\"t\"," : "", e->cat, e->name, pid, e->tid, e->ts,
		       e->args[0] ? ",\"args\":{" : "", e->args, e->args[0] ? "}" : "");
	}
	printf("\n ]}\n");
	free(evs);
	free(gs);
	free(mfree);
	return 0;
}
