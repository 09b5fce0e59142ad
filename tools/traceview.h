/*
 * traceview: Chrome trace-event JSON (as written by GMP_TRACE) to one
 * self-contained HTML page with an inline SVG timeline.  Linked into gmprun
 * as `gmprun view` (tools/gmprun.c parses the command line).
 */
#ifndef GMP_TRACEVIEW_H
#define GMP_TRACEVIEW_H

#define TRACEVIEW_DEFAULT_WIDTH      1400
#define TRACEVIEW_DEFAULT_MAX_SLICES 50000

struct traceview_opts {
	int width;        /* pixels of the time axis at the default zoom */
	long max_slices;  /* above this many shapes, merge sub-pixel slices; 0: never */
};

/*
 * Reads the trace IN ("-": stdin) and writes the page to OUT ("-": stdout).
 * Returns 0, or 1 after printing the problem on stderr: "gmprun: IN:LINE:COL:
 * MESSAGE" for malformed JSON, "gmprun: ..." for I/O errors.  Nothing is
 * written to OUT unless the whole input parsed.
 */
int traceview_convert(const char *in, const char *out, const struct traceview_opts *opts);

#endif
