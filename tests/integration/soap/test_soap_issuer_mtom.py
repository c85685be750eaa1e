"""``PublishNotifications`` with MTOM/XOP documents (issue 17) against a real ``gateway serve``.

zeep cannot send MTOM (it only reads multipart responses), so the envelope is zeep's, its
documents' ``content`` replaced by ``xop:Include`` elements, signed as the zeep client signs, and
sent as ``multipart/related`` with requests. A Java peer (``wss4j_mtom/MtomPublish.java``: WSS4J
signs, JavaMail frames the multipart; Debian packages, compiled here) sends one too. The gateway is this module's own, with a 12 MiB
document cap so that "larger than the message limit (10 MiB)" and "larger than the document
limit" are both cheap to send.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import zeep
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from java_peers import debian_classpath
from lxml import etree
from sqlalchemy import select

from gateway import namespaces as ns
from gateway.soap.xop import XOP_NS
from gateway.store.models import NotificationContentRow, NotificationDocumentRow

if TYPE_CHECKING:
    from conftest import RunningGateway, Snapshot

pytestmark = pytest.mark.postgres

PATH = "/IssuerService"
I = f"{{{ns.ISSUER_SERVICE}}}"
GW = f"{{{ns.FAULT_DETAIL}}}"
MiB = 1024 * 1024
DOCUMENT_CAP = 12 * MiB


@pytest.fixture(scope="module")
def gw(launch_gateway: Any, default_seed: Any,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with launch_gateway(tmp_path_factory.mktemp("mtom"), default_seed, settings_environment={
            "GATEWAY_MAX_DOCUMENT_BYTES": str(DOCUMENT_CAP),
            "GATEWAY_MAX_UPLOAD_BYTES": str(40 * MiB)}) as running:
        running.operator("issuers", "add", "TGSS", running.pki.issuer_tgss_cif)
        yield running


def item(gw: RunningGateway, reference: str, documents: Sequence[tuple[str, bytes]]
         ) -> dict[str, Any]:
    """An item whose documents are ``(name, marker)``: the marker is what the content element
    holds until ``to_xop`` replaces it (a ``cid:`` marker) or leaves it inline."""
    uploads = [{"name": name, "contentType": "application/pdf", "content": content}
               for name, content in documents]
    return {"issuerReference": reference, "kind": "NOTIFICATION", "procedure": "Apremio",
            "subject": f"Providencia {reference}", "recipient": gw.pki.company_cif,
            "mainDocument": uploads[0], "annex": uploads[1:]}


def envelope_for(gw: RunningGateway, items: list[dict[str, Any]],
                 digests: dict[bytes, str] | None = None) -> etree._Element:
    """zeep's envelope with every ``cid:...`` content turned into an xop:Include, then signed
    by the TGSS seal (the signature covers the Body with its includes)."""
    client = zeep.Client(gw.base_url + PATH + "?wsdl")
    envelope = client.create_message(client.service, "PublishNotifications", item=items)
    for content in envelope.iter(f"{I}content"):
        marker = base64.b64decode(content.text or "")
        if marker.startswith(b"cid:"):
            content.text = None
            etree.SubElement(content, f"{{{XOP_NS}}}Include", href=marker.decode())
            if digests and marker in digests:
                sha = etree.Element(f"{I}sha256")
                sha.text = digests[marker]
                content.addnext(sha)
    return gw.sign(envelope, "issuer_tgss")


def multipart(envelope: etree._Element | bytes,
              parts: Sequence[tuple[str, bytes]], boundary: str = "MIMEBoundary_notess",
              root_type: str = 'application/xop+xml; charset=UTF-8; type="text/xml"'
              ) -> tuple[bytes, str]:
    root = envelope if isinstance(envelope, bytes) else etree.tostring(envelope)
    chunks = [f"--{boundary}\r\nContent-Type: {root_type}\r\n"
              "Content-Transfer-Encoding: binary\r\nContent-ID: <root.message@notess>\r\n\r\n"
              .encode(), root, b"\r\n"]
    for content_id, data in parts:
        chunks += [f"--{boundary}\r\nContent-Type: application/pdf\r\n"
                   f"Content-Transfer-Encoding: binary\r\nContent-ID: <{content_id}>\r\n\r\n"
                   .encode(), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
                    'start="<root.message@notess>"; start-info="text/xml"')
    return b"".join(chunks), content_type


def send(gw: RunningGateway, body: bytes, content_type: str) -> requests.Response:
    return gw.post(body, path=PATH, content_type=content_type, soap_action="PublishNotifications")


def code_of(response: requests.Response) -> str | None:
    return etree.fromstring(response.content).findtext(f".//{GW}error/{GW}code")


def stored(gw: RunningGateway, notification_id: int) -> list[tuple[str, int, bytes]]:
    with gw.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(  # type: ignore[misc]
            select(NotificationDocumentRow.sha256, NotificationDocumentRow.size,
                   NotificationContentRow.content)
            .join(NotificationContentRow, (NotificationContentRow.notification_id
                                           == NotificationDocumentRow.notification_id)
                  & (NotificationContentRow.position == NotificationDocumentRow.position))
            .where(NotificationDocumentRow.notification_id == notification_id)
            .order_by(NotificationDocumentRow.position))]


def assert_unchanged(gw: RunningGateway, before: Snapshot) -> None:
    after = gw.snapshot()
    changed = sorted(name for name, digest in after.digests.items()
                     if before.digests.get(name) != digest and name != "used_nonce")
    assert not changed, changed


def test_mtom_documents_beyond_the_message_limit_are_stored_whole(gw: RunningGateway) -> None:
    big = os.urandom(11 * MiB)  # over the 10 MiB message limit: only MTOM can carry it
    annex = b"%PDF-1.4 anexo " * 1000
    items = [item(gw, "MTOM-1", [("providencia.pdf", b"cid:doc-1@notess"),
                                 ("anexo.pdf", b"cid:doc-2@notess")]),
             item(gw, "MTOM-2", [("inline.pdf", b"%PDF-1.4 inline")])]
    envelope = envelope_for(gw, items, {b"cid:doc-1@notess": hashlib.sha256(big).hexdigest()})
    body, content_type = multipart(envelope, [("doc-1@notess", big), ("doc-2@notess", annex)])
    response = send(gw, body, content_type)
    assert response.status_code == 200, response.text[:2000]
    gw.verify_response_signature(response.content)
    answer = etree.fromstring(response.content)
    published = answer.findall(f".//{I}PublishNotificationsResult/{I}item")
    assert [p.findtext(f"{I}created") for p in published] == ["true", "true"]
    first = int(published[0].findtext(f"{I}id") or 0)
    assert [d.text for d in published[0].iterfind(f"{I}documentSha256")] == [
        hashlib.sha256(big).hexdigest(), hashlib.sha256(annex).hexdigest()]
    assert stored(gw, first) == [(hashlib.sha256(big).hexdigest(), len(big), big),
                                 (hashlib.sha256(annex).hexdigest(), len(annex), annex)]
    inline = stored(gw, int(published[1].findtext(f"{I}id") or 0))
    assert [content for _, _, content in inline] == [b"%PDF-1.4 inline"]

    # The same batch again (new parts, same bytes): same ids, nothing written.
    snapshot = gw.snapshot()
    again = send(gw, *multipart(envelope_for(gw, items), [("doc-1@notess", big),
                                                          ("doc-2@notess", annex)]))
    assert again.status_code == 200, again.text[:2000]
    replayed = etree.fromstring(again.content).findall(f".//{I}PublishNotificationsResult/{I}item")
    assert [(p.findtext(f"{I}id"), p.findtext(f"{I}created")) for p in replayed] == [
        (p.findtext(f"{I}id"), "false") for p in published]
    assert_unchanged(gw, snapshot)


def hostile(gw: RunningGateway, body: bytes, content_type: str, code: str,
            status: int = 400) -> None:
    snapshot = gw.snapshot()
    response = send(gw, body, content_type)
    assert response.status_code == status, response.text[:2000]
    assert code_of(response) == code, response.text[:2000]
    assert_unchanged(gw, snapshot)
    assert not [e for e, _ in gw.audit_since(snapshot) if e.startswith("notification.")]


def one_item(gw: RunningGateway, reference: str, *markers: bytes) -> etree._Element:
    return envelope_for(gw, [item(gw, reference, [(f"d{i}.pdf", m)
                                                  for i, m in enumerate(markers)])])


def test_malformed_multipart_is_refused(gw: RunningGateway) -> None:
    good, content_type = multipart(one_item(gw, "BAD-1", b"cid:a@x"), [("a@x", b"%PDF")])
    hostile(gw, good[: len(good) // 2] + good[-200:-40], content_type, "MALFORMED_MULTIPART")
    hostile(gw, good.replace(b"--MIMEBoundary_notess--", b""), content_type,
            "MALFORMED_MULTIPART")
    hostile(gw, good, content_type.replace('type="application/xop+xml"', 'type="text/xml"'),
            "MALFORMED_MULTIPART")
    wrong_root, content_type = multipart(one_item(gw, "BAD-2", b"cid:a@x"), [("a@x", b"%PDF")],
                                         root_type="text/plain")
    hostile(gw, wrong_root, content_type, "MALFORMED_MULTIPART")
    twice, content_type = multipart(one_item(gw, "BAD-3", b"cid:a@x"),
                                    [("a@x", b"%PDF"), ("a@x", b"%PDF2")])
    hostile(gw, twice, content_type, "MALFORMED_MULTIPART")
    encoded = good.replace(b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: binary",
                           b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64")
    hostile(gw, encoded, content_type, "MALFORMED_MULTIPART")


def test_a_missing_part_is_refused(gw: RunningGateway) -> None:
    body, content_type = multipart(one_item(gw, "MISS-1", b"cid:a@x", b"cid:b@x"),
                                   [("a@x", b"%PDF")])
    hostile(gw, body, content_type, "MISSING_ATTACHMENT")
    # An xop:Include in a plain (non-multipart) request names no part either.
    plain = etree.tostring(one_item(gw, "MISS-2", b"cid:a@x"))
    hostile(gw, plain, "text/xml; charset=utf-8", "MISSING_ATTACHMENT")


def test_a_part_referenced_twice_or_never_is_refused(gw: RunningGateway) -> None:
    body, content_type = multipart(one_item(gw, "TWICE-1", b"cid:a@x", b"cid:a@x"),
                                   [("a@x", b"%PDF")])
    hostile(gw, body, content_type, "ATTACHMENT_REFERENCED_TWICE")
    body, content_type = multipart(one_item(gw, "TWICE-2", b"cid:a@x"),
                                   [("a@x", b"%PDF"), ("stray@x", b"%PDF")])
    hostile(gw, body, content_type, "UNREFERENCED_ATTACHMENT")


def test_an_oversized_part_is_refused(gw: RunningGateway) -> None:
    body, content_type = multipart(one_item(gw, "HUGE-1", b"cid:a@x"),
                                   [("a@x", b"\0" * (DOCUMENT_CAP + 1))])
    hostile(gw, body, content_type, "ATTACHMENT_TOO_LARGE", status=413)
    # The whole body over the upload cap is refused from its Content-Length, unread.
    parts = [(f"p{i}@x", b"\0" * (10 * MiB)) for i in range(5)]
    body, content_type = multipart(one_item(gw, "HUGE-2", *[f"cid:p{i}@x".encode()
                                                            for i in range(5)]), parts)
    hostile(gw, body, content_type, "MESSAGE_TOO_LARGE", status=413)


def test_an_attachment_that_differs_from_its_signed_digest_is_refused(
        gw: RunningGateway) -> None:
    """The Body's sha256 is signed: a part swapped in transit no longer matches it."""
    sent = b"%PDF-1.4 the original act"
    envelope = envelope_for(gw, [item(gw, "SWAP-1", [("acto.pdf", b"cid:a@x")])],
                            {b"cid:a@x": hashlib.sha256(sent).hexdigest()})
    body, content_type = multipart(envelope, [("a@x", b"%PDF-1.4 another act!!")])
    hostile(gw, body, content_type, "INVALID_BATCH")


def test_a_chunked_mtom_upload_beyond_the_message_limit_is_read_as_a_stream(
        gw: RunningGateway) -> None:
    """No Content-Length: the connection front hands the request over once the chunks pass
    its buffering cap, and the gateway reads the rest from the socket."""
    data = os.urandom(11 * MiB)
    body, content_type = multipart(one_item(gw, "CHUNKED-1", b"cid:a@x"), [("a@x", data)])

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), MiB):
            yield body[start:start + MiB]

    response = send(gw, chunks(), content_type)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text[:2000]
    published = etree.fromstring(response.content).find(f".//{I}PublishNotificationsResult/{I}item")
    assert published is not None
    assert stored(gw, int(published.findtext(f"{I}id") or 0)) == [
        (hashlib.sha256(data).hexdigest(), len(data), data)]


def test_an_include_outside_a_document_is_refused(gw: RunningGateway) -> None:
    client = zeep.Client(gw.base_url + PATH + "?wsdl")
    envelope = client.create_message(client.service, "PublishNotifications", item=[
        item(gw, "WHERE-1", [("d.pdf", b"%PDF inline")])])
    subject = envelope.find(f".//{I}subject")
    assert subject is not None
    subject.text = None
    etree.SubElement(subject, f"{{{XOP_NS}}}Include", href="cid:a@x")
    body, content_type = multipart(gw.sign(envelope, "issuer_tgss"), [("a@x", b"text")])
    hostile(gw, body, content_type, "XOP_NOT_ALLOWED")


def test_other_ports_refuse_mtom(gw: RunningGateway) -> None:
    body, content_type = multipart(b"<x/>", [])
    response = gw.post(body, path="/NotificationService", content_type=content_type)
    assert response.status_code == 400
    assert code_of(response) == "MTOM_NOT_ACCEPTED"


JAVA_SOURCE = Path(__file__).with_name("wss4j_mtom") / "MtomPublish.java"
JAVA_JARS = ("wss4j", "xmlsec", "commons-logging", "slf4j-api", "commons-codec", "javax.mail",
             "javax.activation")


def test_a_java_peer_publishes_with_mtom(gw: RunningGateway, tmp_path: Path) -> None:
    """WSS4J's signature over a Body holding the xop:Include and JavaMail's multipart framing
    (boundary, part headers, CRLFs) are read as ours are."""
    cp = debian_classpath(JAVA_JARS, "the Java MTOM peer", "libwss4j-java libmail-java "
                                                          "libactivation-java")
    subprocess.run(["javac", "-nowarn", "-d", str(tmp_path), "-cp", cp, str(JAVA_SOURCE)],
                   check=True, capture_output=True, timeout=300)
    credential = gw.pki.client("issuer_tgss")
    store = tmp_path / "issuer.p12"
    store.write_bytes(pkcs12.serialize_key_and_certificates(
        b"client", credential.private_key(), credential.certificate(), None,
        BestAvailableEncryption(b"changeit")))
    document = tmp_path / "java.pdf"
    data = b"%PDF-1.4 java " + os.urandom(3 * MiB)
    document.write_bytes(data)
    result = subprocess.run(
        ["java", "-cp", f"{tmp_path}:{cp}", "MtomPublish", gw.base_url + PATH, str(store),
         "changeit", "client", "JAVA-MTOM-1", gw.pki.company_cif, str(document)],
        check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    first, _, body = result.stdout.partition("\n")
    assert first == "STATUS 200", body[-3000:]
    answer = etree.fromstring(body.strip().encode())
    published = answer.find(f".//{I}PublishNotificationsResult/{I}item")
    assert published is not None and published.findtext(f"{I}created") == "true"
    assert stored(gw, int(published.findtext(f"{I}id") or 0)) == [
        (hashlib.sha256(data).hexdigest(), len(data), data)]
