"""Extending a CAdES signature to LT and LTA in the tests, independently of the engine's code.

Revocation data comes from peers: CRLs from ``openssl ca -gencrl`` (over an index file this
module writes, so revocation dates are chosen) and OCSP responses from ``openssl ocsp`` acting as
responder (``-index``/``-reqin``). They are placed either in the SignedData (``certificates``,
``crls`` with OCSP as ``other`` id-ri-ocsp-response, RFC 5940) or in the certificate-values and
revocation-values unsigned attributes (ETSI EN 319 122-1 §5.5.1-2), with asn1crypto.

The archive-time-stamp-v3 imprint is computed here from a fresh parse of the signature, by this
module's own reading of EN 319 122-1 §5.5.2-3: eContentType, the content's hash, the SignerInfo
fields before unsignedAttrs, and the ATSHashIndexV3 (hashes of every certificate, every
RevocationInfoChoice and every unsigned attribute value -- type DER then value DER; the older
ats-hash-index: of every whole Attribute). The token, from ``openssl ts`` or the suite's TSA,
then gets the index as an unsigned attribute of its own SignerInfo.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from asn1crypto import cms, core, parser
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.pki import Credential

SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14"
CERTIFICATE_VALUES = "1.2.840.113549.1.9.16.2.23"
REVOCATION_VALUES = "1.2.840.113549.1.9.16.2.24"
ARCHIVE_TIME_STAMP_V3 = "0.4.0.1733.2.4"
ATS_HASH_INDEX_V3 = "0.4.0.19122.1.5"
ATS_HASH_INDEX = "0.4.0.1733.2.5"
ARCHIVE_TIME_STAMP_V2 = "1.2.840.113549.1.9.16.2.48"
ARCHIVE_TIME_STAMP_V1 = "1.2.840.113549.1.9.16.2.27"
SHA256_ALGORITHM = bytes.fromhex("300d06096086480165030402010500")

Stamp = Callable[[bytes, str], bytes]
"""A TSA: (digest, hash name) -> DER TimeStampToken."""


def tlv(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + contents


def _oid(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


def attribute(dotted: str, *values: bytes) -> bytes:
    """A DER Attribute (type, SET OF values in DER order)."""
    return tlv(0x30, _oid(dotted) + tlv(0x31, b"".join(sorted(values))))


# --- peers: openssl ca -gencrl, openssl ocsp -----------------------------------------------------


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%SZ")


def _index(entries: Sequence[tuple[x509.Certificate, datetime | None]]) -> str:
    lines = []
    for certificate, revoked_at in entries:
        expiry = certificate.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        serial = format(certificate.serial_number, "X")
        serial = serial if len(serial) % 2 == 0 else "0" + serial
        status, revoked = ("V", "") if revoked_at is None else (
            "R", revoked_at.strftime("%y%m%d%H%M%SZ") + ",keyCompromise")  # fmt: skip
        subject = "/" + "/".join(attribute.rfc4514_string() for attribute in certificate.subject)
        lines.append(f"{status}\t{expiry}\t{revoked}\t{serial}\tunknown\t{subject}")
    return "".join(f"{line}\n" for line in lines)


_CA_CONFIG = """
[ ca ]
default_ca = ca_section
[ ca_section ]
database = {dir}/index.txt
crlnumber = {dir}/crlnumber
certificate = {cert}
private_key = {key}
default_md = sha256
default_crl_days = 7
"""


def openssl_crl(
    ca: Credential,
    revoked: Sequence[tuple[x509.Certificate, datetime]] = (),
    *,
    this_update: datetime,
    next_update: datetime | None = None,
) -> bytes:
    """A DER CRL by ``openssl ca -gencrl`` listing ``revoked`` (certificate, revocation date)."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "index.txt").write_text(_index(revoked))
        (folder / "crlnumber").write_text("01\n")
        (folder / "ca.cnf").write_text(
            _CA_CONFIG.format(dir=folder, cert=ca.cert_path, key=ca.key_path)
        )
        subprocess.run(
            ["openssl", "ca", "-gencrl", "-config", str(folder / "ca.cnf"),
             "-crl_lastupdate", _stamp(this_update),
             "-crl_nextupdate", _stamp(next_update or this_update + timedelta(days=7)),
             "-out", str(folder / "crl.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        crl = x509.load_pem_x509_crl((folder / "crl.pem").read_bytes())
        return crl.public_bytes(Encoding.DER)


def openssl_ocsp(
    ca: Credential, certificate: x509.Certificate, *, revoked_at: datetime | None = None
) -> bytes:
    """A DER OCSPResponse by ``openssl ocsp`` as responder, signed by ``ca`` itself
    (thisUpdate: the system clock; nextUpdate a week later)."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "index.txt").write_text(_index([(certificate, revoked_at)]))
        (folder / "leaf.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
        subprocess.run(
            ["openssl", "ocsp", "-issuer", str(ca.cert_path), "-cert", str(folder / "leaf.pem"),
             "-no_nonce", "-reqout", str(folder / "request.der")],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["openssl", "ocsp", "-index", str(folder / "index.txt"), "-rsigner", str(ca.cert_path),
             "-rkey", str(ca.key_path), "-CA", str(ca.cert_path), "-reqin",
             str(folder / "request.der"), "-ndays", "7", "-respout", str(folder / "response.der")],
            check=True, capture_output=True,
        )  # fmt: skip
        return (folder / "response.der").read_bytes()


def basic_response(response: bytes) -> bytes:
    """The BasicOCSPResponse inside a DER OCSPResponse (what revocation-values holds)."""
    parsed = asn1_ocsp.OCSPResponse.load(response)
    basic: bytes = parsed["response_bytes"]["response"].parsed.dump()
    return basic


# --- placing validation data ---------------------------------------------------------------------


def _signer_info(content_info: cms.ContentInfo) -> cms.SignerInfo:
    return content_info["content"]["signer_infos"][0]


def raw_children(encoded: bytes) -> list[bytes]:
    """The elements inside a constructed BER/DER value, each exactly as encoded (asn1crypto
    re-encodes an indefinite length when it dumps)."""
    contents = parser.parse(encoded)[4]
    children = []
    while contents:
        _, _, _, header, inner, trailer = parser.parse(contents, strict=False)
        size = len(header) + len(inner) + len(trailer)
        children.append(contents[:size])
        contents = contents[size:]
    return children


def raw_signed_data_fields(document: bytes) -> list[bytes]:
    """version, digestAlgorithms, encapContentInfo, [0], [1], signerInfos -- as encoded."""
    explicit = raw_children(document)[1]
    return raw_children(raw_children(explicit)[0])


def _with_unsigned(document: bytes, attributes: Sequence[bytes]) -> bytes:
    """``document`` with the first signer's unsigned attributes replaced by ``attributes``,
    encoded in this order (as signers append them; asn1crypto would sort a built SET OF). A
    BER document (indefinite lengths above the SignerInfos, as ``openssl cms -stream`` writes)
    keeps its encoding: only its SignerInfos are replaced."""
    content_info = cms.ContentInfo.load(document)
    signer_info = _signer_info(content_info)
    signer_info["unsigned_attrs"] = cms.CMSAttributes.load(tlv(0x31, b"".join(attributes)))
    if document[1] != 0x80:
        rebuilt: bytes = content_info.dump()
        return rebuilt
    old = raw_signed_data_fields(document)[-1]
    others = raw_children(old)[1:]
    return replace_once(document, old, tlv(0x31, b"".join([signer_info.dump(), *others])))


def _unsigned_of(document: bytes) -> list[bytes]:
    existing = _signer_info(cms.ContentInfo.load(document))["unsigned_attrs"]
    return [] if isinstance(existing, core.Void) else [item.dump() for item in existing]


def add_unsigned(document: bytes, *attributes: bytes) -> bytes:
    """``document`` with DER ``attributes`` appended to the first signer's unsigned ones."""
    return _with_unsigned(document, [*_unsigned_of(document), *attributes])


def add_signature_timestamp(document: bytes, stamp: Stamp) -> bytes:
    """CAdES-T: a signature-time-stamp over the first signer's signature value."""
    value = _signer_info(cms.ContentInfo.load(document))["signature"].native
    token = stamp(hashlib.sha256(value).digest(), "sha256")
    return add_unsigned(document, attribute(SIGNATURE_TIME_STAMP, token))


def in_signed_data(
    document: bytes,
    *,
    certificates: Sequence[x509.Certificate] = (),
    crls: Sequence[bytes] = (),
    responses: Sequence[bytes] = (),
) -> bytes:
    """CAdES-LT the SignedData way: certificates added to ``certificates``; CRLs and OCSP
    responses (``other``, id-ri-ocsp-response) to ``crls``."""
    content_info = cms.ContentInfo.load(document)
    signed_data = content_info["content"]
    present = signed_data["certificates"]
    held = [] if isinstance(present, core.Void) else [c.dump() for c in present]
    added = [c.public_bytes(Encoding.DER) for c in certificates]
    signed_data["certificates"] = cms.CertificateSet.load(
        tlv(0x31, b"".join(held + [c for c in added if c not in held]))
    )
    entries = list(crls) + [
        tlv(0xA1, _oid("1.3.6.1.5.5.7.16.2") + response) for response in responses
    ]
    signed_data["crls"] = cms.RevocationInfoChoices.load(tlv(0x31, b"".join(entries)))
    rebuilt: bytes = content_info.dump(force=False)
    return rebuilt


def as_attributes(
    document: bytes,
    *,
    certificates: Sequence[x509.Certificate] = (),
    crls: Sequence[bytes] = (),
    responses: Sequence[bytes] = (),
) -> bytes:
    """CAdES-LT the attribute way: certificate-values and revocation-values (crlVals [0],
    ocspVals [1] holding BasicOCSPResponses, EXPLICIT tags)."""
    values = tlv(0x30, b"".join(c.public_bytes(Encoding.DER) for c in certificates))
    revocation = b""
    if crls:
        revocation += tlv(0xA0, tlv(0x30, b"".join(crls)))
    if responses:
        revocation += tlv(0xA1, tlv(0x30, b"".join(basic_response(r) for r in responses)))
    return add_unsigned(
        document,
        attribute(CERTIFICATE_VALUES, values),
        attribute(REVOCATION_VALUES, tlv(0x30, revocation)),
    )


# --- archive-time-stamp-v3 -----------------------------------------------------------------------


def _elements(set_of: core.Asn1Value) -> list[bytes]:
    if isinstance(set_of, core.Void):
        return []
    return [element.dump() for element in set_of]


def hash_index(document: bytes, *, version: str = ATS_HASH_INDEX_V3) -> bytes:
    """The ATSHashIndexV3 (or older ATSHashIndex) of the signature as it stands (SHA-256)."""
    content_info = cms.ContentInfo.load(document)
    signed_data = content_info["content"]
    signer_info = _signer_info(content_info)

    def hashes(items: list[bytes]) -> bytes:
        return tlv(0x30, b"".join(tlv(0x04, hashlib.sha256(item).digest()) for item in items))

    unsigned: list[bytes] = []
    for item in _elements(signer_info["unsigned_attrs"]):
        if version == ATS_HASH_INDEX:
            unsigned.append(item)
            continue
        parsed = cms.CMSAttribute.load(item)
        unsigned.extend(parsed["type"].dump() + value.dump() for value in parsed["values"])
    return tlv(
        0x30,
        SHA256_ALGORITHM
        + hashes(_elements(signed_data["certificates"]))
        + hashes(_elements(signed_data["crls"]))
        + hashes(unsigned),
    )


def archive_imprint_input(document: bytes, index: bytes, content: bytes | None = None) -> bytes:
    """EN 319 122-1 §5.5.3: what the archive time-stamp's imprint is over (SHA-256)."""
    content_info = cms.ContentInfo.load(document)
    signed_data = content_info["content"]
    signer_info = _signer_info(content_info)
    encapsulated = signed_data["encap_content_info"]
    if content is None:
        content = encapsulated["content"].native
    names = (
        "version",
        "sid",
        "digest_algorithm",
        "signed_attrs",
        "signature_algorithm",
        "signature",
    )
    fields = b"".join(
        signer_info[name].dump() for name in names if not isinstance(signer_info[name], core.Void)
    )
    return encapsulated["content_type"].dump() + hashlib.sha256(content).digest() + fields + index


def add_archive_timestamp(
    document: bytes,
    stamp: Stamp,
    *,
    content: bytes | None = None,
    version: str = ATS_HASH_INDEX_V3,
) -> bytes:
    """CAdES-LTA: an archive-time-stamp-v3 by ``stamp`` over the signature as it stands
    (``content``: the detached content, for a detached signature)."""
    index = hash_index(document, version=version)
    octets = archive_imprint_input(document, index, content)
    token = stamp(hashlib.sha256(octets).digest(), "sha256")
    # The index goes in the token's unsigned attributes, outside what the TSA signed.
    token = add_unsigned(token, attribute(version, index))
    return add_unsigned(document, attribute(ARCHIVE_TIME_STAMP_V3, token))


# --- archive-time-stamp-v2 (RFC 5126 §6.4.1, TS 101 733 §6.4.1 and Annex K) ----------------------


def archive_v2_imprint_input(
    document: bytes, content: bytes | None = None, *, annex_k_183: bool = False
) -> bytes:
    """What an archive-time-stamp-v2 added now covers: the encapContentInfo element, the
    external content when there is no eContent, the certificates [0] and crls [1] fields, the
    SignerInfo fields before unsignedAttrs and the unsigned attributes so far, in order --
    wrapped as [1] (TS 101 733 v2.2.1) or, with ``annex_k_183``, without tag and length (the
    v1.8.3 Annex K reading)."""
    content_info = cms.ContentInfo.load(document)
    signed_data = content_info["content"]
    signer_info = _signer_info(content_info)
    fields = raw_signed_data_fields(document)
    octets = fields[2]  # encapContentInfo, as encoded (BER stays BER)
    if isinstance(signed_data["encap_content_info"]["content"], core.Void):
        assert content is not None, "a detached signature needs its content"
        octets += content
    octets += b"".join(field for field in fields[3:-1] if field[0] in (0xA0, 0xA1))
    names = (
        "version",
        "sid",
        "digest_algorithm",
        "signed_attrs",
        "signature_algorithm",
        "signature",
    )
    octets += b"".join(
        signer_info[name].dump() for name in names if not isinstance(signer_info[name], core.Void)
    )
    unsigned = b"".join(_elements(signer_info["unsigned_attrs"]))
    return octets + (unsigned if annex_k_183 else tlv(0xA1, unsigned))


def add_archive_timestamp_v2(
    document: bytes,
    stamp: Stamp,
    *,
    content: bytes | None = None,
    annex_k_183: bool = False,
    hash_name: str = "sha256",
) -> bytes:
    """CAdES-A: an archive-time-stamp-v2 by ``stamp`` over the signature as it stands."""
    octets = archive_v2_imprint_input(document, content, annex_k_183=annex_k_183)
    token = stamp(hashlib.new(hash_name, octets).digest(), hash_name)
    return add_unsigned(document, attribute(ARCHIVE_TIME_STAMP_V2, token))


def swap_unsigned(document: bytes, first: int, second: int) -> bytes:
    """``document`` with two unsigned attributes of the first signer swapped."""
    items = _unsigned_of(document)
    items[first], items[second] = items[second], items[first]
    return _with_unsigned(document, items)


def archive_token(document: bytes, position: int = -1, kind: str = ARCHIVE_TIME_STAMP_V3) -> bytes:
    tokens = [
        value.dump()
        for item in _signer_info(cms.ContentInfo.load(document))["unsigned_attrs"]
        if item["type"].dotted == kind
        for value in item["values"]
    ]
    return tokens[position]


def replace_once(document: bytes, old: bytes, new: bytes) -> bytes:
    assert document.count(old) == 1, "the part to replace must occur once"
    return document.replace(old, new)


def flip_inside(document: bytes, part: bytes, offset: int | None = None) -> bytes:
    """``document`` with one byte of ``part`` (found once) changed."""
    at = document.index(part) + (len(part) // 2 if offset is None else offset)
    assert document.count(part) == 1
    return document[:at] + bytes([document[at] ^ 0x01]) + document[at + 1 :]


def replace_archive_token(document: bytes, token: bytes) -> bytes:
    """The first signer's (last) archive-time-stamp-v3 attribute with ``token`` as its value."""
    content_info = cms.ContentInfo.load(document)
    signer_info = _signer_info(content_info)
    attributes = []
    for item in signer_info["unsigned_attrs"]:
        if item["type"].dotted == ARCHIVE_TIME_STAMP_V3:
            item = cms.CMSAttribute.load(attribute(ARCHIVE_TIME_STAMP_V3, token))
        attributes.append(item)
    signer_info["unsigned_attrs"] = cms.CMSAttributes(attributes)
    rebuilt: bytes = content_info.dump()
    return rebuilt


def token_with_index(token: bytes, index: bytes, version: str = ATS_HASH_INDEX_V3) -> bytes:
    """``token`` with its hash index attribute replaced by ``index``."""
    content_info = cms.ContentInfo.load(token)
    signer_info = _signer_info(content_info)
    kept = [
        item.dump()
        for item in signer_info["unsigned_attrs"]
        if item["type"].dotted not in (ATS_HASH_INDEX_V3, ATS_HASH_INDEX)
    ]
    signer_info["unsigned_attrs"] = cms.CMSAttributes(
        [cms.CMSAttribute.load(item) for item in [*kept, attribute(version, index)]]
    )
    rebuilt: bytes = content_info.dump()
    return rebuilt


def drop_certificate(document: bytes, certificate: x509.Certificate) -> bytes:
    """``document`` without ``certificate`` in its SignedData certificates."""
    content_info = cms.ContentInfo.load(document)
    signed_data = content_info["content"]
    unwanted = certificate.public_bytes(Encoding.DER)
    kept = [choice.dump() for choice in signed_data["certificates"] if choice.dump() != unwanted]
    assert len(kept) == len(signed_data["certificates"]) - 1
    signed_data["certificates"] = cms.CertificateSet.load(tlv(0x31, b"".join(kept)))
    rebuilt: bytes = content_info.dump()
    return rebuilt


BC_LT_PEER = Path(__file__).parent / "peers" / "BcCmsLt.java"


def bouncy_castle_lt(
    content: bytes,
    key_path: Path,
    cert_path: Path,
    *,
    certificates: Sequence[x509.Certificate] = (),
    crls: Sequence[bytes] = (),
    responses: Sequence[bytes] = (),
) -> bytes:
    """An attached CAdES-B by Bouncy Castle whose SignedData carries ``certificates``, ``crls``
    and ``responses`` (RFC 5940 id-ri-ocsp-response), placed by Bouncy Castle itself."""
    from sig_cms_vectors import BC_JARS

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "content.bin").write_bytes(content)
        extras = []
        for position, certificate in enumerate(certificates):
            extras.append(folder / f"extra-{position}.pem")
            extras[-1].write_bytes(certificate.public_bytes(Encoding.PEM))
        for position, crl in enumerate(crls):
            extras.append(folder / f"extra-{position}.crl")
            extras[-1].write_bytes(crl)
        for position, response in enumerate(responses):
            extras.append(folder / f"extra-{position}.ocsp")
            extras[-1].write_bytes(response)
        subprocess.run(
            ["java", "-cp", ":".join(str(jar) for jar in BC_JARS), str(BC_LT_PEER),
             str(key_path), str(cert_path), str(folder / "content.bin"), str(folder / "out.p7s"),
             *map(str, extras)],
            check=True, capture_output=True,
        )  # fmt: skip
        return (folder / "out.p7s").read_bytes()


BC_CADES_A_PEER = Path(__file__).parent / "peers" / "BcCadesA.java"


def bouncy_castle_cades_a(document: bytes, unit: Credential) -> bytes:
    """``document`` with an archive-time-stamp-v2 whose imprint and token Bouncy Castle makes
    (``peers/BcCadesA.java``; unsigned attributes DER-sorted, as Bouncy Castle writes them)."""
    from sig_cms_vectors import BC_JARS

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "in.p7s").write_bytes(document)
        subprocess.run(
            ["java", "-cp", ":".join(str(jar) for jar in BC_JARS), str(BC_CADES_A_PEER),
             str(folder / "in.p7s"), str(unit.key_path), str(unit.cert_path),
             str(folder / "out.p7s")],
            check=True, capture_output=True,
        )  # fmt: skip
        return (folder / "out.p7s").read_bytes()
