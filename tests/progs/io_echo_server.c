/*
 * io_echo_server: a thread-per-connection TCP echo server and 1000 client
 * threads in one process, all on blocking sockets over 127.0.0.1.
 *   - an acceptor thread accept()s 1000 connections and starts one
 *     handler thread (64 KiB stack) per connection; a handler echoes with
 *     plain blocking loops (read/write, recv/send or readv/writev,
 *     depending on the connection) until EOF, then closes
 *   - each client (64 KiB stack) connects, makes 2 round trips (1 byte,
 *     then 16 KiB), and waits at a gate: main opens it only once all 1000
 *     clients got there, so >= 1000 connections and 2000 blocked threads
 *     (1000 handlers in a read, 1000 clients at the gate) are live at once;
 *     main samples the OS thread count then
 *   - after the gate each client makes 18 more round trips of varying
 *     sizes (1 byte .. 16 KiB: partial reads and writes happen), each
 *     answer compared byte for byte; its own checksums of bytes sent and
 *     received must match, and the handlers' checksum of all bytes echoed
 *     must equal the clients' total
 *   - clients use send/recv, read/write or writev/readv by turn, handlers
 *     likewise, so every call is exercised on both sides
 *   - prints the peak number of OS threads (entries of /proc/self/task);
 *     under the shim (GMP_EXPECT_MAX_OS_THREADS set by the runner) fails
 *     if it exceeds that: 1000 threads blocked in socket reads (and 1000
 *     at a condvar) must not need an OS thread each
 * The soft RLIMIT_NOFILE is raised to the hard limit (2000 sockets plus a
 * few); the program fails clearly if the hard limit is below 2200.
 */
/* shim-max-os-threads: 32 */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define NCLIENTS 1000
#define ROUNDS 20
#define GATE_ROUND 2 /* round trips done before the gate */
#define MAXMSG 16384
#define STACK (64 * 1024)

static struct sockaddr_in server_addr;
static int listener;
static pthread_attr_t small;

/* Handlers: started by the acceptor, joined by main. */
static pthread_t handler_tid[NCLIENTS];
static int handlers_started, handlers_live;
static uint64_t echoed_bytes, echoed_sum;

/* Clients. */
struct client {
	int id;
	uint64_t sent_sum, recv_sum; /* FNV-1a of all bytes sent / received */
	uint64_t nbytes, bytesum;    /* bytes sent, sum of their values */
};
static struct client clients[NCLIENTS];
static pthread_mutex_t gate_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int at_gate, gate_open;


/* ---- I/O in three flavours; each moves all of len or reports EOF ---- */

enum { VIA_RW, VIA_SENDRECV, VIA_VEC, VIA_COUNT };

static ssize_t do_read(int fd, void *buf, size_t len, int via)
{
	switch (via) {
	case VIA_RW:
		return read(fd, buf, len);
	case VIA_SENDRECV:
		return recv(fd, buf, len, 0);
	default: {
		/* Two pieces, split unevenly. */
		size_t a = len > 1 ? len / 3 + 1 : len;
		struct iovec iov[2] = {{buf, a}, {(char *)buf + a, len - a}};
		return readv(fd, iov, len - a ? 2 : 1);
	}
	}
}

static ssize_t do_write(int fd, const void *buf, size_t len, int via)
{
	switch (via) {
	case VIA_RW:
		return write(fd, buf, len);
	case VIA_SENDRECV:
		return send(fd, buf, len, MSG_NOSIGNAL);
	default: {
		size_t a = len > 2 ? len / 2 - 1 : len;
		size_t b = (len - a) / 2;
		struct iovec iov[3] = {
			{(void *)buf, a},
			{(char *)buf + a, b},
			{(char *)buf + a + b, len - a - b},
		};
		return writev(fd, iov, 3);
	}
	}
}

static void write_all(int fd, const unsigned char *p, size_t len, int via, const char *who)
{
	while (len > 0) {
		ssize_t n = do_write(fd, p, len, via);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "%s: write of %zu bytes returned %zd (%s)", who, len, n, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Reads exactly len bytes (fails on EOF). */
static void read_all(int fd, unsigned char *p, size_t len, int via, const char *who)
{
	while (len > 0) {
		ssize_t n = do_read(fd, p, len, via);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "%s: read of %zu bytes returned %zd (%s)", who, len, n, n < 0 ? strerror(errno) : "EOF");
		p += n;
		len -= (size_t)n;
	}
}

static uint64_t sum_bytes(const unsigned char *p, size_t len, uint64_t h)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* ---- server ---- */

static void *handler(void *arg)
{
	int fd = (int)((long)arg >> 8), via = (int)((long)arg & 0xff);
	unsigned char *buf = malloc(MAXMSG);
	CHECK(buf != NULL, "malloc failed");
	uint64_t bytes = 0, sum = 0;
	/* Read sizes cycle through odd values so reads end mid-message. */
	static const size_t chunk[] = {7, 4096, 1000, MAXMSG, 1};
	for (unsigned k = 0;; k++) {
		ssize_t n = do_read(fd, buf, chunk[k % 5], via);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0, "handler: read failed: %s", strerror(errno));
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			sum += buf[i];
		bytes += (uint64_t)n;
		write_all(fd, buf, (size_t)n, via, "handler");
	}
	CHECK_OK(close(fd));
	free(buf);
	ADD(&echoed_bytes, bytes);
	ADD(&echoed_sum, sum);
	ADD(&handlers_live, -1);
	return NULL;
}

static void *acceptor(void *arg)
{
	for (long i = 0; i < NCLIENTS; i++) {
		int fd = accept(listener, NULL, NULL);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) {
			i--;
			continue;
		}
		CHECK(fd >= 0, "accept #%ld failed: %s", i, strerror(errno));
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		ADD(&handlers_live, 1);
		int rc = pthread_create(&handler_tid[i], &small, handler, (void *)(((long)fd << 8) | (i % VIA_COUNT)));
		CHECK(rc == 0, "pthread_create of handler #%ld failed: %s", i, err_name(rc));
		STORE(&handlers_started, (int)i + 1);
	}
	return NULL;
}

/* ---- clients ---- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t round_size(int round, uint64_t *rng)
{
	if (round == 0)
		return 1;
	if (round == 1)
		return MAXMSG;
	/* log-uniform in 1 .. 16 KiB */
	uint64_t r = rng_next(rng);
	size_t cap = (size_t)1 << (r % 15); /* 1 .. 16384 */
	return 1 + (size_t)((r >> 8) % cap);
}

static void *client(void *arg)
{
	struct client *c = arg;
	char who[32];
	snprintf(who, sizeof who, "client %d", c->id);
	int via = (c->id / 3) % VIA_COUNT; /* differs from its handler's, mostly */
	unsigned char *out = malloc(MAXMSG), *in = malloc(MAXMSG);
	CHECK(out && in, "malloc failed");
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(c->id + 1);

	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0, "%s: socket failed: %s", who, strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	int rc;
	while ((rc = connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr)) != 0 && errno == EINTR)
		;
	CHECK(rc == 0, "%s: connect failed: %s", who, strerror(errno));

	for (int round = 0; round < ROUNDS; round++) {
		if (round == GATE_ROUND) {
			pthread_mutex_lock(&gate_m);
			at_gate++;
			while (!gate_open)
				pthread_cond_wait(&gate_cv, &gate_m);
			pthread_mutex_unlock(&gate_m);
		}
		size_t len = round_size(round, &rng);
		for (size_t i = 0; i < len; i++)
			out[i] = (unsigned char)rng_next(&rng);
		write_all(fd, out, len, via, who);
		read_all(fd, in, len, via, who);
		CHECK(memcmp(in, out, len) == 0, "%s: round %d: the echo of %zu bytes differs", who, round, len);
		c->sent_sum = sum_bytes(out, len, c->sent_sum);
		c->recv_sum = sum_bytes(in, len, c->recv_sum);
		for (size_t i = 0; i < len; i++)
			c->bytesum += out[i];
		c->nbytes += len;
	}
	CHECK_OK(close(fd));
	free(out);
	free(in);
	return NULL;
}

int main(void)
{
	test_begin();

	struct rlimit rl;
	CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
	CHECK(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 2200,
	      "RLIMIT_NOFILE hard limit is %llu; this test needs >= 2200 descriptors (2 per connection)",
	      (unsigned long long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));

	CHECK_RC(pthread_attr_init(&small), 0);
	CHECK_RC(pthread_attr_setstacksize(&small, STACK), 0);

	listener = tcp_listener(0, 4096, &server_addr);

	int peak = os_threads();
	pthread_t acc = spawn(acceptor, NULL);
	static pthread_t ct[NCLIENTS];
	for (int i = 0; i < NCLIENTS; i++) {
		clients[i].id = i;
		int rc = pthread_create(&ct[i], &small, client, &clients[i]);
		CHECK(rc == 0, "pthread_create of client #%d failed: %s", i, err_name(rc));
		if (i % 100 == 99) {
			int n = os_threads();
			if (n > peak)
				peak = n;
		}
	}

	/* The peak: every client connected and at the gate, every handler
	 * blocked reading its connection. */
	WAIT_FOR(LOAD(&at_gate) == NCLIENTS, 25000, "all 1000 clients to connect and make their first round trips");
	CHECK(LOAD(&handlers_started) == NCLIENTS && LOAD(&handlers_live) == NCLIENTS,
	      "%d handlers started, %d live; expected %d of each", LOAD(&handlers_started), LOAD(&handlers_live), NCLIENTS);
	for (int k = 0; k < 3; k++) {
		int n = os_threads();
		if (n > peak)
			peak = n;
		sleep_ms(5);
	}
	printf("%d connections live at once; peak OS threads: %d\n", NCLIENTS, peak);

	pthread_mutex_lock(&gate_m);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_m);

	uint64_t total_bytes = 0, total_sum = 0;
	for (int i = 0; i < NCLIENTS; i++) {
		join(ct[i]);
		struct client *c = &clients[i];
		CHECK(c->sent_sum == c->recv_sum, "client %d: checksum of bytes sent %016llx, of bytes received %016llx",
		      i, (unsigned long long)c->sent_sum, (unsigned long long)c->recv_sum);
		total_bytes += c->nbytes;
		total_sum += c->bytesum;
	}
	join(acc);
	for (int i = 0; i < NCLIENTS; i++)
		join(handler_tid[i]);
	CHECK(LOAD(&handlers_live) == 0, "%d handlers did not finish", LOAD(&handlers_live));
	CHECK(echoed_bytes == total_bytes, "handlers echoed %llu bytes, clients sent %llu",
	      (unsigned long long)echoed_bytes, (unsigned long long)total_bytes);
	CHECK(echoed_sum == total_sum, "checksum of bytes echoed %llu, of bytes sent %llu",
	      (unsigned long long)echoed_sum, (unsigned long long)total_sum);
	printf("%d clients x %d round trips, %llu bytes each way\n", NCLIENTS, ROUNDS, (unsigned long long)total_bytes);
	CHECK_OK(close(listener));

	check_os_threads(peak);
	return test_pass();
}
