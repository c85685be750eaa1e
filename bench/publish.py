"""Publishing over ``IssuerService`` against ``gateway import`` of the same items, in one run.

    .venv/bin/python bench/publish.py [--batches 3] [--batch-size 1000] [--document-kib 20]
                                      [--database-url URL]

On PostgreSQL (a dedicated schema, dropped at the end), per batch of ``--batch-size`` items
with one ``--document-kib`` document each:

- **import**: what ``gateway import DIR`` runs -- ``read_manifest`` of a ``manifest.jsonl`` and
  its files, ``PublishingService.validate`` then ``publish`` -- timed from reading the manifest
  to the commit;
- **IssuerService**: one ``PublishNotifications`` of the same items (other references) through
  the complete WSGI application of ``gateway serve`` (``Container.wsgi_app``: WS-Security gate,
  Spyne, ``IssuingService``, signed response), in-process, timed around the WSGI call (the
  client's signing of the request is outside the window), documents inline in base64;
- **IssuerService MTOM**: the same again (other references) with every document an MTOM/XOP
  attachment of a ``multipart/related`` request (``soap.xop``: streamed, hashed, spooled).

Wall time is what counts (most of the work is PostgreSQL's, in another process); CPU time of
this process is printed too. Prints items/s of each and the ratio IssuerService/import
(issue 17 target: <= 1.5x the time, i.e. >= 1/1.5 of import's rate).

A 1,000-item batch of 20 KiB documents is about 27 MiB of base64: above the default 10 MiB
message limit, so the bench raises ``max_message_bytes`` to 64 MiB for the base64 requests. The
MTOM request's envelope is well under the limit (the documents travel as raw parts).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zeep
from lxml import etree

from gateway.bootstrap import build
from gateway.client.transport import ServerVerifyingSignature
from gateway.config import Settings
from gateway.domain.model import Issuer
from gateway.manifest import read_manifest
from gateway.pki import DemoPki, generate_demo_pki
from gateway.soap.xop import XOP_NS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from receipts import DEFAULT_POSTGRES_URL, open_store

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"


def document(index: int, size: int) -> bytes:
    head = f"%PDF-1.4 documento {index}\n".encode()
    return head + os.urandom(size - len(head))  # incompressible, like real PDFs


def write_import_dir(directory: Path, pki: DemoPki, prefix: str, count: int,
                     size: int) -> None:
    directory.mkdir(parents=True)
    with (directory / "manifest.jsonl").open("w", encoding="utf-8") as manifest:
        for index in range(count):
            name = f"{prefix}-{index:05d}.pdf"
            (directory / name).write_bytes(document(index, size))
            manifest.write(json.dumps({
                "issuer": "TGSS", "issuer_reference": f"{prefix}-{index:05d}",
                "kind": "NOTIFICATION", "procedure": "Procedimiento de prueba",
                "subject": f"Asunto {index}", "recipient": pki.company_cif,
                "main_document": name}) + "\n")


def soap_items(pki: DemoPki, prefix: str, count: int, size: int) -> list[dict[str, Any]]:
    return [{"issuerReference": f"{prefix}-{index:05d}", "kind": "NOTIFICATION",
             "procedure": "Procedimiento de prueba", "subject": f"Asunto {index}",
             "recipient": pki.company_cif,
             "mainDocument": {"name": f"{prefix}-{index:05d}.pdf",
                              "contentType": "application/pdf",
                              "content": document(index, size)}}
            for index in range(count)]


BOUNDARY = "bench-publish-boundary"
MTOM_TYPE = (f'multipart/related; type="application/xop+xml"; boundary="{BOUNDARY}"; '
             'start="<root@bench>"; start-info="text/xml"')


def mtom_request(envelope: etree._Element, signer: Any,
                 parts: dict[str, bytes]) -> bytes:
    """Each document's content (a ``cid:`` marker) as an xop:Include, signed, then the
    multipart body: the envelope part and one binary part per document."""
    for content in envelope.iter("{urn:notess:gateway:issuer:v1}content"):
        marker = base64.b64decode(content.text or "").decode()
        content.text = None
        etree.SubElement(content, f"{{{XOP_NS}}}Include", href=marker)
    signer.apply(envelope, {})
    chunks = [f"--{BOUNDARY}\r\nContent-Type: application/xop+xml; type=\"text/xml\"\r\n"
              "Content-ID: <root@bench>\r\n\r\n".encode(), etree.tostring(envelope), b"\r\n"]
    for content_id, data in parts.items():
        chunks += [f"--{BOUNDARY}\r\nContent-Type: application/pdf\r\n"
                   f"Content-Transfer-Encoding: binary\r\nContent-ID: <{content_id}>\r\n\r\n"
                   .encode(), data, b"\r\n"]
    chunks.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(chunks)


def call(app: Any, body: bytes, path: str, action: str,
         content_type: str = "text/xml; charset=utf-8") -> tuple[float, float, bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
        "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
        "HTTP_SOAPACTION": f'"{action}"', "REMOTE_ADDR": "127.0.0.1",
    }
    statuses: list[str] = []
    wall, cpu = time.perf_counter(), time.process_time()
    response = b"".join(app(environ, lambda status, headers, exc_info=None:
                            statuses.append(status)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not statuses[0].startswith("200"):
        raise SystemExit(f"{action} failed: {statuses[0]} {response[:800]!r}")
    return wall, cpu, response


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--document-kib", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get(
        "GATEWAY_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--no-events", action="store_true",
                        help="skip the events half (bench/events.py: the outbox's request-path "
                             "cost and delivery throughput)")
    args = parser.parse_args(argv)
    n, size = args.batch_size, args.document_kib * 1024

    imports: list[tuple[float, float]] = []
    soaps: list[tuple[float, float]] = []
    mtoms: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        workdir = Path(tmp)
        pki = generate_demo_pki(workdir / "pki", now=datetime.now(UTC))
        url, remove = open_store("postgresql", args.database_url, workdir)
        container = build(Settings(data_dir=workdir, pki_dir=workdir / "pki", database_url=url,
                                   max_message_bytes=64 * 1024 * 1024))
        try:
            container.upgrade_database()
            container.issuing().register(pki.issuer_tgss_cif, Issuer.TGSS, "bench")
            app = container.wsgi_app()
            publishing = container.publishing()
            credential = pki.client("issuer_tgss")
            signer = ServerVerifyingSignature(credential.key_path, credential.cert_path,
                                              pki.server.cert_path)
            client = zeep.Client(str(ROOT / "wsdl" / "issuer-service.wsdl"))
            for batch in range(args.batches + 1):  # the first is a warm-up
                directory = workdir / f"import-{batch}"
                write_import_dir(directory, pki, f"IMP{batch}", n, size)
                wall, cpu = time.perf_counter(), time.process_time()
                manifest = read_manifest(directory)
                _, problems = publishing.validate(manifest.requests)
                assert not problems and not manifest.problems, problems[:3]
                ids = publishing.publish(manifest.requests)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                assert len(ids) == n

                envelope = client.create_message(
                    client.service, "PublishNotifications",
                    item=soap_items(pki, f"SOAP{batch}", n, size))
                signer.apply(envelope, {})
                body = etree.tostring(envelope)
                soap_wall, soap_cpu, response = call(app, body, "/IssuerService",
                                                     "PublishNotifications")
                created = etree.fromstring(response).findtext(f"{SOAP}Body//{{*}}created")
                assert created == str(n), response[:500]

                items = soap_items(pki, f"MTOM{batch}", n, size)
                parts: dict[str, bytes] = {}
                for index, entry in enumerate(items):
                    parts[f"d{index}@bench"] = entry["mainDocument"]["content"]
                    entry["mainDocument"]["content"] = f"cid:d{index}@bench".encode()
                mtom_body = mtom_request(client.create_message(
                    client.service, "PublishNotifications", item=items), signer, parts)
                mtom_wall, mtom_cpu, response = call(app, mtom_body, "/IssuerService",
                                                     "PublishNotifications", MTOM_TYPE)
                created = etree.fromstring(response).findtext(f"{SOAP}Body//{{*}}created")
                assert created == str(n), response[:500]
                if batch:
                    imports.append((wall, cpu))
                    soaps.append((soap_wall, soap_cpu))
                    mtoms.append((mtom_wall, mtom_cpu))
                    print(f"batch {batch}: import {wall:6.2f} s, IssuerService {soap_wall:6.2f} s "
                          f"({len(body) / 2**20:.1f} MiB request), MTOM {mtom_wall:6.2f} s "
                          f"({len(mtom_body) / 2**20:.1f} MiB request)", flush=True)
        finally:
            container.dispose()
            remove()

    import_wall = statistics.median(w for w, _ in imports)
    soap_wall = statistics.median(w for w, _ in soaps)
    print(f"gateway import:        {n / import_wall:8.0f} items/s "
          f"({statistics.median(c for _, c in imports) / n * 1e3:.2f} ms CPU/item here)")
    print(f"PublishNotifications:  {n / soap_wall:8.0f} items/s "
          f"({statistics.median(c for _, c in soaps) / n * 1e3:.2f} ms CPU/item here)")
    mtom_wall = statistics.median(w for w, _ in mtoms)
    print(f"PublishNotifications MTOM: {n / mtom_wall:4.0f} items/s "
          f"({statistics.median(c for _, c in mtoms) / n * 1e3:.2f} ms CPU/item here)")
    ratio = soap_wall / import_wall
    mtom_ratio = mtom_wall / import_wall
    print(f"time ratio IssuerService/import: {ratio:.2f}, MTOM/import: {mtom_ratio:.2f} "
          f"(target <= {TARGET_RATIO}; {n}-item batches, {args.document_kib} KiB documents, "
          f"median of {args.batches})")
    publishing_met = max(ratio, mtom_ratio) <= TARGET_RATIO
    if args.no_events:
        return 0 if publishing_met else 1
    print("-- events (bench/events.py) --", flush=True)
    from events import main as events_main

    events_met = events_main(["--database-url", args.database_url]) == 0
    return 0 if publishing_met and events_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
