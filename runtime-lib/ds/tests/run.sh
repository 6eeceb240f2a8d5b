#!/usr/bin/env bash
# Build and run the data-structure library's unit tests with clang-19 (AddressSanitizer and
# UBSan), once normally and once with -DNFCC_DS_TRACE (which also checks the PCV counters).
# First checks the library against the module rules: clean under -Wall -Wextra, no VLAs, small
# frames, no calls out but nfcc_alloc/nfcc_free/nfcc_heap_check/mem*/nfcc_hash_bytes, no constructors or thread-locals, and no
# trace counters in a normal build. One line per group; exits 0 only if everything passes.
set -euo pipefail

ds=$(cd "$(dirname "$0")/.." && pwd)
inc=$(cd "$ds/../include" && pwd)
cc=${CC:-clang-19}
nm=$(command -v llvm-nm-19 || command -v nm)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1

failed=0
report() { # status group detail
	printf '%-4s %-22s %s\n' "$1" "$2" "$3"
	[ "$1" = ok ] || failed=1
}

# The module rules, on the library as a module would build it (-O2).
rules() { # mode flags...
	local mode=$1 objs=() problems=""
	shift
	mkdir -p "$out/rules-$mode"
	for src in "$ds"/*.c; do
		local obj="$out/rules-$mode/$(basename "$src" .c).o"
		if ! "$cc" -std=gnu11 -O2 -Wall -Wextra -Werror -Werror=vla -Wframe-larger-than=512 \
			"$@" -I "$inc" -I "$ds" -c "$src" -o "$obj" 2>"$out/err"; then
			cat "$out/err" >&2
			problems+=" $(basename "$src") does not compile cleanly;"
			continue
		fi
		objs+=("$obj")
	done
	local defined external
	defined=$("$nm" --defined-only -j "${objs[@]}" | sort -u)
	external=$("$nm" -u -j "${objs[@]}" | sort -u | grep -vxF "$defined" |
		grep -vxE 'nfcc_alloc|nfcc_free|nfcc_heap_check|memcpy|memmove|memset|memcmp|bcmp|nfcc_hash_bytes' || true)
	[ -z "$external" ] || problems+=" calls out to: $(echo $external);"
	if llvm-readelf-19 -S "${objs[@]}" | grep -qE '\.(init_array|ctors|tbss|tdata)'; then
		problems+=" constructors or thread-locals;"
	fi
	local trace_syms
	trace_syms=$("$nm" -j "${objs[@]}" | grep -cx nfcc_ds_trace || true)
	if [ "$mode" = plain ] && [ "$trace_syms" != 0 ]; then
		problems+=" nfcc_ds_trace in a normal build;"
	fi
	if [ "$mode" = trace ] && [ "$trace_syms" = 0 ]; then
		problems+=" no nfcc_ds_trace in a tracing build;"
	fi
	if [ -z "$problems" ]; then
		report ok "rules [$mode]" "${#objs[@]} sources, calls out only to nfcc_alloc/free, nfcc_heap_check, mem* and the runtime's hash"
	else
		report FAIL "rules [$mode]" "$problems"
	fi
}

rules plain
rules trace -DNFCC_DS_TRACE

# The tests: the library and the allocation stub built once per mode, a program per structure.
flags=(-std=gnu11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all
	-Wall -Wextra -Werror -I "$inc" -I "$ds")
for mode in plain trace; do
	extra=()
	[ "$mode" = trace ] && extra=(-DNFCC_DS_TRACE)
	mkdir -p "$out/$mode"
	lib=()
	for src in "$ds"/*.c "$ds"/../c/nfcc_hash.c "$ds"/tests/alloc_stub.c "$ds"/tests/harness.c; do
		obj="$out/$mode/lib-$(basename "$src" .c).o"
		if ! "$cc" "${flags[@]}" "${extra[@]}" -c "$src" -o "$obj" 2>"$out/err"; then
			cat "$out/err" >&2
			report FAIL "library [$mode]" "$(basename "$src") does not build"
			continue 2
		fi
		lib+=("$obj")
	done
	for test in "$ds"/tests/test_*.c; do
		name=$(basename "$test" .c)
		name=${name#test_}
		bin="$out/$mode/$name"
		if ! "$cc" "${flags[@]}" "${extra[@]}" "$test" "${lib[@]}" -o "$bin" 2>"$out/err"; then
			cat "$out/err" >&2
			report FAIL "$name [$mode]" "does not build"
			continue
		fi
		if "$bin" >"$out/log" 2>&1; then
			report ok "$name [$mode]" "$(tail -n 1 "$out/log")"
		else
			cat "$out/log" >&2
			report FAIL "$name [$mode]" "$(tail -n 1 "$out/log")"
		fi
	done
done

exit "$failed"
