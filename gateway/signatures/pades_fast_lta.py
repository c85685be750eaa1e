"""The fast path of PAdES B-LT/B-LTA validation: one signature, then revisions that only add a
Document Security Store and invisible document time-stamps.

The file ``pades_fast`` reads has one signature over the whole file; a B-LTA file is that
signature's revision followed by incremental updates as pyHanko writes them (a DSS revision, a
document time-stamp revision, possibly repeated). pyHanko's reader (every object of every
revision parsed in pure Python) and its difference analysis cost several times the validation
itself (issue 13, bench row "PAdES-LTA"). :func:`read_lta` reads them with ``pades_fast``'s
reader, in the same narrow profile (its docstring), and further:

* exactly one filled ``/Sig`` field (a ``/Sig`` dictionary, a modern sub-filter) and any number
  of ``/DocTimeStamp`` fields (``/ETSI.RFC3161``), every signature dictionary defined in one revision
  only, the signature's revision before every document time-stamp's, each byte range ``[0 a b
  c]`` around exactly its ``/Contents`` and ending exactly after the ``startxref``/``%%EOF`` of
  the revision that defined it (pyHanko's coverage ENTIRE_REVISION, or ENTIRE_FILE for the last);
* every revision after the signature's passes the rules of ``pdf_ltv_updates`` (which the full
  path runs on pyHanko's objects), checked here on the fast reader's values, more strictly: a
  changed object is the catalog (``/DSS`` only), the document information dictionary (standard
  entries, strings), the old DSS object (DSS keys only), the ``/AcroForm`` (``/Fields``
  appended) or a page (``/Annots`` appended) -- the appended entries the same new invisible
  ``/DocTimeStamp`` widgets; the DSS left as pyHanko's DSS rule wants it;
* the DSS items are streams (no filter or Flate without parameters) whose bytes cryptography
  reads without complaint (``pades_ltv.collect`` with no warning; else the full path decides).

The objects ``read_simple`` already resolved before declining (the catalog, the form, its
fields: ``validate_pades`` tries it first) are taken over rather than read again.

Declining is always safe; accepting wrongly is what the profile rules out. A test compares the
report with the full path's on every LTA vector, on hostile twins and on mutated files.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis.constants import VRI_KEY_PATTERN
from pyhanko.sign.general import byte_range_digest, extract_signer_info

from gateway.signatures import crypto
from gateway.signatures.pades_fast import (
    _ENDOBJ,
    _ENDSTREAM,
    _OBJECT,
    _STREAM,
    Hex,
    Ref,
    SimpleSignature,
    _Decline,
    _decline_unless,
    _is_name,
    _Reader,
    read_structure,
)
from gateway.signatures.pdf_ltv_updates import (
    _DSS_KEYS,
    _FIELD_KEYS,
    _INFO_KEYS,
    _VRI_ENTRY_KEYS,
    MAX_REVISIONS,
)
from gateway.signatures.tst_der import read_padded

_MAX_FIELDS = 64
_MAX_DSS_ITEMS = 128
_MAX_STREAM_BYTES = 1024 * 1024
_REVISION_TAIL = re.compile(
    rb"startxref(?:\r\n|\r|\n)(\d{1,10})(?:\r\n|\r|\n)%%EOF(?:\r\n|\r|\n)\Z"
)
_KINDS = (("/Certs", "/Cert"), ("/OCSPs", "/OCSP"), ("/CRLs", "/CRL"))


@dataclass(frozen=True, slots=True)
class Stamp:
    """A document time-stamp as the full path's ``pades_ltv`` sees it."""

    revision: int
    field_name: str
    pkcs7_content: bytes
    byte_range: tuple[int, int, int, int]
    holds_dss: bool
    """Whether the document as it signed it has a DSS."""
    _document: bytes = dataclasses.field(repr=False)
    message: Any = dataclasses.field(repr=False, compare=False)
    """The asn1crypto ContentInfo or ``tst_der.TokenParts`` read from ``pkcs7_content`` (read
    once, shared with the time-stamp validation)."""

    def compute_digest(self, hash_name: str) -> bytes:
        try:
            _, digest = byte_range_digest(BytesIO(self._document), self.byte_range, hash_name)
        except Exception as exc:  # pyHanko: unknown algorithm
            raise crypto.UnknownAlgorithm(hash_name) from exc
        return digest


@dataclass(frozen=True, slots=True)
class LtaDocument:
    signature: SimpleSignature
    signed_revision: int
    stamps: tuple[Stamp, ...]
    """In revision order."""
    dss: tuple[tuple[str, bytes], ...]
    """(``/Certs``, ``/OCSPs`` or ``/CRLs``, the stream's bytes) in ``pades_ltv.read_dss``'s
    order: the top-level arrays, then each VRI entry's."""
    field_count: int
    """Filled signature fields."""


class _Revisions:
    """Objects as they stood at each revision."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.offsets: list[dict[int, int]] = []
        current: dict[int, int] = {}
        for section in reader.sections:
            current = {**current, **section.entries}
            self.offsets.append(current)
        # What ``read_simple`` already resolved (the catalog, the form, its fields: objects as
        # they stand in the last revision) is the same object read at the same offset.
        self._values: dict[int, Any] = {
            reader.offsets[number]: value for number, value in reader.cached().items()
        }

    def last_change(self, number: int) -> int:
        changed = [i for i, s in enumerate(self.reader.sections) if number in s.entries]
        _decline_unless(bool(changed))
        return changed[-1]

    def get(self, value: Any, revision: int) -> Any:
        """``value`` resolved at ``revision``; a stream is its dictionary (``Stream``)."""
        if not isinstance(value, Ref):
            return value
        offset = self.offsets[revision].get(value.number)
        _decline_unless(offset is not None)
        assert offset is not None
        known = self._values.get(offset)
        if known is not None:
            return known
        match = _OBJECT.match(self.reader.data, offset)
        _decline_unless(match is not None and int(match.group(1)) == value.number)
        assert match is not None
        found, end = self.reader.value(match.end())
        _decline_unless(not isinstance(found, Ref))
        if _ENDOBJ.match(self.reader.data, end) is None:
            _decline_unless(isinstance(found, dict))
            found = _stream(self.reader.data, found, end)
        self._values[offset] = found
        return found


@dataclass(frozen=True, slots=True)
class Stream:
    dictionary: dict[str, Any]
    data: bytes


def _stream(data: bytes, dictionary: dict[str, Any], end: int) -> Stream:
    length: Any = dictionary.get("/Length")
    _decline_unless(type(length) is int and 0 <= length <= _MAX_STREAM_BYTES)
    opening = _STREAM.match(data, end)
    _decline_unless(opening is not None)
    assert opening is not None
    body = data[opening.end() : opening.end() + length]
    closing = _ENDSTREAM.match(data, opening.end() + length)
    _decline_unless(len(body) == length and closing is not None)
    assert closing is not None
    _decline_unless(_ENDOBJ.match(data, closing.end()) is not None)
    _decline_unless(not set(dictionary) & {"/DecodeParms", "/F", "/FFilter", "/DL"})
    kind = dictionary.get("/Filter")
    if kind is None:
        return Stream(dictionary, body)
    _decline_unless(_is_name(kind, "/FlateDecode"))
    inflater = zlib.decompressobj()
    decoded = inflater.decompress(body, _MAX_STREAM_BYTES + 1)
    _decline_unless(len(decoded) <= _MAX_STREAM_BYTES and inflater.eof and not inflater.unused_data)
    return Stream(dictionary, decoded)


def _is_plain_dict(value: Any) -> bool:
    return type(value) is dict


def _same_except(old: Any, new: Any, key: str) -> bool:
    if not (_is_plain_dict(old) and _is_plain_dict(new)):
        return False
    keys = (set(old) | set(new)) - {key}
    return all(k in old and k in new and old[k] == new[k] for k in keys)


def _appended(old: dict[str, Any], new: dict[str, Any], key: str) -> list[int]:
    before: Any = old.get(key, [])
    after: Any = new.get(key)
    _decline_unless(type(before) is list and type(after) is list)
    _decline_unless(len(after) > len(before) and after[: len(before)] == before)
    added = after[len(before) :]
    _decline_unless(all(isinstance(ref, Ref) for ref in added))
    return [ref.number for ref in added]


def _is_info(value: Any) -> bool:
    if not _is_plain_dict(value) or not set(value) <= _INFO_KEYS:
        return False
    for key, entry in value.items():
        if key == "/Trapped" and type(entry) is str:
            continue
        if not isinstance(entry, generic.TextStringObject | generic.ByteStringObject):
            return False
    return True


def _is_dss(value: Any) -> bool:
    return (
        _is_plain_dict(value)
        and set(value) <= _DSS_KEYS
        and ("/Type" not in value or _is_name(value["/Type"], "/DSS"))
    )


def _stream_list(revisions: _Revisions, value: Any, revision: int) -> list[bytes]:
    array = revisions.get(value, revision)
    _decline_unless(type(array) is list and len(array) <= _MAX_DSS_ITEMS)
    found = []
    for item in array:
        _decline_unless(isinstance(item, Ref))
        stream = revisions.get(item, revision)
        _decline_unless(isinstance(stream, Stream))
        found.append(stream.data)
    return found


def _dss_items(
    revisions: _Revisions, root: dict[str, Any], old_root: dict[str, Any] | None, revision: int
) -> list[tuple[str, bytes]]:
    """The DSS after ``revision``, as pyHanko's DSS rule accepts it; its items in ``read_dss``'s
    order. No DSS: none."""
    if "/DSS" not in root:
        return []
    reference = root["/DSS"]
    _decline_unless(isinstance(reference, Ref))
    dss = revisions.get(reference, revision)
    _decline_unless(_is_dss(dss))
    items = [
        (kind, data) for kind, _ in _KINDS if kind in dss
        for data in _stream_list(revisions, dss[kind], revision)
    ]  # fmt: skip
    old_vri: Any = None
    if old_root is not None and "/DSS" in old_root:
        old_dss = revisions.get(old_root["/DSS"], revision - 1)
        _decline_unless(_is_dss(old_dss))
        if "/VRI" in old_dss:
            old_vri = revisions.get(old_dss["/VRI"], revision - 1)
            _decline_unless(_is_plain_dict(old_vri))
    if "/VRI" not in dss:
        _decline_unless(old_vri is None)
        return items
    vri = revisions.get(dss["/VRI"], revision)
    _decline_unless(_is_plain_dict(vri) and len(vri) <= _MAX_DSS_ITEMS)
    if old_vri is not None:
        _decline_unless(all(key in vri and vri[key] == old_vri[key] for key in old_vri))
    for key, value in vri.items():
        entry = revisions.get(value, revision)
        _decline_unless(_is_plain_dict(entry) and set(entry) <= _VRI_ENTRY_KEYS)
        if old_vri is None or key not in old_vri:
            _decline_unless(VRI_KEY_PATTERN.match(key) is not None)
        items += [
            (kind, data) for kind, short in _KINDS if short in entry
            for data in _stream_list(revisions, entry[short], revision)
        ]  # fmt: skip
    _decline_unless(len(items) <= _MAX_DSS_ITEMS)
    return items


def _ltv_revision(revisions: _Revisions, revision: int) -> list[tuple[str, bytes]]:
    """Decline unless ``revision`` only adds DSS data and invisible document time-stamps; the
    DSS items after it (``_dss_items``)."""
    sections = revisions.reader.sections
    previous = revision - 1
    old_trailer, trailer = sections[previous].trailer, sections[revision].trailer
    for key in ("/Root", "/Info"):
        _decline_unless(old_trailer.get(key) == trailer.get(key))
    root_ref: Any = trailer.get("/Root")
    info_ref: Any = trailer.get("/Info")
    _decline_unless(isinstance(root_ref, Ref) and (info_ref is None or isinstance(info_ref, Ref)))
    old_root = revisions.get(root_ref, previous)
    _decline_unless(_is_plain_dict(old_root))
    dss_ref, form_ref = old_root.get("/DSS"), old_root.get("/AcroForm")
    _decline_unless(dss_ref is None or isinstance(dss_ref, Ref))
    _decline_unless(isinstance(form_ref, Ref))
    new_root = revisions.get(root_ref, revision)
    _decline_unless(_is_plain_dict(new_root))
    items = _dss_items(revisions, new_root, old_root, revision)
    fields: list[int] = []
    widgets: list[int] = []
    section = sections[revision]
    for number in section.entries:
        if number == section.stream_number:
            continue
        if number not in revisions.offsets[previous]:
            revisions.get(Ref(number), revision)  # new: must be readable
            continue
        old, new = revisions.get(Ref(number), previous), revisions.get(Ref(number), revision)
        if info_ref is not None and number == info_ref.number:
            _decline_unless(_is_info(old) and _is_info(new))
        elif dss_ref is not None and number == dss_ref.number:
            _decline_unless(_is_dss(old) and _is_dss(new))
        elif number == root_ref.number:
            _decline_unless(_same_except(old, new, "/DSS"))
        elif number == form_ref.number:
            _decline_unless(_same_except(old, new, "/Fields"))
            fields += _appended(old, new, "/Fields")
        elif _is_plain_dict(old) and _is_name(old.get("/Type"), "/Page"):
            _decline_unless(_same_except(old, new, "/Annots"))
            widgets += _appended(old, new, "/Annots")
        else:
            raise _Decline
    _decline_unless(len(fields) == len(widgets) and set(fields) == set(widgets))
    for number in fields:
        _decline_unless(number not in revisions.offsets[previous])
        field = revisions.get(Ref(number), revision)
        _decline_unless(_is_plain_dict(field) and set(field) <= _FIELD_KEYS and "/V" in field)
        _decline_unless(_is_name(field.get("/FT"), "/Sig"))
        _decline_unless(_is_name(field.get("/Subtype"), "/Widget"))
        value = revisions.get(field["/V"], revision)
        _decline_unless(_is_plain_dict(value) and _is_name(value.get("/Type"), "/DocTimeStamp"))
        rectangle = field.get("/Rect")
        _decline_unless(type(rectangle) is list and len(rectangle) == 4)
        _decline_unless(all(type(n) in (int, float) for n in rectangle))
        x1, y1, x2, y2 = rectangle
        _decline_unless(x1 == x2 or y1 == y2)
    return items


def _revision_end(reader: _Reader, end: int) -> int:
    """The revision whose ``startxref``/``%%EOF`` ends exactly at ``end``."""
    tail = _REVISION_TAIL.search(reader.data, max(0, end - 64), end)
    _decline_unless(tail is not None)
    assert tail is not None
    start = int(tail.group(1))
    matching = [i for i, s in enumerate(reader.sections) if s.start == start]
    _decline_unless(len(matching) == 1)
    revision = matching[0]
    _decline_unless(all(s.end <= tail.start() for s in reader.sections[: revision + 1]))
    _decline_unless(all(s.start >= end for s in reader.sections[revision + 1 :]))
    return revision


def _covered(
    reader: _Reader, revisions: _Revisions, sig: dict[str, Any], number: int
) -> tuple[int, tuple[int, int, int, int], Hex]:
    """(revision, byte range, contents) of a signature dictionary whose byte range covers the
    revision that defined it, exactly."""
    contents: Any = sig.get("/Contents")
    byte_range: Any = sig.get("/ByteRange")
    _decline_unless(isinstance(contents, Hex) and len(contents.digits) % 2 == 0)
    _decline_unless(type(byte_range) is list and len(byte_range) == 4)
    _decline_unless(all(type(value) is int for value in byte_range))
    start, first, second, length = byte_range
    gap = len(contents.digits) + 2
    _decline_unless(start == 0 and first == contents.offset and second == first + gap)
    _decline_unless(length >= 0)
    revision = _revision_end(reader, second + length)
    _decline_unless(revisions.last_change(number) == revision)
    return revision, (0, first, second, length), contents


def _signed_data(contents: Hex) -> tuple[bytes, Any, Any]:
    """(content, ContentInfo, SignerInfo), read as pyHanko's ``EmbeddedPdfSignature`` reads them
    when it is made (so that a token it cannot take -- a field the full path reports as
    unreadable -- declines here)."""
    content = bytes.fromhex(contents.digits.decode("ascii"))
    message = cms.ContentInfo.load(content)
    _decline_unless(message["content_type"].native == "signed_data")
    signed_data = message["content"]
    signer_info = extract_signer_info(signed_data)
    _ = signer_info["digest_algorithm"]["algorithm"].native.lower()
    encapsulated = signed_data["encap_content_info"]
    if encapsulated["content_type"].native == "tst_info":
        imprint = encapsulated["content"].parsed["message_imprint"]
        _ = imprint["hash_algorithm"]["algorithm"].native
    return content, message, signer_info


def _read(document: bytes, reader: _Reader) -> LtaDocument:
    sections = reader.sections
    _decline_unless(2 <= len(sections) <= MAX_REVISIONS + 1)
    # a cross-reference stream lists itself where it is (the offset ``startxref`` or ``/Prev``
    # gives could otherwise fall inside its ``N 0 obj``, a shorter number that pyHanko refuses)
    _decline_unless(
        all(s.stream_number is None or s.entries.get(s.stream_number) == s.start for s in sections)
    )
    revisions = _Revisions(reader)
    last = len(sections) - 1
    root = revisions.get(reader.root, last)
    _decline_unless(_is_plain_dict(root))
    form = revisions.get(root.get("/AcroForm"), last)
    _decline_unless(_is_plain_dict(form))
    fields = revisions.get(form.get("/Fields"), last)
    _decline_unless(type(fields) is list and len(fields) <= _MAX_FIELDS)
    signatures: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []
    stamps: list[tuple[str, int, dict[str, Any]]] = []
    seen: set[int] = set()
    for entry in fields:
        _decline_unless(isinstance(entry, Ref) and entry.number not in seen)
        seen.add(entry.number)
        field = revisions.get(entry, last)
        _decline_unless(_is_plain_dict(field))
        _decline_unless("/Kids" not in field and "/Parent" not in field)
        name, kind = field.get("/T"), field.get("/FT")
        _decline_unless(isinstance(name, generic.TextStringObject) and type(kind) is str)
        if kind != "/Sig" or "/V" not in field:
            continue
        value = field["/V"]
        _decline_unless(isinstance(value, Ref))
        sig = revisions.get(value, last)
        _decline_unless(_is_plain_dict(sig))
        if _is_name(sig.get("/Type"), "/DocTimeStamp"):
            _decline_unless(_is_name(sig.get("/SubFilter"), "/ETSI.RFC3161"))
            stamps.append((str(name), value.number, sig))
        else:
            signatures.append((str(name), value.number, sig, field))
    _decline_unless(len(signatures) == 1)
    name, number, sig, field = signatures[0]
    _decline_unless(_is_name(sig.get("/Type", "/Sig"), "/Sig"))
    _decline_unless("/Lock" not in field and "/Reference" not in sig and "/Perms" not in root)
    subfilter = sig.get("/SubFilter")
    _decline_unless(subfilter in ("/adbe.pkcs7.detached", "/ETSI.CAdES.detached"))
    _decline_unless(type(subfilter) is str)
    signed_revision, byte_range, contents = _covered(reader, revisions, sig, number)
    _decline_unless(signed_revision < last and last - signed_revision <= MAX_REVISIONS)
    signing_time = sig.get("/M")
    _decline_unless(signing_time is None or isinstance(signing_time, generic.TextStringObject))
    _, message, signer_info = _signed_data(contents)
    signed_data = message["content"]
    algorithm = signer_info["digest_algorithm"]["algorithm"].native.lower()
    _decline_unless(signed_data["encap_content_info"]["content_type"].native == "data")
    _, digest = byte_range_digest(BytesIO(document), byte_range, algorithm)
    signature = SimpleSignature(
        field_name=name,
        subfilter=str(subfilter),
        signed_data=signed_data,
        signer_info=signer_info,
        byte_range=byte_range,
        signing_time_entry=signing_time,
        _digests={algorithm: digest},
        _document=document,
    )
    dss: list[tuple[str, bytes]] = []
    for revision in range(signed_revision + 1, last + 1):
        dss = _ltv_revision(revisions, revision)  # the last one's: the document's DSS
    read_stamps = []
    for stamp_name, stamp_number, stamp in stamps:
        revision, stamp_range, stamp_contents = _covered(reader, revisions, stamp, stamp_number)
        _decline_unless(revision > signed_revision)
        content = bytes.fromhex(stamp_contents.digits.decode("ascii"))
        # a plain DER token (tst_der) is one pyHanko takes; anything else is read its way
        read: Any = read_padded(content)
        if read is None:
            content, read, _ = _signed_data(stamp_contents)
        stamp_root = revisions.get(reader.root, revision)
        _decline_unless(_is_plain_dict(stamp_root))
        read_stamps.append(
            Stamp(
                revision, stamp_name, content, stamp_range, "/DSS" in stamp_root, document, read
            )
        )
    read_stamps.sort(key=lambda stamp: stamp.revision)
    _decline_unless(len({stamp.revision for stamp in read_stamps}) == len(read_stamps))
    return LtaDocument(signature, signed_revision, tuple(read_stamps), tuple(dss), 1 + len(stamps))


def read_lta(document: bytes, reader: _Reader | None = None) -> LtaDocument | None:
    """The signature, document time-stamps and DSS of ``document`` when it fits the profile
    (module docstring), else None. ``reader``: ``pades_fast.read_structure``'s for the same
    document, when already read."""
    reader = read_structure(document) if reader is None else reader
    if reader is None:
        return None
    try:
        return _read(document, reader)
    except _Decline:
        return None
    except Exception:  # noqa: BLE001 - anything unexpected: pyHanko's path reports it
        return None
