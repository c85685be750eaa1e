"""The CAdES LT/LTA readers under fuzzing (issue 13, point 7).

* A valid CAdES with random validation data and archive time-stamps -- RevocationInfoChoices
  (CRLs, ``other`` entries of any format, random bytes), certificate-values and
  revocation-values with random or broken members, archive-time-stamp-v3 tokens with random,
  missing, repeated or broken hash indexes: a report for the one signature, never an exception.
  Unsigned data never makes the signature worse than its signed part: it stays TOTAL_PASSED
  (any archive time-stamp fails on its own report).
* The same documents with random bytes changed, cut or inserted (mutated DER): a report --
  FORMAT_FAILURE when nothing can be read -- never an exception.
"""

from __future__ import annotations

import hashlib
import logging

from asn1crypto import cms, core, parser
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sig_unit_time import UNIT_NOW
from test_sig_transforms_fuzz import assert_reported

from gateway.domain.clock import FixedClock
from gateway.signatures import Indication, LocalTimeStampAuthority, validate

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CERTIFICATE_VALUES = "1.2.840.113549.1.9.16.2.23"
REVOCATION_VALUES = "1.2.840.113549.1.9.16.2.24"
ARCHIVE_V3 = "0.4.0.1733.2.4"
HASH_INDEXES = ["0.4.0.19122.1.5", "0.4.0.1733.2.5", "1.2.3.4"]
OTHER_FORMATS = ["1.3.6.1.5.5.7.16.2", "1.3.6.1.5.5.7.48.1.1", "1.3.6.1.5.5.7.16.4", "1.2.3"]


def tlv(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + contents


def oid(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


def attribute(dotted: str, *values: bytes) -> bytes:
    return tlv(0x30, oid(dotted) + tlv(0x31, b"".join(values)))


junk = st.one_of(
    st.binary(max_size=80),
    st.just(b"\x30\x03\x0a\x01\x00"),
    st.just(b"\x30\x00"),
    st.binary(max_size=40).map(lambda raw: tlv(0x30, raw)),
)


@st.composite
def octet_strings(draw: st.DrawFn) -> bytes:
    hashes = st.binary(min_size=32, max_size=32)
    items = draw(st.lists(st.one_of(hashes, hashes, hashes, junk), max_size=3))
    return tlv(0x30, b"".join(tlv(0x04, item) if len(item) == 32 else item for item in items))


@st.composite
def hash_index(draw: st.DrawFn) -> bytes:
    algorithm = draw(st.sampled_from([
        b"", bytes.fromhex("300d06096086480165030402010500"), bytes.fromhex("300706052b0e03021a"),
        tlv(0x30, oid("1.2.9.9")),
    ]))  # fmt: skip
    lists = [draw(octet_strings()) for _ in range(draw(st.sampled_from([3, 3, 3, 0, 2, 4])))]
    index = tlv(0x30, algorithm + b"".join(lists))
    return draw(st.sampled_from([index, index, index, draw(junk)]))


def elements(encoded: bytes) -> list[bytes]:
    """The TLVs inside the one (valid, DER) TLV ``encoded``."""
    contents = parser.parse(encoded)[4]
    found = []
    while contents:
        _, _, _, header, inner, _ = parser.parse(contents)
        found.append(contents[: len(header) + len(inner)])
        contents = contents[len(header) + len(inner) :]
    return found


def with_unsigned(signed: bytes, attributes: list[bytes], crls: bytes | None = None) -> bytes:
    """``signed`` (a DER ContentInfo with one SignerInfo) with ``attributes`` as the signer's
    unsigned attributes and ``crls`` as the SignedData's, built as raw octets so that broken
    values stay exactly as drawn."""
    oid_part, explicit = elements(signed)
    signed_data = elements(elements(explicit)[0])
    signer_info = [f for f in elements(elements(signed_data[-1])[0]) if f[:1] != b"\xa1"]
    signer_info.append(tlv(0xA1, b"".join(attributes)))
    fields = [f for f in signed_data[:-1] if f[:1] != b"\xa1"]
    if crls is not None:
        fields.append(b"\xa1" + crls[1:])
    fields.append(tlv(0x31, tlv(0x30, b"".join(signer_info))))
    return tlv(0x30, oid_part + tlv(0xA0, tlv(0x30, b"".join(fields))))


@st.composite
def archive_attribute(draw: st.DrawFn, unit_pki) -> bytes:
    tsa = LocalTimeStampAuthority(unit_pki.key, unit_pki.certificate, FixedClock(UNIT_NOW))
    token = tsa.timestamp(hashlib.sha256(draw(st.binary(max_size=8))).digest(), "sha256")
    indexes = [
        attribute(draw(st.sampled_from(HASH_INDEXES)), draw(hash_index()))
        for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2])))
    ]
    if indexes:
        token = with_unsigned(token, indexes)
    return attribute(ARCHIVE_V3, draw(st.sampled_from([token, token, token, draw(junk)])))


@st.composite
def unsigned_attributes(draw: st.DrawFn, unit_pki, certificate: bytes) -> list[bytes]:
    found = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["certificates", "revocation", "archive"]))
        if kind == "certificates":
            members = draw(st.lists(st.one_of(st.just(certificate), junk), max_size=3))
            found.append(attribute(CERTIFICATE_VALUES, tlv(0x30, b"".join(members))))
        elif kind == "revocation":
            fields = b""
            for tag in draw(st.lists(st.sampled_from([0xA0, 0xA1, 0xA2, 0x30]), max_size=3)):
                members = draw(st.lists(junk, max_size=2))
                fields += tlv(tag, tlv(0x30, b"".join(members)))
            found.append(attribute(REVOCATION_VALUES, draw(st.one_of(
                st.just(tlv(0x30, fields)), junk))))  # fmt: skip
        else:
            found.append(draw(archive_attribute(unit_pki)))
    return found


@st.composite
def revocation_choices(draw: st.DrawFn) -> bytes:
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            entries.append(tlv(0xA1, oid(draw(st.sampled_from(OTHER_FORMATS))) + draw(junk)))
        else:
            entries.append(draw(junk))
    return tlv(0x31, b"".join(entries))


@st.composite
def lta_documents(draw: st.DrawFn, sample: bytes, unit_pki) -> bytes:
    certificate = cms.ContentInfo.load(sample)["content"]["certificates"][0].chosen.dump()
    crls = draw(st.one_of(st.none(), revocation_choices()))
    return with_unsigned(sample, draw(unsigned_attributes(unit_pki, certificate)), crls)


@FUZZ
@given(data=st.data())
def test_random_validation_data_and_archive_stamps_are_reported(
    data, signed_samples, unit_pki, unit_policy, caplog
) -> None:
    document = data.draw(lta_documents(signed_samples["cades"], unit_pki))
    with caplog.at_level(logging.ERROR, logger="gateway"):
        report = validate(document, policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert_reported(report, caplog, signatures=1)
    entry = report.signatures[0]
    assert entry.indication is Indication.TOTAL_PASSED, report.to_json(indent=1)
    assert entry.level == "CAdES-BASELINE-B"
    event(entry.timestamps[0].findings[0].message[:50] if entry.timestamps else "no archive")


@FUZZ
@given(data=st.data())
def test_mutated_der_is_reported(data, signed_samples, unit_pki, unit_policy, caplog) -> None:
    document = bytearray(data.draw(lta_documents(signed_samples["cades"], unit_pki)))
    for _ in range(data.draw(st.integers(1, 4))):
        # Drawn independently of the length: the tokens' ECDSA signatures vary in size.
        position = data.draw(st.integers(0, 1 << 20)) % len(document)
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            document[position] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del document[position : position + data.draw(st.integers(1, 16))]
        else:
            document[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        if not document:
            document = bytearray(b"\x30")
    with caplog.at_level(logging.ERROR, logger="gateway"):
        report = validate(bytes(document), policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert_reported(report, caplog, signatures=None)
    event(report.signatures[0].sub_indication.value if report.signatures and
          report.signatures[0].sub_indication else "passed")  # fmt: skip
