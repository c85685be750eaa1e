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
built the validator (imports, trust store, CRLs, and the CMS engine), so the start-up is paid
once, not per worker or per file; they ignore SIGINT, and an interrupted run terminates them
(``KeyboardInterrupt`` is raised to the caller once they are gone). The engines of the other
formats are imported by a worker when a file needing them first arrives, and files are steered
by name so that one worker imports pyHanko for the PDFs (and one the XML stack) while the others
validate the rest; the tasks (inherited) are named by index, in chunks, two ahead, and the
reports come back already rendered as JSON (see ``_Workers``).
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
    joined before the exception goes on. ``progress`` is called once per file as its report
    arrives (the reports themselves come out in the order of ``tasks``).
    """
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield validate_task(task)
            if progress:
                progress()
        return
    workers = _Workers(tasks, min(jobs, len(tasks)))
    try:
        workers.start()
        yield from workers.reports(progress)
        workers.close()
    finally:
        workers.stop()


# Scheduling hints by file name (detection itself is by content, in the worker): the files that
# need an engine of their own -- pyHanko for PDFs, lxml and the XML-DSig stack for XML -- go to
# one worker per engine, so that the engine is imported by that worker alone, while the others
# validate the rest (CMS, whose engine every worker has from the fork, and unknown files).
_ENGINE_SUFFIXES = {".pdf": "pdf", ".xml": "xml", ".xsig": "xml",
                    ".asice": "xml", ".sce": "xml", ".asics": "xml", ".scs": "xml"}
_SHARED = ""
_ENGINES = ("pdf", "xml")
_TAKE_OVER = 64
"""Files of one engine still waiting for which another worker, with nothing else to do, imports
that engine too (fewer are left to the one that has it: importing pyHanko costs ~40 PDFs)."""
_CHUNK = 16
"""The most files sent at once: a round trip per chunk, not per file; smaller near the end."""
_HELD_BACK = 2048
"""Reports held back for the order beyond which every worker takes the earliest files left,
whatever their engine: when one engine's files come first, the reports of the others (a few KB
each) do not pile up in memory while they wait."""


class _Workers:
    """``jobs`` worker processes fed chunks of tasks through one pipe each, two chunks ahead.

    The workers are forked from this process once the validator is built, so they start with
    its imports, trust store and CRLs, and ignore SIGINT (the parent decides, and terminates
    them). The garbage collector's objects are frozen before the fork: collections in the
    workers then do not touch, and so copy, the pages they share with the parent.
    """

    def __init__(self, tasks: Sequence[ValidationTask], jobs: int) -> None:
        from collections import deque

        self.tasks, self.jobs = tasks, jobs
        self.queues: dict[str, deque[int]] = {kind: deque() for kind in (_SHARED, *_ENGINES)}
        for index, task in enumerate(tasks):
            self.queues[_ENGINE_SUFFIXES.get(task.path.suffix.lower(), _SHARED)].append(index)
        self.queued = len(tasks)
        self.owner = {engine: number % jobs for number, engine in enumerate(_ENGINES)}
        self.engines: list[set[str]] = [set() for _ in range(jobs)]
        self.in_flight: list[deque[list[int]]] = [deque() for _ in range(jobs)]
        self.done: dict[int, FileReport] = {}
        """Reports received before an earlier one, held back for the order."""
        self.connections: list[Any] = []
        self.processes: list[Any] = []

    def start(self) -> None:
        import gc
        import multiprocessing
        import signal

        fork = "fork" in multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if fork else "spawn")
        inherited = () if fork else (_validation, _signature_format)
        gc.freeze()
        try:  # SIGINT ignored from the fork on: a Ctrl-C now would not reach the children
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread: the caller handles signals
            previous = None
        try:
            for _ in range(self.jobs):
                ours, theirs = context.Pipe()
                process = context.Process(  # type: ignore[attr-defined]  # typeshed's union
                    target=_work, args=(theirs, self.tasks, inherited), daemon=True)
                process.start()
                self.processes.append(process)
                self.connections.append(ours)
                theirs.close()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            gc.unfreeze()

    def reports(self, progress: Callable[[], None] | None) -> Iterator[FileReport]:
        from multiprocessing.connection import wait

        for worker in range(self.jobs):
            for _ in range(2):
                self._send(worker)
        done = self.done
        emitted = 0
        while emitted < len(self.tasks):
            busy = [self.connections[worker] for worker in range(self.jobs)
                    if self.in_flight[worker]]
            if not busy:  # each engine's owner always takes its files: cannot happen
                raise RuntimeError(f"no worker has work, {len(self.tasks) - emitted} file(s) left")
            for ready in wait(busy):
                worker = self.connections.index(ready)
                try:
                    reports: list[FileReport] = self.connections[worker].recv()
                except (EOFError, OSError):
                    raise self._died(worker, emitted) from None
                done.update(zip(self.in_flight[worker].popleft(), reports, strict=True))
                self._send(worker)
                if progress:
                    for _ in reports:
                        progress()
            while emitted in done:
                yield done.pop(emitted)
                emitted += 1

    def _send(self, worker: int) -> None:
        """The next chunk for ``worker``: its own engines' files first, then the shared ones,
        then another engine's when that worker has it already or many such files wait; the
        earliest files left when too many reports are held back."""
        waiting = [kind for kind, queue in self.queues.items() if queue]
        if not waiting:
            return
        if len(self.done) >= _HELD_BACK:
            kind = min(waiting, key=lambda kind: self.queues[kind][0])
        else:
            mine = [engine for engine, owner in self.owner.items() if owner == worker]
            others = [engine for engine in _ENGINES if engine not in mine
                      and (engine in self.engines[worker]
                           or len(self.queues[engine]) >= _TAKE_OVER)]
            first = next((kind for kind in (*mine, _SHARED, *others) if kind in waiting), None)
            if first is None:
                return
            kind = first
        queue = self.queues[kind]
        size = max(1, min(_CHUNK, self.queued // (4 * self.jobs), len(queue)))
        chunk = [queue.popleft() for _ in range(size)]
        self.queued -= size
        if kind != _SHARED:
            self.engines[worker].add(kind)
        self.in_flight[worker].append(chunk)
        try:
            self.connections[worker].send(chunk)  # indices: the worker has the tasks
        except OSError:
            raise self._died(worker, None) from None

    def _died(self, worker: int, reported: int | None) -> Exception:
        """A worker is gone (the OOM killer, a signal): the run cannot finish."""
        from gateway.errors import GatewayError

        process = self.processes[worker]
        process.join(5)
        done = "" if reported is None else f" after {reported} of {len(self.tasks)} file(s)"
        return GatewayError(f"validation worker {process.pid} died (exit code "
                            f"{process.exitcode}){done}", code="VALIDATION_WORKER_DIED")

    def close(self) -> None:
        """Tell the workers there is nothing more, and wait for them to exit."""
        for connection in self.connections:
            connection.send(None)
        for process in self.processes:
            process.join()

    def stop(self) -> None:
        """Terminate the workers still running (all of them when interrupted) and reap them."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join()
        for connection in self.connections:
            connection.close()


def _work(connection: Any, tasks: Sequence[ValidationTask], inherited: tuple[Any, ...]) -> None:
    """A worker: validate each chunk of indices into ``tasks`` received (forked, the worker has
    them already: a few integers cross the pipe, not paths) and send back its reports, until
    ``None``."""
    import signal

    # Ctrl-C reaches the whole process group: the parent alone decides, and terminates us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if inherited:
        prepare(*inherited)
    try:
        while (chunk := connection.recv()) is not None:
            connection.send([validate_task(tasks[index]) for index in chunk])
    except (EOFError, BrokenPipeError):  # the parent is gone: nobody to report to
        return


def counts(reports: Iterable[FileReport]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for report in reports:
        tally[report.indication] = tally.get(report.indication, 0) + 1
    return tally
