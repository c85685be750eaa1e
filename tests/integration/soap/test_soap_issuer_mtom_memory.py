"""A large MTOM upload through a real ``gateway serve`` (issue 17): the document is spooled
to disk as it arrives and streamed into PostgreSQL slice by slice (``COPY``), so no worker ever
holds it: a worker's peak memory grows by far less than the document (measured: about 11 MiB for
120 MiB), where a buffered multipart parser, base64 decoding or a whole-bytes insert would each
add at least a copy. The worker's peak RSS is reset before (``/proc/<pid>/clear_refs``) and read
after (``VmHWM``), as for the 200 MB download (test_soap_content_streaming.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from lxml import etree
from sqlalchemy import select
from test_soap_content_streaming import _status_kb, _workers
from test_soap_issuer_mtom import I, envelope_for, item, multipart, send

from gateway.store.models import NotificationDocumentRow

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MiB = 1024 * 1024
DOCUMENT = 120 * MiB
GROWTH_LIMIT = 48 * MiB
"""Well under one copy of the document (buffers, the envelope, the slices in flight)."""


@pytest.fixture(scope="module")
def gw(launch_gateway: Any, default_seed: Any,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with launch_gateway(tmp_path_factory.mktemp("mtom-memory"), default_seed) as running:
        running.operator("issuers", "add", "TGSS", running.pki.issuer_tgss_cif)
        yield running


def test_a_large_mtom_upload_never_holds_the_document_in_memory(
        gw: RunningGateway, record_property: Callable[[str, object], None]) -> None:
    for index in range(4):  # both workers warm: code loaded, pools filled
        warm = envelope_for(gw, [item(gw, f"WARM-{index}", [("w.pdf", b"cid:w@x")])])
        assert send(gw, *multipart(warm, [("w@x", b"%PDF-1.4 warm")])).status_code == 200
    data = os.urandom(DOCUMENT)
    body, content_type = multipart(
        envelope_for(gw, [item(gw, "BIG-1", [("grande.pdf", b"cid:big@x")])]),
        [("big@x", data)])
    workers = _workers(gw)
    resident_before = {}
    for pid in workers:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current VmRSS
        resident_before[pid] = _status_kb(pid, "VmRSS")

    response = send(gw, body, content_type)

    growth = max(_status_kb(pid, "VmHWM") - resident_before[pid] for pid in workers) * 1024
    record_property("worker_peak_growth_bytes", growth)
    assert response.status_code == 200, response.text[:2000]
    published = etree.fromstring(response.content).find(f".//{I}PublishNotificationsResult/{I}item")
    assert published is not None
    with gw.engine.connect() as connection:
        sha256, size = connection.execute(
            select(NotificationDocumentRow.sha256, NotificationDocumentRow.size).where(
                NotificationDocumentRow.notification_id == int(published.findtext(f"{I}id") or 0)
            )).one()
    assert (sha256, size) == (hashlib.sha256(data).hexdigest(), DOCUMENT)
    print(f"worker peak growth: {growth / MiB:.0f} MiB for a {DOCUMENT / MiB:.0f} MiB document")
    assert growth < GROWTH_LIMIT, growth
