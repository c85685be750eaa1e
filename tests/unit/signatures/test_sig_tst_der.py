"""The strict DER reading of time-stamp tokens (``tst_der`` + ``cms.verify_prepared_signer``)
gives exactly what the asn1crypto path gives: the same report (fields, verdict, findings and
messages) for well-formed tokens of many shapes, and for tampered, truncated, re-encoded and
garbage ones -- which either take the asn1crypto path or are read alike. Every comparison
validates the token twice, once with the DER reader switched off."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.signatures import SignaturePolicy, crypto, timestamps
from gateway.signatures.cms import (
    PARSE_ERRORS,
    load_signed_data,
    prepare_signer,
    verify_prepared_signer,
    verify_signer,
)
from gateway.signatures.findings import Findings, FormatError
from gateway.signatures.report import TimestampKind, TimestampReport
from gateway.signatures.tst_der import read_padded, read_token
from gateway.trust.certificates import TrustStore

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
DATA = b"the time-stamped data"
POLICY = SignaturePolicy()
FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Unit:
    key: Any
    certificate: x509.Certificate
    root: x509.Certificate
    trust: TrustStore


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _unit(key: Any) -> Unit:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder().subject_name(_name("TST Root")).issuer_name(_name("TST Root"))
        .public_key(root_key.public_key()).serial_number(1)
        .not_valid_before(NOW - timedelta(days=30)).not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    certificate = (
        x509.CertificateBuilder().subject_name(_name("TST Unit")).issuer_name(root.subject)
        .public_key(key.public_key()).serial_number(0x1234567)
        .not_valid_before(NOW - timedelta(days=10)).not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return Unit(key, certificate, root, TrustStore([root]))


@pytest.fixture(scope="module")
def units() -> dict[str, Unit]:
    return {
        "ecdsa": _unit(ec.generate_private_key(ec.SECP256R1())),
        "rsa": _unit(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    }


@dataclass(frozen=True)
class Shape:
    """How a token is made (defaults: what a TSA usually makes)."""

    imprint: str = "sha256"
    digest: str = "sha256"
    fraction: int = 0
    optional_fields: tuple[str, ...] = ("accuracy",)
    signing_time: str | None = None
    references: tuple[str, ...] = ("v2",)
    sid: str = "issuer_serial"
    with_root: bool = False
    certificates: bool = True
    second_signer: bool = False
    extra_attribute: bool = False
    unsigned: bool = False
    covered: bytes = DATA

    @property
    def plain(self) -> bool:
        """Whether the DER reader takes it (the rest goes to asn1crypto)."""
        return self.certificates and not self.second_signer


def _asn1(certificate: x509.Certificate) -> Any:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def make_token(unit: Unit, shape: Shape) -> bytes:
    info: dict[str, Any] = {
        "version": "v1",
        "policy": "1.2.3.4.1",
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": shape.imprint}),
            "hashed_message": hashlib.new(shape.imprint, shape.covered).digest(),
        },
        "serial_number": 0xC0FFEE,
        "gen_time": NOW.replace(microsecond=shape.fraction),
    }
    if "accuracy" in shape.optional_fields:
        info["accuracy"] = {"seconds": 1, "millis": 5}
    if "ordering" in shape.optional_fields:
        info["ordering"] = True
    if "nonce" in shape.optional_fields:
        info["nonce"] = 987654321987654321
    if "tsa" in shape.optional_fields:
        info["tsa"] = asn1_x509.GeneralName(name="directory_name", value=_asn1(unit.certificate).subject)
    content = tsp.TSTInfo(info).dump()
    signer = _asn1(unit.certificate)
    attributes: list[dict[str, Any]] = [
        {"type": "content_type", "values": ["tst_info"]},
        {"type": "message_digest", "values": [hashlib.new(shape.digest, content).digest()]},
    ]
    if shape.signing_time == "utc":
        attributes.append(
            {"type": "signing_time", "values": [cms.Time({"utc_time": NOW})]})
    elif shape.signing_time == "generalized":
        attributes.append(
            {"type": "signing_time", "values": [cms.Time({"generalized_time": NOW})]})
    if "v2" in shape.references:
        attributes.append({"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2(
            {"certs": [{"cert_hash": crypto.digest("sha256", signer.dump()), "issuer_serial": {
                "issuer": [asn1_x509.GeneralName(name="directory_name", value=signer.issuer)],
                "serial_number": signer.serial_number}}]})]})
    if "v2-other" in shape.references:
        attributes.append({"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2(
            {"certs": [{"cert_hash": b"\x01" * 32}]})]})
    if "v1" in shape.references:
        attributes.append({"type": "signing_certificate", "values": [tsp.SigningCertificate(
            {"certs": [{"cert_hash": hashlib.sha1(signer.dump()).digest()}]})]})
    if shape.extra_attribute:
        attributes.append({"type": "1.2.3.4.5.6", "values": [core.UTF8String("extra")]})
    signed_attrs = cms.CMSAttributes(attributes)
    message = signed_attrs.dump()
    hash_algorithm = crypto.hash_algorithm(shape.digest)
    if isinstance(unit.key, rsa.RSAPrivateKey):
        signature = unit.key.sign(message, padding.PKCS1v15(), hash_algorithm)
        algorithm = f"{shape.digest}_rsa"
    else:
        signature = unit.key.sign(message, ec.ECDSA(hash_algorithm))
        algorithm = f"{shape.digest}_ecdsa"
    if shape.sid == "issuer_serial":
        sid = cms.SignerIdentifier({"issuer_and_serial_number": {
            "issuer": signer.issuer, "serial_number": signer.serial_number}})
    else:
        sid = cms.SignerIdentifier({"subject_key_identifier": signer.key_identifier})
    signer_info: dict[str, Any] = {
        "version": "v1" if shape.sid == "issuer_serial" else "v3",
        "sid": sid,
        "digest_algorithm": {"algorithm": shape.digest},
        "signed_attrs": signed_attrs,
        "signature_algorithm": {"algorithm": algorithm},
        "signature": signature,
    }
    if shape.unsigned:
        signer_info["unsigned_attrs"] = [{"type": "1.2.3.4.5.7", "values": [core.Null()]}]
    signed_data: dict[str, Any] = {
        "version": "v3",
        "digest_algorithms": [{"algorithm": shape.digest}],
        "encap_content_info": {
            "content_type": "tst_info", "content": core.ParsableOctetString(content)},
        "signer_infos": [signer_info] * (2 if shape.second_signer else 1),
    }
    if shape.certificates:
        signed_data["certificates"] = [signer] + ([_asn1(unit.root)] if shape.with_root else [])
    dumped: bytes = cms.ContentInfo(
        {"content_type": "signed_data", "content": cms.SignedData(signed_data)}).dump()
    return dumped


@contextmanager
def asn1crypto_only() -> Iterator[None]:
    with mock.patch.object(timestamps, "read_token", lambda token: None):
        yield


def _validate(token: bytes, unit: Unit, at: datetime = NOW) -> TimestampReport:
    return timestamps.validate_timestamp(
        token,
        kind=TimestampKind.SIGNATURE_TIMESTAMP,
        imprint_of=lambda name: crypto.digest(name, DATA),
        trust=unit.trust,
        policy=POLICY,
        now=at,
    )


def same_on_both_paths(token: bytes, unit: Unit) -> TimestampReport:
    """The report, asserted identical with and without the DER reader (the asn1crypto path
    first: it fills the memos the DER path reads)."""
    with asn1crypto_only():
        expected = _validate(token, unit)
    got = _validate(token, unit)
    assert got == expected
    assert repr(got.generation_time) == repr(expected.generation_time)
    assert got.to_dict() == expected.to_dict() if hasattr(got, "to_dict") else True
    return got


def takes_der_path(token: bytes) -> bool:
    parts = read_token(token)
    return parts is not None and prepare_signer(parts.signer) is not None


def same_signer(token: bytes) -> None:
    """``verify_prepared_signer`` establishes what ``verify_signer`` does: same signer record,
    same findings and warnings (when the DER reader takes the token)."""
    parts = read_token(token)
    slow = Findings()
    try:
        signed_data = load_signed_data(token)
        econtent = bytes(signed_data["encap_content_info"]["content"])
        expected: object = verify_signer(
            signed_data, signed_data["signer_infos"][0],
            content_digest=lambda name: crypto.digest(name, econtent), policy=POLICY,
            findings=slow)
    except FormatError as exc:
        expected = exc.message
    except PARSE_ERRORS:
        expected = "malformed"
    prepared = None if parts is None else prepare_signer(parts.signer)
    if parts is None or prepared is None:
        return
    assert parts.econtent == econtent
    fast = Findings()
    got = verify_prepared_signer(
        prepared, content_digest=lambda name: crypto.digest(name, parts.econtent), policy=POLICY,
        findings=fast)
    assert got == expected
    assert (fast.ordered(), fast.warnings) == (slow.ordered(), slow.warnings)


SHAPES = st.builds(
    Shape,
    imprint=st.sampled_from(["sha256", "sha384", "sha512", "sha1", "sha3_256"]),
    digest=st.sampled_from(["sha256", "sha384", "sha512"]),
    fraction=st.sampled_from([0, 500000, 120000, 1, 999999]),
    optional_fields=st.lists(
        st.sampled_from(["accuracy", "ordering", "nonce", "tsa"]), unique=True
    ).map(lambda names: tuple(sorted(names))),
    signing_time=st.sampled_from([None, "utc", "generalized"]),
    references=st.sampled_from([("v2",), ("v1",), ("v2", "v1"), (), ("v2-other",),
                                ("v2-other", "v1")]),
    sid=st.sampled_from(["issuer_serial", "ski"]),
    with_root=st.booleans(),
    certificates=st.booleans(),
    second_signer=st.booleans(),
    extra_attribute=st.booleans(),
    unsigned=st.booleans(),
    covered=st.sampled_from([DATA, b"other data"]),
)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(shape=SHAPES, kind=st.sampled_from(["ecdsa", "rsa"]))
def test_tokens_of_every_shape_get_the_same_report(
    units: dict[str, Unit], shape: Shape, kind: str
) -> None:
    token = make_token(units[kind], shape)
    report = same_on_both_paths(token, units[kind])
    # the plain layouts really are read by the DER path (the comparison is not vacuous)
    assert takes_der_path(token) == shape.plain
    same_signer(token)
    if shape == Shape():
        assert report.passed


def test_a_plain_token_passes_on_the_der_path(units: dict[str, Unit]) -> None:
    token = make_token(units["rsa"], Shape())
    report = same_on_both_paths(token, units["rsa"])
    assert report.passed and takes_der_path(token)
    assert report.serial_number == 0xC0FFEE and report.generation_time == NOW
    assert report.imprint_algorithm == "sha256"


@pytest.mark.parametrize(
    ("shape", "sub_indication"),
    [
        (Shape(covered=b"another document"), "HASH_FAILURE"),
        (Shape(references=()), "NO_SIGNING_CERTIFICATE_FOUND"),
        (Shape(references=("v2-other",)), "NO_SIGNING_CERTIFICATE_FOUND"),
        (Shape(imprint="sha1"), "CRYPTO_CONSTRAINTS_FAILURE"),
    ],
)
def test_a_bad_token_fails_alike_on_both_paths(
    units: dict[str, Unit], shape: Shape, sub_indication: str
) -> None:
    report = same_on_both_paths(make_token(units["ecdsa"], shape), units["ecdsa"])
    assert sub_indication in {finding.sub_indication.name for finding in report.findings}


@pytest.fixture(scope="module")
def base_tokens(units: dict[str, Unit]) -> list[bytes]:
    return [
        make_token(units["rsa"], Shape()),
        make_token(units["ecdsa"], Shape(signing_time="utc", references=("v2", "v1"),
                                         optional_fields=("accuracy", "nonce", "tsa"))),
        make_token(units["rsa"], Shape(sid="ski", with_root=True, unsigned=True)),
    ]


MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 4000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 4000), st.just(0)),
    st.tuples(st.just("delete"), st.integers(0, 4000), st.integers(1, 8)),
    st.tuples(st.just("insert"), st.integers(0, 4000), st.integers(0, 255)),
    st.tuples(st.just("append"), st.integers(1, 8), st.sampled_from([0, 1, 0x30])),
    st.tuples(st.just("length"), st.integers(0, 4000), st.sampled_from([0x80, 0x81, 0x82, 0x83])),
)


def _regions(token: bytes) -> dict[str, tuple[int, int]]:
    """Where a base token's TSTInfo and SignerInfo lie (mutations outside the certificates
    keep the unit known, so that the DER path reads the result)."""
    parts = read_token(token)
    assert parts is not None
    tst_info = token.index(parts.econtent)
    signer = token.index(parts.signer.signed_attributes) - len(parts.signer.sid) - 20
    return {
        "anywhere": (0, len(token)),
        "tst_info": (tst_info, tst_info + len(parts.econtent)),
        "signer": (signer, len(token)),
    }


def mutate(
    token: bytes, mutations: list[tuple[str, int, int]], region: str = "anywhere"
) -> bytes:
    data = bytearray(token)
    start, stop = _regions(token)[region]
    for kind, where, value in mutations:
        if not data:
            break
        position = min(start + where % (stop - start), len(data) - 1)
        if kind == "flip":
            data[position] ^= value
        elif kind == "truncate":
            del data[position:]
        elif kind == "delete":
            del data[position : position + value]
        elif kind == "insert":
            data.insert(position, value)
        elif kind == "append":
            data.extend(bytes([value]) * where)
        else:  # a length octet rewritten: indefinite, or long form (BER, non-minimal)
            data[position] = value
    return bytes(data)


@FUZZ
@given(
    base=st.integers(0, 2),
    mutations=st.lists(MUTATIONS, min_size=1, max_size=3),
    region=st.sampled_from(["anywhere", "tst_info", "signer"]),
)
def test_tampered_and_truncated_tokens_get_the_same_report(
    units: dict[str, Unit], base_tokens: list[bytes], base: int,
    mutations: list[tuple[str, int, int]], region: str,
) -> None:
    token = mutate(base_tokens[base], mutations, region)
    unit = units["ecdsa"] if base == 1 else units["rsa"]
    same_on_both_paths(token, unit)
    same_signer(token)


@FUZZ
@given(data=st.binary(max_size=300))
def test_garbage_gets_the_same_report(units: dict[str, Unit], data: bytes) -> None:
    report = same_on_both_paths(data, units["rsa"])
    assert not report.passed


def test_ber_and_padded_forms_of_a_token_take_the_asn1crypto_path(units: dict[str, Unit]) -> None:
    token = make_token(units["rsa"], Shape())
    # the same token with a non-minimal (BER) outer length, and with zero padding after it
    length = len(token) - 4
    ber = b"\x30\x83" + length.to_bytes(3, "big") + token[4:]
    for variant in (ber, token + b"\x00" * 16):
        assert read_token(variant) is None
        report = same_on_both_paths(variant, units["rsa"])
        assert report.passed  # asn1crypto reads them leniently, as before


def test_every_single_byte_change_gets_the_same_report(
    units: dict[str, Unit], base_tokens: list[bytes]
) -> None:
    """Each octet of a token changed (low bit, high bit, all bits): the DER path takes most
    of those outside the certificates, and each report equals the asn1crypto path's."""
    token = base_tokens[1]
    read_by_der = 0
    for position in range(len(token)):
        for mask in (0x01, 0x80, 0xFF):
            changed = bytearray(token)
            changed[position] ^= mask
            same_on_both_paths(bytes(changed), units["ecdsa"])
            read_by_der += takes_der_path(bytes(changed))
    assert read_by_der > len(token) // 2


def test_a_signer_info_that_does_not_parse_fails_the_time_stamp_only(
    units: dict[str, Unit]
) -> None:
    """Found by the byte-change test: a SignerInfo whose tag is not SEQUENCE raised out of
    ``validate_timestamp`` on the asn1crypto path (and so failed the whole signature as an
    internal error) instead of failing that time-stamp."""
    token = make_token(units["rsa"], Shape())
    parts = read_token(token)
    assert parts is not None
    # SEQUENCE (two length octets: an RSA signature is 256) { version INTEGER 1, sid ...
    signer_info = token.index(parts.signer.sid) - 7
    assert token[signer_info : signer_info + 2] == b"\x30\x82"
    changed = token[:signer_info] + b"\x31" + token[signer_info + 1 :]
    report = same_on_both_paths(changed, units["rsa"])
    assert [finding.message for finding in report.findings] == [
        "The time-stamp token is malformed"
    ]


def test_a_padded_token_is_read_without_its_padding(units: dict[str, Unit]) -> None:
    token = make_token(units["rsa"], Shape())
    parts = read_padded(token + b"\x00" * 300)
    assert parts is not None and parts.token == token and parts == read_token(token)
    assert read_padded(token) == parts
    # anything after it that is not zero padding, or a token cut short: the asn1crypto path
    assert read_padded(token + b"\x00\x01") is None
    assert read_padded(token[:-1]) is None
    assert read_padded(b"\x30\x80" + token[2:]) is None
