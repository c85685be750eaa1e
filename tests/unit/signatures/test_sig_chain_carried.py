"""``chain.with_carried``: which certificates a signature may add to the path (never anchors)."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sig_unit_time import UNIT_NOW, UnitPki

from gateway.signatures.chain import with_carried


def _certificate(name: str, *, issuer: x509.Name | None, key, signer, ca: bool):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(UNIT_NOW - timedelta(days=1))
        .not_valid_after(UNIT_NOW + timedelta(days=30))
    )
    builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    return builder.sign(signer, hashes.SHA256())


def test_only_missing_non_self_issued_cas_are_added(unit_pki: UnitPki) -> None:
    trust = unit_pki.trust
    key = ec.generate_private_key(ec.SECP256R1())
    rogue_root = _certificate("Rogue Root", issuer=None, key=key, signer=key, ca=True)
    intermediate = _certificate(
        "Carried CA", issuer=rogue_root.subject, key=key, signer=key, ca=True
    )
    leaf = _certificate("Leaf", issuer=intermediate.subject, key=key, signer=key, ca=False)
    anchor = trust.anchors[0]

    assert with_carried(trust, ()) is trust
    assert with_carried(trust, (unit_pki.certificate, rogue_root, anchor, leaf)) is trust
    augmented = with_carried(trust, (leaf, intermediate, intermediate, rogue_root))
    assert augmented is not trust
    assert augmented.anchors == trust.anchors
    assert [c for c in augmented.certificates if c not in trust.certificates] == [intermediate]
    assert intermediate not in trust.certificates
