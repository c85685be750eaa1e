"""Issue 17 acceptance, end to end on PostgreSQL with real processes: an issuer publishes, a RED
agent hears of exactly what it may see and accepts from the events, the issuer gets the evidence.

- ``gateway serve`` (two gunicorn workers), ``gateway events deliver`` running beside it, and
  ``client_examples/webhook_receiver.py`` running ``client_examples/batch_agent.py`` for the
  recipients its events name, each a subprocess;
- the TGSS seal (registered with ``gateway issuers add``) publishes 5,000 items over SOAP in five
  1,000-item ``multipart/related`` requests, every other item's document an MTOM attachment
  (its SHA-256 signed in the Body), for three companies and a person; the CCCs of the three
  companies assigned to the RED agent (``AssignReception`` by the company, ``gateway red
  assign`` for the two others) carry about half the items, one in seven is special-category;
- the same first batch again writes nothing and answers the same ids; a batch with one item
  changed is ``DUPLICATE_REFERENCE`` and writes nothing, not even its new items;
- the RED agent's loopback receiver (signatures checked by ``standardwebhooks``, bodies parsed
  by the CloudEvents SDK) gets exactly the published/accepted/read events of the normal items
  of its CCCs and the ``receipt.issued`` events of its receipts: what ``ListNotifications``
  shows it, nothing ``GetNotification`` refuses it;
- ``GetPublicationStatus`` shows every item's steps and ``GetEvidence`` an accepted one's
  (made available, accessed by the agent, accepted with the receipt's number and the digest
  of the receipt the agent archived), valid for ``gateway validate`` and ``xmlsec1 --verify``.

The phases' durations are printed (``-s``), never asserted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import zeep
from lxml import etree
from sqlalchemy import func, select
from webhook_receiver_harness import Receiver

from gateway import namespaces as ns
from gateway.domain.identifiers import make_ccc, make_cif
from gateway.soap.xop import XOP_NS
from gateway.store.models import NotificationRow

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "client_examples"
GATEWAY = Path(sys.executable).with_name("gateway")
PATH = "/IssuerService"
I = f"{{{ns.ISSUER_SERVICE}}}"
EV = f"{{{ns.EVIDENCE}}}"
GW = f"{{{ns.FAULT_DETAIL}}}"
XADES_SIGNED_PROPERTIES = "http://uri.etsi.org/01903/v1.3.2#:SignedProperties"
EVENTS_ENV = {"GATEWAY_EVENTS_ALLOWED_CALLBACKS": "127.0.0.1",
              "GATEWAY_EVENTS_ALLOW_HTTP": "true",
              "GATEWAY_EVENTS_RETRY_BASE_SECONDS": "0.2"}

ITEMS, BATCH = 5000, 1000
COMPANY_2 = make_cif("B", 2_417_001)
COMPANY_3 = make_cif("A", 3_417_002)
CCC_RED = make_ccc(28, 1_701_001)      # the company's, assigned to the agent over SOAP
CCC_OTHER = make_ccc(8, 1_701_002)     # the company's, nobody's agent
CCC_2 = make_ccc(46, 1_701_003)        # company 2's, assigned by the operator
CCC_3 = make_ccc(41, 1_701_004)        # company 3's, not assigned
CCC_3_RED = make_ccc(41, 1_701_005)    # company 3's, assigned by the operator


def _no_seed(pki: Any, now: Any) -> list[Any]:
    from gateway.services.publishing import DocumentInput, PublicationRequest

    return [PublicationRequest(  # one item nobody here deals with: the store starts non-empty
        issuer="ISM", issuer_reference="E2E-SEED", kind="NOTIFICATION", procedure="P",
        subject="S", recipient=COMPANY_3, ccc=None, category="NORMAL",
        documents=(DocumentInput("seed.txt", "text/plain", b"seed"),), made_available_at=now)]


@dataclass(frozen=True)
class Planned:
    reference: str
    recipient: str
    ccc: str | None
    special: bool
    communication: bool
    mtom: bool
    document: bytes

    def visible_to_agent(self) -> bool:
        return self.ccc in (CCC_RED, CCC_2, CCC_3_RED) and not self.special


def plan(pki: Any) -> list[Planned]:
    """Half the items (five in ten) in the agent's CCCs, one in seven special, one in eleven a
    communication, every other one's document sent as an MTOM attachment."""
    layout: list[tuple[str, str | None]] = [
        (pki.company_cif, CCC_RED), (pki.company_cif, CCC_RED), (pki.company_cif, CCC_RED),
        (COMPANY_2, CCC_2), (pki.company_cif, CCC_OTHER), (COMPANY_2, None), (COMPANY_3, CCC_3),
        (pki.person_nif, None), (COMPANY_3, CCC_3_RED), (pki.company_cif, None)]
    planned = []
    for n in range(ITEMS):
        recipient, ccc = layout[n % 10]
        reference = f"E2E-{n:05d}"
        planned.append(Planned(reference, recipient, ccc, special=n % 7 == 0,
                               communication=n % 11 == 5, mtom=n % 2 == 0,
                               document=f"%PDF-1.4 {reference} ".encode() + os.urandom(700)))
    return planned


# --- the requests ---------------------------------------------------------------------------


def wire_item(p: Planned, *, subject: str | None = None) -> dict[str, Any]:
    content = f"cid:{p.reference}@e2e".encode() if p.mtom else p.document
    values: dict[str, Any] = {
        "issuerReference": p.reference,
        "kind": "COMMUNICATION" if p.communication else "NOTIFICATION",
        "procedure": "Reclamación de deuda", "subject": subject or f"Asunto {p.reference}",
        "recipient": p.recipient, "category": "SPECIAL" if p.special else "NORMAL",
        "mainDocument": {"name": f"{p.reference}.pdf", "contentType": "application/pdf",
                         "content": content}}
    if p.ccc is not None:
        values["ccc"] = p.ccc
    return values


def publication(gw: RunningGateway, unsigned: zeep.Client, items: Sequence[Planned],
                changed: Callable[[Planned], str | None] = lambda p: None
                ) -> tuple[bytes, str]:
    """zeep's envelope, the MTOM items' content turned into xop:Include with the document's
    SHA-256 beside it, signed by the TGSS seal; framed as multipart/related."""
    envelope = unsigned.create_message(unsigned.service, "PublishNotifications",
                                       item=[wire_item(p, subject=changed(p)) for p in items])
    by_cid = {f"cid:{p.reference}@e2e": p for p in items if p.mtom}
    parts: list[tuple[str, bytes]] = []
    for content in envelope.iter(f"{I}content"):
        marker = base64.b64decode(content.text or "").decode("latin-1")
        if marker in by_cid:
            content.text = None
            etree.SubElement(content, f"{{{XOP_NS}}}Include", href=marker)
            sha = etree.Element(f"{I}sha256")
            sha.text = hashlib.sha256(by_cid[marker].document).hexdigest()
            content.addnext(sha)
            parts.append((marker[4:], by_cid[marker].document))
    root = etree.tostring(gw.sign(envelope, "issuer_tgss"))
    boundary = "MIMEBoundary_e2e"
    chunks = [f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; "
              'type="text/xml"\r\nContent-Transfer-Encoding: binary\r\n'
              "Content-ID: <root.message@e2e>\r\n\r\n".encode(), root, b"\r\n"]
    for content_id, data in parts:
        chunks += [f"--{boundary}\r\nContent-Type: application/pdf\r\n"
                   f"Content-Transfer-Encoding: binary\r\nContent-ID: <{content_id}>\r\n\r\n"
                   .encode(), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), (f'multipart/related; type="application/xop+xml"; '
                              f'boundary="{boundary}"; start="<root.message@e2e>"; '
                              'start-info="text/xml"')


def publish(gw: RunningGateway, unsigned: zeep.Client, items: Sequence[Planned],
            **options: Any) -> requests.Response:
    body, content_type = publication(gw, unsigned, items, **options)
    return requests.post(gw.base_url + PATH, data=body, timeout=300, headers={
        "Content-Type": content_type, "SOAPAction": '"PublishNotifications"'})


def answered(response: requests.Response, items: Sequence[Planned]
             ) -> list[tuple[str, int, bool]]:
    """(reference, id, created) per item; the digest the server computed of each document
    (inline or attachment) is the one sent."""
    assert response.status_code == 200, response.text[:2000]
    root = etree.fromstring(response.content)
    answers = list(root.iterfind(f".//{I}PublishNotificationsResult/{I}item"))
    assert [[d.text for d in e.iterfind(f"{I}documentSha256")] for e in answers] == [
        [hashlib.sha256(p.document).hexdigest()] for p in items]
    return [(e.findtext(f"{I}issuerReference") or "", int(e.findtext(f"{I}id") or 0),
             e.findtext(f"{I}created") == "true") for e in answers]


# --- processes ----------------------------------------------------------------------------


def environment(gw: RunningGateway) -> dict[str, str]:
    data_dir = gw.log_path.parent
    return {**{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
            "GATEWAY_DATABASE_URL": gw.database_url, "GATEWAY_DATA_DIR": str(data_dir),
            "GATEWAY_PKI_DIR": str(data_dir / "pki"), **EVENTS_ENV}


def operator(gw: RunningGateway, *args: str) -> str:
    return gw.operator(*args, GATEWAY_PKI_DIR=str(gw.log_path.parent / "pki"), **EVENTS_ENV)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int | None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            return None
    return process.returncode


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             alive: Sequence[subprocess.Popen[bytes]] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for process in alive:
            assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


# --- the issuer's view --------------------------------------------------------------------


def issuer_client(gw: RunningGateway) -> zeep.Client:
    return zeep.Client(gw.base_url + PATH + "?wsdl", wsse=gw.signer("issuer_tgss"))


def evidence_events(xml: bytes) -> list[tuple[str, str | None]]:
    return [(e.get("type") or "", e.get("actedBy"))
            for e in etree.fromstring(xml).iterfind(f"{EV}Events/{EV}Event")]


def gateway_validate(gw: RunningGateway, path: Path) -> tuple[str, int]:
    done = subprocess.run([str(GATEWAY), "validate", "--format", "jsonl", str(path)],
                          env=environment(gw), capture_output=True, text=True, check=False,
                          timeout=300, cwd=ROOT)
    return json.loads(done.stdout.splitlines()[0])["indication"], done.returncode


def xmlsec1_verify(gw: RunningGateway, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(gw.pki.root_ca.cert_path),
         "--untrusted-pem", str(gw.pki.issuing_ca.cert_path),
         "--id-attr:Id", XADES_SIGNED_PROPERTIES, str(path)],
        capture_output=True, text=True, check=False, timeout=120)


# --- the test -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gw(launch_gateway: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with launch_gateway(tmp_path_factory.mktemp("e2e-gateway"), _no_seed,
                        settings_environment=EVENTS_ENV) as running:
        yield running


def test_an_issuer_publishes_a_red_agent_accepts_from_events_and_gets_evidence(
        gw: RunningGateway, tmp_path: Path) -> None:
    pki = gw.pki
    timings: dict[str, float] = {}
    started = time.monotonic()
    operator(gw, "issuers", "add", "TGSS", pki.issuer_tgss_cif)
    agent = gw.client("red_agent")
    gw.client("company").service.AssignReception(ccc=CCC_RED, agent=pki.red_agent_cif)
    operator(gw, "red", "assign", "--company", COMPANY_2, "--ccc", CCC_2,
             "--agent", pki.red_agent_cif)
    operator(gw, "red", "assign", "--company", COMPANY_3, "--ccc", CCC_3_RED,
             "--agent", pki.red_agent_cif)

    # The agent subscribes twice: the checking receiver, and the receiver that runs its agent.
    checking = Receiver().start()
    port = free_port()
    checking.secret = agent.service.SubscribeEvents(url=checking.url).secret
    hook = agent.service.SubscribeEvents(url=f"http://127.0.0.1:{port}/hook")
    agent_cred = pki.client("red_agent")
    archive = tmp_path / "archive"
    receiver_log = tmp_path / "webhook-receiver.log"
    deliver_log = tmp_path / "deliver.log"
    env = environment(gw)
    with receiver_log.open("wb") as out:
        receiving = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "webhook_receiver.py"), "--host", "127.0.0.1",
             "--port", str(port), "--secret", hook.secret, "--seen", str(tmp_path / "seen.db"),
             "--quiet", "1", "--",
             sys.executable, str(EXAMPLES / "batch_agent.py"),
             "--url", gw.service_url, "--cert", str(agent_cred.cert_path),
             "--key", str(agent_cred.key_path), "--server-cert", str(pki.server.cert_path),
             "--archive", str(archive), "--role", "RED", "--no-progress", "--json"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=ROOT)
    delivering: subprocess.Popen[bytes] | None = None
    timings["set-up"] = time.monotonic() - started
    try:
        planned = plan(pki)
        unsigned = zeep.Client(gw.base_url + PATH + "?wsdl")

        # 1. 5,000 items in five 1,000-item requests, half of the documents as MTOM parts.
        started = time.monotonic()
        ids: dict[str, int] = {}
        for start in range(0, ITEMS, BATCH):
            batch = planned[start:start + BATCH]
            answer = answered(publish(gw, unsigned, batch), batch)
            assert [(ref, created) for ref, _, created in answer] == [
                (p.reference, True) for p in batch]
            ids.update((ref, notification_id) for ref, notification_id, _ in answer)
        timings["publish 5,000"] = time.monotonic() - started
        assert len(set(ids.values())) == ITEMS
        with gw.engine.connect() as connection:
            stored = dict(connection.execute(
                select(NotificationRow.issuer_reference, NotificationRow.id)
                .where(NotificationRow.issuer == "TGSS")).all())
        assert stored == ids

        # 2. The first batch again: the same ids, nothing written.
        started = time.monotonic()
        before = gw.snapshot()
        again = answered(publish(gw, unsigned, planned[:BATCH]), planned[:BATCH])
        assert again == [(p.reference, ids[p.reference], False) for p in planned[:BATCH]]
        settled = {"used_nonce"}  # the replay cache: every signed request adds its nonce
        after = gw.snapshot()
        assert after.counts["notification"] == before.counts["notification"] == ITEMS + 1
        assert {n for n, d in after.digests.items() if before.digests.get(n) != d} <= settled
        assert "notification.published" not in gw.audit_event_types(before)
        assert "publication.replayed" in gw.audit_event_types(before)

        # 3. A conflicting batch (one reference with another subject, and new items): a
        # DUPLICATE_REFERENCE fault naming it, nothing written.
        conflicting = [*planned[BATCH:BATCH + 10],
                       *[Planned(f"E2E-NEW-{n}", p.recipient, p.ccc, p.special,
                                 p.communication, p.mtom, p.document)
                         for n, p in enumerate(planned[:10])]]
        before = gw.snapshot()
        refused = publish(gw, unsigned, conflicting, changed=lambda p: (
            "Otro asunto" if p.reference == planned[BATCH + 4].reference else None))
        gw.assert_fault(refused, faultcode="soap11env:Client.Conflict", code="DUPLICATE_REFERENCE",
                        status=409)
        fault = etree.fromstring(refused.content)
        assert planned[BATCH + 4].reference in (fault.findtext(".//faultstring") or "")
        assert [p.findtext(f"{GW}position") for p in fault.iterfind(f".//{GW}problem")] == ["5"]
        after = gw.snapshot()
        assert after.counts["notification"] == ITEMS + 1
        assert {n for n, d in after.digests.items() if before.digests.get(n) != d} <= settled
        assert not [e for e in gw.audit_event_types(before) if e.startswith("notification.")]
        timings["replay and conflict (with four snapshots)"] = time.monotonic() - started

        # Before anyone acts, the issuer sees an item as made available and nothing more.
        tgss = issuer_client(gw)
        accepted = next(p for p in planned if p.visible_to_agent() and not p.communication)
        [early] = tgss.service.GetPublicationStatus(issuerReference=[accepted.reference]).item
        assert (early.status, [(c.status, c.actedBy) for c in early.change]) == (
            "AVAILABLE", [("AVAILABLE", None)])
        assert evidence_events(tgss.service.GetEvidence(
            issuerReference=accepted.reference).evidence) == [("MADE_AVAILABLE", None)]

        # 4. The delivery process starts (the events wait in the outbox meanwhile); the
        # agent's events run its batch agent: every item it may see ends accepted
        # (notifications) or read (communications).
        with deliver_log.open("wb") as out:
            delivering = subprocess.Popen(
                [str(GATEWAY), "events", "deliver", "--interval", "0.2", "--batch", "500",
                 "--threads", "16"],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        processes = [receiving, delivering]
        visible = {ids[p.reference]: p for p in planned if p.visible_to_agent()}
        invisible = {ids[p.reference]: p for p in planned if not p.visible_to_agent()}
        started = time.monotonic()

        def settled_count() -> int:
            with gw.engine.connect() as connection:
                return int(connection.execute(
                    select(func.count()).select_from(NotificationRow)
                    .where(NotificationRow.id.in_(visible),
                           NotificationRow.status.in_(("ACCEPTED", "READ")))).scalar_one())

        wait_for(lambda: settled_count() == len(visible), 600,
                 "the agent's acceptance", processes)
        timings[f"events -> agent settles {len(visible)}"] = time.monotonic() - started

        # 5. Exactly the events the agent may see, and all of them.
        expected = ({("published", i) for i in visible}
                    | {("read" if p.communication else "accepted", i)
                       for i, p in visible.items()})
        status_of = issuer_statuses(gw, list(ids.values()))
        numbers = {s.receipt.registrationNumber for i, s in status_of.items()
                   if i in visible and s.receipt is not None}

        def heard() -> tuple[set[tuple[str, object]], set[str]]:
            with checking.lock:
                received = list(checking.received)
            items = {(r.type.rsplit(".", 1)[-1], r.item) for r in received
                     if not r.type.endswith("receipt.issued")}
            receipts = {json.loads(r.body)["data"]["registrationNumber"] for r in received
                        if r.type.endswith("receipt.issued")}
            return items, receipts

        wait_for(lambda: heard() == (expected, numbers), 300, "every event at the receiver",
                 processes)
        timings["events complete"] = time.monotonic() - started
        assert checking.refused == 0
        assert all(b"Asunto" not in r.body and b"Reclamaci" not in r.body
                   for r in checking.received)
        duplicates = len(checking.received) - len(checking.ids())
        assert len(checking.ids()) == len(expected) + len(numbers)

        # What the events said is what the agent's own listing and reads show.
        listed: set[int] = set()
        cursor = None
        while True:
            page = agent.service.ListNotifications(pageSize=1000, cursor=cursor)
            listed |= {i.id for i in page.item or []}
            cursor = page.nextCursor
            if cursor is None:
                break
        assert listed == set(visible)
        special = next(i for i, p in invisible.items() if p.ccc == CCC_RED and p.special)
        elsewhere = next(i for i, p in invisible.items() if p.ccc == CCC_OTHER)
        for item_id in (special, elsewhere):
            with pytest.raises(zeep.exceptions.Fault) as caught:
                agent.service.GetNotification(id=item_id)
            assert caught.value.detail.findtext(f"{GW}error/{GW}code") == "NOT_FOUND"
        assert agent.service.GetNotification(id=next(iter(visible))).role == "RED"
    finally:
        deliver_status = None if delivering is None else stop_group(delivering)
        receiving_status = stop_group(receiving)
        checking.stop()
    assert deliver_status == 0, deliver_log.read_text(errors="replace")[-4000:]
    runs = [json.loads(line) for line in receiver_log.read_text(errors="replace").splitlines()
            if line.startswith('{"agent"')]
    # One run per recipient named at least, each finished; a run cut short by the final
    # SIGTERM (130) would only have found nothing left to do.
    assert {run["agent"] for run in runs if run["exit"] == 0} == {
        pki.company_cif, COMPANY_2, COMPANY_3}, runs
    assert all(run["exit"] in (0, 130) for run in runs), runs
    del receiving_status  # SIGTERM while idle (or during a run that had nothing left)
    # The agent archived every item it may see, each document byte for byte as published
    # (inline or MTOM).
    assert len(list(archive.glob("*/*/notification.json"))) == len(visible)
    for item_id, p in visible.items():
        [document] = archive.glob(f"{p.recipient}/{item_id}/*-{p.reference}.pdf")
        assert document.read_bytes() == p.document

    # 6. The issuer's status shows each step of every item.
    started = time.monotonic()
    agent_cif = pki.red_agent_cif
    for item_id, p in {**visible, **invisible}.items():
        status = status_of[item_id]
        if item_id in invisible:
            assert status.status == "AVAILABLE" and status.receipt is None
            assert [(c.status, c.actedBy) for c in status.change] == [("AVAILABLE", None)]
        elif p.communication:
            assert [(c.status, c.actedBy) for c in status.change] == [
                ("AVAILABLE", None), ("READ", agent_cif)]
        else:
            assert [(c.status, c.actedBy) for c in status.change] == [
                ("AVAILABLE", None), ("ACCEPTED", agent_cif)]
            assert status.receipt is not None and status.receipt.registrationNumber in numbers

    # 7. The evidence of an accepted item: published, accessed and accepted by the agent, the
    # receipt's number and the digest of the receipt the agent archived; it validates.
    accepted_id = ids[accepted.reference]
    answer = tgss.service.GetEvidence(issuerReference=accepted.reference)
    assert (answer.id, answer.status) == (accepted_id, "ACCEPTED")
    assert evidence_events(answer.evidence) == [
        ("MADE_AVAILABLE", None), ("ACCESSED", agent_cif), ("ACCEPTED", agent_cif)]
    on_receipt = etree.fromstring(answer.evidence).find(f"{EV}Receipt")
    assert on_receipt is not None
    assert on_receipt.get("registrationNumber") == \
        status_of[accepted_id].receipt.registrationNumber
    archived = {hashlib.sha256(path.read_bytes()).hexdigest()
                for path in archive.glob(f"{accepted.recipient}/receipts/*.xml")}
    assert on_receipt.get("sha256") in archived
    untouched = next(p for p in invisible.values() if p.recipient == pki.person_nif)
    assert evidence_events(tgss.service.GetEvidence(
        issuerReference=untouched.reference).evidence) == [("MADE_AVAILABLE", None)]

    xml, pdf = tmp_path / "evidence.xml", tmp_path / "evidence.pdf"
    xml.write_bytes(answer.evidence)
    pdf.write_bytes(answer.evidencePdf)
    checked = xmlsec1_verify(gw, xml)
    assert checked.returncode == 0 and "OK" in checked.stdout + checked.stderr, checked.stderr
    for path in (xml, pdf):
        assert gateway_validate(gw, path) == ("TOTAL_PASSED", 0), path

    timings["status, evidence, validation"] = time.monotonic() - started
    print(f"\n{ITEMS} items ({sum(p.mtom for p in planned)} MTOM), {len(visible)} for the "
          f"agent, {len(numbers)} receipts, {duplicates} duplicate deliveries; "
          + ", ".join(f"{name}: {seconds:.1f} s" for name, seconds in timings.items()))


def issuer_statuses(gw: RunningGateway, item_ids: list[int]) -> dict[int, Any]:
    """Every TGSS item's GetPublicationStatus, by id (cursor mode, 1,000 a page)."""
    tgss = issuer_client(gw)
    statuses: dict[int, Any] = {}
    cursor = ""
    while cursor is not None:
        page = tgss.service.GetPublicationStatus(cursor=cursor, pageSize=1000)
        statuses.update((int(s.id), s) for s in page.item or [])
        cursor = page.nextCursor
    assert set(statuses) == set(item_ids)
    return statuses
