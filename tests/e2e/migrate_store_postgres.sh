#!/usr/bin/env bash
# migrate_store.sh on PostgreSQL.
MIG_BACKEND=postgresql exec bash "$(dirname "${BASH_SOURCE[0]}")/migrate_store.sh"
