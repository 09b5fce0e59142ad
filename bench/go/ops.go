// ops: the Go peer of bench/pthread_ops.c.  The same benchmarks, with the
// same names, iteration counts, result checks and output format, done with
// goroutines, channels and package sync instead of pthreads, so a table can
// put the Go runtime next to native pthreads and libgmpthread.
//
//	ops                 run every benchmark
//	ops NAME...         run only these (see --list)
//	ops --list          print the benchmark names
//	ops --scale N       park N goroutines at once; prints the line of
//	                    pthread_ops --scale (ok=0 and exit 2 on a failed check;
//	                    create time from the first go to the last goroutine
//	                    started, RSS against VmRSS at the start of main)
//
// Each benchmark runs reps (5) times; the reported figure is the median.
// One machine-readable line per benchmark on stdout:
//
//	bench create_join ns_per_op=1234.5 n=2500 reps=5 min=... max=... wall_s=...
//
// spawn_parked adds rss_kib_per_thread=X os_threads=K (X: the largest over
// the reps, which is the first: later reps reuse the freed goroutines).
//
// Every benchmark checks what its goroutines did; on a failed check it prints
// "ops: FAIL ..." on stderr and exits with status 2.  PTHREAD_OPS_SCALE=x
// multiplies the iteration counts the C program multiplies (at least 1).
// GOMAXPROCS is whatever the environment sets.
//
// Build: GO111MODULE=off go build -o ops ops.go
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const reps = 5

// Iteration counts, as in pthread_ops.c.  PTHREAD_OPS_SCALE scales the ones
// the C program scales: not manyThreads, sleepThreads, nSleep, nSpawnParked.
const (
	nCreateJoin   = 2500    // go + wait pairs per rep
	manyThreads   = 1000    // goroutines alive at once in create_many
	nCreateMany   = 2       // rounds of manyThreads per rep
	nCondvar      = 6000    // round trips per rep
	nMutex        = 2400000 // total lock/unlock pairs per rep
	nRWLock       = 400000  // total operations per rep
	rwThreads     = 8
	rwWriteEvery  = 100    // every 100th operation of a goroutine writes
	nYield        = 100000 // round trips per rep (2 hand-offs each)
	yieldThreads  = 16
	nYieldStorm   = 50000 // yields per goroutine per rep
	nSem          = 6000  // round trips per rep
	sleepThreads  = 1000
	nSleep        = 10 // rounds of 1 ms sleeps per goroutine
	nSpawnParked  = 10000
	sleepDuration = time.Millisecond
)

var scale = 1.0

func scaled(n int64) int64 {
	v := int64(float64(n) * scale)
	if v < 1 {
		return 1
	}
	return v
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "ops: FAIL "+format+"\n", args...)
	os.Exit(2)
}

// procStatus returns VmRSS (KiB) and Threads from /proc/self/status.
func procStatus() (rssKiB int64, threads int) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fail("open /proc/self/status: %v", err)
	}
	defer f.Close()
	rssKiB, threads = -1, -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			rssKiB, _ = strconv.ParseInt(fields[1], 10, 64)
		case "Threads:":
			threads, _ = strconv.Atoi(fields[1])
		}
	}
	if rssKiB < 0 || threads < 0 {
		fail("/proc/self/status: no VmRSS or Threads line")
	}
	return rssKiB, threads
}

// ------------------------------------------------------------------
// create_join: sequential go + wait for the result of a trivial goroutine

var cjRan int64

func cjFn(i int64, ret chan<- int64) {
	atomic.AddInt64(&cjRan, 1)
	ret <- i*2 + 1
}

func benchCreateJoin() (time.Duration, int64) {
	n := scaled(nCreateJoin)
	atomic.StoreInt64(&cjRan, 0)
	ret := make(chan int64)
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go cjFn(i, ret)
		if r := <-ret; r != i*2+1 {
			fail("create_join: goroutine %d returned %d, want %d", i, r, i*2+1)
		}
	}
	el := time.Since(t0)
	if got := atomic.LoadInt64(&cjRan); got != n {
		fail("create_join: %d goroutines ran, want %d", got, n)
	}
	return el, n
}

// ------------------------------------------------------------------
// create_many: start manyThreads goroutines, then wait for them all

var cmSlot [manyThreads]uint8

func benchCreateMany() (time.Duration, int64) {
	rounds := scaled(nCreateMany)
	var total time.Duration
	for r := int64(0); r < rounds; r++ {
		cmSlot = [manyThreads]uint8{}
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(manyThreads)
		for i := 0; i < manyThreads; i++ {
			go func(i int) {
				cmSlot[i]++
				wg.Done()
			}(i)
		}
		wg.Wait()
		total += time.Since(t0)
		for i := range cmSlot {
			if cmSlot[i] != 1 {
				fail("create_many: goroutine %d ran %d times", i, cmSlot[i])
			}
		}
	}
	return total, rounds * manyThreads
}

// ------------------------------------------------------------------
// condvar_pingpong: one mutex, two condition variables, a turn variable

var cp struct {
	mu   sync.Mutex
	cv   [2]*sync.Cond
	turn int
	seq  int64 // hand-offs so far; player p acts only when seq%2 == p
	n    int64
}

func cpPlayer(me int, wg *sync.WaitGroup) {
	for i := int64(0); i < cp.n; i++ {
		cp.mu.Lock()
		for cp.turn != me {
			cp.cv[me].Wait()
		}
		if cp.seq != 2*i+int64(me) {
			fail("condvar_pingpong: player %d round %d saw seq %d", me, i, cp.seq)
		}
		cp.seq++
		cp.turn = 1 - me
		cp.cv[1-me].Signal()
		cp.mu.Unlock()
	}
	wg.Done()
}

// pingpong runs players 0 and 1 of a ping-pong and times them.
func pingpong(player func(me int, wg *sync.WaitGroup)) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(2)
	go player(0, &wg)
	go player(1, &wg)
	wg.Wait()
	return time.Since(t0)
}

func benchCondvarPingpong() (time.Duration, int64) {
	cp.n = scaled(nCondvar)
	cp.turn = 0
	cp.seq = 0
	cp.cv[0] = sync.NewCond(&cp.mu)
	cp.cv[1] = sync.NewCond(&cp.mu)
	el := pingpong(func(me int, wg *sync.WaitGroup) { cpPlayer(me, wg) })
	if cp.seq != 2*cp.n {
		fail("condvar_pingpong: seq %d, want %d", cp.seq, 2*cp.n)
	}
	return el, cp.n
}

// ------------------------------------------------------------------
// mutex_N: N goroutines, one mutex, a plain counter

var mc struct {
	mu        sync.Mutex
	counter   int64 // plain, not atomic: only the mutex protects it
	inside    int   // who is in the critical section (1-based)
	overlaps  int64 // times a goroutine found someone else inside
	perThread int64
}

func mcFn(me int, wg *sync.WaitGroup) {
	for i := int64(0); i < mc.perThread; i++ {
		mc.mu.Lock()
		if mc.inside != 0 {
			mc.overlaps++
		}
		mc.inside = me
		mc.counter++
		if mc.inside != me {
			mc.overlaps++
		}
		mc.inside = 0
		mc.mu.Unlock()
	}
	wg.Done()
}

func benchMutex(threads int) func() (time.Duration, int64) {
	return func() (time.Duration, int64) {
		mc.perThread = scaled(nMutex) / int64(threads)
		if mc.perThread < 1 {
			mc.perThread = 1
		}
		mc.counter = 0
		mc.overlaps = 0
		mc.inside = 0
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(threads)
		for i := 0; i < threads; i++ {
			go mcFn(i+1, &wg)
		}
		wg.Wait()
		el := time.Since(t0)
		want := mc.perThread * int64(threads)
		if mc.counter != want || mc.overlaps != 0 {
			fail("mutex_%d: counter %d (want %d), %d overlaps",
				threads, mc.counter, want, mc.overlaps)
		}
		return el, want
	}
}

// ------------------------------------------------------------------
// rwlock_readmostly: rwThreads goroutines, one RWMutex, 1 write in 100

var rw struct {
	mu        sync.RWMutex
	a, b      int64 // written together under the write lock
	perThread int64
	torn      int64 // reads that saw a != b (atomic)
}

func rwFn(wg *sync.WaitGroup) {
	for i := int64(0); i < rw.perThread; i++ {
		if i%rwWriteEvery == 0 {
			rw.mu.Lock()
			rw.a++
			rw.b++
			rw.mu.Unlock()
		} else {
			rw.mu.RLock()
			if rw.a != rw.b {
				atomic.AddInt64(&rw.torn, 1)
			}
			rw.mu.RUnlock()
		}
	}
	wg.Done()
}

func benchRWLockReadmostly() (time.Duration, int64) {
	rw.perThread = scaled(nRWLock) / rwThreads
	if rw.perThread < 1 {
		rw.perThread = 1
	}
	rw.a, rw.b = 0, 0
	atomic.StoreInt64(&rw.torn, 0)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(rwThreads)
	for i := 0; i < rwThreads; i++ {
		go rwFn(&wg)
	}
	wg.Wait()
	el := time.Since(t0)
	writes := rwThreads * ((rw.perThread + rwWriteEvery - 1) / rwWriteEvery)
	if torn := atomic.LoadInt64(&rw.torn); rw.a != writes || rw.b != writes || torn != 0 {
		fail("rwlock_readmostly: %d writes seen (want %d), %d torn reads",
			rw.a, writes, torn)
	}
	return el, rw.perThread * rwThreads
}

// ------------------------------------------------------------------
// yield_pingpong: wait for the turn with runtime.Gosched(), then pass it

var yp struct {
	turn int32
	_    [60]byte
	seq  int64 // ordered by turn's atomic load/store
	n    int64
}

func ypPlayer(me int32, wg *sync.WaitGroup) {
	for i := int64(0); i < yp.n; i++ {
		for atomic.LoadInt32(&yp.turn) != me {
			runtime.Gosched()
		}
		if yp.seq != 2*i+int64(me) {
			fail("yield_pingpong: player %d round %d saw seq %d", me, i, yp.seq)
		}
		yp.seq++
		atomic.StoreInt32(&yp.turn, 1-me)
	}
	wg.Done()
}

func benchYieldPingpong() (time.Duration, int64) {
	yp.n = scaled(nYield)
	yp.seq = 0
	atomic.StoreInt32(&yp.turn, 0)
	el := pingpong(func(me int, wg *sync.WaitGroup) { ypPlayer(int32(me), wg) })
	if yp.seq != 2*yp.n {
		fail("yield_pingpong: seq %d, want %d", yp.seq, 2*yp.n)
	}
	return el, 2 * yp.n // one switch = one hand-off of the turn, as in C
}

// ------------------------------------------------------------------
// yield_storm: yieldThreads goroutines each call runtime.Gosched() in a loop

func benchYieldStorm() (time.Duration, int64) {
	per := scaled(nYieldStorm)
	var counts [yieldThreads]int64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(yieldThreads)
	for t := 0; t < yieldThreads; t++ {
		go func(t int) {
			var k int64
			for k = 0; k < per; k++ {
				runtime.Gosched()
			}
			counts[t] = k
			wg.Done()
		}(t)
	}
	wg.Wait()
	el := time.Since(t0)
	for t, c := range counts {
		if c != per {
			fail("yield_storm: goroutine %d yielded %d times, want %d", t, c, per)
		}
	}
	return el, per * yieldThreads
}

// ------------------------------------------------------------------
// sem_pingpong: two counting semaphores (buffered channels of capacity 1)

var sp struct {
	s   [2]chan struct{}
	seq int64 // ordered by the semaphores
	n   int64
}

func spPlayer(me int, wg *sync.WaitGroup) {
	for i := int64(0); i < sp.n; i++ {
		if me == 1 {
			<-sp.s[1]
		}
		if sp.seq != 2*i+int64(me) {
			fail("sem_pingpong: player %d round %d saw seq %d", me, i, sp.seq)
		}
		sp.seq++
		sp.s[1-me] <- struct{}{}
		if me == 0 {
			<-sp.s[0]
		}
	}
	wg.Done()
}

func benchSemPingpong() (time.Duration, int64) {
	sp.n = scaled(nSem)
	sp.seq = 0
	sp.s[0] = make(chan struct{}, 1)
	sp.s[1] = make(chan struct{}, 1)
	el := pingpong(func(me int, wg *sync.WaitGroup) { spPlayer(me, wg) })
	if v0, v1 := len(sp.s[0]), len(sp.s[1]); sp.seq != 2*sp.n || v0 != 0 || v1 != 0 {
		fail("sem_pingpong: seq %d (want %d), values %d %d (want 0 0)",
			sp.seq, 2*sp.n, v0, v1)
	}
	return el, sp.n
}

// ------------------------------------------------------------------
// sleep_1000: sleepThreads goroutines, released together, each sleeping
// 1 ms nSleep times; ns per round of sleepThreads concurrent sleeps
// (ideal 1,000,000).  Goroutine creation is outside the timed part.

func benchSleep1000() (time.Duration, int64) {
	rounds := int64(nSleep)
	var counts [sleepThreads]int64
	var started, done sync.WaitGroup
	release := make(chan struct{})
	started.Add(sleepThreads)
	done.Add(sleepThreads)
	for t := 0; t < sleepThreads; t++ {
		go func(t int) {
			started.Done()
			<-release
			var k int64
			for k = 0; k < rounds; k++ {
				s0 := time.Now()
				time.Sleep(sleepDuration)
				if time.Since(s0) < sleepDuration {
					fail("sleep_1000: a 1 ms sleep returned early")
				}
			}
			counts[t] = k
			done.Done()
		}(t)
	}
	started.Wait()
	t0 := time.Now()
	close(release)
	done.Wait()
	el := time.Since(t0)
	for t, c := range counts {
		if c != rounds {
			fail("sleep_1000: goroutine %d slept %d times, want %d", t, c, rounds)
		}
	}
	return el, rounds
}

// ------------------------------------------------------------------
// spawn_parked: start goroutines that all block on one channel; ns per
// goroutine until all have started, RSS per parked goroutine, OS threads

var spawnRSSPerThread float64
var spawnOSThreads int

// parkedSet is n goroutines all blocked receiving from one channel, the
// set both spawn_parked and --scale measure.
type parkedSet struct {
	n               int64
	running, exited int64
	started, done   sync.WaitGroup
	release         chan struct{}
	create          time.Duration // from the first go to the last one started
	rssKiB          int64         // VmRSS with all n parked
	threads         int           // OS threads meanwhile
}

func park(n int64) *parkedSet {
	p := &parkedSet{n: n, release: make(chan struct{})}
	p.started.Add(int(n))
	p.done.Add(int(n))
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&p.running, 1)
			p.started.Done()
			<-p.release
			atomic.AddInt64(&p.exited, 1)
			p.done.Done()
		}()
	}
	p.started.Wait()
	p.create = time.Since(t0)
	p.rssKiB, p.threads = procStatus()
	return p
}

// unpark releases the set and waits for every goroutine to exit.
func (p *parkedSet) unpark() time.Duration {
	t0 := time.Now()
	close(p.release)
	p.done.Wait()
	return time.Since(t0)
}

func benchSpawnParked() (time.Duration, int64) {
	n := int64(nSpawnParked)
	rssBefore, _ := procStatus()
	p := park(n)
	if got := atomic.LoadInt64(&p.running); got != n {
		fail("spawn_parked: %d goroutines started, want %d", got, n)
	}
	if r := float64(p.rssKiB-rssBefore) / float64(n); r > spawnRSSPerThread {
		spawnRSSPerThread = r
	}
	spawnOSThreads = p.threads
	p.unpark()
	if got := atomic.LoadInt64(&p.exited); got != n {
		fail("spawn_parked: %d goroutines exited, want %d", got, n)
	}
	return p.create, n
}

// ------------------------------------------------------------------

type bench struct {
	name string
	fn   func() (time.Duration, int64)
}

var benches = []bench{
	{"create_join", benchCreateJoin},
	{"create_many", benchCreateMany},
	{"condvar_pingpong", benchCondvarPingpong},
	{"mutex_2", benchMutex(2)},
	{"mutex_8", benchMutex(8)},
	{"mutex_64", benchMutex(64)},
	{"rwlock_readmostly", benchRWLockReadmostly},
	{"yield_pingpong", benchYieldPingpong},
	{"yield_storm", benchYieldStorm},
	{"sem_pingpong", benchSemPingpong},
	{"sleep_1000", benchSleep1000},
	{"spawn_parked", benchSpawnParked},
}

func run(b *bench) {
	var per [reps]float64
	var nops int64
	t0 := time.Now()
	for r := 0; r < reps; r++ {
		var el time.Duration
		el, nops = b.fn()
		per[r] = float64(el.Nanoseconds()) / float64(nops)
	}
	wall := time.Since(t0).Seconds()
	sort.Float64s(per[:])
	line := fmt.Sprintf("bench %s ns_per_op=%.1f n=%d reps=%d min=%.1f max=%.1f wall_s=%.3f",
		b.name, per[reps/2], nops, reps, per[0], per[reps-1], wall)
	if b.name == "spawn_parked" {
		line += fmt.Sprintf(" rss_kib_per_thread=%.1f os_threads=%d",
			spawnRSSPerThread, spawnOSThreads)
	}
	fmt.Println(line)
}

func main() {
	rssStart, _ := procStatus()
	if len(os.Args) == 3 && os.Args[1] == "--scale" {
		scaleRun(os.Args[2], rssStart)
		return
	}
	if s := os.Getenv("PTHREAD_OPS_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0) {
			fmt.Fprintf(os.Stderr, "ops: bad PTHREAD_OPS_SCALE=%s\n", s)
			os.Exit(1)
		}
		scale = v
	}
	args := os.Args[1:]
	if len(args) == 1 && args[0] == "--list" {
		for _, b := range benches {
			fmt.Println(b.name)
		}
		return
	}
	if len(args) == 0 {
		for i := range benches {
			run(&benches[i])
		}
		return
	}
	for _, a := range args {
		found := false
		for i := range benches {
			if benches[i].name == a {
				run(&benches[i])
				found = true
				break
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "ops: unknown benchmark '%s' (--list shows them)\n", a)
			os.Exit(1)
		}
	}
}

// scaleRun is --scale N: N goroutines blocked receiving from one channel at
// once; prints the same "scale ..." line as pthread_ops --scale.
func scaleRun(arg string, rssStart int64) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "usage: ops --scale N   (N goroutines, N >= 1)")
		os.Exit(64)
	}

	p := park(int64(n))
	reached := atomic.LoadInt64(&p.running)
	releaseS := p.unpark().Seconds()
	ok := reached == int64(n) && atomic.LoadInt64(&p.exited) == int64(n)
	rss := p.rssKiB - rssStart
	okv := 0
	if ok {
		okv = 1
	}
	fmt.Printf("scale n=%d ok=%d reached=%d create_ns_per_thread=%.1f rss_kib=%d rss_kib_per_thread=%.2f os_threads=%d release_s=%.3f\n",
		n, okv, reached, float64(p.create.Nanoseconds())/float64(n),
		rss, float64(rss)/float64(n), p.threads, releaseS)
	if !ok {
		if got := atomic.LoadInt64(&p.exited); got != int64(n) {
			fmt.Fprintf(os.Stderr, "scale: FAIL %d goroutines exited, want %d\n", got, n)
		}
		os.Exit(2)
	}
}
