#!/usr/bin/env bash
# tests/e2e/gc_concurrent.sh on PostgreSQL: djrun gc --collect runs again and again while a psql
# writer inserts rows (new content and dedup hits on orphans) and deletes some, for 40 s by default
# (DJ_GC_WRITER_SECONDS), on a file store with mpirun -n 2; then every row left must decode and hash-verify.
DJ_GC_BACKEND=postgresql DJ_GC_FILE_RANKS=2 DJ_GC_WRITER_SECONDS=${DJ_GC_WRITER_SECONDS:-40} \
	exec bash "$(cd "$(dirname "$0")" && pwd)/gc_concurrent.sh" "$@"
