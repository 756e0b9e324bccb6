#!/usr/bin/env bash
# migrate_array.sh on PostgreSQL.
MIG_BACKEND=postgresql exec bash "$(dirname "${BASH_SOURCE[0]}")/migrate_array.sh"
