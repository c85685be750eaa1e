"""Issue 7: GetContent streams large documents; server memory does not grow with their size.

A gateway of its own (``start_gateway``: PostgreSQL, gunicorn with two workers) holds a 200 MB
and a 5 MB communication (the 200 MB document is written into the store directly: publishing
caps documents at ``publishing.MAX_DOCUMENT_BYTES``, the server must stream whatever is stored).
The 200 MB one is downloaded with ``gateway.client.download`` (which
verifies the server's signature while writing to disk); each worker's peak RSS is reset before
(``/proc/<pid>/clear_refs``) and read after (``VmHWM``), and must have grown by less than 50 MB.
The 5 MB one (larger than one store slice, so streamed too) goes through zeep, which checks the
signature with python-xmlsec, and the raw response through Debian's ``xmlsec1``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
import zeep
from lxml import etree
from sqlalchemy import text

from gateway import namespaces as ns
from gateway.client.download import download_content
from gateway.pki import DemoPki
from gateway.services.publishing import DocumentInput, PublicationRequest

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LARGE = 200 * 1024 * 1024
MEDIUM = 5 * 1024 * 1024 + 1
RSS_GROWTH_LIMIT_KB = 50 * 1024


def _seed(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    def communication(reference: str, size: int) -> PublicationRequest:
        return PublicationRequest(
            issuer="TGSS", issuer_reference=reference, kind="COMMUNICATION",
            procedure="Procedimiento de prueba", subject=f"Documento grande {reference}",
            recipient=pki.company_cif, ccc=None, category="NORMAL",
            documents=(DocumentInput(f"{reference}.bin", "application/octet-stream",
                                     os.urandom(size)),),
            made_available_at=now - timedelta(hours=1))

    return [communication("STREAM-LARGE", 10), communication("STREAM-MEDIUM", MEDIUM),
            communication("STREAM-SMALL", 1000)]


@pytest.fixture(scope="module")
def streaming_gateway(
    start_gateway: Callable[..., AbstractContextManager[RunningGateway]],
) -> Iterator[tuple[RunningGateway, int, str]]:
    """The gateway, the id of the 200 MB communication and its document's sha256."""
    with start_gateway(_seed) as running:
        item = next(i for i in running.seed.items if i.issuer_reference == "STREAM-LARGE")
        data = os.urandom(LARGE)
        sha256 = hashlib.sha256(data).hexdigest()
        with running.engine.begin() as connection:
            connection.execute(text(
                "UPDATE notification_content SET content = :data WHERE notification_id = :id"),
                {"data": data, "id": item.id})
            connection.execute(text(
                "UPDATE notification_document SET size = :size, sha256 = :sha256 "
                "WHERE notification_id = :id"), {"size": LARGE, "sha256": sha256, "id": item.id})
        del data
        yield running, item.id, sha256


def _workers(gateway: RunningGateway) -> list[int]:
    """The gunicorn worker processes of ``gateway`` (children of the master bound to its port)."""
    bind = gateway.base_url.removeprefix("http://").encode()
    processes: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if bind not in (entry / "cmdline").read_bytes():
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        processes[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    workers = [pid for pid, parent in processes.items() if parent in processes]
    assert len(workers) == 2, processes
    return workers


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_a_200_mb_download_keeps_server_memory_flat(
    streaming_gateway: tuple[RunningGateway, int, str], tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    gateway, large_id, large_sha256 = streaming_gateway
    small = next(i for i in gateway.seed.items if i.issuer_reference == "STREAM-SMALL")
    for _ in range(6):  # both workers warm: code loaded, pools and caches filled
        assert gateway.client("company").service.GetContent(id=small.id).data == small.content
    workers = _workers(gateway)
    resident_before = {}
    for pid in workers:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current VmRSS
        resident_before[pid] = _status_kb(pid, "VmRSS")

    target = tmp_path / "large.bin"
    downloaded = download_content(gateway.service_url, gateway.signer("company"),
                                  gateway.pki.server.cert_path, large_id, target)

    growth_kb = {pid: _status_kb(pid, "VmHWM") - resident_before[pid] for pid in workers}
    record_property("worker_rss_growth_kb", max(growth_kb.values()))
    assert max(growth_kb.values()) < RSS_GROWTH_LIMIT_KB, growth_kb
    assert downloaded.size == LARGE == target.stat().st_size
    assert downloaded.sha256 == large_sha256 == _sha256_of(target)
    assert downloaded.status == "READ"


def test_a_streamed_document_verifies_in_zeep_and_xmlsec1(
    streaming_gateway: tuple[RunningGateway, int, str], tmp_path: Path
) -> None:
    gateway, _, _ = streaming_gateway
    item = next(i for i in gateway.seed.items if i.issuer_reference == "STREAM-MEDIUM")

    content = gateway.client("company").service.GetContent(id=item.id)  # verifies the signature
    assert content.data == item.content
    assert content.document.sha256 == item.sha256

    response = requests.post(gateway.service_url, timeout=60, headers={
        "Content-Type": "text/xml; charset=utf-8"}, data=etree.tostring(
        gateway.signed("GetContent", id=item.id)))
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(response.content))
    assert _xmlsec1_verifies(response.content, gateway.pki.server.cert_path, tmp_path)
    middle = response.content.index(b"<tns:data>") + len(response.content) // 4
    flipped = b"B" if response.content[middle:middle + 1] == b"A" else b"A"
    tampered = response.content[:middle] + flipped + response.content[middle + 1:]
    assert not _xmlsec1_verifies(tampered, gateway.pki.server.cert_path, tmp_path)


def test_a_streamed_fault_is_raised_verified(
    streaming_gateway: tuple[RunningGateway, int, str], tmp_path: Path,
    gw_code: Callable[..., str],
) -> None:
    gateway, _, _ = streaming_gateway
    with pytest.raises(zeep.exceptions.Fault) as refused:
        download_content(gateway.service_url, gateway.signer("person"),
                         gateway.pki.server.cert_path, gateway.seed.items[0].id,
                         tmp_path / "refused.bin")
    assert gw_code(refused.value) == "NOT_FOUND"
    assert not list(tmp_path.iterdir())


def _xmlsec1_verifies(response: bytes, server_cert: Path, workdir: Path) -> bool:
    saved = workdir / "response.xml"
    saved.write_bytes(response)
    verified = subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-cert-pem", str(server_cert),
         "--id-attr:Id", f"{ns.SOAP11_ENV}:Body", "--id-attr:Id", f"{ns.WSU}:Timestamp",
         "--node-xpath", f"//*[local-name()='Signature' and namespace-uri()='{ns.DS}']",
         str(saved)], capture_output=True, text=True, check=False)
    return verified.returncode == 0 and "SignedInfo References (ok/all): 2/2" in verified.stderr


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
