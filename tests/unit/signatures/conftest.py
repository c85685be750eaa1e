"""A small, fast PKI for the unit tests of the signature engine (EC P-256, built in memory).

One root CA and one signing leaf; no CRL. Enough for model, detection and hostile-input tests;
the acceptance vectors with the demo PKI and independent tools live in tests/integration.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sig_unit_time import UNIT_NOW, UnitPki

from gateway.domain.clock import FixedClock
from gateway.signatures import SignaturePolicy, sign_cades, sign_pades, sign_xades_enveloped
from gateway.trust.certificates import TrustStore


def _name(common_name: str, **extra: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "ES")]
    if "serial" in extra:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, extra["serial"]))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


@pytest.fixture(scope="session")
def unit_pki() -> UnitPki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Unit Root CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(UNIT_NOW - timedelta(days=10))
        .not_valid_after(UNIT_NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("UNIT SIGNER", serial="IDCES-12345678Z"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(UNIT_NOW - timedelta(days=1))
        .not_valid_after(UNIT_NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return UnitPki(TrustStore([ca]), key, leaf)


@pytest.fixture(scope="session")
def unit_policy() -> SignaturePolicy:
    return SignaturePolicy()


@pytest.fixture(scope="session")
def signed_samples(unit_pki: UnitPki) -> dict[str, bytes]:
    """One valid signature per format, made at UNIT_NOW."""
    from io import BytesIO

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    clock = FixedClock(UNIT_NOW)
    writer = PdfFileWriter()
    page = PageObject(
        contents=writer.add_object(generic.StreamObject(stream_data=b"BT ET")),
        media_box=generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 100, 100)]),
    )
    writer.insert_page(page)
    pdf = BytesIO()
    writer.write(pdf)
    key, cert = unit_pki.key, unit_pki.certificate
    return {
        "xades": sign_xades_enveloped(b"<doc><v>1</v></doc>", key, cert, clock=clock),
        "cades": sign_cades(b"content", key, cert, detached=False, clock=clock),
        "pades": sign_pades(pdf.getvalue(), key, cert, clock=clock),
    }
