#!/usr/bin/env bash
# Installs the Node.js test servers (recipes.md §3, §4) into ${DJ_NPM_DIR:-/opt/djrun-npm}.
# Usage: npm-install.sh [s3rver|azurite|gcs ...]   (no argument: all of them)
# Idempotent: a package already installed at its pinned version is skipped, so scripts/setup
# may call this on every run. Needs node and npm (Debian: nodejs, npm).
set -euo pipefail

dir=${DJ_NPM_DIR:-/opt/djrun-npm}

# short name -> npm package@version. @20minutes/s3rver, not plain s3rver: only it verifies SigV4.
declare -A pinned=(
	[s3rver]=@20minutes/s3rver@4.0.4
	[azurite]=azurite@3.35.0
	# the Cloud Storage emulator inside it, run by tests/services/gcs.sh without the CLI
	[gcs]=firebase-tools@15.34.2
)

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(s3rver azurite gcs)

command -v npm >/dev/null || { echo "npm-install: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$dir"
[ -f "$dir/package.json" ] || (cd "$dir" && npm init -y >/dev/null)

for name in "${want[@]}"; do
	spec=${pinned[$name]:-}
	[ -n "$spec" ] || { echo "npm-install: unknown package '$name' (know: ${!pinned[*]})" >&2; exit 2; }
	pkg=${spec%@*} ver=${spec##*@}
	have=$(node -p "require('$dir/node_modules/$pkg/package.json').version" 2>/dev/null || true)
	if [ "$have" = "$ver" ]; then
		echo "npm-install: $pkg $ver present in $dir" >&2
		continue
	fi
	echo "npm-install: installing $spec into $dir" >&2
	(cd "$dir" && npm install --no-audit --no-fund --loglevel=error "$spec" >/dev/null)
done
