"""Run a command in a fresh network namespace whose only interface is loopback: a machine with no network.

The privacy tests run the pipeline in here (tests/test_privacy_pipeline.py). Isolation is proven by the
namespace's interface list (``ip -n NAME -o link`` shows only ``lo``), never by sending traffic to an outside
address. Creating a namespace needs root (or CAP_SYS_ADMIN) and the ``ip`` tool; where the machine forbids it the
tests skip with the reason, except in CI as root with ``ip`` installed, where a namespace that cannot be created is
a failure (the proof must not silently vanish from CI).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import pytest

PREFIX = "privft-"
CAP_SYS_ADMIN = 21


class NamespaceUnavailable(RuntimeError):
    """This machine cannot create network namespaces (the message says why)."""


def ip_tool() -> str | None:
    # /sbin and /usr/sbin are not on every PATH (e.g. a non-login shell in a container)
    return shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.access(p, os.X_OK)),
                                      None)


def has_cap_sys_admin() -> bool:
    try:
        with open("/proc/self/status") as fh:
            caps = next(line.split()[1] for line in fh if line.startswith("CapEff:"))
    except (OSError, StopIteration):
        return False
    return bool(int(caps, 16) >> CAP_SYS_ADMIN & 1)


def unavailable_reason() -> str | None:
    """Why namespaces cannot be tried here, or None when they can."""
    if not os.path.isdir("/proc/self/ns") or not os.path.exists("/proc/self/ns/net"):
        return "this system has no Linux network namespaces"
    if ip_tool() is None:
        return "the `ip` tool (iproute2) is not installed; .ci/privacy.sh installs it"
    if os.geteuid() != 0 and not has_cap_sys_admin():
        return "creating a network namespace needs root or CAP_SYS_ADMIN"
    return None


def must_work_here() -> bool:
    """In CI, as root with `ip` present, a namespace that cannot be created fails the test instead of skipping."""
    return os.environ.get("CI", "").lower() == "true" and os.geteuid() == 0 and ip_tool() is not None


def _ip(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([ip_tool() or "ip", *args], capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class Namespace:
    name: str

    def interfaces(self) -> list[str]:
        """Interface names inside the namespace, from ``ip -n NAME -o link`` ("1: lo: <LOOPBACK,UP> ...")."""
        out = _ip("-n", self.name, "-o", "link")
        if out.returncode != 0:
            raise RuntimeError(f"ip -n {self.name} -o link failed: {out.stderr.strip()}")
        return [line.split(":", 2)[1].strip().split("@")[0] for line in out.stdout.splitlines() if line.strip()]

    def addresses(self) -> list[str]:
        """Every address configured inside the namespace (only 127.0.0.1/8 and ::1/128 when isolated)."""
        out = _ip("-n", self.name, "-o", "addr")
        return [line.split()[3] for line in out.stdout.splitlines() if len(line.split()) > 3]

    def routes(self) -> list[str]:
        out = _ip("-n", self.name, "route", "show", "table", "all")
        return [line for line in out.stdout.splitlines() if line.strip()]

    def assert_isolated(self) -> None:
        interfaces = self.interfaces()
        assert interfaces == ["lo"], f"namespace {self.name} has interfaces {interfaces}, expected only lo"
        outside = [a for a in self.addresses() if a not in ("127.0.0.1/8", "::1/128")]
        assert not outside, f"namespace {self.name} has non-loopback addresses {outside}"

    def run(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the namespace; on timeout the whole process group is killed, then TimeoutExpired."""
        return run_command([ip_tool() or "ip", "netns", "exec", self.name, *argv], timeout=timeout, env=env, cwd=cwd)


def run_command(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
                cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` (in this process's network namespace); on timeout its process group is killed."""
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(proc.args, timeout, output=out, stderr=err) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@contextmanager
def isolated_namespace() -> Iterator[Namespace]:
    """A new namespace with only ``lo`` (up); always deleted afterwards. Raises NamespaceUnavailable."""
    reason = unavailable_reason()
    if reason:
        raise NamespaceUnavailable(reason)
    name = PREFIX + secrets.token_hex(4)
    created = _ip("netns", "add", name)
    if created.returncode != 0:
        raise NamespaceUnavailable(f"`ip netns add {name}` failed: {created.stderr.strip() or created.returncode}")
    try:
        up = _ip("-n", name, "link", "set", "lo", "up")
        if up.returncode != 0:
            raise RuntimeError(f"ip -n {name} link set lo up failed: {up.stderr.strip()}")
        yield Namespace(name)
    finally:
        _ip("netns", "delete", name)


def namespace_exists(name: str) -> bool:
    out = _ip("netns", "list")
    return any(line.split()[0] == name for line in out.stdout.splitlines() if line.strip())


@contextmanager
def namespace_or_skip() -> Iterator[Namespace]:
    """An isolated namespace; skips the test where the machine forbids namespaces (fails instead in CI as root)."""
    try:
        with isolated_namespace() as ns:
            ns.assert_isolated()
            yield ns
    except NamespaceUnavailable as exc:
        skip_or_fail(exc)


def skip_or_fail(exc: NamespaceUnavailable) -> None:
    """Skip the current test because of ``exc``; fail it instead in CI as root with `ip` present."""
    if must_work_here():
        pytest.fail(f"CI=true, running as root with `ip` present, yet no network namespace: {exc}")
    pytest.skip(f"network namespaces unavailable: {exc}")


@pytest.fixture
def netns() -> Iterator[Namespace]:
    with namespace_or_skip() as ns:
        yield ns
