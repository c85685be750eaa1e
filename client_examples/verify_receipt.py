#!/usr/bin/env python3
"""Check a server receipt offline: XAdES signature valid and made with the server certificate.

    python client_examples/verify_receipt.py --server-cert var/pki/server/cert.pem \\
        archive/*/receipts/*.xml [--ack ACK.xml] [--json]

The receipt is the ``ServerReceipt`` document (``xsd/receipt.xsd``) that SubmitReceipt and
GetReceipt return and that ``batch_agent.py`` stores in ``<archive>/<recipient>/receipts/``
(one receipt per recipient; ``<archive>/receipts/`` for receipts from before). The check needs
no network: the XML signature (enveloped XAdES-BES, ETSI EN 319 132-1) must verify with the key
of the given server certificate, the certificate in the signature's KeyInfo must be that very
certificate, and the XAdES signing-certificate digest must match it. Only the signed content is
printed: registration number, CSV code, issue time, signer, decision and each notification's
outcome.

The signed acknowledgement the client sent (``batch_agent.py`` stores it as
``<archive>/acknowledgements/<receipt id>.xml``, older archives as ``<number>-ack.xml`` beside
the receipt; ``--ack`` names another file) is checked too when present: its SHA-256
must be the receipt's ``AcknowledgementDigest``, and the documents' SHA-256 it lists are printed,
which binds the archived content to the receipt.

Exit status: 0 every receipt valid, 1 some invalid (the reasons on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from gateway.client.receipts import (
    ReceiptInvalid,
    acknowledgement_of,
    load_certificate,
    verify_acknowledgement,
    verify_server_receipt,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("receipts", type=Path, nargs="+", metavar="RECEIPT",
                        help="ServerReceipt XML file(s); NAME-ack.xml files are the "
                             "acknowledgements and are checked with NAME.xml")
    parser.add_argument("--server-cert", type=Path, required=True,
                        help="the gateway's signing certificate (PEM or DER)")
    parser.add_argument("--ack", type=Path,
                        help="the signed acknowledgement (default: the archive's "
                             "acknowledgements/<receipt id>.xml, or RECEIPT-ack.xml, if present)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    receipts = [p for p in args.receipts if not p.name.endswith("-ack.xml")]
    if args.ack and len(receipts) != 1:
        parser.error("--ack goes with exactly one receipt")
    try:
        server_certificate = load_certificate(args.server_cert)
    except (OSError, ReceiptInvalid) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    invalid = 0
    results = []
    for path in receipts:
        try:
            receipt = verify_server_receipt(path.read_bytes(), server_certificate)
            ack_path = args.ack or acknowledgement_of(path, receipt.receipt_id)
            ack = (verify_acknowledgement(ack_path.read_bytes(), receipt)
                   if ack_path is not None else None)
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except ReceiptInvalid as exc:
            print(f"INVALID {path}: {exc}", file=sys.stderr)
            invalid += 1
            continue
        if args.json:
            result = {"file": str(path), **asdict(receipt)}
            if ack is not None:
                result["acknowledgement"] = str(ack_path)
                result["documents"] = {str(k): [list(d) for d in v]
                                       for k, v in ack.documents.items()}
            results.append(result)
            continue
        print(f"VALID receipt {receipt.registration_number}  CSV {receipt.csv_code}  ({path})")
        print(f"  issued at {receipt.issued_at}  signer {receipt.signer}  "
              f"decision {receipt.decision}"
              + (f"  recipient {receipt.recipient}" if receipt.recipient else ""))
        print(f"  signed by {receipt.server_certificate}")
        print(f"  acknowledgement sha256 {receipt.acknowledgement_sha256}"
              + (f"  (matches acknowledgement {ack_path.name})" if ack else ""))
        for notification_id, outcome in receipt.items:
            line = f"  {notification_id:>10}  {outcome}"
            if ack is not None:
                line += "  " + " ".join(f"doc{p} sha256 {h}" for p, h in
                                        ack.documents.get(notification_id, ()))
            print(line)
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
