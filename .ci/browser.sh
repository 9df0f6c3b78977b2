# Sourced by .ci/run before the tests: make sure the system Chromium exists, so tests/test_ui_browser.py can drive
# the Dagster UI in a real browser (Playwright for Python, pointed at /usr/bin/chromium; Playwright's own
# browser download is never used). Idempotent (installs only when missing) and starts nothing: the test starts
# and stops its own `dagster dev` and browser.
# Sourced, not executed: no `exit` here, and a failure is reported without stopping the caller's `set -e` script.

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "browser.sh: installing chromium (for the Dagster UI browser tests)"
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
               && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
            echo "browser.sh: could not install chromium; the UI browser tests will fail in CI (CI=true)" >&2
        fi
    else
        echo "browser.sh: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get);" \
             "the UI browser tests will skip locally and fail in CI" >&2
    fi
fi
