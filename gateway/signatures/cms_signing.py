"""Building CMS SignedData with asn1crypto and ``cryptography`` keys (RFC 5652, ETSI EN 319 122-1).

Used by the CAdES signer and by the local time-stamping authority (RFC 3161 tokens are SignedData
over a TSTInfo). Signed attributes: content-type, message-digest, ESS signing-certificate-v2
(SHA-256 of the signer's certificate with its issuer and serial, RFC 5035) and, when given,
signing-time; with a time-stamping authority, a signature-time-stamp unsigned attribute over the
signature value (EN 319 122-1 §5.3, CAdES-T / B-T).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gateway.signatures import crypto

if TYPE_CHECKING:
    from gateway.signatures.tsa import TimeStampAuthority

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

HASH_NAME = "sha256"


def asn1_certificate(certificate: x509.Certificate) -> Any:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def sign_octets(key: PrivateKey, data: bytes) -> tuple[bytes, str]:
    """Sign with SHA-256; returns the value and asn1crypto's signature algorithm name."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    raise TypeError("only RSA and ECDSA keys can sign")


def signing_certificate_v2(certificate: Any) -> Any:
    """The ESS signing-certificate-v2 value naming ``certificate`` (asn1crypto)."""
    return tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "cert_hash": crypto.digest(HASH_NAME, certificate.dump()),
                    "issuer_serial": {
                        "issuer": [
                            asn1_x509.GeneralName(name="directory_name", value=certificate.issuer)
                        ],
                        "serial_number": certificate.serial_number,
                    },
                }
            ]
        }
    )


def build_signed_data(
    *,
    content_type: str,
    content: bytes,
    attach: bool,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    signing_time: datetime | None = None,
    tsa: TimeStampAuthority | None = None,
) -> bytes:
    """A DER ContentInfo with one SignerInfo over ``content`` (``content_type`` is an asn1crypto
    ContentType name: ``data``, ``tst_info``)."""
    signer = asn1_certificate(certificate)
    attributes = [
        {"type": "content_type", "values": [content_type]},
        {"type": "message_digest", "values": [crypto.digest(HASH_NAME, content)]},
        {"type": "signing_certificate_v2", "values": [signing_certificate_v2(signer)]},
    ]
    if signing_time is not None:
        # RFC 5652 §11.3: UTCTime up to 2049, which cms.Time chooses; whole seconds.
        attributes.insert(
            1,
            {
                "type": "signing_time",
                "values": [cms.Time({"utc_time": signing_time.replace(microsecond=0)})],
            },
        )
    signed_attrs = cms.CMSAttributes(attributes)
    signature, algorithm = sign_octets(key, signed_attrs.dump())
    signer_info: dict[str, Any] = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            {
                "issuer_and_serial_number": {
                    "issuer": signer.issuer,
                    "serial_number": signer.serial_number,
                }
            }
        ),
        "digest_algorithm": {"algorithm": HASH_NAME},
        "signed_attrs": signed_attrs,
        "signature_algorithm": {"algorithm": algorithm},
        "signature": signature,
    }
    if tsa is not None:
        token = tsa.timestamp(crypto.digest(HASH_NAME, signature), HASH_NAME)
        signer_info["unsigned_attrs"] = [
            {"type": "signature_time_stamp_token", "values": [cms.ContentInfo.load(token)]}
        ]
    encapsulated: dict[str, Any] = {"content_type": content_type}
    if attach:
        # Non-data content types have a parsed spec in asn1crypto; wrap to keep the exact octets.
        encapsulated["content"] = (
            content if content_type == "data" else core.ParsableOctetString(content)
        )
    signed_data = cms.SignedData(
        {
            "version": "v1" if content_type == "data" else "v3",
            "digest_algorithms": [{"algorithm": HASH_NAME}],
            "encap_content_info": encapsulated,
            "certificates": [signer] + [asn1_certificate(extra) for extra in chain],
            "signer_infos": [signer_info],
        }
    )
    dumped: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    return dumped
