"""Reading an import directory: a manifest (CSV or JSON Lines) plus the document files it names.

Adapter for ``gateway import``: it turns files into ``PublicationRequest``s and remembers each
one's line number so that every bad row can be reported where the operator will look for it.
Nothing is validated here beyond what is needed to read the files; the rules live in
``services.publishing``.

Manifest columns / keys (CSV header or JSON object keys):
``issuer, issuer_reference, kind, procedure, subject, recipient, ccc, category,
made_available_at, main_document, annexes`` — ``annexes`` is a ``;``-separated list of file
names in CSV and a list in JSON; ``made_available_at`` is ISO 8601 with an offset (default: now).
"""

from __future__ import annotations

import csv
import json
import mimetypes
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.services.publishing import DocumentInput, Problem, PublicationRequest

MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")
REQUIRED_COLUMNS = ("issuer", "issuer_reference", "kind", "procedure", "subject", "recipient",
                    "main_document")


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Manifest:
    path: Path
    requests: tuple[PublicationRequest, ...]
    lines: tuple[int, ...]
    problems: tuple[LineProblem, ...]

    def locate(self, problems: tuple[Problem, ...] | list[Problem]) -> list[LineProblem]:
        """Map the publishing service's item positions back to manifest line numbers.

        A line whose files could not be read already says so; the service's "a main document is
        required" for that line would only repeat it.
        """
        unreadable = {p.line for p in self.problems if p.field in ("main_document", "annexes")}
        return [
            LineProblem(self.lines[p.position], p.field, p.message)
            for p in problems
            if not (p.field == "documents" and self.lines[p.position] in unreadable)
        ]


def read_manifest(directory: Path) -> Manifest:
    found = [directory / name for name in MANIFEST_NAMES if (directory / name).is_file()]
    if len(found) != 1:
        raise FileNotFoundError(
            f"{directory} must hold exactly one of {', '.join(MANIFEST_NAMES)}"
        )
    path = found[0]
    rows = _csv_rows(path) if path.suffix == ".csv" else _jsonl_rows(path)
    requests, lines, problems = [], [], []
    for line, row, row_problem in rows:
        if row_problem:
            problems.append(LineProblem(line, "row", row_problem))
            continue
        request, found_problems = _request(directory, line, row)
        problems.extend(found_problems)
        requests.append(request)
        lines.append(line)
    return Manifest(path, tuple(requests), tuple(lines), tuple(problems))


def _csv_rows(path: Path) -> list[tuple[int, dict[str, object], str | None]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            return [(1, {}, f"missing column(s): {', '.join(missing)}")]
        rows: list[tuple[int, dict[str, object], str | None]] = []
        for row in reader:
            problem = "too many fields" if None in row else None
            rows.append((reader.line_num, {k: v for k, v in row.items() if k is not None}, problem))
        return rows


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, object], str | None]]:
    rows: list[tuple[int, dict[str, object], str | None]] = []
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                rows.append((line, {}, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(value, dict):
                rows.append((line, {}, "each line must be a JSON object"))
                continue
            rows.append((line, value, None))
    return rows


def _request(directory: Path, line: int, row: dict[str, object]
             ) -> tuple[PublicationRequest, list[LineProblem]]:
    """The row as a request (with the files that could be read) and the problems of reading it;
    the request still goes through validation so every problem of the line is reported."""
    problems: list[LineProblem] = []

    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None else str(value).strip()

    made_available_at: datetime | None = None
    if text("made_available_at"):
        try:
            made_available_at = datetime.fromisoformat(text("made_available_at"))
        except ValueError:
            problems.append(LineProblem(line, "made_available_at", "is not an ISO 8601 date-time"))
    names = [text("main_document")] if text("main_document") else []
    annexes = row.get("annexes") or []
    if isinstance(annexes, str):
        annexes = [a for a in (part.strip() for part in annexes.split(";")) if a]
    if not isinstance(annexes, list):
        problems.append(LineProblem(line, "annexes", "must be a list of file names"))
        annexes = []
    documents = []
    main_read = False
    for position, name in enumerate(names + [str(a) for a in annexes]):
        label = "main_document" if position == 0 else "annexes"
        file_path = (directory / name).resolve()
        if directory.resolve() not in file_path.parents:
            problems.append(LineProblem(line, label, f"{name!r} is outside the import directory"))
            continue
        try:
            content = file_path.read_bytes()
        except OSError:
            problems.append(LineProblem(line, label, f"file {name!r} cannot be read"))
            continue
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        documents.append(DocumentInput(Path(name).name, content_type, content))
        main_read = main_read or position == 0
    if not main_read:
        documents = []  # never promote an annex to main document
    return PublicationRequest(
        issuer=text("issuer"), issuer_reference=text("issuer_reference"), kind=text("kind"),
        procedure=text("procedure"), subject=text("subject"), recipient=text("recipient"),
        ccc=text("ccc") or None, category=text("category") or "NORMAL",
        documents=tuple(documents), made_available_at=made_available_at,
    ), problems
