"""First start of the embedded default: the key files, created once, owner-only.

The master key (unless ``CARELOG_MASTER_KEY`` gives it) and the seal key
(unless ``CARELOG_SEAL_KEY`` gives it) are made in the keys directory, which
is apart from the store file and never part of a backup.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from adapters.crypto.keys import MasterKey, private_file
from engine.config import Settings

__all__ = ["prepare_keys"]


def prepare_keys(settings: Settings) -> Settings:
    """``settings`` with the seal key filled in; key files created on first start.

    The memory store keeps nothing at rest: nothing is created for it.
    """
    if settings.backend == "memory":
        return settings
    folder = settings.key_path()
    if settings.encryption:
        MasterKey.load(settings.eventsourcing_env(), create=True)
    if settings.seal_key:
        return settings
    path = folder / "seal.key"
    if not path.exists():
        private_file(path, secrets.token_hex(32).encode() + b"\n")
    return replace(settings, seal_key=path.read_text().strip())
