# Shell helpers shared by the bench/run_*.sh scripts (sourced).

# ratio A B: A/B to 2 decimals, or "-" when either is not a number or B is 0
ratio() {
	case "$1/$2" in
	[0-9]*/[0-9]*) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }' ;;
	*) echo "-" ;;
	esac
}

# log_dir NAME: sets $logs to $LOG_DIR (kept, keep_logs=1) or a fresh
# temporary directory (keep_logs=0); exits on failure.
log_dir() {
	if [ -n "${LOG_DIR:-}" ]; then
		logs=$LOG_DIR; keep_logs=1
		mkdir -p "$logs" || exit 1
	else
		logs=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1; keep_logs=0
	fi
}

# bench_args "$@": the scripts take exactly BUILD_DIR (usage otherwise).
bench_args() {
	if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
		echo "usage: $0 BUILD_DIR" >&2
		exit 64
	fi
}
