#!/usr/bin/env bash
# The checks of populate_stored.sh (which see) on PostgreSQL: the same pipeline declared in
# datajoint-python's PostgreSQL layout (jsonb columns, comments as COMMENT ON).
POP_BACKEND=postgresql exec bash "$(dirname "$0")/populate_stored.sh"
