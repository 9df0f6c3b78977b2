# Sourced by .ci/run before the tests: make sure the `ip` tool (iproute2) exists, so the privacy tests can run
# the pipeline inside a network namespace with only a loopback interface (tests/netns.py).
# Idempotent (installs only when `ip` is missing) and starts nothing. Sourced, not executed: no `exit` here,
# and every failure is reported without stopping the caller's `set -e` script.

# `ip` lives in /usr/sbin or /sbin, which a non-login shell's PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin:/sbin" ;; esac

if ! command -v ip >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "privacy.sh: installing iproute2 (provides \`ip\` for the network-namespace tests)"
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
               && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 >/dev/null; }; then
            echo "privacy.sh: could not install iproute2; tests/test_privacy_netns.py and tests/test_privacy_pipeline.py will fail in CI" >&2
        fi
    else
        echo "privacy.sh: \`ip\` is missing and cannot be installed here (needs root and apt-get);" \
             "the network-namespace tests will skip" >&2
    fi
fi
