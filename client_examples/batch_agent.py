#!/usr/bin/env python3
"""Accept (or reject, by rules) every pending notification, archive content and receipts.

    python client_examples/batch_agent.py --url http://127.0.0.1:8080/NotificationService \\
        --cert var/pki/clients/red_agent/cert.pem --key var/pki/clients/red_agent/key.pem \\
        --server-cert var/pki/server/cert.pem --archive ./archive [--rules rules.toml]

One run: list every pending item the certificate may see (all pages, ``--role``/``--principal``
narrow it), decide each notification with the rules (default: accept all), PrepareReceipt in
batches of ``--batch-size`` (<= 1000), check the acknowledgement is exactly what was asked, sign
it (XAdES-BES enveloped, the client key), SubmitReceipt, verify and store the server-signed
receipt, then download every document of the accepted notifications and of the communications
(which need no acknowledgement; opening them marks them READ) into the archive, checking each
SHA-256 against the one listed and signed. Downloads run in ``--workers`` threads while listing
and signing go on: documents of up to ``--stream-above`` bytes come many notifications per
GetContents call, larger ones one by one with GetContent, written to disk as they arrive. The
next page is listed, and the last signed batches (two at most) are submitted, while the current
batch is prepared and signed.

Interrupt it at any point (Ctrl-C, SIGTERM, even SIGKILL) and run the same command again: the
state file (SQLite, see ``gateway/client/state.py``) makes the restart finish the work without
signing or downloading anything twice. A signed acknowledgement is recorded before it is sent
and, on restart, sent again byte for byte: the server then returns the original receipt.
Notifications the server shows as decided without a receipt in the archive get theirs with
GetReceipt.
The server restarting under it (workers killed, a deployment, the database away for a moment)
does not end the run: every call is asked again after a connection reset or refused, an answer
cut short, a 5xx or 429, with back-off and honouring ``Retry-After``; a streamed download
resumes where it broke. The summary line's ``retried=`` counts those calls.
Each run first asks ``GetServerCertificates``: a next server certificate announced over a
response verified with the current one is kept in the state file, warned about until it takes
over, and accepted from its activation instant (``gateway/client/server_certs.py``).
``--resync`` lists every status (not just pending) to rebuild an archive or a lost state file.

Archive layout (``--archive DIR``)::

    DIR/<recipient>/<notification id>/<position>-<name>   documents (accepted, communications)
    DIR/<recipient>/<notification id>/notification.json  metadata, outcome, receipt, files
    DIR/<recipient>/receipts/<year>-<number>.xml          server receipts (verify_receipt.py):
                                                          one per recipient, only its items
    DIR/acknowledgements/<receipt id>.xml                 the signed acknowledgements sent
                                                          (they list every recipient's items)
    DIR/.batch-agent.db                                   the state (default --state)

Exit status: 0 done, 1 finished with errors (listed on stderr), 2 usage or state problem,
130 interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import requests
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from zeep.exceptions import Error as ZeepError

from gateway.client.agent import MAX_BATCH, AcknowledgementSigner, Agent, Bars
from gateway.client.archive import Archive
from gateway.client.receipts import (
    ReceiptInvalid,
    load_certificate,
)
from gateway.client.rules import RulesError, load_rules
from gateway.client.server_certs import KnownCertificate, ServerCertificates
from gateway.client.service import AgentError, Service, describe
from gateway.client.state import AgentState, StateMismatch

# --- command line -----------------------------------------------------------------------------


def batch_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_BATCH}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Interrupt at any time and run the same command again to resume.")
    where = parser.add_argument_group("service")
    where.add_argument("--url", help="service URL (…/NotificationService); its WSDL is read "
                                     "from URL?wsdl unless --wsdl is given")
    where.add_argument("--wsdl", help="WSDL file or URL (then --url, if given, is the endpoint)")
    where.add_argument("--cert", type=Path, required=True, help="client certificate (PEM)")
    where.add_argument("--key", type=Path, required=True, help="client private key (PEM)")
    where.add_argument("--server-cert", type=Path, required=True,
                       help="server certificate (PEM): every response and receipt must verify")
    where.add_argument("--timeout", type=float, default=120, help="HTTP timeout, seconds")
    work = parser.add_argument_group("work")
    work.add_argument("--archive", type=Path, required=True, help="archive folder")
    work.add_argument("--state", type=Path, help="state file (default ARCHIVE/.batch-agent.db)")
    work.add_argument("--rules", type=Path, help="accept/reject rules, TOML or JSON "
                                                 "(see gateway/client/rules.py; default: accept all)")
    work.add_argument("--batch-size", type=batch_size, default=MAX_BATCH,
                      help=f"notifications per signed acknowledgement (1..{MAX_BATCH})")
    work.add_argument("--page-size", type=batch_size, default=MAX_BATCH,
                      help="items per ListNotifications page")
    work.add_argument("--role", choices=("OWN", "RED", "MANDATE", "GRANT"),
                      help="only items seen through this role")
    work.add_argument("--principal", help="only items of this recipient (NIF/CIF)")
    work.add_argument("--workers", type=int, default=4, help="parallel downloads")
    work.add_argument("--resync", action="store_true",
                      help="list every status, not just pending: archive what was decided "
                           "elsewhere or before the state file existed")
    work.add_argument("--stream-above", type=int, default=2 * 2**20, metavar="BYTES",
                      help="documents larger than this are streamed to disk as they arrive "
                           "(default 2 MiB, the largest a GetContents batch carries); smaller "
                           "ones come many per GetContents call, through zeep")
    work.add_argument("--contents-bytes", type=int, default=4 * 2**20, metavar="BYTES",
                      help="document bytes asked for per GetContents call (default 4 MiB, "
                           "the server's limit; what does not fit it defers)")
    work.add_argument("--accept-without-content", action="store_true",
                      help="also accept notifications whose content this certificate may not "
                           "open (a mandate without notifications.content): archived with "
                           "metadata only; by default they are left pending and listed")
    work.add_argument("--no-fsync", action="store_true",
                      help="do not fsync archived files (faster; a power cut may lose some)")
    output = parser.add_argument_group("output")
    output.add_argument("--no-progress", action="store_true", help="no progress bars")
    output.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if not args.url and not args.wsdl:
        parser.error("give --url (or --wsdl)")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.principal:  # as the server writes identifiers: upper case, no separators
        args.principal = "".join(ch for ch in args.principal if ch.isalnum()).upper()
    return args


def service_locations(args: argparse.Namespace) -> tuple[str, str | None]:
    """(WSDL location, endpoint override or None)."""
    if args.wsdl:
        return args.wsdl, args.url
    base = args.url.split("?", 1)[0]
    return base + "?wsdl", None


def raise_keyboard_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)  # like Ctrl-C: stop cleanly
    try:
        rules = load_rules(args.rules)
        signer = AcknowledgementSigner(args.key, args.cert)
        server_cert = load_certificate(args.server_cert)
    except (RulesError, ReceiptInvalid, OSError, ValueError, TypeError, xmlsec.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wsdl, endpoint = service_locations(args)
    try:
        state = AgentState(args.state or args.archive / ".batch-agent.db")
        # The server's certificate, not its URL, says whose notification ids these are: the
        # same service may move to another host or port.
        state.bind({"certificate_sha256": signer.fingerprint,
                    "server_certificate_sha256": server_cert.fingerprint(hashes.SHA256()).hex()})
    except StateMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bars: Bars | None = None
    agent: Agent | None = None
    try:
        # The pinned certificate and those announced by a rotation, learnt by earlier runs.
        certificates = ServerCertificates(server_cert, [
            KnownCertificate(x509.load_der_x509_certificate(der), active_from)
            for der, active_from in state.server_certificates()])
        service = Service(wsdl, endpoint, args.cert, args.key, certificates, args.timeout)
        bars = Bars.open(True if args.no_progress else None)
        agent = Agent(service, state, Archive(args.archive, fsync=not args.no_fsync), rules,
                      signer, server_cert, bars, args.batch_size, args.page_size, args.workers,
                      args.role, args.principal, args.resync, args.stream_above,
                      args.server_cert, contents_bytes=args.contents_bytes,
                      accept_without_content=args.accept_without_content,
                      certificates=certificates)
        agent.run()
        agent.shutdown(interrupted=False)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))  # a second Ctrl-C: leave now
        if agent is not None:
            agent.shutdown(interrupted=True)
        state.close()
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except (AgentError, ZeepError, requests.RequestException) as exc:
        if agent is not None:
            agent.shutdown(interrupted=True)
        state.close()
        print(f"error: {describe(exc)}; run again to resume", file=sys.stderr)
        return 1
    finally:
        if bars is not None:
            bars.close()
    summary = {**state.counts(), "skipped": len(agent.skipped), "errors": len(agent.errors),
               "retried": service.retried, "seconds": round(time.monotonic() - started, 3)}
    state.close()
    if args.json:
        print(json.dumps(summary))
    else:
        print(" ".join(f"{key}={value}" for key, value in summary.items()))
    return 1 if agent.errors else 0


if __name__ == "__main__":
    sys.exit(main())
