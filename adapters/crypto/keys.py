"""The key hierarchy of data at rest: a master key, and data keys wrapped by it.

Why two levels: each patient's stored events are encrypted under the
patient's own data key, so forgetting that one key (crypto-shredding) erases
the patient everywhere at once, backups of the store included, while the
master key only ever wraps data keys (rotating it re-wraps a few hundred
bytes per patient, never an event).

- ``MasterKey``: 32 random bytes from ``CARELOG_MASTER_KEY`` (base64) or the
  file ``KEYS_DIR/master.key`` (created 0600 on first start when absent). Its
  id (the first 8 bytes of its SHA-256, hex) is stored beside every wrapped
  data key, so a wrong master key is named as such.
- ``Keyring``: the wrapped data keys, in their own SQLite file
  ``KEYS_DIR/keyring.db`` (0600), apart from the event store so that a backup
  of the store never holds a key. One row per owner: a patient id (hex), or
  ``SHARED`` for data that concerns no patient. Forgotten key ids are kept
  (``erased``) so that reading an erased record says "erased", not "unknown".
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.errors import ConfigError, ErasedDataError, StoredStateError

__all__ = ["SHARED", "Keyring", "MasterKey", "keys_dir", "private_file"]

SHARED = "-"  # the owner of data that belongs to no patient
_FRESHNESS_S = 0.25  # how stale a process's key cache may be after another process erased


def keys_dir(env: Mapping[str, str]) -> Path:
    """``CARELOG_KEYS_DIR``, default ``var/keys`` (relative to the working directory)."""
    return Path(env.get("CARELOG_KEYS_DIR") or "var/keys")


def private_file(path: Path, data: bytes) -> None:
    """Writes ``data`` to a new file readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass(frozen=True)
class MasterKey:
    """The key-encrypting key; never written next to the store or into a backup."""

    key: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.key).digest()[:8].hex()

    @classmethod
    def parse(cls, text: str, where: str) -> MasterKey:
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except ValueError as e:
            raise ConfigError(f"{where}: not base64") from e
        if len(key) != 32:
            raise ConfigError(f"{where}: expected 32 bytes of key, got {len(key)}")
        return cls(key)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(32))

    def text(self) -> str:
        return base64.b64encode(self.key).decode() + "\n"

    @classmethod
    def load(cls, env: Mapping[str, str], *, create: bool) -> MasterKey:
        """From ``CARELOG_MASTER_KEY``, else ``KEYS_DIR/master.key`` (made when ``create``).

        Raises:
            ConfigError: malformed key, or no key and ``create`` is false.
        """
        if text := env.get("CARELOG_MASTER_KEY"):
            return cls.parse(text, "CARELOG_MASTER_KEY")
        path = keys_dir(env) / "master.key"
        if path.exists():
            return cls.parse(path.read_text(), str(path))
        if not create:
            raise ConfigError(f"no master key: set CARELOG_MASTER_KEY or create {path}")
        key = cls.generate()
        private_file(path, key.text().encode())
        return key


class Keyring:
    """Data keys by owner, wrapped under the master key; unwrapped ones cached in memory."""

    def __init__(self, path: Path, master: MasterKey) -> None:
        self.path = path
        self.master = master
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA secure_delete=ON")  # a forgotten key's bytes are zeroed
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS data_keys (key_id BLOB PRIMARY KEY, "
            "owner TEXT NOT NULL UNIQUE, master_id TEXT NOT NULL, wrapped BLOB NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS erased (key_id BLOB PRIMARY KEY, at TEXT)")
        row = self._db.execute("SELECT master_id FROM data_keys LIMIT 1").fetchone()
        if row is not None and row[0] != master.key_id:
            self._db.close()
            raise StoredStateError(
                f"{path}: data keys are wrapped by master key {row[0]}, not by the one "
                f"configured ({master.key_id}): wrong master key"
            )
        self._lock = threading.Lock()
        self._by_id: dict[bytes, AESGCM] = {}
        self._by_owner: dict[str, bytes] = {}
        self._data_version = -1
        self._checked = 0.0

    @classmethod
    def open(cls, env: Mapping[str, str], *, create: bool = True) -> Keyring:
        return cls(keys_dir(env) / "keyring.db", MasterKey.load(env, create=create))

    def _fresh(self) -> None:
        """Drops the cache when another process changed the keyring (an erasure)."""
        now = time.monotonic()
        if now - self._checked < _FRESHNESS_S:
            return
        self._checked = now
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._by_id.clear()
            self._by_owner.clear()

    def _wrap(self, key_id: bytes, owner: str, key: bytes, master: MasterKey) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + AESGCM(master.key).encrypt(nonce, key, key_id + owner.encode())

    def _unwrap(self, key_id: bytes, owner: str, master_id: str, wrapped: bytes) -> bytes:
        if master_id != self.master.key_id:
            raise StoredStateError(
                f"data key {key_id.hex()} is wrapped by master key {master_id}, "
                f"not by the one configured ({self.master.key_id}): wrong master key"
            )
        try:
            return AESGCM(self.master.key).decrypt(
                wrapped[:12], wrapped[12:], key_id + owner.encode()
            )
        except InvalidTag as e:
            raise StoredStateError(
                f"data key {key_id.hex()} does not unwrap: keyring altered"
            ) from e

    def ensure(self, owners: set[str]) -> None:
        """Creates the data keys ``owners`` lack, in one transaction (one sync for a commit)."""
        with self._lock:
            self._fresh()
            missing = [o for o in owners if o not in self._by_owner]
            if not missing:
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for owner in missing:
                    key_id, key = secrets.token_bytes(16), AESGCM.generate_key(256)
                    self._db.execute(
                        "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?)",
                        (
                            key_id,
                            owner,
                            self.master.key_id,
                            self._wrap(key_id, owner, key, self.master),
                        ),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def key_for(self, owner: str) -> tuple[bytes, AESGCM]:
        """The key id and cipher of ``owner``'s data key, created on first use."""
        with self._lock:
            self._fresh()
            key_id = self._by_owner.get(owner)
            if key_id is not None:
                return key_id, self._by_id[key_id]
            row = self._db.execute(
                "SELECT key_id, master_id, wrapped FROM data_keys WHERE owner = ?", (owner,)
            ).fetchone()
            if row is None:
                key_id, key = secrets.token_bytes(16), AESGCM.generate_key(256)
                self._db.execute(
                    "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?)",
                    (
                        key_id,
                        owner,
                        self.master.key_id,
                        self._wrap(key_id, owner, key, self.master),
                    ),
                )
                row = self._db.execute(
                    "SELECT key_id, master_id, wrapped FROM data_keys WHERE owner = ?", (owner,)
                ).fetchone()  # another process may have won the race: its key counts
            key_id = bytes(row[0])
            cipher = AESGCM(self._unwrap(key_id, owner, row[1], bytes(row[2])))
            self._by_owner[owner] = key_id
            self._by_id[key_id] = cipher
            return key_id, cipher

    def cipher(self, key_id: bytes) -> AESGCM:
        """The cipher of data key ``key_id``.

        Raises:
            ErasedDataError: the key was forgotten (its owner was erased).
            StoredStateError: no such key, or it does not unwrap.
        """
        with self._lock:
            self._fresh()
            cipher = self._by_id.get(key_id)
            if cipher is not None:
                return cipher
            row = self._db.execute(
                "SELECT owner, master_id, wrapped FROM data_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
            if row is None:
                if self._db.execute("SELECT 1 FROM erased WHERE key_id = ?", (key_id,)).fetchone():
                    raise ErasedDataError(f"data key {key_id.hex()} was erased")
                raise StoredStateError(f"unknown data key {key_id.hex()} (not in {self.path})")
            cipher = AESGCM(self._unwrap(key_id, row[0], row[1], bytes(row[2])))
            self._by_id[key_id] = cipher
            self._by_owner[row[0]] = key_id
            return cipher

    def forget(self, owners: list[str]) -> int:
        """Deletes the data keys of ``owners`` for good; returns how many existed."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                found = 0
                for owner in owners:
                    row = self._db.execute(
                        "SELECT key_id FROM data_keys WHERE owner = ?", (owner,)
                    ).fetchone()
                    if row is None:
                        continue
                    found += 1
                    self._db.execute(
                        "INSERT OR IGNORE INTO erased VALUES (?, datetime('now'))", (row[0],)
                    )
                    self._db.execute("DELETE FROM data_keys WHERE owner = ?", (owner,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._by_id.clear()
            self._by_owner.clear()
        return found

    def rotate(self, new: MasterKey) -> int:
        """Re-wraps every data key under ``new`` in one transaction; returns how many."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT key_id, owner, master_id, wrapped FROM data_keys"
                ).fetchall()
                for key_id, owner, master_id, wrapped in rows:
                    key = self._unwrap(bytes(key_id), owner, master_id, bytes(wrapped))
                    self._db.execute(
                        "UPDATE data_keys SET master_id = ?, wrapped = ? WHERE key_id = ?",
                        (new.key_id, self._wrap(bytes(key_id), owner, key, new), key_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self.master = new
        return len(rows)

    def close(self) -> None:
        self._db.close()
