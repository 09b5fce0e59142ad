/*
 * accept_pool: a pool of T threads blocked in accept() on one listening
 * socket (the classic pre-threaded server), and one client thread that
 * connects, reads until the server closes, and closes, N times in a row.
 * Prints the time per connection.  Under a runtime that wakes every waiter
 * of an fd on each event this costs O(T) per connection.
 *
 *   accept_pool [THREADS [CONNECTIONS]]     default 256 5000
 *
 * Ordinary pthread code, built with plain gcc -O2 -pthread.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int lfd;

static void *acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			return NULL;
		close(c);
	}
}

int main(int argc, char **argv)
{
	int nthreads = argc > 1 ? atoi(argv[1]) : 256;
	int nconns = argc > 2 ? atoi(argv[2]) : 5000;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0 || listen(lfd, 4096) != 0) {
		perror("accept_pool: listener");
		return 1;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;
		if (pthread_create(&t, &attr, acceptor, NULL) != 0) {
			perror("accept_pool: pthread_create");
			return 1;
		}
	}
	usleep(100000); /* let them all block in accept() */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nconns; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		char b;
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0) {
			perror("accept_pool: connect");
			return 1;
		}
		if (read(c, &b, 1) != 0) { /* the server closes: EOF */
			fprintf(stderr, "accept_pool: expected EOF\n");
			return 1;
		}
		close(c);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("accept_pool threads=%d conns=%d us_per_conn=%.1f\n", nthreads, nconns, ns / nconns / 1000);
	return 0;
}
