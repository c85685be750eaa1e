"""validate() never raises for bad input: random, truncated, mutated and hostile documents all
become reports (FORMAT_FAILURE or another verdict), and none reaches the internal-error branch."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sig_unit_time import UNIT_NOW

from gateway.errors import LimitExceeded
from gateway.signatures import Indication, SignatureFormat, SubIndication, validate
from gateway.signatures.validation import INTERNAL_ERROR

PREFIXES = [
    b"",
    b"%PDF-1.7\n",
    b"<",
    b"<?xml version='1.0'?>",
    b"\x30\x82",
    b"\x30\x80",
    b"-----BEGIN CMS-----\n",
]
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def internal_errors(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name.startswith("gateway.") and r.levelno >= logging.ERROR
    ]


def assert_reported(report) -> None:
    for signature in report.signatures:
        for finding in signature.findings:
            assert finding.message != INTERNAL_ERROR


@FUZZ
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=4096))
def test_random_bytes_are_format_failure(prefix, body, unit_pki, unit_policy, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway.signatures"):
        report = validate(prefix + body, policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert (report.indication, report.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.FORMAT_FAILURE,
    )
    assert_reported(report)
    assert not internal_errors(caplog)


@pytest.mark.parametrize("kind", ["xades", "cades", "pades"])
def test_valid_samples_pass(kind, signed_samples, unit_pki, unit_policy) -> None:
    report = validate(signed_samples[kind], policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert report.passed, report.to_json(indent=1)


@pytest.mark.parametrize("kind", ["xades", "cades", "pades"])
def test_every_truncation_is_a_report(kind, signed_samples, unit_pki, unit_policy) -> None:
    document = signed_samples[kind]
    step = max(1, len(document) // 97)
    for length in range(0, len(document), step):
        report = validate(document[:length], policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
        assert not report.passed
        assert_reported(report)


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("kind", ["xades", "cades", "pades"])
def test_mutated_signatures_never_raise(
    kind, data, signed_samples, unit_pki, unit_policy, caplog
) -> None:
    document = bytearray(signed_samples[kind])
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(document) - 1))
        document[position] = data.draw(st.integers(0, 255))
    with caplog.at_level(logging.ERROR, logger="gateway.signatures"):
        report = validate(bytes(document), policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert_reported(report)
    assert not internal_errors(caplog)


def test_oversized_input_raises_limit_exceeded(unit_pki, unit_policy) -> None:
    small = replace(unit_policy, max_document_bytes=1024)
    with pytest.raises(LimitExceeded) as raised:
        validate(b"<a/>" + b" " * 2000, policy=small, trust=unit_pki.trust, now=UNIT_NOW)
    assert raised.value.code == "DOCUMENT_TOO_LARGE"
    with pytest.raises(LimitExceeded):
        validate(
            b"\x30\x00",
            detached_content=b"x" * 2000,
            policy=small,
            trust=unit_pki.trust,
            now=UNIT_NOW,
        )


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>',
        b'<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><a>&b;</a>',
        b"<a>" * 100 + b"</a>" * 100,
        b"<a><ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'/></a>",
        b"<a>no signature here</a>",
    ],
    ids=["xxe", "entity-expansion", "too-deep", "empty-signature", "unsigned"],
)
def test_hostile_xml_is_format_failure(document, unit_pki, unit_policy) -> None:
    report = validate(document, policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert report.format is SignatureFormat.XADES
    assert report.sub_indication is SubIndication.FORMAT_FAILURE
    assert_reported(report)


def test_naive_validation_time_is_a_programming_error(unit_pki, unit_policy) -> None:
    with pytest.raises(ValueError):
        validate(b"x", policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "document type declarations"),
        (b"<!DOCTYPE a><a/>", "document type declarations"),
        ("\ufeff<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>".encode("utf-16-le"),
         "document type declarations"),
        (b"<a><b></a>", "not well-formed"),
        (b"<a>" * 100 + b"</a>" * 100, "nest"),
    ],
    ids=["internal-entity", "doctype-only", "utf16-doctype", "malformed", "too-deep"],
)
def test_a_refused_xml_document_says_why(document, named, unit_pki, unit_policy) -> None:
    """Real signed files with a DOCTYPE (older tools write one) are refused, as DSS's parser
    refuses them: the report names the reason, not only "not acceptable XML"."""
    report = validate(document, policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    (signature,) = report.signatures
    assert signature.sub_indication is SubIndication.FORMAT_FAILURE
    assert any(named in finding.message.lower() for finding in signature.findings), (
        signature.findings
    )
