"""Throwaway servers for the production tests: a real PostgreSQL and a real S3-compatible endpoint (moto).

Both listen on 127.0.0.1 on a free port, live in a temporary folder and are stopped and removed afterwards.
Tests that need them import the fixtures from here (``from tests.servers import postgres_server, ...``).
PostgreSQL comes from the system packages (``.ci/services.sh`` installs them in CI); when the binaries are
missing the tests are skipped locally but fail in CI (``CI=true``), so a broken CI image cannot pass silently.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

PG_USER = "privft"
PG_PASSWORD = "privft-test-password"
# initdb refuses to run as root; these system users may own the throwaway cluster instead.
CLUSTER_OWNERS = ("postgres", "privft-pg")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip locally, fail in CI: a CI image without the server must not turn into a green run."""
    message = f"{what}; install it with `bash .ci/services.sh` (as root) or `apt-get install -y postgresql`"
    if in_ci():
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


def postgres_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _cluster_owner() -> tuple[int, int] | None:
    """(uid, gid) to run the server as; None when we are not root and simply run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in CLUSTER_OWNERS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", CLUSTER_OWNERS[-1]],
                   check=True, capture_output=True)
    entry = pwd.getpwnam(CLUSTER_OWNERS[-1])
    return entry.pw_uid, entry.pw_gid


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    socket_dir: str

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={dbname}"

    def env(self, dbname: str) -> dict[str, str]:
        """The variables deploy/dagster.postgres.yaml reads."""
        return {"PRIVFT_PG_HOST": self.host, "PRIVFT_PG_PORT": str(self.port), "PRIVFT_PG_USER": self.user,
                "PRIVFT_PG_PASSWORD": self.password, "PRIVFT_PG_DB": dbname}

    def create_database(self, prefix: str = "dagster") -> str:
        import psycopg2

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn = psycopg2.connect(self.dsn())
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "postgres").exists():
        missing("PostgreSQL server binaries (initdb, postgres) not found")
    owner = _cluster_owner()
    # Not pytest's tmp_path: that lives under a 0700 root-owned folder the cluster owner cannot enter.
    base = Path(tempfile.mkdtemp(prefix="privft-pg-"))
    data, pwfile = base / "data", base / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if owner:
        for p in (base, pwfile):
            os.chown(p, *owner)
    run_as = {"user": owner[0], "group": owner[1], "extra_groups": []} if owner else {}
    port = free_port()

    def pg(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([str(bin_dir / args[0]), *args[1:]], capture_output=True, text=True, cwd=base,
                                **run_as)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}) in {base}:\n{result.stdout}\n{result.stderr}")
        return result

    try:
        pg("initdb", "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}", "--auth-local=trust",
           "--auth-host=scram-sha-256", "-E", "UTF8", "--no-instructions")
        # Durability is irrelevant for a throwaway cluster; without fsync the tests run several times faster.
        options = ["-p", str(port), "-k", str(base), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                   "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=100"]
        # The postmaster is our direct child (not daemonised by pg_ctl) and gets SIGQUIT if we die, so a
        # killed test session cannot leave a server behind.
        with open(base / "server.log", "wb") as log:
            proc = subprocess.Popen([str(bin_dir / "postgres"), "-D", str(data), *options], stdout=log,
                                    stderr=subprocess.STDOUT, cwd=base, preexec_fn=_die_with_parent, **run_as)
        try:
            server = PostgresServer("127.0.0.1", port, PG_USER, PG_PASSWORD, str(base))
            _wait_until_ready(server, proc, base / "server.log")
            yield server
        finally:
            proc.send_signal(signal.SIGQUIT)  # immediate shutdown: nothing here needs to survive
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _die_with_parent() -> None:
    """Runs in the child after it switched user: ask Linux to SIGQUIT it when the test process exits."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGQUIT)  # 1 = PR_SET_PDEATHSIG


def _wait_until_ready(server: PostgresServer, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited with {proc.returncode} while starting; log {log}:\n"
                               f"{log.read_text(errors='replace')}")
        try:
            psycopg2.connect(server.dsn(), connect_timeout=2).close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL not ready on {server.host}:{server.port} after {timeout}s: {exc}; "
                                   f"log {log}:\n{log.read_text(errors='replace')}") from exc
            time.sleep(0.2)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (about 2 s to start)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> tuple[PostgresServer, str]:
    """A fresh, empty database on the session server, so tests never see each other's runs."""
    return postgres_server, postgres_server.create_database()


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def env(self) -> dict[str, str]:
        """What resources/remote/object_store.py reads: endpoint and (fake) credentials, only from the environment."""
        return {"PRIVFT_S3_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 HTTP endpoint (moto in server mode) on 127.0.0.1; each test creates its own bucket."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server: S3Server, monkeypatch) -> str:
    """A fresh bucket on the session's S3 server; endpoint and credentials reach the code only through the
    environment."""
    from resources.remote.object_store import ObjectStore

    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    name = f"privft-{uuid.uuid4().hex[:10]}"
    fs, _ = ObjectStore().filesystem(f"s3://{name}")
    fs.mkdir(name)
    return f"s3://{name}"


__all__ = ["PostgresServer", "S3Server", "bucket", "free_port", "in_ci", "postgres_db", "postgres_server",
           "running_postgres", "s3_server"]
