/* A library with initial-exec __thread data, loaded by tls_dlopen with
 * dlopen(): its block is carved from the static TLS surplus, and glibc must
 * initialise it in every thread that already exists.
 * cflags: -ftls-model=initial-exec */
static __thread int counter = 11;
static __thread char label[32] = "tlsmod_ie";

int ie_bump(int by)
{
	counter += by;
	return counter;
}

const char *ie_label(void)
{
	return label;
}
