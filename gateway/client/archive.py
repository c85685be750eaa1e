"""The agent's archive on disk: every file written whole or not at all."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.client.state import PendingDocument

# --- the archive ------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name).lstrip(".")[:100]
    return cleaned or "document"


class Archive:
    """Files are written to ``.partial/`` (same file system), fsync'ed, then renamed into
    place: a reader never sees half a file, and an interrupted write leaves only a temporary
    file that the next run removes."""

    def __init__(self, root: Path, *, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync
        self.partial = root / ".partial"
        self.partial.mkdir(parents=True, exist_ok=True)
        for stray in self.partial.iterdir():  # left by an interrupted run
            stray.unlink()

    def document_path(self, doc: PendingDocument) -> Path:
        return (self.root / safe_name(doc.recipient) / str(doc.notification_id)
                / f"{doc.position:02d}-{safe_name(doc.name)}")

    def entry_path(self, recipient: str, notification_id: int) -> Path:
        return self.root / safe_name(recipient) / str(notification_id) / "notification.json"

    def receipt_path(self, registration_number: str, recipient: str | None) -> Path:
        """A receipt goes into its recipient's folder: the folder of one company holds nothing
        about another (a receipt from before receipts were split per recipient, which may list
        several, stays in ``receipts/``)."""
        folder = self.root / safe_name(recipient) if recipient else self.root
        return folder / "receipts" / f"{registration_number.replace('/', '-')}.xml"

    def acknowledgement_path(self, receipt_id: str) -> Path:
        """The signed acknowledgement: the signer's own record, listing every item it named."""
        return self.root / "acknowledgements" / f"{safe_name(receipt_id)}.xml"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def write(self, path: Path, data: bytes, *, durable: bool = True) -> None:
        """``data`` as ``path``, atomically; on disk before returning when ``durable`` (and
        fsync is on). A non-durable file is one the state can always rebuild (an entry)."""
        with self.temporary(path) as temporary:
            with temporary.open("wb") as out:
                out.write(data)
                if durable and self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            self.place(temporary, path)

    @contextmanager
    def temporary(self, path: Path) -> Iterator[Path]:
        """A fresh name in ``.partial/`` for ``path``; whatever is left there is removed."""
        temporary = self.partial / f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            yield temporary
        finally:
            temporary.unlink(missing_ok=True)
            temporary.with_name(temporary.name + ".part").unlink(missing_ok=True)

    def commit(self, temporary: Path, path: Path) -> None:
        """fsync (unless disabled), then rename into place: all of the file or none of it."""
        if self.fsync:
            with temporary.open("rb+") as written:
                os.fsync(written.fileno())
        self.place(temporary, path)

    @staticmethod
    def place(temporary: Path, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, path)


def file_sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as source:
            return hashlib.file_digest(source, "sha256").hexdigest()
    except FileNotFoundError:
        return None

