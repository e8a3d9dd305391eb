"""Where a publisher gets the client keys that seal ``client_ref`` (crypto-shredding, ``schemas/sealing.py``).

The platform's own publishers use the key table in PostgreSQL (``infra.client_keys.ClientKeyStore``); a
partner's publisher has none and cannot publish the two types that carry the client (``CaseOpened``,
``ApplicationFiled``). ``MemoryKeyStore`` is for tests and benchmarks only.
"""

from __future__ import annotations

from typing import Protocol

from schemas.sealing import KeyRing, new_key


class KeyStore(Protocol):
    """A cache of client keys (``ring``) that ``load`` fills for the pseudonyms about to be published."""

    ring: KeyRing

    async def load(self, refs: list[str]) -> None: ...

    async def close(self) -> None: ...


class MemoryKeyStore:
    """Client keys made and kept in this process only — for benchmarks and tests without a key table.

    What it seals can never be opened once the process ends, and ``kim erase`` cannot find those clients:
    never use it for real data (the platform's publishers use ``infra.client_keys.ClientKeyStore``).
    """

    def __init__(self) -> None:
        self.ring = KeyRing()

    async def load(self, refs: list[str]) -> None:
        for ref in self.ring.missing(refs):
            self.ring.add(ref, *new_key())

    async def close(self) -> None:
        """Nothing to release."""
