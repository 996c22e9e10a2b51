#!/usr/bin/env bash
# Run every test of contact_centre: the Odoo-free pytest suite, then the Odoo suite on a fresh
# database (install with demo data, --test-tags /contact_centre; HttpCase tests run Odoo's real
# HTTP server, and Odoo tours would run in Debian's headless Chromium, installed by bootstrap), then
# the system suite (real Odoo processes killed and restarted, on throwaway databases).
#
#   scripts/test.sh                  # everything
#   scripts/test.sh --unit-only      # only the Odoo-free suite
#   scripts/test.sh --odoo-only [--tags /contact_centre:TestClass]   # with --tags: no system suite
#
# Where Odoo is missing at $ODOO_PATH (default /opt/odoo) the Odoo suite is skipped LOUDLY and the
# command still fails if the Odoo-free suite fails. The last line is "tests: N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export ODOO_PATH=${ODOO_PATH:-/opt/odoo}
CC_CACHE=${CC_CACHE:-$HOME/.cache/contact_centre}
run_unit=1 run_odoo=1 tags=/contact_centre
while [ $# -gt 0 ]; do
    case "$1" in
        --unit-only) run_odoo=0 ;;
        --odoo-only) run_unit=0 ;;
        --tags) tags=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

venv=$(bash "$here/scripts/bootstrap.sh" | tail -n 1) || { echo "bootstrap failed" >&2; exit 1; }
py="$venv/bin/python"
passed=0 failed=0 status=0

run_pytest_suite() {  # folder, title
    echo "=== $2 (pytest $1) ==="
    local report="$CC_CACHE/pytest-report.txt"
    (cd "$here" && "$py" -m pytest "$1" -q) | tee "$report"
    local rc=${PIPESTATUS[0]}
    local line; line=$(grep -E '^[=]* ?[0-9]+ (passed|failed)' "$report" | tail -n 1)
    local p f e
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
    e=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || true)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
    if [ "$rc" -ne 0 ]; then status=1; [ "${f:-0}${e:-0}" = "00" ] && failed=$((failed + 1)); fi
}

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_odoo_suite() {
    echo "=== Odoo suite (--test-tags $tags) ==="
    local addons_dir="$CC_CACHE/addons-$$" db="cc_test_$$" log="${CC_ODOO_LOG:-$CC_CACHE/odoo-test.log}"
    mkdir -p "$addons_dir" && ln -sfn "$here" "$addons_dir/contact_centre"
    dropdb --if-exists "$db" 2>/dev/null
    : > "$log"
    "$py" "$ODOO_PATH/odoo-bin" -d "$db" \
        --addons-path="$ODOO_PATH/addons,$ODOO_PATH/odoo/addons,$addons_dir" \
        -i contact_centre --with-demo --test-tags "$tags" --stop-after-init \
        --http-port "$(free_port)" --http-interface 127.0.0.1 --workers 0 --max-cron-threads 0 \
        --log-level info --logfile "$log"
    local rc=$?
    dropdb --if-exists "$db" 2>/dev/null; rm -rf "$addons_dir"
    # What went wrong, and Odoo's own count of the tests it ran.
    grep -E ' (ERROR|CRITICAL) ' "$log" | head -n 60
    local summary; summary=$(grep -E '[0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests' "$log" | tail -n 1)
    echo "odoo: ${summary:-no test summary found}"
    echo "tours run: $(grep -c '\.browser: tour succeeded' "$log")"
    local total f e
    total=$(echo "$summary" | grep -oE 'of [0-9]+ tests' | grep -oE '[0-9]+' || true)
    f=$(echo "$summary" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
    e=$(echo "$summary" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+' || true)
    if [ -z "$summary" ]; then
        echo "!!! The Odoo suite produced no test summary (install failed?). Log: $log" >&2
        failed=$((failed + 1)); status=1; return
    fi
    # A skipped test is not a passed one (Odoo counts it in its total): say so and fail.
    local skipped; skipped=$(grep -cE ' INFO .* skipped .* : ' "$log" || true)
    if [ "${skipped:-0}" -ne 0 ]; then
        echo "!!! $skipped Odoo test(s) were skipped:" >&2
        grep -E ' INFO .* skipped .* : ' "$log" | sed 's/^.* skipped /    /' >&2
    fi
    # Odoo counts every failed subtest; a test is failed once: counted by name where they are named.
    local failing=$((${f:-0} + ${e:-0})) named
    named=$(grep -oE ' (FAIL|ERROR): (Subtest )?[A-Za-z0-9_]+\.[A-Za-z0-9_]+' "$log" | sed -E 's/^.*: (Subtest )?//' | sort -u | wc -l)
    [ "$named" -gt 0 ] && [ "$named" -lt "$failing" ] && failing=$named
    passed=$((passed + total - failing - ${skipped:-0}))
    failed=$((failed + failing + ${skipped:-0}))
    if [ "$rc" -ne 0 ] || [ "$failing" -ne 0 ] || [ "${skipped:-0}" -ne 0 ] \
        || grep -qE ' (ERROR|CRITICAL) ' "$log"; then
        status=1
        [ "$failing${skipped:-0}" = "00" ] && failed=$((failed + 1))
    fi
}

[ $run_unit -eq 1 ] && run_pytest_suite tests/unit "Odoo-free suite"
if [ $run_odoo -eq 1 ]; then
    if [ -f "$ODOO_PATH/odoo-bin" ] && [ -d "$ODOO_PATH/odoo/addons/base" ]; then
        run_odoo_suite
        # --tags picks Odoo tests only; the system suite runs with the whole Odoo suite.
        [ "$tags" = /contact_centre ] && run_pytest_suite tests/system "System suite: real Odoo processes"
    else
        cat <<MSG

!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!! THE ODOO SUITE WAS SKIPPED: no Odoo at ODOO_PATH=$ODOO_PATH
!!! (odoo-bin and odoo/addons/base are missing). Only the Odoo-free suite ran.
!!! Place Odoo 19.0 community there (see README) and run this command again.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

MSG
    fi
fi
echo "tests: $passed passed, $failed failed"
exit $status
