"""Distributed archive time-stamps (XAdES 1.3.2 §7.1.4.3 and §7.7.1; issue 12, point 6): an
ArchiveTimeStamp whose ``xades:Include`` elements designate the archived elements one by one,
its input their canonicalisation in order (a ds:Reference's output with ``referencedData``).

Vectors: a XAdES signed by xmlsec1 from a template whose SignedInfo and References carry Ids,
its SignatureTimeStamp by ``openssl ts``, LT data, then the distributed archive time-stamp
written by ``sig_lta`` (the test's own reading of the rules). The valid one makes the signature
LTA; its twins prove nothing: one whose Includes (and imprint) leave out the RevocationValues,
one with an Include beyond the archived elements, one with a carried OCSP response altered
after stamping, and one whose Include designates an element by an external URI.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sig_lta import C14N_10, EXC_C14N, add_distributed_archive_timestamp
from sig_scenarios import PKI_NOW
from sig_vectors import OpenSslTsa, describe, local_tsa, xmlsec_sign
from sig_xml_vectors import versioned_xades_template
from test_sig_xades_lta import ARCHIVED_AT, fresh_trust, judge, lt
from test_sig_xades_versions import add_signature_timestamp

from gateway.pki import DemoPki
from gateway.signatures import Indication, SubIndication, TimestampKind

PASSED = (Indication.TOTAL_PASSED, None)


@pytest.fixture(scope="module")
def long_term(pki: DemoPki, signer) -> bytes:
    """XAdES-LT by xmlsec1 and openssl ts, SignedInfo and References with Ids."""
    company = signer("company")
    template, id_attr = versioned_xades_template(company, version="1.3.2", signing_time=PKI_NOW)
    template = template.replace(b"<ds:SignedInfo>", b'<ds:SignedInfo Id="sig-1-si">', 1)
    template = template.replace(b'<ds:Reference URI=""', b'<ds:Reference Id="sig-1-r0" URI=""', 1)
    template = template.replace(
        b'<ds:Reference URI="#sig-1-sp"', b'<ds:Reference Id="sig-1-r1" URI="#sig-1-sp"', 1
    )
    signed = xmlsec_sign(template, company, id_attrs=(id_attr,))
    stamped = add_signature_timestamp(signed, "1.3.2", OpenSslTsa(pki.tsa))
    return lt(
        pki,
        stamped,
        [company.certificate, pki.tsa.certificate(), pki.issuing_ca.certificate()],
        PKI_NOW + timedelta(hours=1),
    )


def _archive(pki: DemoPki, document: bytes, **options) -> bytes:
    return add_distributed_archive_timestamp(document, local_tsa(pki, ARCHIVED_AT), **options)


@pytest.mark.parametrize("c14n", [EXC_C14N, C14N_10], ids=["exclusive", "inclusive"])
def test_distributed_archive_time_stamp_makes_the_signature_lta(
    c14n, pki: DemoPki, long_term: bytes
) -> None:
    archived = _archive(pki, long_term, c14n=c14n)
    # 2 references, SignedInfo, SignatureValue, KeyInfo and the 3 unsigned properties.
    assert archived.count(b"<xades:Include ") == 8
    result, signature, report = judge(archived, fresh_trust(pki))
    assert result == PASSED, describe(report)
    assert signature.level == "XAdES-BASELINE-LTA"
    archive = signature.timestamps[-1]
    assert archive.kind is TimestampKind.ARCHIVE_TIMESTAMP
    assert archive.passed and archive.generation_time == ARCHIVED_AT, describe(report)
    # Level LT without it.
    assert judge(long_term, fresh_trust(pki))[1].level == "XAdES-BASELINE-LT"


def test_distributed_archive_time_stamp_over_part_of_the_signature_proves_nothing(
    pki: DemoPki, long_term: bytes
) -> None:
    """Imprint and Includes agree, but the RevocationValues are left out: no proof."""
    archived = _archive(pki, long_term, leave_out="RevocationValues")
    result, signature, report = judge(archived, fresh_trust(pki))
    assert result == PASSED, describe(report)  # still level LT: the signature time-stamp holds
    archive = signature.timestamps[-1]
    assert archive.sub_indication is SubIndication.FORMAT_FAILURE, describe(report)
    assert signature.level == "XAdES-BASELINE-LT"


def test_distributed_archive_time_stamp_with_an_extra_include_proves_nothing(
    pki: DemoPki, long_term: bytes
) -> None:
    archived = _archive(pki, long_term, extra_include="sig-1-sp")
    _, signature, report = judge(archived, fresh_trust(pki))
    assert signature.timestamps[-1].sub_indication is SubIndication.FORMAT_FAILURE, describe(report)
    assert signature.level == "XAdES-BASELINE-LT"


def test_distributed_archive_time_stamp_twins(pki: DemoPki, long_term: bytes) -> None:
    archived = _archive(pki, long_term)
    # A carried OCSP response altered after stamping: HASH_FAILURE.
    marker = b"<xades:EncapsulatedOCSPValue>"
    position = archived.index(marker) + len(marker) + 40
    flipped = archived[:position] + (b"A" if archived[position : position + 1] != b"A" else b"B")
    flipped += archived[position + 1 :]
    _, signature, report = judge(flipped, fresh_trust(pki))
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE, describe(report)
    assert signature.level == "XAdES-BASELINE-LT"
    # An Include naming its element by an external URI: not followed, FORMAT_FAILURE.
    external = archived.replace(
        b'<xades:Include URI="#sig-1-si"', b'<xades:Include URI="https://example.org/si"', 1
    )
    assert external != archived
    _, signature, report = judge(external, fresh_trust(pki))
    archive = signature.timestamps[-1]
    assert archive.sub_indication is SubIndication.FORMAT_FAILURE, describe(report)
    assert any("'#id'" in finding.message for finding in archive.findings)
