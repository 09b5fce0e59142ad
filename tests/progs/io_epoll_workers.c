/*
 * io_epoll_workers: a memcached-style server and its clients in one
 * process (the thread structure of memcached's thread.c).
 *   - 4 worker threads, each with its own epoll instance and a
 *     notification descriptor registered in it (a pipe for workers 0 and
 *     2, an eventfd for 1 and 3); workers 0 and 1 wait with epoll_wait,
 *     2 and 3 with epoll_pwait; workers 1 and 3 register connections
 *     edge-triggered (EPOLLET), 0 and 2 level-triggered.  Every wait has a
 *     100 ms timeout, so timeouts happen too: each must return 0 no
 *     earlier than 100 ms after it began (and not 900 ms late)
 *   - a dispatcher thread accept()s connections on a blocking listening
 *     socket, makes each non-blocking and hands it to the workers
 *     round-robin: it queues the fd on the worker (under a mutex) and
 *     writes to the worker's notification descriptor
 *   - workers read commands "get K\n" / "set K V\n" from their
 *     non-blocking connections (partial lines kept until complete), answer
 *     "VALUE V\n" / "NOT_FOUND\n" / "STORED\n" from a hash table shared
 *     under a mutex, queue what they cannot write at once and wait for
 *     EPOLLOUT, and close a connection at EOF
 *   - 64 client threads on blocking sockets send 200 commands each, in
 *     pipelined batches of 1 to 4, and check every answer: their own keys
 *     read back what they set, 100 preloaded keys read back their values,
 *     keys never set are NOT_FOUND
 *   - at the end each worker has served exactly 16 connections, the
 *     workers together answered 64 x 200 commands, and every worker saw
 *     at least one timeout
 */
#include "common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#define NWORKERS 4
#define NCLIENTS 64
#define NCMDS 200
#define NPRE 100
#define TIMEOUT_MS 100

/* ---- the shared table ---- */

#define NBUCKETS 1024
struct entry {
	struct entry *next;
	char key[48], val[64];
};
static struct entry *table[NBUCKETS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % NBUCKETS;
}

static void table_set(const char *k, const char *v)
{
	pthread_mutex_lock(&table_lock);
	struct entry **pp = &table[hash(k)], *e;
	for (e = *pp; e && strcmp(e->key, k) != 0; e = e->next)
		;
	if (!e) {
		e = calloc(1, sizeof *e);
		CHECK(e != NULL, "calloc failed");
		snprintf(e->key, sizeof e->key, "%s", k);
		e->next = *pp;
		*pp = e;
	}
	snprintf(e->val, sizeof e->val, "%s", v);
	pthread_mutex_unlock(&table_lock);
}

/* Copies the value into out; returns 0 when absent. */
static int table_get(const char *k, char *out, size_t cap)
{
	pthread_mutex_lock(&table_lock);
	struct entry *e;
	for (e = table[hash(k)]; e && strcmp(e->key, k) != 0; e = e->next)
		;
	if (e)
		snprintf(out, cap, "%s", e->val);
	pthread_mutex_unlock(&table_lock);
	return e != NULL;
}

/* ---- workers ---- */

struct conn {
	int fd;
	char in[512];
	size_t inlen;
	char out[8192];
	size_t outlen, outoff;
	int want_out;
};

struct worker {
	int id;
	int epfd, notify_rd, notify_wr, is_eventfd, use_pwait, edge;
	pthread_mutex_t qlock;
	int queue[NCLIENTS + NWORKERS]; /* fds to take over; -1: stop */
	int qhead, qtail;
	pthread_t tid;
	int conns, live, cmds, timeouts;
	int64_t min_timeout_ns, max_timeout_ns;
};
static struct worker workers[NWORKERS];

static void conn_events(struct worker *w, struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events | (w->edge ? EPOLLET : 0), .data.ptr = c};
	CHECK_OK(epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev));
}

/* Writes what it can; waits for EPOLLOUT for the rest. */
static void conn_flush(struct worker *w, struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		CHECK(n > 0, "worker %d: write to a connection failed: %s", w->id, strerror(errno));
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	int want = c->outlen > 0;
	if (want != c->want_out) {
		c->want_out = want;
		conn_events(w, c, EPOLLIN | (want ? EPOLLOUT : 0));
	}
}

static void reply(struct conn *c, const char *s)
{
	size_t len = strlen(s);
	CHECK(c->outlen + len <= sizeof c->out, "a client let %zu bytes of answers pile up", c->outlen + len);
	memcpy(c->out + c->outlen, s, len);
	c->outlen += len;
}

static void command(struct worker *w, struct conn *c, char *line)
{
	char k[64], v[64], ans[96];
	if (sscanf(line, "get %63s", k) == 1) {
		if (table_get(k, v, sizeof v)) {
			snprintf(ans, sizeof ans, "VALUE %s\n", v);
			reply(c, ans);
		} else {
			reply(c, "NOT_FOUND\n");
		}
	} else if (sscanf(line, "set %63s %63s", k, v) == 2) {
		table_set(k, v);
		reply(c, "STORED\n");
	} else {
		reply(c, "ERROR\n");
	}
	w->cmds++;
}

/* Reads until EAGAIN (edge-triggered needs it) or EOF; returns 0 at EOF. */
static int conn_read(struct worker *w, struct conn *c)
{
	for (;;) {
		CHECK(c->inlen < sizeof c->in, "worker %d: a command line longer than %zu bytes", w->id, sizeof c->in);
		ssize_t n = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		CHECK(n >= 0, "worker %d: read from a connection failed: %s", w->id, strerror(errno));
		if (n == 0)
			return 0;
		c->inlen += (size_t)n;
		char *start = c->in, *nl;
		while ((nl = memchr(start, '\n', c->inlen - (size_t)(start - c->in))) != NULL) {
			*nl = 0;
			command(w, c, start);
			start = nl + 1;
		}
		c->inlen -= (size_t)(start - c->in);
		memmove(c->in, start, c->inlen);
	}
}

static void drain_notify(struct worker *w)
{
	for (;;) {
		char buf[64];
		ssize_t n = read(w->notify_rd, buf, w->is_eventfd ? 8 : sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		CHECK(n > 0, "worker %d: read of its notification fd returned %zd (%s)", w->id, n, strerror(errno));
	}
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	int stopping = 0;
	while (!stopping || w->live > 0) {
		struct epoll_event evs[16];
		int64_t t0 = now_ns(CLOCK_MONOTONIC);
		int n = w->use_pwait ? epoll_pwait(w->epfd, evs, 16, TIMEOUT_MS, &mask) : epoll_wait(w->epfd, evs, 16, TIMEOUT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0, "worker %d: %s failed: %s", w->id, w->use_pwait ? "epoll_pwait" : "epoll_wait", strerror(errno));
		if (n == 0) {
			int64_t took = now_ns(CLOCK_MONOTONIC) - t0;
			if (w->timeouts == 0 || took < w->min_timeout_ns)
				w->min_timeout_ns = took;
			if (took > w->max_timeout_ns)
				w->max_timeout_ns = took;
			w->timeouts++;
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {
				drain_notify(w);
				pthread_mutex_lock(&w->qlock);
				while (w->qhead != w->qtail) {
					int fd = w->queue[w->qhead++ % (NCLIENTS + NWORKERS)];
					if (fd < 0) {
						stopping = 1;
						continue;
					}
					c = calloc(1, sizeof *c);
					CHECK(c != NULL, "calloc failed");
					c->fd = fd;
					struct epoll_event ev = {.events = EPOLLIN | (w->edge ? EPOLLET : 0), .data.ptr = c};
					CHECK_OK(epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev));
					w->conns++;
					w->live++;
				}
				pthread_mutex_unlock(&w->qlock);
				continue;
			}
			int open = 1;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				open = conn_read(w, c);
			if (open)
				conn_flush(w, c);
			if (!open) {
				CHECK(c->outlen == 0 || c->outoff == c->outlen, "worker %d: a client closed with answers pending", w->id);
				CHECK_OK(close(c->fd)); /* leaves the epoll set too */
				free(c);
				w->live--;
			}
		}
	}
	return NULL;
}

static void worker_notify(struct worker *w, int fd)
{
	pthread_mutex_lock(&w->qlock);
	w->queue[w->qtail++ % (NCLIENTS + NWORKERS)] = fd;
	pthread_mutex_unlock(&w->qlock);
	if (w->is_eventfd) {
		uint64_t one = 1;
		CHECK(write(w->notify_wr, &one, 8) == 8, "write to an eventfd failed: %s", strerror(errno));
	} else {
		CHECK(write(w->notify_wr, "c", 1) == 1, "write to a notification pipe failed: %s", strerror(errno));
	}
}

/* ---- dispatcher ---- */

static int listener;
static struct sockaddr_in server_addr;

static void *dispatcher(void *arg)
{
	for (int i = 0; i < NCLIENTS; i++) {
		int fd = accept(listener, NULL, NULL);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) {
			i--;
			continue;
		}
		CHECK(fd >= 0, "dispatcher: accept failed: %s", strerror(errno));
		CHECK_OK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK));
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		worker_notify(&workers[i % NWORKERS], fd);
	}
	return NULL;
}

/* ---- clients ---- */

struct reader {
	int fd;
	char buf[1024];
	size_t len, off;
};

static void read_line(struct reader *r, char *line, size_t cap, int client)
{
	size_t n = 0;
	for (;;) {
		if (r->off == r->len) {
			ssize_t got = recv(r->fd, r->buf, sizeof r->buf, 0);
			if (got < 0 && errno == EINTR)
				continue;
			CHECK(got > 0, "client %d: recv returned %zd (%s)", client, got, got < 0 ? strerror(errno) : "EOF");
			r->len = (size_t)got;
			r->off = 0;
		}
		char ch = r->buf[r->off++];
		if (ch == '\n')
			break;
		CHECK(n + 1 < cap, "client %d: an answer line too long", client);
		line[n++] = ch;
	}
	line[n] = 0;
}

static void *client(void *arg)
{
	int id = (int)(long)arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0, "client %d: socket failed: %s", id, strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	int rc;
	while ((rc = connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr)) != 0 && errno == EINTR)
		;
	CHECK(rc == 0, "client %d: connect failed: %s", id, strerror(errno));
	struct reader rd = {.fd = fd};
	char values[NCMDS / 4 + 1][40];
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1);
	int batch = 1 + id % 4;
	char expect[4][64];
	for (int j = 0; j < NCMDS;) {
		char req[4 * 96];
		size_t reqlen = 0;
		int inbatch = 0;
		for (; inbatch < batch && j < NCMDS; inbatch++, j++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			char *q = req + reqlen;
			size_t room = sizeof req - reqlen;
			int m;
			switch (j % 4) {
			case 0: /* set an own key */
				snprintf(values[j / 4], sizeof values[0], "v%d_%d_%u", id, j, (unsigned)(rng % 100000));
				m = snprintf(q, room, "set k%d_%d %s\n", id, j / 4, values[j / 4]);
				snprintf(expect[inbatch], sizeof expect[0], "STORED");
				break;
			case 1: { /* read back one of them */
				int k = (int)(rng % (uint64_t)(j / 4 + 1));
				m = snprintf(q, room, "get k%d_%d\n", id, k);
				snprintf(expect[inbatch], sizeof expect[0], "VALUE %s", values[k]);
				break;
			}
			case 2: { /* a preloaded key */
				int k = (int)(rng % NPRE);
				m = snprintf(q, room, "get pre%d\n", k);
				snprintf(expect[inbatch], sizeof expect[0], "VALUE p%d", k * 7);
				break;
			}
			default: /* never set */
				m = snprintf(q, room, "get missing%d_%d\n", id, j);
				snprintf(expect[inbatch], sizeof expect[0], "NOT_FOUND");
				break;
			}
			reqlen += (size_t)m;
		}
		size_t off = 0;
		while (off < reqlen) {
			ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			CHECK(n > 0, "client %d: send failed: %s", id, strerror(errno));
			off += (size_t)n;
		}
		for (int b = 0; b < inbatch; b++) {
			char line[128];
			read_line(&rd, line, sizeof line, id);
			CHECK(strcmp(line, expect[b]) == 0, "client %d: command %d answered \"%s\", expected \"%s\"",
			      id, j - inbatch + b, line, expect[b]);
		}
	}
	CHECK_OK(close(fd));
	return NULL;
}

int main(void)
{
	test_begin();
	for (int i = 0; i < NPRE; i++) {
		char k[16], v[16];
		snprintf(k, sizeof k, "pre%d", i);
		snprintf(v, sizeof v, "p%d", i * 7);
		table_set(k, v);
	}

	for (int i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];
		w->id = i;
		w->is_eventfd = i % 2;
		w->use_pwait = i >= 2;
		w->edge = i % 2;
		pthread_mutex_init(&w->qlock, NULL);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		CHECK(w->epfd >= 0, "epoll_create1 failed: %s", strerror(errno));
		if (w->is_eventfd) {
			w->notify_rd = w->notify_wr = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			CHECK(w->notify_rd >= 0, "eventfd failed: %s", strerror(errno));
		} else {
			int p[2];
			CHECK_OK(pipe2(p, O_CLOEXEC));
			CHECK_OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
			w->notify_rd = p[0];
			w->notify_wr = p[1];
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		CHECK_OK(epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->notify_rd, &ev));
		w->tid = spawn(worker, w);
	}

	listener = tcp_listener(0, 128, &server_addr);
	pthread_t disp = spawn(dispatcher, NULL);

	pthread_t ct[NCLIENTS];
	for (long i = 0; i < NCLIENTS; i++)
		ct[i] = spawn(client, (void *)i);
	for (int i = 0; i < NCLIENTS; i++)
		join(ct[i]);
	join(disp);

	sleep_ms(2 * TIMEOUT_MS + 50); /* idle: every worker times out */
	for (int i = 0; i < NWORKERS; i++)
		worker_notify(&workers[i], -1);
	int cmds = 0;
	for (int i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];
		join(w->tid);
		printf("worker %d (%s, %s, %s): %d connections, %d commands, %d timeouts (%.1f .. %.1f ms)\n", i,
		       w->is_eventfd ? "eventfd" : "pipe", w->use_pwait ? "epoll_pwait" : "epoll_wait",
		       w->edge ? "edge-triggered" : "level-triggered", w->conns, w->cmds, w->timeouts,
		       w->min_timeout_ns / 1e6, w->max_timeout_ns / 1e6);
		CHECK(w->conns == NCLIENTS / NWORKERS, "worker %d served %d connections, expected %d", i, w->conns, NCLIENTS / NWORKERS);
		CHECK(w->timeouts > 0, "worker %d never saw its %d ms timeout expire", i, TIMEOUT_MS);
		char what[64];
		snprintf(what, sizeof what, "worker %d: shortest epoll timeout", i);
		check_elapsed(w->min_timeout_ns, TIMEOUT_MS, 900, what);
		snprintf(what, sizeof what, "worker %d: longest epoll timeout", i);
		check_elapsed(w->max_timeout_ns, TIMEOUT_MS, 900, what);
		cmds += w->cmds;
		close(w->epfd);
		close(w->notify_rd);
		if (w->notify_wr != w->notify_rd)
			close(w->notify_wr);
	}
	CHECK(cmds == NCLIENTS * NCMDS, "the workers answered %d commands, the clients sent %d", cmds, NCLIENTS * NCMDS);
	close(listener);
	return test_pass();
}
