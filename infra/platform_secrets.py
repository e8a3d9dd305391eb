"""The platform's secrets outside the database: one directory, ``$KIM_HOME/secrets`` (or ``KIM_SECRETS_DIR``).

The directory is mode 0700, every file in it 0600, all made by `kim up` on first use:

- ``pepper`` — 32 random bytes: the key of every keyed hash that stands in the database where a pseudonym
  or a request body would otherwise be (``client_keys.client_digest``, ``erased_clients.digest``,
  ``gateway_idempotency.request_hash``). The database keeps only its fingerprint (``secret_fingerprints``),
  so a component handed another installation's directory is refused instead of making new keys.
- ``<kek_id>.kek`` — 32 random bytes: the key-encryption key (KEK) every client key in ``client_keys`` is
  wrapped with; the database records which one is current (``key_encryption_keys``). `kim keys rotate` makes a
  new one, re-wraps every live client key under it, and then destroys the old file (overwritten, synced,
  unlinked): a client key deleted by `kim erase` whose wrapped bytes linger in table files, WAL or backups
  can then never be unwrapped.

One directory belongs to one database. Back it up apart from the database's backups (a backup holding both
an old KEK and an old copy of the key table could still open an erased client's key), and keep it: without
the current KEK and the pepper no client key can be read again.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from infra.errors import SetupError
from schemas.sealing import KEK_BYTES, KEK_ID, PEPPER_BYTES

PEPPER = "pepper"
KEK_SUFFIX = ".kek"


class SecretsMissing(SetupError):
    """A secret the platform needs is not in the secrets directory."""


@dataclass(frozen=True)
class Secrets:
    """The secrets directory: reads what is there, and (for `kim up` and `kim keys rotate`) makes and destroys."""

    directory: Path

    # --- reading ---

    def pepper(self) -> bytes:
        return self._read(self.directory / PEPPER, PEPPER_BYTES, "the pepper")

    def kek(self, kek_id: str) -> bytes:
        return self._read(self._kek_path(kek_id), KEK_BYTES, f"the key-encryption key {kek_id}")

    def kek_ids(self) -> list[str]:
        """The KEKs present as files (normally one; two only while a rotation runs)."""
        if not self.directory.is_dir():
            return []
        names = (p.name[: -len(KEK_SUFFIX)] for p in self.directory.glob(f"*{KEK_SUFFIX}"))
        return sorted(n for n in names if KEK_ID.fullmatch(n))

    def _read(self, path: Path, size: int, what: str) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SecretsMissing(
                f"{what} is missing from the secrets directory {self.directory}; `kim up` makes it on a new "
                "installation — on an existing one restore the directory from its backup (KIM_SECRETS_DIR names it)"
            ) from None
        except PermissionError:
            raise SecretsMissing(f"{what} in {self.directory} cannot be read by this user") from None
        if len(data) != size:
            raise SecretsMissing(f"{path} must hold {size} bytes, not {len(data)}: it is damaged; restore it")
        return data

    def _kek_path(self, kek_id: str) -> Path:
        if not KEK_ID.fullmatch(kek_id):
            raise SecretsMissing(f"{kek_id!r} is not a key-encryption key id (kek- and 16 hex digits)")
        return self.directory / f"{kek_id}{KEK_SUFFIX}"

    # --- making and destroying (kim up, kim keys rotate) ---

    def ensure_directory(self) -> bool:
        """Make the directory (0700) if it is missing, else narrow its mode to 0700; whether it was made now."""
        made = not self.directory.exists()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o077:
            self.directory.chmod(0o700)
        return made

    def write_pepper(self, pepper: bytes) -> bytes:
        """Write the pepper unless one is there already; the pepper the file holds afterwards."""
        if len(pepper) != PEPPER_BYTES:
            raise ValueError(f"a pepper is {PEPPER_BYTES} bytes")
        self._create(self.directory / PEPPER, pepper)
        return self.pepper()

    def write_kek(self, kek_id: str, kek: bytes) -> None:
        if len(kek) != KEK_BYTES:
            raise ValueError(f"a key-encryption key is {KEK_BYTES} bytes")
        if not self._create(self._kek_path(kek_id), kek):
            raise SecretsMissing(f"the key-encryption key {kek_id} exists already in {self.directory}")

    def destroy_kek(self, kek_id: str) -> bool:
        """Overwrite the KEK's file with random bytes, sync, unlink, sync the directory; whether it existed.

        On a copy-on-write file system (btrfs, ZFS), in a snapshot or a file backup, the old bytes may survive
        the overwrite; the unlink removes the file from the directory in any case.
        """
        path = self._kek_path(kek_id)
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            size = os.fstat(fd).st_size
            os.write(fd, os.urandom(max(size, KEK_BYTES)))
            os.fsync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, bytes(max(size, KEK_BYTES)))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        self._sync_directory()
        return True

    def _create(self, path: Path, data: bytes) -> bool:
        """Write ``data`` to ``path`` (0600) if it does not exist, atomically and durably; whether it was written."""
        self.ensure_directory()
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)  # atomic: of two writers at once, one file wins
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self._sync_directory()
        return True

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
