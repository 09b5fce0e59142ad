/* A library with __thread data, loaded by tls_dlopen with dlopen() (the
 * default general-dynamic TLS model: blocks allocated per thread on first
 * use). */
static __thread int counter = 7;
static __thread char label[32] = "tlsmod_gd";

int gd_bump(int by)
{
	counter += by;
	return counter;
}

const char *gd_label(void)
{
	return label;
}
