"""A strict DER reader for the fixed layout of an RFC 3161 time-stamp token (RFC 3161 §2.4.2,
RFC 5652 §5): the fields :func:`timestamps.validate_timestamp` uses, without asn1crypto.

Building asn1crypto objects and parsing them lazily cost several times the token's RSA
verification (most of an archive time-stamp's validation). A token's layout is fixed::

    ContentInfo { id-signedData, [0] SignedData {
        version, digestAlgorithms SET, EncapsulatedContentInfo { id-ct-TSTInfo, [0] OCTET STRING
        TSTInfo { version, policy, messageImprint { AlgorithmIdentifier, OCTET STRING },
                  serialNumber, genTime, accuracy?, ordering?, nonce?, [0] tsa?, [1] extensions? } },
        [0] certificates?, [1] crls?,
        signerInfos SET { SignerInfo { version, sid, digestAlgorithm, [0] signedAttrs,
                                       signatureAlgorithm, signature, [1] unsignedAttrs? } } } }

so a walker over definite-length DER reads it in a few microseconds. It is deliberately narrow:
anything else -- BER (indefinite or non-minimal lengths), trailing or padding octets, multi-octet
tags, an unknown digest algorithm, a second SignerInfo, no signed attributes, a repeated or
multi-valued attribute that is read, a time that is not the plain ``...Z`` form, a field of an
unexpected type -- makes :func:`read_token` return None, and the caller takes the asn1crypto path
(``cms.load_signed_data`` / ``cms.verify_signer``), which reports such input exactly as before.
Nothing is decided here: what the fields mean is checked by ``cms.verify_signer_parts``, which
mirrors ``cms.verify_signer``; tests compare the two paths' reports on real, re-shaped, mutated
and truncated tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos

from gateway.signatures.cms import SignerParts

_SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
_TST_INFO_OID = bytes.fromhex("2a864886f70d0109100104")  # 1.2.840.113549.1.9.16.1.4
_CONTENT_TYPE = bytes.fromhex("2a864886f70d010903")
_MESSAGE_DIGEST = bytes.fromhex("2a864886f70d010904")
_SIGNING_TIME = bytes.fromhex("2a864886f70d010905")
_SIGNING_CERTIFICATE = bytes.fromhex("2a864886f70d010910020c")  # id-aa-signingCertificate
_SIGNING_CERTIFICATE_V2 = bytes.fromhex("2a864886f70d010910022f")  # id-aa-signingCertificateV2
_READ_ATTRIBUTES = (
    _CONTENT_TYPE,
    _MESSAGE_DIGEST,
    _SIGNING_TIME,
    _SIGNING_CERTIFICATE,
    _SIGNING_CERTIFICATE_V2,
)
"""Attributes whose values the CMS checks read: each must occur at most once, single-valued."""


def _oid_contents(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    encoded = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        encoded.extend(reversed(chunk))
    return bytes(encoded)


_DIGEST_NAMES: dict[bytes, str] = {
    _oid_contents(dotted): name
    for dotted, name in algos.DigestAlgorithmId._map.items()
}
"""The digest algorithms asn1crypto names (``oid_name`` on the slow path), by OID contents."""


class _Decline(Exception):
    """Not the plain DER layout: the asn1crypto path reads it."""


@dataclass(frozen=True, slots=True)
class TokenParts:
    """What a time-stamp token says, read from its DER (``parts.signer``: its SignerInfo)."""

    token: bytes
    econtent: bytes
    """The DER TSTInfo (what the token's message-digest attribute covers)."""
    generation_time: datetime
    serial_number: int
    imprint_algorithm: str
    hashed_message: bytes
    signer: SignerParts


def read_token(token: bytes) -> TokenParts | None:
    """The token's fields, or None when it is not in the plain DER layout (module docstring)."""
    try:
        return _read(token)
    except _Decline:
        return None


def read_padded(contents: bytes) -> TokenParts | None:
    """:func:`read_token` of a token followed by zero octets only (a PDF signature's
    ``/Contents``, padded to its reserved size); ``parts.token`` is the token alone."""
    if len(contents) < 4 or contents[0] != 0x30 or not 0x81 <= contents[1] <= 0x83:
        return None  # a token is over 127 octets; longer lengths are not this layout
    count = contents[1] & 0x7F
    end = 2 + count + int.from_bytes(contents[2 : 2 + count], "big")
    if end > len(contents) or contents[end:].strip(b"\x00"):
        return None
    return read_token(contents[:end])


_Element = tuple[int, int, int, int]
"""(tag octet, element start, contents start, contents end)."""


def _children(data: bytes, start: int, end: int, shape: re.Pattern[bytes]) -> list[_Element]:
    """The DER elements in ``data[start:end]``, whose tags must match ``shape``."""
    found: list[_Element] = []
    position = start
    while position < end:
        if end - position < 2:
            raise _Decline
        first = data[position + 1]
        inner = position + 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 3 or inner + count > end or data[inner] == 0:
                raise _Decline  # indefinite (BER), absurd or non-minimal length
            length = int.from_bytes(data[inner : inner + count], "big")
            if length < 0x80:
                raise _Decline  # non-minimal length (BER)
            inner += count
        stop = inner + length
        if stop > end:
            raise _Decline
        found.append((data[position], position, inner, stop))
        position = stop
    # multi-octet tags (low bits 0x1F) appear in no pattern, so they do not match either
    if shape.fullmatch(bytes([element[0] for element in found])) is None:
        raise _Decline
    return found


def _tags(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern, re.DOTALL)


_ONE_SEQUENCE = _tags(b"\x30")
_CONTENT_INFO = _tags(b"\x06\xa0")
_SIGNED_DATA = _tags(b"\x02\x31\x30(?:\xa0)(?:\xa1)?\x31")
_ENCAPSULATED = _tags(b"\x06\xa0")
_ONE_OCTET_STRING = _tags(b"\x04")
_TST_INFO = _tags(b"\x02\x06\x30\x02\x18\x30?\x01?\x02?\xa0?\xa1?")
_IMPRINT = _tags(b"\x30\x04")
_ALGORITHM = _tags(b"\x06\x05?")
_SIGNER_INFO = _tags(b"\x02[\x30\x80]\x30\xa0\x30\x04\xa1?")
_ATTRIBUTES = _tags(b"\x30*")
_ATTRIBUTE = _tags(b"\x06\x31")
_ONE_ELEMENT = _tags(b".")
_OID_PADDING = re.compile(b"(?:^|[\x00-\x7f])\x80")
"""A sub-identifier that starts with 0x80: not the minimal encoding."""


def _oid(data: bytes, element: _Element) -> bytes:
    """An OBJECT IDENTIFIER's contents, minimally encoded."""
    contents = data[element[2] : element[3]]
    if not contents or contents[-1] & 0x80 or _OID_PADDING.search(contents):
        raise _Decline
    return contents


def _octets(data: bytes, element: _Element) -> bytes:
    return data[element[2] : element[3]]


def _integer(data: bytes, element: _Element) -> int:
    """A minimally encoded INTEGER."""
    _, _, start, stop = element
    if stop == start:
        raise _Decline
    if stop - start > 1 and (
        (data[start] == 0 and data[start + 1] < 0x80)
        or (data[start] == 0xFF and data[start + 1] >= 0x80)
    ):
        raise _Decline
    return int.from_bytes(data[start:stop], "big", signed=True)


def _digest_name(data: bytes, element: _Element) -> str:
    """The named digest of an AlgorithmIdentifier (parameters absent or NULL)."""
    fields = _children(data, element[2], element[3], _ALGORITHM)
    name = _DIGEST_NAMES.get(_oid(data, fields[0]))
    if name is None or (len(fields) == 2 and fields[1][2] != fields[1][3]):
        raise _Decline
    return name


def _generalized_time(text: bytes) -> datetime:
    """``YYYYMMDDHHMMSS[.f]Z`` (the DER form, RFC 5280 §4.1.2.5.2) as an aware datetime."""
    if len(text) < 15 or text[-1:] != b"Z" or not text[:14].isdigit():
        raise _Decline
    microsecond = 0
    fraction = text[14:-1]
    if fraction:
        digits = fraction[1:]
        if fraction[:1] != b"." or not 1 <= len(digits) <= 6 or not digits.isdigit():
            raise _Decline
        if digits.endswith(b"0"):
            raise _Decline  # DER: no trailing zeros
        microsecond = int(digits.ljust(6, b"0"))
    return _datetime(int(text[:4]), text[4:14], microsecond)


def _utc_time(text: bytes) -> datetime:
    """``YYMMDDHHMMSSZ`` (RFC 5280 §4.1.2.5.1: 50-99 are 19xx)."""
    if len(text) != 13 or text[-1:] != b"Z" or not text[:12].isdigit():
        raise _Decline
    year = int(text[:2])
    return _datetime(year + (1900 if year >= 50 else 2000), text[2:12], 0)


def _datetime(year: int, rest: bytes, microsecond: int) -> datetime:
    if year < 1:
        raise _Decline  # asn1crypto's extended_datetime for year 0
    try:
        return datetime(
            year,
            int(rest[0:2]),
            int(rest[2:4]),
            int(rest[4:6]),
            int(rest[6:8]),
            int(rest[8:10]),
            microsecond,
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise _Decline from exc


def _read(token: bytes) -> TokenParts:
    [content_info] = _children(token, 0, len(token), _ONE_SEQUENCE)
    content_type, wrapper = _children(token, content_info[2], content_info[3], _CONTENT_INFO)
    if _oid(token, content_type) != _SIGNED_DATA_OID:
        raise _Decline
    [signed_data] = _children(token, wrapper[2], wrapper[3], _ONE_SEQUENCE)
    fields = _children(token, signed_data[2], signed_data[3], _SIGNED_DATA)
    _integer(token, fields[0])
    econtent, tst_info = _encapsulated(token, fields[2])
    certificates = token[fields[3][1] : fields[3][3]]  # the signer is looked up among them
    [signer_info] = _children(token, fields[-1][2], fields[-1][3], _ONE_SEQUENCE)
    signer = _signer(token, signer_info, certificates)
    return TokenParts(token, econtent, *tst_info, signer=signer)


def _encapsulated(data: bytes, element: _Element) -> tuple[bytes, tuple[datetime, int, str, bytes]]:
    content_type, explicit = _children(data, element[2], element[3], _ENCAPSULATED)
    if _oid(data, content_type) != _TST_INFO_OID:
        raise _Decline
    [content] = _children(data, explicit[2], explicit[3], _ONE_OCTET_STRING)
    econtent = _octets(data, content)
    return econtent, _tst_info(econtent)


def _tst_info(econtent: bytes) -> tuple[datetime, int, str, bytes]:
    """(genTime, serialNumber, imprint digest name, hashedMessage) of a DER TSTInfo; accuracy,
    ordering, nonce, tsa and extensions may follow, in this order, and are not read."""
    [tst_info] = _children(econtent, 0, len(econtent), _ONE_SEQUENCE)
    fields = _children(econtent, tst_info[2], tst_info[3], _TST_INFO)
    _integer(econtent, fields[0])
    _oid(econtent, fields[1])
    algorithm, hashed = _children(econtent, fields[2][2], fields[2][3], _IMPRINT)
    imprint_algorithm = _digest_name(econtent, algorithm)
    serial_number = _integer(econtent, fields[3])
    generation_time = _generalized_time(_octets(econtent, fields[4]))
    return generation_time, serial_number, imprint_algorithm, _octets(econtent, hashed)


def _signer(data: bytes, element: _Element, certificates: bytes) -> SignerParts:
    fields = _children(data, element[2], element[3], _SIGNER_INFO)
    _integer(data, fields[0])
    sid = data[fields[1][1] : fields[1][3]]  # IssuerAndSerialNumber or [0] SubjectKeyIdentifier
    digest_algorithm = _digest_name(data, fields[2])
    values = _attributes(data, fields[3])
    content_type = values.get(_CONTENT_TYPE)
    message_digest = values.get(_MESSAGE_DIGEST)
    if content_type is None or message_digest is None or message_digest[0] != 0x04:
        raise _Decline
    if content_type[0] != 0x06 or _oid(data, content_type) != _TST_INFO_OID:
        raise _Decline
    signing_time: datetime | None = None
    time_value = values.get(_SIGNING_TIME)
    if time_value is not None:
        if time_value[0] == 0x17:
            signing_time = _utc_time(_octets(data, time_value))
        elif time_value[0] == 0x18:
            signing_time = _generalized_time(_octets(data, time_value))
        else:
            raise _Decline
    references = []
    for oid, v1 in ((_SIGNING_CERTIFICATE_V2, False), (_SIGNING_CERTIFICATE, True)):
        value = values.get(oid)
        if value is not None:
            if value[0] != 0x30:
                raise _Decline
            references.append((v1, data[value[1] : value[3]]))
    return SignerParts(
        certificates=certificates,
        sid=sid,
        digest_algorithm=digest_algorithm,
        signed_attributes=data[fields[3][1] : fields[3][3]],
        message_digest=_octets(data, message_digest),
        signing_time=signing_time,
        signing_certificate_references=tuple(references),
        signature_algorithm=data[fields[4][1] : fields[4][3]],
        signature=_octets(data, fields[5]),
    )


def _attributes(data: bytes, element: _Element) -> dict[bytes, _Element]:
    """The single value of each attribute that is read, by type; every attribute must be a
    well-formed ``SEQUENCE { OID, SET }``."""
    values: dict[bytes, _Element] = {}
    for attribute in _children(data, element[2], element[3], _ATTRIBUTES):
        oid, members = _children(data, attribute[2], attribute[3], _ATTRIBUTE)
        contents = _oid(data, oid)
        if contents in _READ_ATTRIBUTES:
            if contents in values:
                raise _Decline
            [values[contents]] = _children(data, members[2], members[3], _ONE_ELEMENT)
    return values
