#!/usr/bin/env bash
# See fixtures_restore.py.
exec python3 "$(dirname "$0")/fixtures_restore.py"
