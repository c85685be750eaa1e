"""Validating many files in one run: which files, paired how, validated where (``gateway validate``).

Files are named on the command line or found under directories (recursively; names matching
``--glob``; hidden files and folders skipped). Detached content is found by name, the convention
of the tools that make such signatures:

* ``doc.pdf.p7s`` (also ``.p7s`` in any case) is a CAdES signature over ``doc.pdf``;
* ``doc.xml.xsig`` is a detached XAdES signature over ``doc.xml``.

When the content file exists it is validated as that signature's content and gets no report of
its own; a ``.p7s``/``.xsig`` without its content is validated alone (an enveloping signature, or
a detached one that then fails for want of content). ``--detached`` pairs one signature with a
content file of any name; given several times, with several documents, which a detached XAdES
matches to its references by URI (the file's path relative to the signature's folder, or its
name; ``gateway.signatures.detached``).

Every file gives exactly one report. A file that cannot be read, is too large or is not a
signature is a TOTAL_FAILED/FORMAT_FAILURE report, never a stop of the run.

Several files are validated by worker processes. They are forked from the process that already
built the validator (imports, trust store, CRLs), so the start-up is paid once, not per worker or
per file; they ignore SIGINT, and an interrupted run terminates them (``KeyboardInterrupt`` is
raised to the caller once they are gone).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.services.validation import SignatureValidation
    from gateway.signatures import SignatureFormat, ValidationReport

DETACHED_SIGNATURE_SUFFIXES = (".p7s", ".xsig")
"""A file ``<content>.<suffix>`` signs ``<content>`` when that file exists."""


@dataclass(frozen=True)
class ValidationTask:
    """One report to make: a signed file, with the content it signs when detached."""

    path: Path
    detached_content: Path | None = None
    """The content paired by name (``doc.xml.xsig`` -> ``doc.xml``) or the one ``--detached``."""
    more_detached: tuple[Path, ...] = ()
    """Further ``--detached`` documents."""

    @property
    def detached(self) -> tuple[Path, ...]:
        first = () if self.detached_content is None else (self.detached_content,)
        return first + self.more_detached


@dataclass(frozen=True)
class FileReport:
    """The report of one file as it crosses the process boundary: the verdict, and the whole
    report already rendered as one JSON object (rendered by the worker, in parallel; a string
    is also far cheaper to send back than the nested dict)."""

    path: str
    indication: str
    sub_indication: str | None
    signature_format: str | None
    json_line: str
    """``{"file": …, "detached_content": …, **ValidationReport.to_dict()}``, no newline."""

    @property
    def passed(self) -> bool:
        return self.indication == "TOTAL_PASSED"


def collect(paths: Sequence[Path], pattern: str = "*",
            detached: Sequence[Path] = ()) -> list[ValidationTask]:
    """The tasks for ``paths`` (files, and directories searched recursively for ``pattern``).

    A path that does not exist stays a task: its report says it cannot be read.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(_walk(path, pattern)))
        else:
            found.append(path)
    found = list(dict.fromkeys(found))  # named twice, reported once
    if detached:
        return [ValidationTask(path, detached[0], tuple(detached[1:])) for path in found]
    contents = {path: _content_of(path) for path in found}
    paired = {content for content in contents.values() if content is not None}
    return [ValidationTask(path, contents[path]) for path in found if path not in paired]


def _walk(directory: Path, pattern: str) -> Iterator[Path]:
    for root, folders, files in os.walk(directory):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and fnmatch(name, pattern):
                yield Path(root, name)


def _content_of(path: Path) -> Path | None:
    if path.suffix.lower() not in DETACHED_SIGNATURE_SUFFIXES:
        return None
    content = path.with_suffix("")
    return content if content.name and content.is_file() else None


# The validator of this process: set before the workers are forked (they inherit it), or by
# the worker's initializer when processes are spawned.
_validation: SignatureValidation | None = None
_signature_format: SignatureFormat | None = None


def prepare(validation: SignatureValidation, signature_format: SignatureFormat | None) -> None:
    global _validation, _signature_format
    _validation, _signature_format = validation, signature_format


def validate_task(task: ValidationTask) -> FileReport:
    """Validate one file with this process's validator; never raises for a bad file."""
    report = validate_file(task)
    line = json.dumps({
        "file": str(task.path),
        # One path as text (the convention's pair, one --detached); several as a list.
        "detached_content": (
            [str(path) for path in task.detached] if len(task.detached) > 1
            else str(task.detached_content) if task.detached_content else None),
        **report.to_dict(),
    })
    return FileReport(
        path=str(task.path), indication=report.indication.value,
        sub_indication=report.sub_indication.value if report.sub_indication else None,
        signature_format=report.format.value if report.format else None, json_line=line)


def validate_file(task: ValidationTask) -> ValidationReport:
    from gateway.errors import GatewayError
    from gateway.signatures import DetachedDocument

    validation = _validation
    if validation is None:
        raise RuntimeError("prepare() the validator first")
    limit = validation.policy.max_document_bytes
    try:
        files = [task.path, *task.detached]
        for file in files:
            if file.stat().st_size > limit:  # refuse before reading a huge file whole
                return _format_failure(validation, f"{file} is larger than {limit} bytes")
        document = task.path.read_bytes()
        detached = tuple(DetachedDocument(path.read_bytes(), _name_from(task.path, path))
                         for path in task.detached)
    except OSError as exc:
        return _format_failure(validation, f"cannot read {exc.filename}: {exc.strerror}")
    try:
        return validation.validate(document, None, _signature_format, detached=detached)
    except GatewayError as exc:  # LimitExceeded: the file grew since stat()
        return _format_failure(validation, exc.message)


def _name_from(signature: Path, content: Path) -> str:
    """The content's path as a reference of the signature would name it: relative to the
    signature's folder (``annex/a.xml``, ``../a.xml``)."""
    return os.path.relpath(content.absolute(), signature.absolute().parent).replace(os.sep, "/")


def _format_failure(validation: SignatureValidation, message: str) -> ValidationReport:
    from gateway.signatures import ValidationReport
    from gateway.signatures.assessment import format_failure

    return ValidationReport(validation_time=validation.clock.now(), format=None,
                            signatures=(format_failure("document", None, message),))


def run(tasks: Sequence[ValidationTask], jobs: int,
        progress: Callable[[], None] | None = None) -> Generator[FileReport, None, None]:
    """Reports for ``tasks`` in their order, from ``jobs`` processes (this one when 1).

    ``prepare`` first. On ``KeyboardInterrupt`` (or any error) the workers are terminated and
    joined before the exception goes on.
    """
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield validate_task(task)
            if progress:
                progress()
        return
    import multiprocessing  # only when there are workers: one file need not pay for it

    # Workers inherit what is imported before the fork: import every format's module once here
    # rather than once per worker on its first PDF (pyHanko is most of the start-up).
    import gateway.signatures.pades  # noqa: F401

    jobs = min(jobs, len(tasks))
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    validation, signature_format = _validation, _signature_format
    init_args = () if context.get_start_method() == "fork" else (validation, signature_format)
    pool = context.Pool(jobs, initializer=_worker_started, initargs=init_args)
    try:
        # Chunks amortise the pipe round trip of small files; enough of them keep both busy.
        chunk = max(1, min(16, len(tasks) // (jobs * 8)))
        for report in pool.imap(validate_task, tasks, chunksize=chunk):
            yield report
            if progress:
                progress()
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _worker_started(*inherited: Any) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the parent alone decides, and terminates us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if inherited:
        prepare(*inherited)


def counts(reports: Iterable[FileReport]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for report in reports:
        tally[report.indication] = tally.get(report.indication, 0) + 1
    return tally
