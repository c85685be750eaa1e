"""``gateway validate`` on many files: one report per file, counts, exit code, Ctrl-C.

The engine is tested format by format in tests/integration/signatures; here we check what an
operator validating a folder sees. A folder mixing good, tampered, unreadable (a dangling link:
the suite may run as root, for whom no permission bit makes a file unreadable) and unsupported
files, plus a detached signature paired with its content by name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import cli
from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki, generate_demo_pki
from gateway.signatures import sign_cades, sign_pades, sign_xades_enveloped

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SignedFiles:
    pki: DemoPki
    good_cades: bytes
    good_xades: bytes
    detached_content: bytes
    detached_cades: bytes
    tampered_cades: bytes
    good_pades: bytes


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> SignedFiles:
    now = datetime.now(UTC)
    pki = generate_demo_pki(tmp_path_factory.mktemp("validate-pki"), now=now - timedelta(hours=1))
    credential = pki.client("person")
    key, cert = credential.private_key(), credential.certificate()
    clock = FixedClock(now - timedelta(minutes=5))
    tampered = bytearray(sign_cades(b"acuse de recibo", key, cert, detached=False, clock=clock))
    tampered[tampered.find(b"acuse")] ^= 0x01  # one byte of the signed content
    return SignedFiles(
        pki=pki,
        good_cades=sign_cades(b"x" * 2000, key, cert, detached=False, clock=clock),
        good_xades=sign_xades_enveloped(b"<ack><n>1</n></ack>", key, cert, clock=clock),
        detached_content=b"the contract",
        detached_cades=sign_cades(b"the contract", key, cert, detached=True, clock=clock),
        tampered_cades=bytes(tampered),
        good_pades=sign_pades(_one_page_pdf(), key, cert, clock=clock),
    )


def _one_page_pdf() -> bytes:
    from io import BytesIO

    from reportlab.pdfgen import canvas

    page = BytesIO()
    drawing = canvas.Canvas(page)
    drawing.drawString(72, 720, "Acuse de recibo")
    drawing.save()
    return page.getvalue()


@pytest.fixture
def trusted(signed: SignedFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SignedFiles:
    monkeypatch.setenv("GATEWAY_PKI_DIR", str(signed.pki.directory))
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    return signed


def mixed_folder(root: Path, signed: SignedFiles) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "good.p7m").write_bytes(signed.good_cades)
    (root / "ack.xml").write_bytes(signed.good_xades)
    (root / "contract.txt").write_bytes(signed.detached_content)
    (root / "contract.txt.p7s").write_bytes(signed.detached_cades)
    (root / "sub" / "deep.p7m").write_bytes(signed.good_cades)
    (root / "tampered.p7m").write_bytes(signed.tampered_cades)
    (root / "notes.txt").write_text("not a signature", encoding="utf-8")
    (root / "unreadable.p7m").symlink_to(root / "gone.p7m")
    (root / ".hidden.p7m").write_bytes(b"skipped: hidden")
    return root


EXPECTED = {  # file -> (indication, sub-indication); contract.txt is the .p7s's content
    "ack.xml": ("TOTAL_PASSED", None),
    "contract.txt.p7s": ("TOTAL_PASSED", None),
    "good.p7m": ("TOTAL_PASSED", None),
    "sub/deep.p7m": ("TOTAL_PASSED", None),
    "tampered.p7m": ("TOTAL_FAILED", "HASH_FAILURE"),
    "notes.txt": ("TOTAL_FAILED", "FORMAT_FAILURE"),
    "unreadable.p7m": ("TOTAL_FAILED", "FORMAT_FAILURE"),
}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_mixed_folder_gives_one_report_per_file_counts_and_exit_code(
        trusted: SignedFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    folder = mixed_folder(tmp_path / "docs", trusted)
    code = cli.main(["validate", "-j", jobs, "--format", "jsonl", str(folder)])
    out, err = capsys.readouterr()
    reports = [json.loads(line) for line in out.splitlines()]
    seen = {Path(r["file"]).relative_to(folder).as_posix(): (r["indication"], r["sub_indication"])
            for r in reports}
    assert len(reports) == len(EXPECTED) and seen == EXPECTED
    paired = next(r for r in reports if r["file"].endswith(".p7s"))
    assert paired["detached_content"] == str(folder / "contract.txt")
    assert err.strip().splitlines()[-1] == (
        "7 file(s): TOTAL_PASSED 4, INDETERMINATE 0, TOTAL_FAILED 3")
    assert code == 3


@pytest.mark.parametrize("jobs", ["2", "3"])
def test_every_format_mixed_in_a_folder_comes_out_in_order_whichever_worker_had_it(
        trusted: SignedFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    # PDFs and XML are steered to the worker that loads their engine, and there are enough PDFs
    # for another worker to take some over: the reports still come out one per file, in order.
    folder = tmp_path / "mix"
    folder.mkdir()
    expected: dict[str, str] = {}
    for number in range(200):
        kind = ("pdf", "pdf", "xml", "pdf", "p7m", "pdf", "txt", "pdf")[number % 8]
        content = {"pdf": trusted.good_pades, "xml": trusted.good_xades,
                   "p7m": trusted.good_cades if number % 4 else trusted.tampered_cades,
                   "txt": b"not a signature"}[kind]
        (folder / f"{number:03}.{kind}").write_bytes(content)
        expected[f"{number:03}.{kind}"] = ("TOTAL_FAILED" if kind == "txt" or content
                                          is trusted.tampered_cades else "TOTAL_PASSED")
    code = cli.main(["validate", "-j", jobs, "--format", "jsonl", str(folder)])
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(r["file"]).name for r in reports] == sorted(expected)
    assert {Path(r["file"]).name: r["indication"] for r in reports} == expected
    assert {r["format"] for r in reports} == {"PAdES", "XAdES", "CAdES", None}
    assert code == 3


def test_files_held_back_for_the_order_make_every_worker_take_the_earliest(
        trusted: SignedFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # PDFs first: their worker lags while the other validates the CMS files after them. With
    # the limit of reports held back lowered to 3, the other worker turns to the PDFs early.
    from gateway import validation_run

    monkeypatch.setattr(validation_run, "_HELD_BACK", 3)
    folder = tmp_path / "pdf-first"
    folder.mkdir()
    for number in range(40):
        (folder / f"a{number:02}.pdf").write_bytes(trusted.good_pades)
        (folder / f"b{number:02}.p7m").write_bytes(trusted.good_cades)
    assert cli.main(["validate", "-j", "2", "--format", "jsonl", str(folder)]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(r["file"]).name for r in reports] == sorted(p.name for p in folder.iterdir())
    assert {r["indication"] for r in reports} == {"TOTAL_PASSED"}


def test_a_folder_of_good_signatures_exits_zero_with_a_table(
        trusted: SignedFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = mixed_folder(tmp_path / "docs", trusted)
    code = cli.main(["validate", "-j", "2", "--format", "table", "--glob", "*.p7m",
                     str(folder / "sub"), str(folder / "good.p7m")])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split()[0] for line in out[:-1]] == ["TOTAL_PASSED", "TOTAL_PASSED"]
    assert out[-1] == "2 file(s): TOTAL_PASSED 2, INDETERMINATE 0, TOTAL_FAILED 0"


def test_detached_names_the_content_of_a_one_off_pair(
        trusted: SignedFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "signature.bin").write_bytes(trusted.detached_cades)
    (tmp_path / "whatever.dat").write_bytes(trusted.detached_content)
    code = cli.main(["validate", "--detached", str(tmp_path / "whatever.dat"),
                     str(tmp_path / "signature.bin")])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["indication"] == "TOTAL_PASSED"
    (tmp_path / "whatever.dat").write_bytes(b"the contract, changed")
    assert cli.main(["validate", "--detached", str(tmp_path / "whatever.dat"),
                     str(tmp_path / "signature.bin")]) == 3


def test_a_folder_with_nothing_matching_is_refused(
        trusted: SignedFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert cli.main(["validate", str(tmp_path / "empty")]) == 1
    assert "no file matching" in capsys.readouterr().err


def _long_run(trusted: SignedFiles, tmp_path: Path) -> subprocess.Popen[bytes]:
    """``gateway validate -j 2`` of 4,000 files, once its first report came out (the workers
    are running): long enough to be stopped midway on any machine."""
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(4000):
        (folder / f"{number:05}.p7m").write_bytes(trusted.good_cades)
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY),
           "GATEWAY_PKI_DIR": str(trusted.pki.directory),
           "GATEWAY_DATA_DIR": str(tmp_path / "var")}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "validate", "-j", "2", "--format", "jsonl",
         str(folder)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.readline()
    return process


def test_ctrl_c_stops_the_workers_cleanly(trusted: SignedFiles, tmp_path: Path) -> None:
    process = _long_run(trusted, tmp_path)
    workers = _children(process.pid)
    assert len(workers) == 2
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert b"Traceback" not in err
    assert b"interrupted: " in err and b" of 4000 file(s) validated" in err
    assert len(rest.splitlines()) < 3999  # stopped midway, not after the whole run
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


def test_a_killed_worker_ends_the_run_with_an_error_not_a_hang(
        trusted: SignedFiles, tmp_path: Path) -> None:
    process = _long_run(trusted, tmp_path)
    killed, other = _children(process.pid)
    os.kill(killed, signal.SIGKILL)  # as the OOM killer would
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"error: validation worker {killed} died (exit code -9)".encode() in err
    assert b"Traceback" not in err
    assert not _alive(other)


def _children(pid: int) -> list[int]:
    listed = Path(f"/proc/{pid}/task/{pid}/children")
    # The supported platform is Linux (README "Supported platforms"): no /proc is a failure.
    assert listed.exists(), f"{listed} is missing: the workers cannot be found"
    return [int(child) for child in listed.read_text().split()]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has exited
