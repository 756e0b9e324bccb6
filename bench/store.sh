#!/usr/bin/env bash
# Store benchmarks, run by hand (not by ctest): bench_store from a Release build, with cp and dd
# beside the file figures, and the test servers of tests/services (started here unless their
# DJ_TEST_* variables are set, stopped at the end). All data is deleted afterwards.
# Usage: bench/store.sh [file|s3|azure|gcs|list]...   (default: all; about 4 minutes)
# Environment: DJ_BENCH_BUILD_DIR (default build-bench), DJ_BENCH_DIR (where the file benchmark
# writes, default /tmp: put it on the disk you care about), BENCH_FILE_MB (1000),
# BENCH_CLOUD_MB (256), BENCH_OBJECTS (10000), BENCH_AZURE_OBJECTS (2000), BENCH_GCS_MB (100: the
# emulator refuses request bodies over 130 MB), BENCH_GCS_OBJECTS (2000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DJ_BENCH_BUILD_DIR:-$root/build-bench}
file_mb=${BENCH_FILE_MB:-1000} cloud_mb=${BENCH_CLOUD_MB:-256} objects=${BENCH_OBJECTS:-10000}
azure_objects=${BENCH_AZURE_OBJECTS:-2000}
gcs_mb=${BENCH_GCS_MB:-100} gcs_objects=${BENCH_GCS_OBJECTS:-2000}
work=$(mktemp -d "${DJ_BENCH_DIR:-/tmp}/djrun-bench-store.XXXXXX")
started=()
cleanup() {
	for s in "${started[@]}"; do "$root/tests/services/$s.sh" stop "$work/$s" || true; done
	rm -rf "$work"
}
trap cleanup EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDJ_SANITIZE=OFF >/dev/null
cmake --build "$build" --target bench_store --target djrun -j"$(nproc)" >/dev/null
bench=$build/bench_store djrun=$build/djrun

# server VAR NAME: use the running one when VAR is set, else start tests/services/NAME.sh
server() {
	[ -n "${!1:-}" ] && return 0
	eval "export $("$root/tests/services/$2.sh" start "$work/$2")"
	started+=("$2")
}

# The virtual disks this runs on change speed from one minute to the next: every figure is the
# best of 3 rounds, and each round runs all of them, baselines and ours interleaved. Every run
# starts from a deleted target and a `sync`, so that none pays for the write-back or the freeing
# (discard) of the one before.
fresh() { # TARGET COMMAND...: delete TARGET and sync (untimed), then COMMAND's wall seconds
	local t0 t1 target=$1
	shift
	rm -f "$target"; sync
	t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
prep() { # TARGET COMMAND...: delete TARGET and sync, then COMMAND (bench_store times itself)
	rm -f "$1"; sync
	shift
	"$@"
}
line() { # LABEL SECONDS [BASELINE-SECONDS]
	printf '%-42s %8.1f MB/s  (%.2f s)' "$1" "$(echo "$file_mb / $2" | bc -l)" "$2"
	[ -z "${3:-}" ] && { echo; return; }
	printf '  %4.0f%% of the baseline\n' "$(echo "100 * $3 / $2" | bc -l)"
}

bench_file() {
	local d=$work/file cfg=$work/file/datajoint.json op t
	local -A cmd best
	mkdir -p "$d"
	printf '{"stores": {"b": {"protocol": "file", "location": "%s/store"}}}' "$d" >"$cfg"
	"$bench" file "$d" "$file_mb" src >/dev/null
	cmd=(
		[dd]="fresh $d/dd.bin dd if=$d/src.bin of=$d/dd.bin bs=8M conv=fsync status=none"
		[put]="prep $d/store/obj $bench file $d $file_mb put"
		[mem]="prep '' $bench file $d $file_mb put-mem"
		[cli_put]="fresh $d/store/obj2 $djrun store put b obj2 $d/src.bin --config $cfg"
		[cp]="fresh $d/cp.bin cp $d/src.bin $d/cp.bin"
		[nosync]="prep $d/store/obj $bench file $d $file_mb put-nosync"
		[cli_get]="fresh $d/got.bin $djrun store get b obj -o $d/got.bin --config $cfg"
		[read]="fresh '' dd if=$d/store/obj of=/dev/null bs=8M status=none"
		[get]="prep '' $bench file $d $file_mb get"
	)
	for _ in 1 2 3; do
		for op in dd put mem cli_put cp nosync cli_get read get; do
			t=$(eval "${cmd[$op]}")
			if [ -z "${best[$op]:-}" ] || [ "$(echo "$t < ${best[$op]}" | bc -l)" = 1 ]; then
				best[$op]=$t
			fi
		done
	done
	cmp -s "$d/src.bin" "$d/got.bin" || echo "djrun store get: bytes differ" >&2
	echo "file: one $file_mb MB object; same disk ($(df --output=source "$d" | tail -1)), warm page cache"
	line "dd bs=8M conv=fsync" "${best[dd]}"
	line "  put_file (fsync, rename)" "${best[put]}" "${best[dd]}"
	line "  put from memory (fsync, rename)" "${best[mem]}" "${best[dd]}"
	line "  djrun store put FILE (fsync, rename)" "${best[cli_put]}" "${best[dd]}"
	line "cp (no fsync)" "${best[cp]}"
	line "  put_file (no fsync, rename)" "${best[nosync]}" "${best[cp]}"
	line "  djrun store get -o FILE" "${best[cli_get]}" "${best[cp]}"
	line "dd to /dev/null (one 8 MiB buffer)" "${best[read]}"
	line "  get into memory (one 1 GB buffer)" "${best[get]}" "${best[read]}"
	rm -rf "$d"
}

for b in ${*:-file s3 azure gcs list}; do
	echo "== $b"
	case $b in
	file) bench_file ;;
	s3) server DJ_TEST_S3_ENDPOINT s3rver && "$bench" s3 "$cloud_mb" ;;
	azure) server DJ_TEST_AZURE_CONNECTION_STRING azurite && "$bench" azure "$cloud_mb" ;;
	gcs) server DJ_TEST_GCS_ENDPOINT gcs && "$bench" gcs "$gcs_mb" ;;
	list)
		mkdir -p "$work/list"
		"$bench" list "file:$work/list" "$objects"
		server DJ_TEST_S3_ENDPOINT s3rver && "$bench" list s3 "$objects"
		# Azurite deletes in O(blobs in the container) (LokiJS re-indexes after each removal):
		# 10,000 would take about 6 minutes, so azure gets fewer
		server DJ_TEST_AZURE_CONNECTION_STRING azurite && "$bench" list azure "$azure_objects"
		server DJ_TEST_GCS_ENDPOINT gcs && "$bench" list gcs "$gcs_objects"
		;;
	*) echo "unknown benchmark '$b' (file, s3, azure, gcs, list)" >&2; exit 2 ;;
	esac
done
