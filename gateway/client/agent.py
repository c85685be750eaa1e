"""The batch agent's workflow (``Agent.run``); ``client_examples/batch_agent.py`` is its command
line and says what one run does, how it resumes and what the archive holds.

One run: list every pending item the certificate may see, decide each notification with the
rules, PrepareReceipt in batches, check the acknowledgement is exactly what was asked, sign it,
SubmitReceipt, verify and store the server's receipts, and download the documents of the
accepted notifications and of the communications in worker threads while listing and signing go
on. The main thread records every step; the next page is read ahead (``pages``), signed batches
are submitted (``submit``) and archive entries written (``write_entries``) by threads of their
own, so that it seldom waits. Every step is recorded in the state file (``state.py``) so that a run interrupted at any
point finishes on the next one without signing or downloading anything twice. An acceptance is
legally binding: the agent reads its rights (``ListPrincipals``) first and accepts only what it
may also download (``--accept-without-content`` aside).
"""

from __future__ import annotations

import binascii
import hashlib
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pybase64
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from tqdm import tqdm
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, SignatureVerificationFailed

from gateway.client.archive import Archive, file_sha256
from gateway.client.download import download_content, partial_path
from gateway.client.receipts import (
    ReceiptInvalid,
    VerifiedReceipt,
    verify_server_receipt,
)
from gateway.client.rules import Rules
from gateway.client.server_certs import Announced, ServerCertificates, describe_upcoming
from gateway.client.service import (
    TNS,
    TRANSPORT_ERRORS,
    AgentError,
    Service,
    describe,
    fault_code,
)
from gateway.client.state import AgentState, PendingDocument, ReceiptRecord
from gateway.client.xades import XadesSigner

DOCUMENT_TAG = f"{TNS}document"
RECEIPT_NS = "urn:notess:gateway:receipt:v1"
R = f"{{{RECEIPT_NS}}}"
MAX_BATCH = 1000
SUBMITS_IN_FLIGHT = 2
"""Signed acknowledgements sent and not yet answered, at most (``Agent.submit``)."""
PAGES_AHEAD = 1
"""Listing pages read ahead of the one being decided, waiting (``Agent.pages``)."""
ENTRY_WRITES_QUEUED = 4
"""Groups of archive entries handed to the writer thread and not yet written, at most."""
# What notification.json keeps of the listing: what does not change once the item is final.
ENTRY_FIELDS = ("id", "kind", "issuer", "issuerReference", "procedure", "subject", "recipient",
                "ccc", "role", "category", "madeAvailableAt", "deadlineAt")
# An acknowledgement the server no longer holds open: drop it and prepare the items again.
STALE_ACK_CODES = frozenset({"ACK_EXPIRED", "UNKNOWN_NONCE", "NONCE_REUSED"})
# Some named notifications are no longer pending (or visible): ask the server about each.
CHANGED_ITEM_CODES = frozenset({"NOT_PENDING", "NOT_FOUND", "EXPIRED", "ALREADY_FINAL"})


# --- signing ----------------------------------------------------------------------------------


class AcknowledgementSigner:
    """XAdES-BES enveloped signature of the acknowledgement with the client's key."""

    def __init__(self, key: Path, cert: Path) -> None:
        self._signer = XadesSigner(key.read_bytes(), cert.read_bytes())

    @property
    def fingerprint(self) -> str:
        return self._signer.certificate.fingerprint(hashes.SHA256()).hex()

    def sign(self, acknowledgement: bytes) -> bytes:
        return self._signer.sign(acknowledgement)


def check_acknowledgement(document: bytes, decision: str,
                          items: Sequence[dict[str, Any]]) -> str:
    """Sign only what was asked: the decision, exactly these notifications in this order, and
    for each the documents (position, SHA-256) the listing showed. Returns the receipt id."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise AgentError(f"acknowledgement is not XML: {exc}") from exc
    if root.tag != R + "Acknowledgement" or root.findtext(R + "Decision") != decision:
        raise AgentError("the server prepared another decision than the one asked")
    prepared = [(int(item.get("notificationId", "0")),
                 sorted((int(d.get("position", "-1")), d.get("sha256", ""))
                        for d in item.iterfind(R + "Document")))
                for item in root.iterfind(R + "Item")]
    expected = [(item["id"], sorted((d["position"], d["sha256"]) for d in item["documents"]))
                for item in items]
    if prepared != expected:
        raise AgentError("the prepared acknowledgement names other notifications or documents "
                         "than the listing showed; not signing it")
    receipt_id = root.findtext(R + "ReceiptId")
    if not receipt_id:
        raise AgentError("the acknowledgement has no receipt id")
    return receipt_id


# --- the agent --------------------------------------------------------------------------------


@dataclass
class Bars:
    listed: tqdm
    acknowledged: tqdm
    documents: tqdm
    content: tqdm

    @classmethod
    def open(cls, disable: bool | None) -> Bars:
        def bar(position: int, desc: str, unit: str, **kw: Any) -> tqdm:
            return tqdm(desc=desc, unit=unit, position=position, disable=disable, leave=True,
                        dynamic_ncols=True, mininterval=0.5, **kw)
        return cls(bar(0, "listed      ", "item"), bar(1, "acknowledged", "item"),
                   bar(2, "downloaded  ", "doc", total=0),
                   bar(3, "content     ", "B", unit_scale=True, unit_divisor=1024))

    def close(self) -> None:
        for each in (self.listed, self.acknowledged, self.documents, self.content):
            each.close()


@dataclass
class Agent:
    service: Service
    state: AgentState
    archive: Archive
    rules: Rules
    signer: AcknowledgementSigner
    server_cert: x509.Certificate
    bars: Bars
    batch_size: int
    page_size: int
    workers: int
    role: str | None
    principal: str | None
    resync: bool
    stream_above: int
    server_cert_path: Path
    contents_bytes: int = 4 * 2**20
    accept_without_content: bool = False
    certificates: ServerCertificates | None = None
    """The server certificates accepted across an announced rotation (``server_certs``)."""
    content_rights: dict[tuple[str, str], bool] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    skipped: set[int] = field(default_factory=set)
    unopened: set[int] = field(default_factory=set)
    attempts: dict[int, int] = field(default_factory=dict)
    queued: set[tuple[int, int]] = field(default_factory=set)
    finished: queue.SimpleQueue[tuple[PendingDocument, str | BaseException]] = field(
        default_factory=queue.SimpleQueue)
    pool: ThreadPoolExecutor | None = None
    submitter: ThreadPoolExecutor | None = None
    submitting: deque[Submission] = field(default_factory=deque)
    entry_writer: ThreadPoolExecutor | None = None
    entry_writes: deque[Future[None]] = field(default_factory=deque)

    @property
    def max_backlog(self) -> int:
        """Documents queued at most before acknowledging more waits for downloads."""
        return 4 * max(self.batch_size, 100)

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        self.learn_server_certificates()
        self.content_rights = self.load_content_rights()
        self.check_archive()
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="download")
        self.resume_batches()
        self.finish_submits()
        self.queue_downloads()  # what earlier runs accepted but did not download
        for page in self.pages():
            self.state.record_listing(page)
            self.bars.listed.update(len(page))
            self.queue_downloads([item["id"] for item in page if item["kind"] != "NOTIFICATION"])
            self.acknowledge(final=False)
            self.finish_submits(block=False)
            self.collect_downloads(block=False)
        self.finish_submits()
        self.reconcile(self.state.unseen_pending(self.role, self.principal))
        for _ in range(5):  # converges in one or two rounds; bounded in case the server flaps
            unknown = self.state.unknown_status()
            if unknown:
                self.reconcile(unknown)
            self.acknowledge(final=True)
            self.fetch_missing_receipts()
            self.queue_downloads()
            if not self.state.unknown_status():
                break
        while self.queued:
            self.collect_downloads(block=True)
        self.archive_entries(None)
        self.finish_entry_writes()

    def learn_server_certificates(self) -> None:
        """Ask which certificates sign the server's responses now and next
        (GetServerCertificates, verified like every response: so only a certificate already
        accepted can announce another); record the new ones and warn of any not active yet."""
        if self.certificates is None:
            return
        try:
            answer = self.service.call("GetServerCertificates") or []
        except Fault as fault:  # a server that does not sign, or predates rotation
            tqdm.write(f"notice: server certificates not announced ({fault_code(fault)})",
                       file=sys.stderr)
            return
        added = self.certificates.learn([
            Announced(str(entry.role), bytes(entry.certificate), str(entry.sha256),
                      entry.activeFrom) for entry in answer])
        if added:
            self.state.record_server_certificates(
                (entry.sha256, entry.der, entry.active_from) for entry in added
                if entry.active_from is not None)
        for entry in self.certificates.upcoming():
            tqdm.write(f"warning: {describe_upcoming(entry)}", file=sys.stderr)

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """The listing's pages in order, each asked for (and read) by a thread of its own while
        the caller works on the one before: at most ``PAGES_AHEAD`` wait. The pages are keyset
        pages, so deciding the items of one does not move the next; nothing is recorded before
        the caller takes a page, so a run cut short lists what it had not taken again."""
        ahead: queue.Queue[list[dict[str, Any]] | BaseException | None] = queue.Queue(
            PAGES_AHEAD)
        stop = threading.Event()

        def put(page: list[dict[str, Any]] | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(page, timeout=0.5)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for page in self.list_pages():
                    if not put(page):
                        return
                put(None)
            except BaseException as exc:  # raised where the pages are taken
                put(exc)
                if not isinstance(exc, Exception):
                    raise

        lister = threading.Thread(target=produce, name="listing", daemon=True)
        lister.start()
        try:
            while True:
                page = ahead.get()
                if page is None:
                    return
                if isinstance(page, BaseException):
                    raise page
                yield page
        finally:
            stop.set()

    def list_pages(self) -> Iterator[list[dict[str, Any]]]:
        cursor = None
        while True:
            page = self.service.call_xml(
                "ListNotifications", role=self.role, principal=self.principal,
                status=None if self.resync else "AVAILABLE", cursor=cursor,
                pageSize=self.page_size)
            yield [info_from_xml(item) for item in page.iterfind(f"{TNS}item")]
            cursor = page.findtext(f"{TNS}nextCursor")
            if not cursor:
                return

    # -- acknowledgements --------------------------------------------------------------------

    def resume_batches(self) -> None:
        """Finish what an interrupted run left open."""
        for batch in self.state.open_batches():
            if batch.state == "prepared" or batch.signed is None:
                # Never sent (the signed bytes are recorded before sending): prepare again.
                self.state.drop_batch(batch.receipt_id)
                continue
            items = [self.state.metadata(i) for i in batch.ids]
            self.submit(batch.receipt_id, batch.decision, batch.signed, items)

    def load_content_rights(self) -> dict[tuple[str, str], bool]:
        """(recipient, role) -> whether this certificate may open the content of those items,
        from ListPrincipals: an acceptance is legally binding, so the agent never signs one it
        cannot follow through with a download."""
        rights: dict[tuple[str, str], bool] = {}
        for principal in self.service.call("ListPrincipals") or []:
            key = (str(principal.identifier), str(principal.role))
            rights[key] = rights.get(key, False) or (
                principal.role == "OWN" or "notifications.content" in (principal.scope or []))
        return rights

    def may_open(self, item: dict[str, Any]) -> bool:
        return self.content_rights.get((item["recipient"], item["role"]), True)

    def acknowledge(self, *, final: bool) -> None:
        """Decide the pending notifications in no batch; send full batches (all when final).
        A notification whose content this certificate may not open is not accepted (it is
        skipped, and said so) unless --accept-without-content: then it is accepted and archived
        with its metadata only."""
        groups: dict[str, list[dict[str, Any]]] = {"ACCEPT": [], "REJECT": []}
        for item in self.state.undecided(self.skipped):
            decision = self.rules.decide(item)
            if decision == "ACCEPT" and not self.may_open(item) and not self.accept_without_content:
                self.skipped.add(item["id"])
                tqdm.write(f"notice: notification {item['id']} of {item['recipient']} not "
                           f"accepted: this certificate's {item['role']} right does not include "
                           "its content (--accept-without-content accepts it anyway)",
                           file=sys.stderr)
            elif decision == "SKIP":
                self.skipped.add(item["id"])
            else:
                groups[decision].append(item)
        for decision, group in groups.items():
            while len(group) >= self.batch_size or (final and group):
                chunk, group = group[:self.batch_size], group[self.batch_size:]
                self.acknowledge_batch(decision, chunk)
            if final:
                self.finish_submits()  # what a refused batch sends back is pending again
                # Items sent back by a refused batch and still pending: one more round.
                retry = [i for i in self.state.undecided(self.skipped)
                         if self.rules.decide(i) == decision]
                while retry:
                    chunk, retry = retry[:self.batch_size], retry[self.batch_size:]
                    self.acknowledge_batch(decision, chunk)

    def acknowledge_batch(self, decision: str, items: list[dict[str, Any]]) -> None:
        ids = [item["id"] for item in items]
        for item_id in ids:
            self.attempts[item_id] = self.attempts.get(item_id, 0) + 1
            if self.attempts[item_id] > 3:
                self.fail(f"notification {item_id}: not acknowledged after 3 attempts")
                self.skipped.add(item_id)
        items = [item for item in items if item["id"] not in self.skipped]
        ids = [item["id"] for item in items]
        if not ids:
            return
        try:
            prepared = self.service.call_xml("PrepareReceipt", id=ids, decision=decision)
        except Fault as fault:
            if fault_code(fault) in CHANGED_ITEM_CODES:
                self.reconcile(ids)  # some changed meanwhile: the still-pending ones go again
                return
            raise
        try:
            acknowledgement = base64_field(prepared, "receipt")
            receipt_id = check_acknowledgement(acknowledgement, decision, items)
        except AgentError as exc:
            self.fail(str(exc))
            self.skipped.update(ids)
            return
        self.state.record_prepared(receipt_id, decision, acknowledgement, ids)
        signed = self.signer.sign(acknowledgement)
        self.state.record_signed(receipt_id, signed)  # before sending: see resume_batches
        self.submit(receipt_id, decision, signed, items)

    def submit(self, receipt_id: str, decision: str, signed: bytes,
               items: list[dict[str, Any]]) -> None:
        """Send a signed acknowledgement (recorded as signed before this) from a thread of
        its own, so that the next batch is prepared and signed meanwhile; at most
        ``SUBMITS_IN_FLIGHT`` are in flight, and their outcomes are recorded here, on the main
        thread, in the order they were sent (``finish_submit``). A run cut short with some in
        flight sends them again on restart (``resume_batches``), as before."""
        if self.submitter is None:
            self.submitter = ThreadPoolExecutor(SUBMITS_IN_FLIGHT, thread_name_prefix="submit")
        while len(self.submitting) >= SUBMITS_IN_FLIGHT:
            self.finish_submit()
        self.submitting.append(Submission(
            self.submitter.submit(self.send_acknowledgement, signed), receipt_id, decision,
            items))

    def send_acknowledgement(self, signed: bytes) -> list[VerifiedReceipt]:
        """(submit thread) SubmitReceipt; the server's receipts verified and written to the
        archive with the acknowledgement, before the main thread records them."""
        result = self.service.call_xml("SubmitReceipt", signedReceipt=signed)
        # One receipt per recipient of the batch (the server never shows a company another's
        # items): the first in the answer's own fields, the others in otherReceipt.
        answers = [result, *result.iterfind(f"{TNS}otherReceipt")]
        return self.store_receipts([base64_field(a, "signedReceipt") for a in answers], signed)

    def finish_submits(self, *, block: bool = True) -> None:
        """Record the acknowledgements in flight (only those already answered, unless
        ``block``), oldest first."""
        while self.submitting and (block or self.submitting[0].future.done()):
            self.finish_submit()

    def finish_submit(self) -> None:
        """Record the oldest acknowledgement in flight once it is answered."""
        submission = self.submitting.popleft()
        receipt_id, decision, items = (submission.receipt_id, submission.decision,
                                       submission.items)
        ids = [item["id"] for item in items]
        try:
            receipts = submission.future.result()
        except Fault as fault:
            code = fault_code(fault)
            self.state.drop_batch(receipt_id)
            if code in STALE_ACK_CODES:  # never registered: the items are prepared again
                self.reconcile(ids)
                return
            self.fail(f"acknowledgement {receipt_id} refused: {code} {fault.message}")
            self.skipped.update(ids)
            return
        for receipt in receipts:
            if receipt.receipt_id != receipt_id or receipt.decision != decision:
                raise AgentError(f"the receipt {receipt.registration_number} is not for "
                                 f"acknowledgement {receipt_id}")
        self.record(receipts, receipt_id)
        self.bars.acknowledged.update(len(ids))
        waived = [item["id"] for item in items if not self.may_open(item)]
        if waived:
            self.state.waive_documents(waived)
        self.queue_downloads(ids)
        self.archive_entries(ids)
        while len(self.queued) > self.max_backlog:  # let the downloads catch up
            self.collect_downloads(block=True)

    def receipt_certificate(self, der: bytes | None) -> x509.Certificate:
        """The server certificate a receipt must verify with: the one its signature names
        (``der``) when that one is accepted (a rotation announced it), else the pinned one."""
        if self.certificates is None or der is None:
            return self.server_cert
        try:
            return self.certificates.accepted(der)
        except SignatureVerificationFailed:
            return self.server_cert  # and the receipt fails: signed by another certificate

    def store_receipts(self, documents: list[bytes], signed: bytes | None) -> list[VerifiedReceipt]:
        """Verify the server's receipts (with ``signed``: that they certify that very
        acknowledgement), then write them (and ``signed``) to the archive with one sync."""
        receipts = []
        for document in documents:
            try:
                receipt = verify_server_receipt(document, self.receipt_certificate)
            except ReceiptInvalid as exc:
                raise AgentError(f"the server's receipt does not verify: {exc}") from exc
            if signed is not None and receipt.acknowledgement_sha256 != hashlib.sha256(
                    signed).hexdigest():
                raise AgentError(f"receipt {receipt.registration_number} certifies another "
                                 "acknowledgement than the one sent")
            receipts.append(receipt)
        files = [(self.archive.receipt_name(receipt.registration_number, receipt.recipient),
                  document) for receipt, document in zip(receipts, documents, strict=True)]
        if signed is not None and receipts:
            files.insert(0, (self.archive.acknowledgement_name(receipts[0].receipt_id), signed))
        self.archive.write_all(files)
        return receipts

    def record(self, receipts: list[VerifiedReceipt], receipt_id: str | None) -> None:
        self.state.record_receipts([ReceiptRecord(
            receipt.registration_number, receipt.csv_code, receipt.decision, receipt.issued_at,
            self.archive.receipt_name(receipt.registration_number, receipt.recipient),
            dict(receipt.items)) for receipt in receipts], receipt_id)

    # -- reconciling with the server ---------------------------------------------------------

    def reconcile(self, ids: Sequence[int]) -> None:
        """Ask the server what became of these items (GetNotification) and record it."""
        statuses: dict[int, str] = {}
        for item_id in ids:
            try:
                statuses[item_id] = str(self.service.call("GetNotification", id=item_id).status)
            except Fault as fault:
                if fault_code(fault) != "NOT_FOUND":
                    raise
                statuses[item_id] = "GONE"  # no longer visible to this certificate
        self.state.set_status(statuses)

    def fetch_missing_receipts(self) -> None:
        """Decided on the server but no receipt here: fetch it (GetReceipt), never sign again."""
        covered: set[int] = set()
        for item_id in self.state.needing_receipt():
            if item_id in covered:
                continue
            try:
                result = self.service.call("GetReceipt", notificationId=item_id)
            except Fault as fault:
                self.fail(f"notification {item_id}: no receipt ({fault_code(fault)})")
                continue
            [receipt] = self.store_receipts([bytes(result.signedReceipt)], None)
            self.record([receipt], None)
            decided = [i for i, outcome in receipt.items if outcome in ("ACCEPTED", "REJECTED")]
            covered.update(decided)
            self.archive_entries(decided)

    # -- downloads ---------------------------------------------------------------------------

    def check_archive(self) -> None:
        """A recorded file that is gone or truncated (a disk restored from backup...) is
        fetched again, a lost notification.json written again; everything else recorded is
        trusted (sha256 was checked on write)."""
        for notification_id, position, path, size in self.state.recorded_documents():
            try:
                intact = (self.archive.root / path).stat().st_size == size
            except FileNotFoundError:
                intact = False
            if not intact:
                self.state.forget_document(notification_id, position)
        lost = [item_id for item_id, recipient in self.state.archived_entries()
                if not os.path.isfile(self.archive.file(self.archive.entry_name(recipient,
                                                                                item_id)))]
        if lost:
            self.state.unarchive(lost)

    def queue_downloads(self, ids: Sequence[int] | None = None) -> None:
        """Hand the documents still to fetch (of ``ids``, or all) to the download threads:
        documents up to ``--stream-above`` in GetContents batches of whole notifications (up to
        ``--contents-bytes`` of documents each), larger ones one by one, streamed."""
        assert self.pool is not None
        if ids is not None and not ids:
            return
        pending = [doc for doc in self.state.documents_to_download(ids)
                   if (doc.notification_id, doc.position) not in self.queued]
        if not all(self.content_rights.values()):  # some right without the content scope
            pending = [doc for doc in pending if self.may_download(doc.notification_id)]
        batch: list[PendingDocument] = []
        size = 0
        notifications: set[int] = set()
        for doc in pending:
            self.queued.add((doc.notification_id, doc.position))
            if doc.size > self.stream_above:
                self.pool.submit(self.download, doc)
                continue
            starts_notification = doc.notification_id not in notifications
            if batch and starts_notification and (
                    size + doc.size > self.contents_bytes or len(notifications) == MAX_BATCH):
                self.pool.submit(self.download_batch, batch)
                batch, size, notifications = [], 0, set()
            batch.append(doc)
            size += doc.size
            notifications.add(doc.notification_id)
        if batch:
            self.pool.submit(self.download_batch, batch)
        if pending:
            self.bars.documents.total += len(pending)
            self.bars.documents.refresh()

    def may_download(self, item_id: int) -> bool:
        """Whether this certificate may open the item's content. A communication it may not
        open (a right without the content scope) is left unread and said so once, like a
        notification it does not accept: asking would only be refused (NOT_AUTHORISED)."""
        if item_id in self.unopened:
            return False
        item = self.state.metadata(item_id)
        if self.may_open(item):
            return True
        self.unopened.add(item_id)
        self.skipped.add(item_id)
        tqdm.write(f"notice: communication {item_id} of {item['recipient']} not opened: this "
                   f"certificate's {item['role']} right does not include its content",
                   file=sys.stderr)
        return False

    def download(self, doc: PendingDocument) -> None:
        """(worker thread) One document into the archive, unless a previous run already put it
        there without recording it. The outcome goes to ``finished`` for the main thread."""
        try:
            name = self.archive.document_name(doc)
            path = self.archive.path(name)
            if file_sha256(path) != doc.sha256:
                if doc.size > self.stream_above:
                    self.with_retry(lambda: self.stream(doc, path))
                else:
                    result = self.with_retry(lambda: self.service.call(
                        "GetContent", id=doc.notification_id, document=doc.position))
                    data = bytes(result.data)
                    check_content(doc, result.document.sha256, data)
                    self.archive.write(name, data)
                self.bars.content.update(doc.size)
            self.finished.put((doc, name))
        except (AgentError, ZeepError, requests.RequestException, OSError, ValueError) as exc:
            self.finished.put((doc, exc))
        except BaseException as exc:  # never leave the main thread waiting for this one
            self.finished.put((doc, exc))
            raise

    def download_batch(self, docs: list[PendingDocument]) -> None:
        """(worker thread) The documents of several notifications with one GetContents call.
        What the server defers is asked for again, what it finds too large for a batch is
        fetched on its own; every document's outcome goes to ``finished``."""
        wanted: dict[tuple[int, int], PendingDocument] = {}
        reported: set[tuple[int, int]] = set()
        try:
            for doc in docs:
                key = (doc.notification_id, doc.position)
                name = self.archive.document_name(doc)
                if file_sha256(self.archive.file(name)) == doc.sha256:  # an earlier run wrote
                    reported.add(key)                                   # it, unrecorded
                    self.finished.put((doc, name))
                else:
                    wanted[key] = doc
            if not wanted:
                return
            ids = list(dict.fromkeys(key[0] for key in wanted))
            result = self.with_retry(lambda: self.service.call_xml("GetContents", id=ids))
        except BaseException as exc:  # every document gets an outcome, whatever happened
            for doc in docs:
                if (doc.notification_id, doc.position) not in reported:
                    self.finished.put((doc, exc))
            if not isinstance(exc, Exception):
                raise
            return
        checked: list[tuple[PendingDocument, str, bytes]] = []
        for content in result.iterfind(f"{TNS}content"):
            doc = wanted.pop((int(content.findtext(f"{TNS}notificationId") or 0),
                              int(content.findtext(f"{TNS}document/{TNS}position") or -1)), None)
            if doc is None:
                continue  # a document of the same notification this run already has
            try:
                data = pybase64.b64decode(content.findtext(f"{TNS}data") or "",
                                          validate=True)
                check_content(doc, content.findtext(f"{TNS}document/{TNS}sha256") or "", data)
                checked.append((doc, self.archive.document_name(doc), data))
            except (AgentError, ValueError, binascii.Error) as exc:
                self.finished.put((doc, exc))
        try:  # all of the batch's documents on disk with one sync
            self.archive.write_all([(name, data) for _, name, data in checked])
        except OSError as exc:
            for doc, _, _ in checked:
                self.finished.put((doc, exc))
        else:
            for doc, name, _ in checked:
                self.bars.content.update(doc.size)
                self.finished.put((doc, name))
        by_notification: dict[int, list[PendingDocument]] = {}
        for key in list(wanted):
            by_notification.setdefault(key[0], []).append(wanted.pop(key))
        deferred: list[PendingDocument] = []
        for element in result.iterfind(f"{TNS}refused"):
            refusal = Refusal(int(element.findtext(f"{TNS}notificationId") or 0),
                              element.findtext(f"{TNS}code") or "",
                              element.findtext(f"{TNS}message") or "")
            docs_of = by_notification.pop(refusal.notificationId, [])
            if refusal.code == "DEFERRED":
                deferred += docs_of
            elif refusal.code == "TOO_LARGE":
                for doc in docs_of:
                    self.download(doc)
            else:
                for doc in docs_of:
                    self.finished.put((doc, AgentError(f"{refusal.code}: {refusal.message}")))
        if deferred:  # asked again, together, by a download thread
            assert self.pool is not None
            try:
                self.pool.submit(self.download_batch, deferred)
            except RuntimeError as exc:  # the pool is shutting down (interrupted)
                for doc in deferred:
                    self.finished.put((doc, exc))
        for docs_of in by_notification.values():
            for doc in docs_of:
                self.finished.put((doc, AgentError("the server answered without this document")))

    def stream(self, doc: PendingDocument, path: Path) -> None:
        """A large document goes to disk as it arrives (``gateway.client.download``: the
        server's signature and the stated SHA-256 are checked while streaming) instead of
        through zeep, which holds the whole response, several times over, in memory. When the
        connection breaks (a worker restarting), it is asked again from where it broke
        (``resume``), with the back-off of every other call (``Service.retry``); as long as
        the attempts keep bringing bytes, the retries do not run out."""
        with self.archive.temporary(path) as temporary:
            part = partial_path(temporary)
            while True:
                before = part.stat().st_size if part.exists() else 0
                try:
                    downloaded = self.service.retry(lambda: download_content(
                        self.service.endpoint, self.service.signature,
                        self.certificates or self.server_cert_path,
                        doc.notification_id, temporary, document=doc.position,
                        session=self.service.session, timeout=self.service.timeout,
                        resume=True))
                    break
                except TRANSPORT_ERRORS:
                    if not part.exists() or part.stat().st_size <= before:
                        raise
            if downloaded.sha256 != doc.sha256 or file_sha256(temporary) != doc.sha256:
                raise AgentError("content does not match the SHA-256 listed and signed")
            self.archive.commit(temporary, path)

    @staticmethod
    def with_retry(fetch: Callable[[], Any]) -> Any:
        """GetContent(s), once more after a conflict: two documents of one communication fetched
        at once may both try to mark it READ, and the server refuses the loser (ALREADY_FINAL);
        the communication is READ by then, and asking again releases the document."""
        for attempt in range(3):
            try:
                return fetch()
            except Fault as fault:
                if fault_code(fault) != "ALREADY_FINAL" or attempt == 2:
                    raise
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    def collect_downloads(self, *, block: bool) -> None:
        """Record the downloads that finished (waiting for one at least when ``block``)."""
        outcomes = []
        while block and self.queued and not outcomes:
            try:  # with a timeout: Ctrl-C must not wait for a slow download
                outcomes.append(self.finished.get(timeout=0.5))
            except queue.Empty:
                pass
        while True:
            try:
                outcomes.append(self.finished.get_nowait())
            except queue.Empty:
                break
        written = []
        for doc, outcome in outcomes:
            self.queued.discard((doc.notification_id, doc.position))
            if isinstance(outcome, BaseException):
                self.fail(f"notification {doc.notification_id} document {doc.position}: "
                          f"{describe(outcome)}")
            else:
                written.append((doc.notification_id, doc.position, outcome))
        if written:
            self.state.record_documents(written)
            self.bars.documents.update(len(written))
            self.archive_entries(sorted({notification_id for notification_id, _, _ in written}))

    def archive_entries(self, ids: Sequence[int] | None) -> None:
        """notification.json for each item (of ``ids``, or all) whose entry is now complete."""
        if ids is not None and not ids:
            return
        ready = self.state.ready_to_archive(ids)
        statuses: dict[int, str] = {}
        files = []
        for item in self.state.entries(ready):
            metadata, status, receipt = item.metadata, item.status, item.receipt
            if metadata["kind"] == "COMMUNICATION":
                status = statuses[metadata["id"]] = "READ"  # opening it did that
            entry = {key: metadata[key] for key in ENTRY_FIELDS}
            entry.update({
                "status": status, "registrationNumber": item.registration_number,
                "csvCode": receipt[1] if receipt else None,
                "receipt": receipt[0] if receipt else None,
                "decidedAt": receipt[2] if receipt else None,
                "documents": [{**d, "file": item.files.get(d["position"])}
                              for d in metadata["documents"]],
            })
            files.append((self.archive.entry_name(metadata["recipient"], metadata["id"]),
                          orjson.dumps(entry, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)))
        # Not made durable, and written by a thread of its own (a thousand files per batch,
        # which kept the main thread from preparing the next one): an entry recorded as
        # archived but lost in a crash is found missing by check_archive and written again.
        if files:
            self.write_entries(files)
        if ready:
            self.state.mark_archived(ready, statuses)

    def write_entries(self, files: list[tuple[str, bytes]]) -> None:
        """Hand entries to the writer thread (one: writes of one name never overlap); at most
        ``ENTRY_WRITES_QUEUED`` groups wait, and a failed write is raised here, as if the
        main thread had written them."""
        if self.entry_writer is None:
            self.entry_writer = ThreadPoolExecutor(1, thread_name_prefix="entries")
        self.finish_entry_writes(waiting=ENTRY_WRITES_QUEUED - 1)
        self.entry_writes.append(self.entry_writer.submit(
            self.archive.write_all, files, durable=False))

    def finish_entry_writes(self, *, waiting: int = 0) -> None:
        """Collect the entry writes done, and wait until at most ``waiting`` are left."""
        while self.entry_writes and (self.entry_writes[0].done()
                                     or len(self.entry_writes) > waiting):
            self.entry_writes.popleft().result()

    def fail(self, message: str) -> None:
        self.errors.append(message)
        tqdm.write(f"error: {message}", file=sys.stderr)

    def shutdown(self, *, interrupted: bool) -> None:
        if self.submitter is not None:  # an answer not recorded is sent again on restart
            self.submitter.shutdown(wait=True, cancel_futures=interrupted)
        if self.entry_writer is not None:  # entries not written are written by the next run
            self.entry_writer.shutdown(wait=True, cancel_futures=interrupted)
        if self.pool is None:
            return
        self.pool.shutdown(wait=True, cancel_futures=interrupted)
        written = []
        while True:  # keep what finished: the next run need not even hash it again
            try:
                doc, outcome = self.finished.get_nowait()
            except queue.Empty:
                break
            if not isinstance(outcome, BaseException):
                written.append((doc.notification_id, doc.position, outcome))
        if written:
            self.state.record_documents(written)


class Submission(NamedTuple):
    """A signed acknowledgement in flight (``Agent.submit``)."""

    future: Future[list[VerifiedReceipt]]
    receipt_id: str
    decision: str
    items: list[dict[str, Any]]


class Refusal(NamedTuple):
    notificationId: int  # the contract's name
    code: str
    message: str


def check_content(doc: PendingDocument, signed_sha256: str, data: bytes) -> None:
    """A downloaded document must be the one listed and signed."""
    if hashlib.sha256(data).hexdigest() != doc.sha256 or signed_sha256 != doc.sha256:
        raise AgentError("content does not match the SHA-256 listed and signed")


def base64_field(element: etree._Element, name: str) -> bytes:
    """The bytes of a base64Binary child of a verified answer."""
    try:
        return pybase64.b64decode(element.findtext(TNS + name) or "", validate=True)
    except binascii.Error as exc:
        raise AgentError(f"the server's {name} is not base64: {exc}") from exc


def info_from_xml(item: etree._Element) -> dict[str, Any]:
    """A ``NotificationInfo`` element as plain JSON-able data (what the state and archive
    keep); instants as ``datetime.isoformat`` writes them, whatever form the server used.
    A thousand per page: the children are read in one pass rather than searched by name."""
    fields: dict[str, str] = {}
    documents = []
    skip = len(TNS)
    for child in item.iterchildren(tag=etree.Element):  # elements only, no comments
        if child.tag == DOCUMENT_TAG:
            document = {part.tag[skip:]: part.text or ""
                        for part in child.iterchildren(tag=etree.Element)}
            documents.append({
                "position": int(document.get("position") or 0), "role": document.get("role"),
                "name": document.get("name"), "contentType": document.get("contentType"),
                "sha256": document.get("sha256"), "size": int(document.get("size") or 0)})
        else:
            fields[child.tag[skip:]] = child.text or ""

    def when(name: str) -> str | None:
        value = fields.get(name)
        return datetime.fromisoformat(value).isoformat() if value else None

    return {
        "id": int(fields.get("id") or 0), "kind": fields.get("kind"),
        "issuer": fields.get("issuer"), "issuerReference": fields.get("issuerReference"),
        "procedure": fields.get("procedure"), "subject": fields.get("subject"),
        "recipient": fields.get("recipient"), "ccc": fields.get("ccc"),
        "role": fields.get("role"), "category": fields.get("category"),
        "madeAvailableAt": when("madeAvailableAt"), "deadlineAt": when("deadlineAt"),
        "status": fields.get("status"), "statusAt": when("statusAt"),
        "documents": documents,
    }
