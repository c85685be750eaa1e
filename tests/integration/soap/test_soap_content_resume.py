"""Issue 14: a streamed download that breaks is resumed where it broke.

A gateway of its own (``start_gateway``) holds a 5 MB communication (sliced, streamed) and a
small one (read whole). ``GetContent`` with ``offset`` answers the document's bytes from there
on, signed, stating the offset, with the sha256 and size of the whole document; an offset beyond
the document is refused. ``gateway.client.download`` goes through a loopback proxy that cuts the
first answer part-way (a worker killed mid-stream looks the same to the client): with
``resume=True`` the second request asks for the bytes from where the first broke and the file
assembled is the document. A proxy that also corrupts a byte of the first, cut answer (a man in
the middle) cannot get a wrong file accepted: the assembled sha256 fails, the part is dropped and
the document fetched again whole.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
import zeep
from breaking_proxy import BreakingProxy

from gateway.client.download import download_content, partial_path
from gateway.pki import DemoPki
from gateway.services.publishing import DocumentInput, PublicationRequest

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

LARGE = 5 * 1024 * 1024 + 7
SMALL = 1000


def _seed(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    def communication(reference: str, size: int) -> PublicationRequest:
        return PublicationRequest(
            issuer="TGSS", issuer_reference=reference, kind="COMMUNICATION",
            procedure="Procedimiento de prueba", subject=f"Documento {reference}",
            recipient=pki.company_cif, ccc=None, category="NORMAL",
            documents=(DocumentInput(f"{reference}.bin", "application/octet-stream",
                                     os.urandom(size)),),
            made_available_at=now - timedelta(hours=1))

    return [communication("RESUME-LARGE", LARGE), communication("RESUME-SMALL", SMALL)]


@pytest.fixture(scope="module")
def resume_gateway(
    start_gateway: Callable[..., AbstractContextManager[RunningGateway]],
) -> Iterator[RunningGateway]:
    with start_gateway(_seed) as running:
        yield running


def _item(gateway: RunningGateway, reference: str) -> tuple[int, bytes]:
    item = next(i for i in gateway.seed.items if i.issuer_reference == reference)
    return item.id, item.content


@pytest.mark.parametrize(("reference", "offset"), [
    ("RESUME-LARGE", 1), ("RESUME-LARGE", 3 * 256 * 1024 + 5), ("RESUME-LARGE", LARGE - 2),
    ("RESUME-LARGE", LARGE), ("RESUME-SMALL", 999), ("RESUME-SMALL", 0)])
def test_get_content_from_an_offset(resume_gateway: RunningGateway, reference: str,
                                    offset: int) -> None:
    item_id, content = _item(resume_gateway, reference)
    result = resume_gateway.client("company").service.GetContent(  # verifies the signature
        id=item_id, offset=offset)
    assert (result.data or b"") == content[offset:]  # zeep reads an empty base64 as None
    assert result.offset == (offset or None)  # stated when resumed, absent otherwise
    assert result.document.sha256 == hashlib.sha256(content).hexdigest()
    assert result.document.size == len(content)


@pytest.mark.parametrize("reference", ["RESUME-LARGE", "RESUME-SMALL"])
def test_an_offset_beyond_the_document_is_refused(resume_gateway: RunningGateway,
                                                  reference: str, gw_code: Callable[..., str],
                                                  ) -> None:
    item_id, content = _item(resume_gateway, reference)
    with pytest.raises(zeep.exceptions.Fault) as refused:
        resume_gateway.client("company").service.GetContent(id=item_id,
                                                             offset=len(content) + 1)
    assert gw_code(refused.value) == "INVALID_OFFSET"


def _offsets(sent: list[bytes]) -> list[int]:
    """The ``offset`` each GetContent request asked for (0 when absent), in order (a kept-alive
    connection carries several)."""
    found = []
    for connection in sent:
        for match in re.finditer(rb"<(\w+):GetContent\b.*?</\1:GetContent>", connection,
                                 re.DOTALL):
            offset = re.search(rb":offset>(\d+)<", match.group(0))
            found.append(int(offset.group(1)) if offset else 0)
    return found


@pytest.fixture
def proxy_to(resume_gateway: RunningGateway) -> Iterator[Callable[..., BreakingProxy]]:
    made: list[BreakingProxy] = []
    host, port = resume_gateway.base_url.removeprefix("http://").split(":")

    def make(cuts: list[int | None], corrupt: int | None = None) -> BreakingProxy:
        made.append(BreakingProxy((host, int(port)), cuts, corrupt))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


CUT_AT = 2 * 1024 * 1024  # bytes of the answer (head and base64) before the break


def test_a_broken_download_resumes_where_it_broke(resume_gateway: RunningGateway,
                                                  proxy_to: Callable[..., BreakingProxy],
                                                  tmp_path: Path) -> None:
    item_id, content = _item(resume_gateway, "RESUME-LARGE")
    proxy = proxy_to([CUT_AT])
    target = tmp_path / "large.bin"
    signer = resume_gateway.signer("company")
    url = proxy.url + "/NotificationService"

    with pytest.raises(requests.RequestException):  # the answer was cut short
        download_content(url, signer, resume_gateway.pki.server.cert_path, item_id, target,
                         resume=True, session=requests.Session())
    kept = partial_path(target).stat().st_size
    assert 0 < kept < len(content) and not target.exists()
    assert partial_path(target).read_bytes() == content[:kept]  # whole decoded bytes only

    downloaded = download_content(url, signer, resume_gateway.pki.server.cert_path, item_id,
                                  target, resume=True, session=requests.Session())

    assert target.read_bytes() == content
    assert downloaded.size == len(content)
    assert downloaded.sha256 == hashlib.sha256(content).hexdigest()
    assert not partial_path(target).exists()
    assert _offsets(proxy.requests) == [0, kept]
    # The second answer carried only the rest, not the document's whole base64 again.
    assert max(proxy.answered) < 4 * len(content) / 3 - CUT_AT / 2, proxy.answered


def test_a_corrupted_prefix_is_caught_and_the_document_fetched_again(
    resume_gateway: RunningGateway, proxy_to: Callable[..., BreakingProxy], tmp_path: Path,
) -> None:
    item_id, content = _item(resume_gateway, "RESUME-LARGE")
    # One base64 letter changed early in the first, cut answer (past the envelope's head,
    # within what the client writes before the break: it reads 1 MiB at a time).
    proxy = proxy_to([CUT_AT], corrupt=64 * 1024)
    target = tmp_path / "large.bin"
    signer = resume_gateway.signer("company")
    url = proxy.url + "/NotificationService"

    with pytest.raises(requests.RequestException):
        download_content(url, signer, resume_gateway.pki.server.cert_path, item_id, target,
                         resume=True, session=requests.Session())
    kept = partial_path(target).stat().st_size
    assert partial_path(target).read_bytes() != content[:kept]  # the proxy did change it

    download_content(url, signer, resume_gateway.pki.server.cert_path, item_id, target,
                     resume=True, session=requests.Session())

    assert target.read_bytes() == content
    assert _offsets(proxy.requests) == [0, kept, 0]  # resumed, refused, then fetched whole


def test_a_part_longer_than_the_document_is_dropped(resume_gateway: RunningGateway,
                                                    tmp_path: Path) -> None:
    item_id, content = _item(resume_gateway, "RESUME-SMALL")
    target = tmp_path / "small.bin"
    partial_path(target).write_bytes(b"X" * (len(content) + 10))  # INVALID_OFFSET for it
    download_content(resume_gateway.service_url, resume_gateway.signer("company"),
                     resume_gateway.pki.server.cert_path, item_id, target, resume=True)
    assert target.read_bytes() == content
    assert not partial_path(target).exists()


def test_without_resume_a_left_part_is_not_trusted(resume_gateway: RunningGateway,
                                                   tmp_path: Path) -> None:
    item_id, content = _item(resume_gateway, "RESUME-SMALL")
    target = tmp_path / "small.bin"
    partial_path(target).write_bytes(b"X" * 500)  # junk from who knows where
    download_content(resume_gateway.service_url, resume_gateway.signer("company"),
                     resume_gateway.pki.server.cert_path, item_id, target)
    assert target.read_bytes() == content
