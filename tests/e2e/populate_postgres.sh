#!/usr/bin/env bash
# djrun populate end to end on PostgreSQL: the checks of populate_mysql.sh (which see) on a
# pipeline declared in datajoint-python's PostgreSQL layout.
POP_BACKEND=postgresql exec bash "$(dirname "$0")/populate_mysql.sh"
