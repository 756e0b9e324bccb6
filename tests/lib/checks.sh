# Sourced by the test scripts: counted checks and service gating.
# check NAME 'SHELL TEST': counts a pass, or prints "FAIL: NAME" and counts a failure.
# need VAR: true when the service variable VAR is set; otherwise a skip, or a counted failure
# when DJ_TEST_REQUIRE_SERVICES is set (CI), so a missing service never passes silently.
fails=0 passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1" >&2; fails=$((fails + 1)); fi; }
need() {
	if [ -z "${!1:-}" ]; then
		if [ -n "${DJ_TEST_REQUIRE_SERVICES:-}" ]; then
			echo "FAIL: $1 is not set but DJ_TEST_REQUIRE_SERVICES is" >&2; fails=$((fails + 1))
		else
			echo "SKIP: $1 not set (no test server)"
		fi
		return 1
	fi
}
