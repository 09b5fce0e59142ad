#!/usr/bin/env bash
# Symbol coverage check for the pthread interposition layer.
#
#   tools/coverage.sh [--lib build/libgmpthread.so] [--markdown] [--tsv FILE] [--libc FILE]
#
# Lists every symbol the system's glibc exports whose name starts with
# pthread_, sem_, thrd_, mtx_, cnd_, tss_, or is call_once (libc.so.6, plus
# libpthread.so.0 if it adds any), and compares them with preload/coverage.tsv:
#
#   - fails if libc exports a symbol the table does not classify, or the table
#     lists a symbol libc does not export (or the table is malformed);
#   - with --lib LIB, and only once $(dirname LIB)/.shim-pthreads exists, also
#     fails if an `interposed` or `unsupported` symbol is not exported by LIB
#     in a form the dynamic linker binds a program's reference to: unversioned,
#     or under the version libc makes default for it (pthread_create@GLIBC_2.34
#     is never bound to pthread_create@@GMPTHREAD_0.1);
#   - prints "coverage: N symbols: I interposed, P passthrough, U unsupported"
#     and "coverage: 1 passed, 0 failed" (or "coverage: 0 passed, 1 failed").
#
# --markdown prints the table as a Markdown document instead (docs/COVERAGE.md
# is `tools/coverage.sh --markdown > docs/COVERAGE.md`); diagnostics then go to
# stderr and the exit status is the same. --tsv and --libc override the table
# and the C library (for testing the check itself).
#
# Needs only bash, coreutils, awk and binutils (nm, or objdump as a fallback).
set -u
export LC_ALL=C

root=$(cd "$(dirname "$0")/.." && pwd)
tsv=$root/preload/coverage.tsv
lib=
libc=
markdown=0

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--lib) [ $# -ge 2 ] || { echo "coverage: --lib needs a path" >&2; exit 2; }; lib=$2; shift 2 ;;
	--lib=*) lib=${1#--lib=}; shift ;;
	--tsv) [ $# -ge 2 ] || { echo "coverage: --tsv needs a path" >&2; exit 2; }; tsv=$2; shift 2 ;;
	--tsv=*) tsv=${1#--tsv=}; shift ;;
	--libc) [ $# -ge 2 ] || { echo "coverage: --libc needs a path" >&2; exit 2; }; libc=$2; shift 2 ;;
	--libc=*) libc=${1#--libc=}; shift ;;
	--markdown) markdown=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "coverage: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

# In --markdown mode stdout is the document; everything else goes to stderr.
if [ $markdown = 1 ]; then exec 3>&2; else exec 3>&1; fi
say() { echo "coverage: $*" >&3; }
err() { echo "coverage: $*" >&2; }
fail() {
	err "$@"
	say "0 passed, 1 failed"
	exit 1
}

# The names in scope.
SCOPE='^(pthread_|sem_|thrd_|mtx_|cnd_|tss_)|^call_once$'

# --- the system C library ---------------------------------------------------
if [ -z "$libc" ]; then
	arch=$(uname -m)
	for d in "/lib/$arch-linux-gnu" "/usr/lib/$arch-linux-gnu" /lib64 /usr/lib64 /lib /usr/lib; do
		if [ -e "$d/libc.so.6" ]; then libc=$d/libc.so.6; break; fi
	done
	[ -n "$libc" ] || fail "cannot find libc.so.6 (pass --libc FILE)"
fi
[ -r "$libc" ] || fail "cannot read $libc"
libs=("$libc")
[ -e "$(dirname "$libc")/libpthread.so.0" ] && libs+=("$(dirname "$libc")/libpthread.so.0")

# Defined dynamic symbols of the given objects, one "name<TAB>version<TAB>kind"
# per symbol version: kind is "default" (name@@VER, or unversioned) or
# "compat" (name@VER: only already-linked programs can reference it).
dynsyms() {
	local raw
	if command -v nm >/dev/null 2>&1; then
		raw=$(nm -D --defined-only "$@") || return 1
	elif command -v objdump >/dev/null 2>&1; then
		# "addr flags section size version name"; a hidden version is "(VER)".
		raw=$(objdump -T "$@") || return 1
		raw=$(printf '%s\n' "$raw" | awk '/^[0-9a-f]+ / && $0 !~ /\*UND\*/ {
			v = $(NF-1); n = $NF
			if (v ~ /^\(.*\)$/) { gsub(/[()]/, "", v); print "0 T " n "@" v }
			else if (v == "Base" || v ~ /^[0-9a-f]+$/) print "0 T " n
			else print "0 T " n "@@" v }')
	else
		echo "coverage: neither nm nor objdump is installed (binutils)" >&2
		return 1
	fi
	printf '%s\n' "$raw" | awk '
		$2 == "A" || $2 == "U" || NF < 3 { next }
		{
			s = $NF
			if (index(s, "@@")) { split(s, a, "@@"); print a[1] "\t" a[2] "\tdefault" }
			else if (index(s, "@")) { split(s, a, "@"); print a[1] "\t" a[2] "\tcompat" }
			else print s "\t\tdefault"
		}'
}

libcsyms=$(dynsyms "${libs[@]}") || fail "could not list the symbols of ${libs[*]}"
# name<TAB>default versions (comma-separated, may be empty)<TAB>all versions
scope=$(printf '%s\n' "$libcsyms" | awk -F'\t' -v re="$SCOPE" '
	$1 ~ re {
		names[$1] = 1
		if ($2 != "" && index("," all[$1] ",", "," $2 ",") == 0) all[$1] = all[$1] (all[$1] == "" ? "" : ",") $2
		if ($3 == "default") { def[$1] = 1; if ($2 != "" && index("," dv[$1] ",", "," $2 ",") == 0) dv[$1] = dv[$1] (dv[$1] == "" ? "" : ",") $2 }
	}
	END { for (n in names) print n "\t" (n in def ? (dv[n] == "" ? "-" : dv[n]) : "") "\t" all[n] }' | sort)
[ -n "$scope" ] || fail "no pthread_/sem_/thrd_/mtx_/cnd_/tss_/call_once symbols in ${libs[*]}: wrong library?"

# --- the table ---------------------------------------------------------------
[ -r "$tsv" ] || fail "cannot read $tsv"
# Validate the table's shape: symbol<TAB>class<TAB>note, each symbol once.
bad=$(awk -F'\t' '
	/^[ \t]*(#|$)/ { next }
	NF != 3 { printf "  %s:%d: want 3 TAB-separated fields (symbol, class, note), got %d\n", FILENAME, FNR, NF; next }
	$1 !~ /^[A-Za-z_][A-Za-z0-9_]*$/ { printf "  %s:%d: bad symbol name \"%s\"\n", FILENAME, FNR, $1; next }
	$2 != "interposed" && $2 != "passthrough" && $2 != "unsupported" {
		printf "  %s:%d: %s: class \"%s\" is not interposed, passthrough or unsupported\n", FILENAME, FNR, $1, $2; next }
	$3 ~ /^[ ]*$/ { printf "  %s:%d: %s: empty note\n", FILENAME, FNR, $1; next }
	$2 == "unsupported" && $3 !~ /(^|[^A-Za-z0-9_])E[A-Z0-9]+([^A-Za-z0-9_]|$)/ {
		printf "  %s:%d: %s: an unsupported symbol must name its errno in the note\n", FILENAME, FNR, $1; next }
	seen[$1]++ { printf "  %s:%d: %s: listed more than once\n", FILENAME, FNR, $1 }
' "$tsv")
table=$(awk -F'\t' '/^[ \t]*(#|$)/ { next } NF == 3 { print }' "$tsv" | sort -t"$(printf '\t')" -k1,1)

errors=()
[ -z "$bad" ] || errors+=("$tsv is malformed:"$'\n'"$bad")

libc_names=$(printf '%s\n' "$scope" | cut -f1 | sort -u)
tsv_names=$(printf '%s\n' "$table" | cut -f1 | sort -u)
missing=$(comm -23 <(printf '%s\n' "$libc_names") <(printf '%s\n' "$tsv_names") | sed '/^$/d')
extra=$(comm -13 <(printf '%s\n' "$libc_names") <(printf '%s\n' "$tsv_names") | sed '/^$/d')
if [ -n "$missing" ]; then
	errors+=("libc exports $(printf '%s\n' "$missing" | wc -l) symbol(s) that $tsv does not classify (add each with a class and a note):"$'\n'"$(printf '%s\n' "$missing" | sed 's/^/  /')")
fi
if [ -n "$extra" ]; then
	errors+=("$tsv lists $(printf '%s\n' "$extra" | wc -l) symbol(s) that ${libs[*]} does not export:"$'\n'"$(printf '%s\n' "$extra" | sed 's/^/  /')")
fi

# Advisory: a note should say "compat-only" exactly when libc has no default
# version of the symbol (new programs cannot link against it).
warn=$(awk -F'\t' 'NR == FNR { compat[$1] = ($2 == ""); vers[$1] = $3; next }
	($1 in compat) {
		says = ($3 ~ /compat-only/)
		if (compat[$1] && !says) printf "  %s: libc has only compat version(s) %s; say compat-only in the note\n", $1, vers[$1]
		if (!compat[$1] && says) printf "  %s: note says compat-only but libc has a default version\n", $1
	}' <(printf '%s\n' "$scope") <(printf '%s\n' "$table"))
[ -z "$warn" ] || err "warning: compat-only notes out of date:"$'\n'"$warn"

# --- the shim library --------------------------------------------------------
if [ -n "$lib" ]; then
	marker=$(dirname "$lib")/.shim-pthreads
	if [ ! -e "$marker" ]; then
		say "note: interposition check skipped: $marker does not exist (the pthread layer is not built yet)"
	elif [ ! -r "$lib" ]; then
		errors+=("$marker exists but $lib cannot be read (build it first)")
	else
		libsyms=$(dynsyms "$lib")
		if [ $? != 0 ]; then
			errors+=("could not list the symbols of $lib")
		else
			# For every interposed/unsupported symbol: exported unversioned, or
			# under one of libc's default versions (compat-only: any libc version).
			unexported=$(awk -F'\t' '
				FILENAME == ARGV[1] { want[$1] = ($2 == "" ? $3 : $2); next }
				FILENAME == ARGV[2] { if ($2 == "") any[$1] = "-"; else vs[$1] = vs[$1] (vs[$1] == "" ? "" : ",") $2; next }
				$2 == "interposed" || $2 == "unsupported" {
					n = $1
					if (n in any) next
					if (!(n in vs)) { printf "  %s (%s): not exported\n", n, $2; next }
					split(want[n], w, ","); split(vs[n], h, ",")
					ok = (want[n] == "-")
					for (i in w) for (j in h) if (w[i] == h[j]) ok = 1
					if (!ok) printf "  %s (%s): exported only as version %s; programs reference %s\n", n, $2, vs[n], want[n]
				}' <(printf '%s\n' "$scope") <(printf '%s\n' "$libsyms") <(printf '%s\n' "$table"))
			[ -z "$unexported" ] ||
				errors+=("$lib does not export, in a form programs bind to, $(printf '%s\n' "$unexported" | wc -l) symbol(s) the table says it must:"$'\n'"$unexported")
		fi
	fi
fi

# --- report ------------------------------------------------------------------
counts=$(printf '%s\n' "$table" | awk -F'\t' 'NF == 3 { n++; c[$2]++ }
	END { printf "%d symbols: %d interposed, %d passthrough, %d unsupported", n, c["interposed"], c["passthrough"], c["unsupported"] }')
say "$counts"

if [ ${#errors[@]} -gt 0 ]; then
	for e in "${errors[@]}"; do err "FAIL: $e"; done
	say "0 passed, 1 failed"
	exit 1
fi

if [ $markdown = 1 ]; then
	ver=$("$libc" 2>/dev/null | head -n 1 | sed -n 's/^GNU C Library (\(.*\)) .*release version \([0-9.]*\).*/\1/p')
	[ -n "$ver" ] || ver="glibc"
	ni=$(printf '%s\n' "$table" | awk -F'\t' '$2 == "unsupported"' | wc -l)
	cat <<EOF
# pthread symbol coverage

<!-- Generated by \`tools/coverage.sh --markdown > docs/COVERAGE.md\` from
     preload/coverage.tsv. Edit the TSV, not this file. -->

Every symbol the C library exports whose name starts with \`pthread_\`, \`sem_\`,
\`thrd_\`, \`mtx_\`, \`cnd_\`, \`tss_\`, or is \`call_once\`, has exactly one class
in [preload/coverage.tsv](../preload/coverage.tsv), and the interposition layer
is held to it:

- **interposed**: libgmpthread exports the symbol and implements it on its
  runtime. Such a symbol creates, identifies, joins, cancels, blocks, wakes or
  owns thread state, so glibc's version would act on the OS thread (the M)
  instead of the user thread (the G).
- **passthrough**: the symbol is left to glibc, because it touches only the
  caller's attribute object, or no thread state at all.
- **unsupported**: libgmpthread exports the symbol and returns the errno that
  the note names (one glibc itself can return), because user-level threads
  cannot provide the feature.

\`make test\` runs \`tools/coverage.sh\`. It fails when libc exports a symbol
that the table does not classify, or when the table lists one that libc does
not export. Once the pthread layer is built (\`build/.shim-pthreads\` exists),
it also fails when \`build/libgmpthread.so\` does not export an interposed or
unsupported symbol, either unversioned or under libc's default version.
A reference to \`pthread_create@GLIBC_2.34\` is never bound to
\`pthread_create@@GMPTHREAD_0.1\`. "compat-only" marks symbols that glibc keeps
only for already-linked binaries. Some names outside these prefixes must also be
interposed, and the notes name them: \`__register_atfork\`, \`sched_yield\`, the
\`__pthread_register_cancel\` family, and \`clock_gettime\`.

Generated against $ver: **$counts**.

| symbol | class | note |
|---|---|---|
EOF
	printf '%s\n' "$table" | awk -F'\t' '
		function code(s,   out, w, i, n, pre, core, post) {
			# Put identifiers (anything with _ or *) in backticks so Markdown
			# does not read __x__ or cnd_* as emphasis; escape table pipes.
			n = split(s, w, " "); out = ""
			for (i = 1; i <= n; i++) {
				pre = ""; core = w[i]; post = ""
				while (core ~ /^[("]/) { pre = pre substr(core, 1, 1); core = substr(core, 2) }
				while (core ~ /[),;:."]$/ && length(core) > 1) { post = substr(core, length(core)) post; core = substr(core, 1, length(core) - 1) }
				if (core ~ /[_*]/) core = "`" core "`"
				out = out (i > 1 ? " " : "") pre core post
			}
			gsub(/\|/, "\\|", out)
			return out
		}
		NF == 3 { printf "| `%s` | %s | %s |\n", $1, $2, code($3) }'
	if [ "$ni" = 0 ]; then
		printf '\nNo symbol is `unsupported` today: each one that user-level threads cannot fully honour is interposed, and its note names the errno it returns for the cases it cannot serve.\n'
	fi
fi

say "1 passed, 0 failed"
exit 0
