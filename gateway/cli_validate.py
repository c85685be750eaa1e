"""``gateway validate PATH...``: ETSI validation reports for files and folders of signed documents.

Registering the command imports nothing of the signature engine; the handler builds the validator
from the composition root when it runs. File discovery, the detached-content convention and the
worker processes are ``gateway.validation_run``'s.

Output: one indented JSON report (or the ETSI TS 119 102-2 XML) for a single file; for several,
JSON Lines (one report per file, with its ``file``) or a table, by default the table on a terminal
and JSON Lines otherwise. A last line counts the files per indication (on stderr, unless the
output is the table). Exit code 0 when every signature of every file is TOTAL_PASSED, 3 when one
is not, 1 when nothing could be validated (no file found, no trust anchors), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.validation_run import FileReport

SIGNATURE_FORMATS = ("XAdES", "CAdES", "PAdES", "ASiC")
"""``SignatureFormat`` values, spelled out so that ``--help`` need not import the engine
(a test keeps them equal)."""

INDICATIONS = ("TOTAL_PASSED", "INDETERMINATE", "TOTAL_FAILED")
EXIT_PASSED, EXIT_REFUSED, EXIT_NOT_PASSED, EXIT_INTERRUPTED = 0, 1, 3, 130


def add_command(commands: Any) -> None:
    validate = commands.add_parser(
        "validate", help="validate the XAdES, CAdES or PAdES signatures of files and folders "
                         "(ETSI reports)",
        description="Validate every signature of each file, and of each file found under a "
                    "folder (recursively). Detached content is paired by name: doc.pdf.p7s "
                    "(CAdES) or doc.xml.xsig (XAdES) signs doc.pdf / doc.xml when that file "
                    "exists, and the content gets no report of its own. A file that cannot be "
                    "read or parsed is reported TOTAL_FAILED/FORMAT_FAILURE. Exit code 0 when "
                    "every signature is TOTAL_PASSED, 3 otherwise, 130 when interrupted. Uses "
                    "the gateway's trust store, CRLs and algorithm policy.")
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                          help="signed documents, signatures, or folders holding them")
    validate.add_argument("--glob", default="*", metavar="PATTERN",
                          help="in folders, only file names matching PATTERN, e.g. '*.p7s' "
                               "(default: every file; hidden ones skipped)")
    validate.add_argument("--detached", type=Path, metavar="CONTENT", action="append",
                          default=[],
                          help="the signed content of one detached signature named otherwise; "
                               "repeat it for a XAdES signing several documents (matched to "
                               "its references by URI: the path relative to the signature's "
                               "folder, or the file name)")
    validate.add_argument("--format", choices=("json", "etsi-xml", "jsonl", "table"),
                          help="json or etsi-xml: one file's report; jsonl: one JSON report per "
                               "line; table: one line per file (default: json for one file, "
                               "else table on a terminal, jsonl otherwise)")
    validate.add_argument("--signature-format", choices=SIGNATURE_FORMATS,
                          help="skip detection of the signature format")
    validate.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                          help="worker processes (default: the available cores)")
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from gateway import validation_run

    paths: list[Path] = args.paths
    tasks = validation_run.collect(paths, args.glob, args.detached)
    single = len(paths) == 1 and not paths[0].is_dir()
    output = args.format or ("json" if single else "table" if sys.stdout.isatty() else "jsonl")
    if not tasks:
        print(f"error: no file matching {args.glob!r} under {', '.join(map(str, paths))}",
              file=sys.stderr)
        return EXIT_REFUSED
    if args.detached and len(tasks) > 1:
        print("error: --detached pairs one signature with its content; name one file",
              file=sys.stderr)
        return EXIT_REFUSED
    if output in ("json", "etsi-xml") and len(tasks) > 1:
        print(f"error: --format {output} is for one file; use jsonl or table", file=sys.stderr)
        return EXIT_REFUSED

    from gateway.bootstrap import build

    signature_format = None
    if args.signature_format:
        from gateway.signatures import SignatureFormat

        signature_format = SignatureFormat(args.signature_format)
    validation_run.prepare(build(settings).signature_validation(), signature_format)

    if output in ("json", "etsi-xml"):
        report = validation_run.validate_file(tasks[0])
        if output == "etsi-xml":
            sys.stdout.buffer.write(report.to_etsi_xml())
        else:
            print(report.to_json(indent=2))
        return EXIT_PASSED if report.passed else EXIT_NOT_PASSED

    jobs = args.jobs if args.jobs > 0 else _cores()
    reports: list[FileReport] = []
    with _progress(len(tasks)) as bar, contextlib.closing(
            validation_run.run(tasks, jobs, bar.advance if bar else None)) as running:
        try:
            for file_report in running:
                reports.append(file_report)
                line = _line(file_report, output)
                if bar:  # clears the bar, writes, redraws it: no torn lines on a terminal
                    bar.write(line, file=sys.stdout, end="")
                else:
                    sys.stdout.write(line)
        except KeyboardInterrupt:
            sys.stdout.flush()
            print(f"interrupted: {len(reports)} of {len(tasks)} file(s) validated",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
    tally = validation_run.counts(reports)
    summary = f"{len(reports)} file(s): " + ", ".join(
        f"{indication} {tally.get(indication, 0)}" for indication in INDICATIONS)
    print(summary, file=sys.stdout if output == "table" else sys.stderr)
    return EXIT_PASSED if all(report.passed for report in reports) else EXIT_NOT_PASSED


def _line(report: FileReport, output: str) -> str:
    if output == "jsonl":
        return report.json_line + "\n"
    detail = report.sub_indication or "-"
    form = report.signature_format or "-"
    return f"{report.indication:<14} {detail:<36} {form:<6} {report.path}\n"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Bar(Protocol):
    def advance(self) -> None: ...

    def write(self, text: str, *, file: TextIO, end: str) -> None: ...


@contextlib.contextmanager
def _progress(total: int) -> Iterator[_Bar | None]:
    """A tqdm bar on stderr when it is a terminal (None otherwise)."""
    if not sys.stderr.isatty() or total < 2:
        yield None
        return
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[misc]  # tqdm is untyped
        monitor_interval = 0  # no monitor thread: the workers are forked after the bar starts

        def advance(self) -> None:
            self.update()

    with Bar(total=total, unit="file", file=sys.stderr, leave=False) as bar:
        yield bar
