"""The agent's archive on disk: every file written whole or not at all."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from gateway.client.state import PendingDocument

# --- the archive ------------------------------------------------------------------------------


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(2)`` (the ``os`` module lacks it), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


_syncfs = _load_syncfs()

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@functools.lru_cache(maxsize=4096)  # recipients' names come back with every item
def safe_name(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name).lstrip(".")[:100]
    return cleaned or "document"


class Archive:
    """Every file is written under a temporary name beside its final one (``.<name>.partial``,
    same directory, so the same file system), made durable, then renamed into place: a reader
    never sees half a file. The temporary name is fixed, so what an interrupted run left is
    overwritten and renamed away when the next run writes that file again (large documents,
    streamed, use ``.partial/`` at the root, emptied at start).

    Durable writes come in groups (``write_all``): the files of a group are written, then put on
    disk with one ``syncfs`` of the archive's file system (Linux; ``fsync`` of each file
    elsewhere), then renamed. One sync per group instead of one ``fsync`` per file: a
    ``GetContents`` batch brings a few hundred documents, and a file system commits its journal
    once for them all (about 10x less wall time here, bench/e2e_agent.py). Nothing is recorded
    in the state before ``write_all`` returns, so a crash loses only what the next run fetches
    again."""

    def __init__(self, root: Path, *, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync
        self.partial = root / ".partial"
        self.partial.mkdir(parents=True, exist_ok=True)
        for stray in self.partial.iterdir():  # left by an interrupted run
            stray.unlink()
        self._base = str(root)
        self._folders: set[str] = set()  # made this run (a set's add is thread-safe)

    # Files are named by their path under the root, "/"-separated ("B12345674/17/00-acto.pdf"):
    # strings, not Path objects, which cost the agent more than writing the entries did.

    def document_name(self, doc: PendingDocument) -> str:
        return (f"{safe_name(doc.recipient)}/{doc.notification_id}/"
                f"{doc.position:02d}-{safe_name(doc.name)}")

    def entry_name(self, recipient: str, notification_id: int) -> str:
        return f"{safe_name(recipient)}/{notification_id}/notification.json"

    def receipt_name(self, registration_number: str, recipient: str | None) -> str:
        """A receipt goes into its recipient's folder: the folder of one company holds nothing
        about another (a receipt from before receipts were split per recipient, which may list
        several, stays in ``receipts/``)."""
        folder = f"{safe_name(recipient)}/" if recipient else ""
        return f"{folder}receipts/{registration_number.replace('/', '-')}.xml"

    def acknowledgement_name(self, receipt_id: str) -> str:
        """The signed acknowledgement: the signer's own record, listing every item it named."""
        return f"acknowledgements/{safe_name(receipt_id)}.xml"

    def file(self, name: str) -> str:
        """The file system path of the archive's file ``name``."""
        return f"{self._base}/{name}"

    def path(self, name: str) -> Path:
        return self.root / name

    def document_path(self, doc: PendingDocument) -> Path:
        return self.path(self.document_name(doc))

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def write(self, name: str, data: bytes, *, durable: bool = True) -> None:
        """``data`` as the archive's file ``name``, atomically; on disk before returning when
        ``durable`` (and fsync is on). A non-durable file is one the state can always rebuild
        (an entry)."""
        self.write_all([(name, data)], durable=durable)

    def write_all(self, files: Sequence[tuple[str, bytes]], *, durable: bool = True) -> None:
        """Each ``(name, data)`` written whole under its temporary name, all of them on disk
        (when ``durable`` and fsync is on) with one sync, then each renamed into place."""
        written = []
        for name, data in files:
            folder, _, base = self.file(name).rpartition("/")
            temporary = f"{self.ensure_folder(folder)}/.{base}.partial"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                                 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view):]
                if durable and self.fsync and len(files) == 1:
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
            written.append((temporary, f"{folder}/{base}"))
        if durable and self.fsync and len(files) > 1:
            self.sync([temporary for temporary, _ in written])
        for temporary, target in written:
            os.replace(temporary, target)

    def sync(self, paths: Sequence[str]) -> None:
        """Put these files (and whatever else is pending on the archive's file system) on
        disk: one ``syncfs`` where the C library has it, else ``fsync`` of each."""
        if _syncfs is not None:
            descriptor = os.open(self.root, os.O_RDONLY)
            try:
                if _syncfs(descriptor) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, os.strerror(error), str(self.root))
            finally:
                os.close(descriptor)
            return
        for path in paths:
            with open(path, "rb+") as written:
                os.fsync(written.fileno())

    def ensure_folder(self, folder: str) -> str:
        """``folder`` made (with its parents) once per run: an archive has a folder per item."""
        if folder not in self._folders:
            try:  # the parent is there (the recipient's folder) but for an item's first file
                os.mkdir(folder)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        return folder

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


def file_sha256(path: str | Path) -> str | None:
    try:
        with open(path, "rb") as source:
            return hashlib.file_digest(source, "sha256").hexdigest()
    except FileNotFoundError:
        return None

