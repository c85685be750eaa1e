"""XAdES-BES, -EPES and -T made by the npm ``xadesjs`` package (PeculiarVentures, on Node's
WebCrypto), a signing implementation we did not write (issue 12, acceptance).

XAdES-T: ``sign.mjs`` canonicalises the SignatureValue with xmldsigjs's own canonicaliser
(inclusive or exclusive C14N, named in the stamp's CanonicalizationMethod), has ``openssl ts``
time-stamp its SHA-256 with the suite's TSU, and adds the SignatureTimeStamp with xadesjs's
classes. Their twins: a genuine token of the same unit over other data (the time-stamp fails
HASH_FAILURE and proves nothing), and the stamp's CanonicalizationMethod switched between
inclusive and exclusive C14N (the same, where namespaces in scope make them differ).

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
from sig_vectors import _TS_CONFIG as TS_CONFIG
from sig_vectors import OpenSslTsa, Signer, describe, only

from gateway.pki import DemoPki
from gateway.signatures import Indication, SubIndication, TimestampKind, validate

PEER = Path(__file__).parent / "peers" / "xadesjs"
RECEIPT = (
    '<rcpt:Receipt xmlns:rcpt="urn:notess:gateway:receipt:v1" xmlns:x="urn:x">'
    "<rcpt:Decision>ACCEPT</rcpt:Decision><rcpt:Item><x:n>N-2026-000001</x:n></rcpt:Item>"
    "</rcpt:Receipt>"
)
PLAIN_RECEIPT = "<Receipt><Decision>ACCEPT</Decision><Item>N-2026-000001</Item></Receipt>"
"""No namespace in scope on the signature but its own."""
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
    timestamp: str | None = None
    """XAdES-T: the canonicalisation of the SignatureTimeStamp (``c14n`` or ``exc-c14n``)."""
    stamp_passes: bool = True
    """XAdES-T: whether the SignatureTimeStamp is valid (else HASH_FAILURE, level B)."""
    document: str = RECEIPT


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
T_ROWS = [
    Row("t-inclusive-c14n", "company", PASSED, timestamp="c14n", document=PLAIN_RECEIPT),
    # xmldsigjs's inclusive C14N of a document subset renders only the inherited namespaces the
    # subset uses (as exclusive C14N would): the receipt's xmlns:rcpt and xmlns:x, in scope on the
    # SignatureValue, are missing, while C14N 1.0 §2.4 (libxml2, Santuario, DSS) renders them. So
    # the time-stamp does not cover the SignatureValue as its CanonicalizationMethod says:
    # HASH_FAILURE, and the signature itself passes at level B.
    Row("t-inclusive-c14n-namespaces", "company", PASSED, timestamp="c14n", stamp_passes=False),
    Row("t-exc-c14n", "person", PASSED, hash="SHA-512", timestamp="exc-c14n"),
    Row("t-ecdsa-epes", "company_ec", PASSED, epes=True, timestamp="exc-c14n"),
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


def job(
    row: Row,
    signer: Signer,
    *,
    certificate_reference: Signer | None = None,
    tsa_config: Path | None = None,
) -> dict:
    key = signer.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    referenced = certificate_reference or signer
    spec: dict = {
        "document": row.document,
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
    if row.timestamp is not None:
        assert tsa_config is not None
        spec["timestamp"] = {"config": str(tsa_config), "c14n": row.timestamp}
    if row.epes:
        spec["policy"] = {
            "identifier": {"value": "urn:oid:2.16.724.1.3.1.1.2.1.9"},
            "hash": "SHA-256",
            "digestValue": _b64(POLICY_DIGEST),
        }
    return spec


def _tsa_config(pki: DemoPki, folder: Path) -> Path:
    """An ``openssl ts -reply`` configuration for the suite's TSU (genTime: the system clock)."""
    (folder / "serial").write_text("01\n")
    config = folder / "tsa.cnf"
    config.write_text(
        TS_CONFIG.format(dir=folder, cert=pki.tsa.cert_path, key=pki.tsa.key_path),
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="module")
def vectors(
    xadesjs, signer, pki: DemoPki, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    config = _tsa_config(pki, tmp_path_factory.mktemp("xadesjs-tsa"))
    jobs = [job(row, signer(row.signer), tsa_config=config) for row in ROWS + T_ROWS]
    jobs.append(job(ROWS[0], signer("company"), certificate_reference=signer("person")))
    signed = xadesjs(jobs)
    rows = ROWS + T_ROWS
    named = {row.name: document for row, document in zip(rows, signed[:-1], strict=True)}
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


def _stamp_over_other_data(document: bytes, tsa: OpenSslTsa) -> bytes:
    """The EncapsulatedTimeStamp replaced by a genuine token of the same unit over other data."""
    match = re.search(rb"(<xades:EncapsulatedTimeStamp[^>]*>)([^<]+)(<)", document)
    assert match is not None
    token = tsa.timestamp(hashlib.sha256(b"some other signature value").digest(), "sha256")
    return document[: match.start(2)] + _b64(token).encode() + document[match.end(2) :]


def _switched_c14n(document: bytes) -> bytes:
    inclusive = b'"http://www.w3.org/TR/2001/REC-xml-c14n-20010315"'
    exclusive = b'"http://www.w3.org/2001/10/xml-exc-c14n#"'
    head, marker, stamp = document.partition(b"SignatureTimeStamp")
    assert marker
    switched = (
        stamp.replace(inclusive, b"@@", 1)
        .replace(exclusive, inclusive, 1)
        .replace(b"@@", exclusive)
        if inclusive in stamp
        else stamp.replace(exclusive, inclusive, 1)
    )
    assert switched != stamp
    return head + marker + switched


@pytest.mark.parametrize("row", T_ROWS, ids=[row.name for row in T_ROWS])
def test_xadesjs_t_vector_and_its_tampered_twins(
    row: Row, vectors, trust, policy, pki: DemoPki
) -> None:
    document = vectors[row.name]
    assert b"SignatureTimeStamp" in document
    result, signature, report = judge(document, trust, policy)
    assert result == row.expected, describe(report)
    (stamp,) = signature.timestamps
    if not row.stamp_passes:
        assert stamp.sub_indication is SubIndication.HASH_FAILURE, describe(report)
        assert signature.level == "XAdES-BASELINE-B"
        return
    assert signature.level == "XAdES-BASELINE-T"
    assert stamp.kind is TimestampKind.SIGNATURE_TIMESTAMP
    assert stamp.passed, describe(report)
    assert signature.proof_of_existence == stamp.generation_time
    assert PKI_NOW <= stamp.generation_time <= VALIDATION_TIME
    if row.epes:
        assert signature.signature_policy_digest == POLICY_DIGEST
    twins = {"token-over-other-data": _stamp_over_other_data(document, OpenSslTsa(pki.tsa))}
    if row.document == RECEIPT:  # namespaces in scope: the two canonicalisations differ
        twins["canonicalisation-switched"] = _switched_c14n(document)
    for name, twin in twins.items():
        result, signature, report = judge(twin, trust, policy)
        (stamp,) = signature.timestamps
        assert stamp.sub_indication is SubIndication.HASH_FAILURE, (name, describe(report))
        assert not stamp.passed
        assert signature.level == "XAdES-BASELINE-B", name
        assert signature.proof_of_existence is None, name
    # The signed content changed: the time-stamp still covers the (unchanged) signature value,
    # the signature itself fails.
    result, _, report = judge(document.replace(b"ACCEPT", b"REJECT"), trust, policy)
    assert result == HASH_FAILURE, describe(report)
