# Sourced by .ci/run before the tests: make sure the PostgreSQL server binaries exist, so the production tests
# (tests/test_prod_postgres.py, tests/test_prod_pipeline_postgres.py) can start a throwaway server themselves
# (tests/servers.py: initdb + postgres on 127.0.0.1, in a temporary folder, removed afterwards).
# Idempotent (installs only what is missing) and starts nothing: the tests start and stop their own servers.
# Sourced, not executed: no `exit` here, and a failure is reported without stopping the caller's `set -e` script.
# The S3-compatible server (moto) is a Python package from the project's test dependencies, not a system one.

_privft_pg_present() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null 2>&1 && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null 2>&1
}

if ! _privft_pg_present; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "services.sh: installing postgresql (server binaries for the production-profile tests)"
        # The Debian package would start a system cluster on port 5432; policy-rc.d exit 101 forbids that, since
        # the tests run their own server. Restored afterwards if one already existed.
        _privft_rc=/usr/sbin/policy-rc.d
        _privft_had_rc=0; [ -e "$_privft_rc" ] && _privft_had_rc=1 && cp -p "$_privft_rc" "$_privft_rc.privft-saved"
        printf '#!/bin/sh\nexit 101\n' > "$_privft_rc" && chmod +x "$_privft_rc"
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
               && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }; then
            echo "services.sh: could not install postgresql; the production tests will fail in CI (CI=true)" >&2
        fi
        if [ "$_privft_had_rc" = "1" ]; then mv "$_privft_rc.privft-saved" "$_privft_rc"; else rm -f "$_privft_rc"; fi
        unset _privft_rc _privft_had_rc
    else
        echo "services.sh: PostgreSQL is missing and cannot be installed here (needs root and apt-get);" \
             "the production tests will skip locally and fail in CI" >&2
    fi
fi
unset -f _privft_pg_present
