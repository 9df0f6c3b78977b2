"""The secret salt that subject hashes are keyed with, so the subject index never holds a guessable value.

An e-mail address or phone number has little entropy: a plain SHA-256 of it is reversed by hashing a list of
candidates. Keyed hashing (HMAC-SHA256) with a per-installation secret prevents that for anyone holding the
index but not the salt. The salt comes from ``PRIVFT_SUBJECT_SALT`` (e.g. from a secret store) or else from a
random file under the artifact root, created once with 0600 permissions and never rewritten: a new salt would
orphan every hash already stored (the index notices through the salt fingerprint and rebuilds).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SALT_ENV = "PRIVFT_SUBJECT_SALT"


def salt_path(artifact_root: Path | str) -> Path:
    # hidden, so content hashes of the provenance folder never include it
    return Path(artifact_root) / "provenance" / ".subject_salt"


def load_salt(artifact_root: Path | str) -> bytes:
    """The salt from the environment, else the installation's salt file (created on first use)."""
    from_env = os.environ.get(SALT_ENV)
    if from_env:
        return from_env.encode("utf-8")
    path = salt_path(artifact_root)
    if not path.exists():
        _create_once(path)
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path}: the subject salt is readable by other users; run `chmod 600 {path}` "
                              "(or set PRIVFT_SUBJECT_SALT) before building or querying the subject index")
    salt = path.read_bytes().strip()
    if len(salt) < 32:
        raise ValueError(f"{path}: subject salt is too short ({len(salt)} bytes); it was truncated or edited. "
                         "Restore it from backup, or delete it and the subject index under provenance/subjects "
                         "to start over")
    return salt


def _create_once(path: Path) -> None:
    """Write a random salt to a private temporary file, then link it into place; a concurrent creator wins once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(32).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created the salt first; then theirs is the salt
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def keyed_hash(salt: bytes, value: str) -> str:
    return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def salt_fingerprint(salt: bytes) -> str:
    """Identifies the salt without revealing it: stored next to the index to detect a changed salt."""
    return keyed_hash(salt, "\0privft-salt-fingerprint")[:16]
