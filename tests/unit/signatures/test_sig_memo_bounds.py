"""The memo tables that keep the 10 KB validations cheap (certificates by DER, name comparisons,
reported certificates) stay bounded whatever documents arrive: hostile sizes are never kept and
a flood of distinct values empties a table instead of growing it."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from sig_unit_time import UnitPki

from gateway.signatures import crypto
from gateway.signatures.report import CertificateInfo


def test_certificates_are_memoised_by_der(unit_pki: UnitPki) -> None:
    der = unit_pki.certificate.public_bytes(serialization.Encoding.DER)
    first = crypto.load_certificate(der)
    assert first is not None and crypto.load_certificate(der) is first
    info = CertificateInfo.from_certificate(first)
    assert CertificateInfo.from_certificate(first) is info
    assert info.der == der


def test_a_flood_of_junk_certificates_keeps_the_table_bounded() -> None:
    for _ in range(1500):
        assert crypto.load_certificate(b"\x30\x10" + os.urandom(16)) is None
    assert len(crypto._LOADED) <= 512


def test_hostile_sizes_are_not_kept() -> None:
    huge = b"\x30\x83\x10\x00\x00" + os.urandom(0x100000)
    assert crypto.load_certificate(huge) is None
    assert huge not in crypto._LOADED
