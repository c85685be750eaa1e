"""What validating a signed document costs, as ratios against a floor measured in this run.

    .venv/bin/python bench/signatures.py [--repeats 7]

For each format (XAdES enveloped, CAdES attached, PAdES) and each document size (10 KB, 5 MB),
one document signed by our own signers with the demo PKI is validated with
``gateway.signatures.validate`` (full path validation and CRL check included; the trust store's
path cache is warm, as in production where clients re-use certificates). The floor for the same
document is what any verifier must do at least: SHA-256 over all its bytes plus one raw
RSA-2048 PKCS#1 v1.5 verification (``cryptography``). CPU time (``time.process_time``), median of
``--repeats`` runs.

Target: at 5 MB, validation <= 5 x the floor (hashing dominates: the engine must not copy,
re-serialise or re-hash the document more than a few times). At 10 KB the fixed costs (path
validation, report building, pyHanko's PDF parsing) dominate and the ratio is only informative.

Documents: XAdES -- a receipt whose items carry Base64 payloads in 48 KiB text nodes (the shape
of a receipt with embedded content); CAdES -- opaque bytes; PAdES -- a one-page PDF with one
large uncompressed stream.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from gateway.domain.clock import FixedClock
from gateway.pki import generate_demo_pki
from gateway.signatures import (
    SignaturePolicy,
    sign_cades,
    sign_pades,
    sign_xades_enveloped,
    validate,
)
from gateway.trust.certificates import TrustStore

SIZES = {"10 KB": 10 * 1024, "5 MB": 5 * 1024 * 1024}
TARGET_RATIO_5MB = 5.0


def xml_document(size: int) -> bytes:
    chunk = 48 * 1024
    parts = [b'<rcpt:Receipt xmlns:rcpt="urn:notess:gateway:receipt:v1">']
    written = 0
    while written < size:
        payload = base64.b64encode(os.urandom(min(chunk, size - written) * 3 // 4 + 3))
        parts.append(b"<rcpt:Attachment>" + payload + b"</rcpt:Attachment>\n")
        written += len(payload) + 40
    parts.append(b"</rcpt:Receipt>")
    return b"".join(parts)


def pdf_document(size: int) -> bytes:
    # pyHanko's writer API is untyped: the seam is this function.
    writer = PdfFileWriter()  # type: ignore[no-untyped-call]
    page = PageObject(  # type: ignore[no-untyped-call]
        contents=writer.add_object(
            generic.StreamObject(stream_data=b"BT /F1 12 Tf 20 100 Td (x) Tj ET")
        ),
        media_box=generic.ArrayObject(
            [generic.NumberObject(v) for v in (0, 0, 300, 200)]  # type: ignore[no-untyped-call]
        ),
    )
    writer.insert_page(page)  # type: ignore[no-untyped-call]
    blob = writer.add_object(generic.StreamObject(stream_data=os.urandom(size)))
    writer.root[generic.NameObject("/NotessPayload")] = blob
    output = BytesIO()
    writer.write(output)  # type: ignore[no-untyped-call]
    return output.getvalue()


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    action()  # warm-up: imports, caches, the trust store's path cache
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        action()
        samples.append(time.process_time() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as work:
        pki = generate_demo_pki(Path(work), now=now)
        trust = TrustStore.from_directory(pki.trust_dir, pki.crl_dir)
        company = pki.client("company")
        key, certificate = company.private_key(), company.certificate()
        assert isinstance(key, rsa.RSAPrivateKey)
    clock = FixedClock(now)
    policy = SignaturePolicy(max_document_bytes=8 * 1024 * 1024)
    validation_time = now + timedelta(minutes=1)
    public_key = key.public_key()
    floor_signature = key.sign(b"floor", padding.PKCS1v15(), hashes.SHA256())

    signers: dict[str, Callable[[int], bytes]] = {
        "XAdES": lambda size: sign_xades_enveloped(
            xml_document(size), key, certificate, clock=clock
        ),
        "CAdES": lambda size: sign_cades(
            os.urandom(size), key, certificate, detached=False, clock=clock
        ),
        "PAdES": lambda size: sign_pades(pdf_document(size), key, certificate, clock=clock),
    }
    print(
        f"{'format':<7} {'size':>6} {'bytes':>9} {'validate ms':>12} {'floor ms':>9} {'ratio':>7}"
    )
    worst_5mb = 0.0
    for name, make in signers.items():
        for label, size in SIZES.items():
            document = make(size)
            report = validate(document, policy=policy, trust=trust, now=validation_time)
            if not report.passed:
                print(report.to_json(indent=1), file=sys.stderr)
                return 2

            def floor(document: bytes = document) -> None:
                hashlib.sha256(document).digest()
                public_key.verify(floor_signature, b"floor", padding.PKCS1v15(), hashes.SHA256())

            def validation(document: bytes = document) -> None:
                validate(document, policy=policy, trust=trust, now=validation_time)

            floor_time = median_seconds(floor, arguments.repeats)
            validation_time_taken = median_seconds(validation, arguments.repeats)
            ratio = validation_time_taken / floor_time
            if label == "5 MB":
                worst_5mb = max(worst_5mb, ratio)
            print(
                f"{name:<7} {label:>6} {len(document):>9} {validation_time_taken * 1000:>12.2f}"
                f" {floor_time * 1000:>9.2f} {ratio:>6.1f}x"
            )
    verdict = "OK" if worst_5mb <= TARGET_RATIO_5MB else "ABOVE TARGET"
    print(f"worst 5 MB ratio {worst_5mb:.1f}x (target <= {TARGET_RATIO_5MB:.0f}x): {verdict}")
    return 0 if worst_5mb <= TARGET_RATIO_5MB else 1


if __name__ == "__main__":
    sys.exit(main())
