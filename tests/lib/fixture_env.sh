# Sourced by the CLI tests that restore the fixture pipeline under names of their own run
# (djt_<pid>_lab, djt_<pid>_ephys): CLI tests run in parallel with the integration tests, which own
# fx_lab / fx_ephys. Brings check() and need() (checks.sh); defines my() and pg() (the servers'
# own clients), rename() (the dump with the run's schema names) and a trap that drops both
# schemas and the scratch dir $tmp.
: "${DJRUN:?}" "${DJ_SHARED_DIR:?}"
F=$DJ_SHARED_DIR/fixtures/pipeline
tmp=$(mktemp -d)
lab=djt_$$_lab ephys=djt_$$_ephys
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
# a clean environment: only what each check sets
unset DJ_HOST DJ_PORT DJ_USER DJ_PASS DJ_BACKEND DJ_DATABASE_NAME DJ_USE_TLS
export DJ_IGNORE_CONFIG_FILE=1
cd "$tmp" || exit 1

my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
pg() { PGPASSWORD=$DJ_TEST_PG_PASS psql -X -q -v ON_ERROR_STOP=1 -h "$DJ_TEST_PG_HOST" -p "$DJ_TEST_PG_PORT" -U "$DJ_TEST_PG_USER" -d "${DJ_TEST_PG_DB:-postgres}" "$@"; }
cleanup() {
	[ -n "${DJ_TEST_MYSQL_HOST:-}" ] && my -e "DROP DATABASE IF EXISTS $ephys; DROP DATABASE IF EXISTS $lab" 2>/dev/null
	[ -n "${DJ_TEST_PG_HOST:-}" ] && pg -c "DROP SCHEMA IF EXISTS $ephys CASCADE" -c "DROP SCHEMA IF EXISTS $lab CASCADE" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
rename() { sed "s/fx_lab/$lab/g; s/fx_ephys/$ephys/g" "$1"; }
