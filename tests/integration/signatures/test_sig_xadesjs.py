"""XAdES-BES and -EPES made by the npm ``xadesjs`` package (PeculiarVentures, on Node's WebCrypto),
a signing implementation we did not write (issue 12, acceptance).

The peer lives in ``peers/xadesjs`` (package.json with pinned versions, ``sign.mjs``); the first
test that needs it runs ``npm install`` there (node_modules is not committed). Every vector has
its expected indication next to it and tampered twins: the content, the SignedProperties, the
signature value, and a signing-certificate reference to another certificate.

xadesjs writes its enveloped document reference *without* a URI attribute; the engine reads an
enveloped-signature reference without URI as ``URI=""`` (and warns), which is what its
signatures mean -- before that they were SIGNED_DATA_NOT_FOUND.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import Signer, describe, only

from gateway.signatures import Indication, SubIndication, validate

PEER = Path(__file__).parent / "peers" / "xadesjs"
RECEIPT = (
    '<rcpt:Receipt xmlns:rcpt="urn:notess:gateway:receipt:v1" xmlns:x="urn:x">'
    "<rcpt:Decision>ACCEPT</rcpt:Decision><rcpt:Item><x:n>N-2026-000001</x:n></rcpt:Item>"
    "</rcpt:Receipt>"
)
PASSED = (Indication.TOTAL_PASSED, None)
HASH_FAILURE = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
SIG_CRYPTO_FAILURE = (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
NO_SIGNER = (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
WEAK = (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
POLICY_DIGEST = hashlib.sha256(b"the signature policy document").digest()


@dataclass(frozen=True)
class Row:
    """One xadesjs vector and the verdict expected for it (its twins are derived)."""

    name: str
    signer: str
    expected: tuple[Indication, SubIndication | None]
    hash: str = "SHA-256"
    uri: str | None = None
    transforms: tuple[str, ...] = ("enveloped", "exc-c14n")
    epes: bool = False


ROWS = [
    Row("rsa-sha256", "company", PASSED),
    Row("rsa-sha384", "company", PASSED, hash="SHA-384"),
    Row("rsa-sha512", "person", PASSED, hash="SHA-512"),
    Row("ecdsa-p256", "company_ec", PASSED),
    Row("uri-empty", "company", PASSED, uri=""),
    Row("inclusive-c14n", "representative", PASSED, transforms=("enveloped", "c14n")),
    Row("epes", "company", PASSED, epes=True),
    Row("rsa-sha1", "company", WEAK, hash="SHA-1"),
]


def _npm_install() -> None:
    if (PEER / "node_modules" / "xadesjs").is_dir():
        return
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=PEER,
        check=True,
        capture_output=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def xadesjs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[dict]], list[bytes]]:
    _npm_install()
    folder = tmp_path_factory.mktemp("xadesjs")

    def sign(jobs: list[dict]) -> list[bytes]:
        for position, job in enumerate(jobs):
            job["output"] = str(folder / f"signed-{position}.xml")
        (folder / "spec.json").write_text(json.dumps({"jobs": jobs}), encoding="utf-8")
        subprocess.run(
            ["node", str(PEER / "sign.mjs"), str(folder / "spec.json")],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return [Path(job["output"]).read_bytes() for job in jobs]

    return sign


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def job(row: Row, signer: Signer, *, certificate_reference: Signer | None = None) -> dict:
    key = signer.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    referenced = certificate_reference or signer
    spec: dict = {
        "document": RECEIPT,
        "key": _b64(key),
        "certificate": _b64(signer.certificate.public_bytes(serialization.Encoding.DER)),
        "ec": row.signer.endswith("_ec"),
        "hash": row.hash,
        "signingTime": PKI_NOW.isoformat(),
        "uri": row.uri,
        "transforms": list(row.transforms),
    }
    if certificate_reference is not None:
        # xadesjs takes the SigningCertificate from this option; KeyInfo keeps the real one.
        spec["signingCertificate"] = _b64(
            referenced.certificate.public_bytes(serialization.Encoding.DER)
        )
    if row.epes:
        spec["policy"] = {
            "identifier": {"value": "urn:oid:2.16.724.1.3.1.1.2.1.9"},
            "hash": "SHA-256",
            "digestValue": _b64(POLICY_DIGEST),
        }
    return spec


@pytest.fixture(scope="module")
def vectors(xadesjs, signer) -> dict[str, bytes]:
    jobs = [job(row, signer(row.signer)) for row in ROWS]
    jobs.append(job(ROWS[0], signer("company"), certificate_reference=signer("person")))
    signed = xadesjs(jobs)
    named = {row.name: document for row, document in zip(ROWS, signed[:-1], strict=True)}
    return {**named, "other-certificate": signed[-1]}


def judge(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def _changed_signing_time(document: bytes) -> bytes:
    changed = re.sub(rb"(<xades:SigningTime>)(\d{4})", lambda m: m.group(1) + b"1999", document)
    assert changed != document
    return changed


def _changed_signature_value(document: bytes) -> bytes:
    match = re.search(rb"<ds:SignatureValue>([^<]+)</ds:SignatureValue>", document)
    assert match is not None
    value = bytearray(base64.b64decode(match.group(1)))
    value[len(value) // 2] ^= 0x01
    return document.replace(match.group(1), base64.b64encode(bytes(value)), 1)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_xadesjs_vector_and_its_tampered_twins(row: Row, vectors, trust, policy) -> None:
    document = vectors[row.name]
    result, signature, report = judge(document, trust, policy)
    assert result == row.expected, describe(report)
    if row.uri is None:
        assert any("without URI" in warning for warning in signature.warnings)
    if row.expected == PASSED:
        assert signature.covers_whole_document
        assert signature.level == "XAdES-BASELINE-B"
        assert signature.claimed_signing_time == PKI_NOW
    if row.epes:
        assert signature.signature_policy_identifier == "urn:oid:2.16.724.1.3.1.1.2.1.9"
        assert signature.signature_policy_digest == POLICY_DIGEST
    twins = {
        "content": (document.replace(b"ACCEPT", b"REJECT"), HASH_FAILURE),
        "signed-properties": (_changed_signing_time(document), HASH_FAILURE),
        "signature-value": (_changed_signature_value(document), SIG_CRYPTO_FAILURE),
    }
    for name, (twin, expected) in twins.items():
        result, _, report = judge(twin, trust, policy)
        assert result == expected, (name, describe(report))


def test_xadesjs_reference_to_another_certificate(vectors, trust, policy) -> None:
    result, _, report = judge(vectors["other-certificate"], trust, policy)
    assert result == NO_SIGNER, describe(report)
