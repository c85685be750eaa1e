"""The fast path of PAdES validation: a PDF whose one signature covers the whole file.

Most signed PDFs a gateway receives hold one signature made in the last incremental update, its
``/ByteRange`` covering every byte but its own ``/Contents``. For those, pyHanko's reader (pure
Python: every cross-reference section, every object read byte by byte) costs more than the rest of
the validation (issue 13, bench row "PAdES 10 KB"). :func:`read_simple` reads just what the report
needs -- the cross-reference sections, the catalog, ``/AcroForm /Fields``, the signature field and
its ``/Sig`` dictionary -- with regular expressions over the bytes, and returns None (the caller
then takes pyHanko's path) for anything outside a narrow, well-formed profile:

* ``%PDF-n.n`` at offset 0; ``startxref``/``%%EOF`` at the very end; every cross-reference
  section a classic table (20-byte entries) or a Flate stream without predictor, its size exact,
  each ``/Prev`` before it; no hybrid ``/XRefStm``, no ``/Encrypt``, no object streams, no free
  entry but object 0, generation 0 everywhere, section sizes non-decreasing, no section
  redefining an earlier cross-reference stream;
* objects at their offsets as ``N 0 obj ... endobj``; comments only between the tokens of an
  object (as reportlab writes in its trailer); no ``#`` escapes in names, no duplicate keys, no
  hex strings with whitespace, no literal strings with nested parentheses;
* the form: every ``/Fields`` entry an indirect field without ``/Kids`` or ``/Parent``, with
  ``/T`` and ``/FT``; exactly one filled ``/Sig`` field, its ``/V`` an indirect ``/Sig``
  dictionary (not a document time-stamp, not a legacy sub-filter);
* its byte range ``[0 a b n-b]`` around exactly its ``/Contents`` hex string (so pyHanko's
  coverage is ENTIRE_FILE, and no later revision exists to analyse);
* its CMS read as pyHanko reads it (one SignerInfo, eContentType data) and the byte range digest
  computed by pyHanko's own function.

Inside that profile pyHanko's strict reader accepts the file and finds the same single field, so
the report is the one the full path gives (a test compares the two on every PAdES vector and on
mutated files): declining is always safe, accepting wrongly is what the profile rules out.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.sign.general import byte_range_digest

from gateway.signatures import crypto
from gateway.signatures.pdf_tokens import pdf_string

_MAX_DEPTH = 32
_MAX_SECTIONS = 64
_MAX_FIELDS = 256
_MAX_XREF_BYTES = 4 * 1024 * 1024
_WHITE = rb"[\x00\t\n\x0c\r ]"
_END = rb"(?=[\x00\t\n\x0c\r /<>\[\]()%]|\Z)"
_NAME_CHARS = rb"[!\"$&'*+,\-.0-9:;=?@A-Z\\^_`a-z|~]"
_TOKEN = re.compile(
    rb"(?:[\x00\t\n\x0c\r ]|%[^\r\n]*)*(?:"  # whitespace and comments
    + rb"/(?P<name>"
    + _NAME_CHARS
    + rb"*)"
    + _END
    + rb"|(?P<ref>(?P<number>\d{1,10})"
    + _WHITE
    + rb"+(?P<generation>\d{1,5})"
    + _WHITE
    + rb"+R)"
    + _END
    + rb"|(?P<integer>[+-]?\d{1,18})"
    + _END
    + rb"|(?P<real>[+-]?(?:\d{1,18}\.\d{0,18}|\.\d{1,18}))"
    + _END
    + rb"|(?P<dictionary><<)"
    + rb"|(?P<close_dictionary>>>)"
    + rb"|<(?P<hex>[0-9A-Fa-f]*)>"
    + rb"|(?P<array>\[)"
    + rb"|(?P<close_array>\])"
    + rb"|(?P<string>\((?:[^()\\]|\\[\s\S])*\))"
    + rb"|(?P<keyword>true|false|null)"
    + _END
    + rb")"
)
"""A token of a direct object: a name (no ``#`` escapes), a reference, a number, a dictionary's
or array's bracket, a hex string (no whitespace), a literal string (no nested parentheses), a
keyword."""
_NAME_GROUP = _TOKEN.groupindex["name"]
_REF_GROUP = _TOKEN.groupindex["ref"]  # then "number", "generation"
_INTEGER_GROUP = _TOKEN.groupindex["integer"]
_REAL_GROUP = _TOKEN.groupindex["real"]
_OPEN_DICTIONARY_GROUP = _TOKEN.groupindex["dictionary"]
_CLOSE_DICTIONARY_GROUP = _TOKEN.groupindex["close_dictionary"]
_HEX_GROUP = _TOKEN.groupindex["hex"]
_OPEN_ARRAY_GROUP = _TOKEN.groupindex["array"]
_CLOSE_ARRAY_GROUP = _TOKEN.groupindex["close_array"]
_STRING_GROUP = _TOKEN.groupindex["string"]
_HEADER = re.compile(rb"%PDF-\d\.\d" + _WHITE)
_TAIL = re.compile(rb"startxref(?:\r\n|\r|\n)(\d{1,10})(?:\r\n|\r|\n)%%EOF(?:\r\n|\r|\n)?\Z")
_OBJECT = re.compile(rb"(\d{1,10}) 0 obj" + _END)
_ENDOBJ = re.compile(_WHITE + rb"*endobj" + _END)
_STREAM = re.compile(_WHITE + rb"*stream(?:\r\n|\n)")
_ENDSTREAM = re.compile(_WHITE + rb"*endstream" + _END)
_XREF = re.compile(rb"xref(?:\r\n|\r|\n)")
_SUBSECTION = re.compile(rb"(\d{1,10}) (\d{1,10})(?:\r\n|\r|\n| \r\n| \n| \r)")
_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])(?: \r| \n|\r\n)")
_TRAILER = re.compile(_WHITE + rb"*trailer" + _WHITE + rb"*")


_SIMPLE_STRING = re.compile(rb"\((?:[^\\]|\\(?:[0-3][0-7]{2}|[nrtbf()\\]))*\)")
"""A literal string whose escapes are all three octal digits (at most 255) or one of
``\\n \\r \\t \\b \\f \\( \\) \\\\``: decoded here exactly as pyHanko's
``read_string_from_stream`` decodes them (its loop is the cost; anything else goes to it)."""
_ESCAPE = re.compile(rb"\\(?:([0-3][0-7]{2})|([nrtbf()\\]))")
_ESCAPED = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(match: re.Match[bytes]) -> bytes:
    octal, other = match.group(1), match.group(2)
    if octal is not None:
        return bytes((int(octal, 8),))
    return _ESCAPED.get(other, other)


class _Decline(Exception):
    """Outside the profile: the full path decides."""


@dataclass(frozen=True, slots=True)
class Ref:
    number: int


@dataclass(frozen=True, slots=True)
class Hex:
    offset: int
    """Where ``<`` is."""
    digits: bytes


@dataclass(frozen=True, slots=True)
class SimpleSignature:
    """What the report of the one signature needs, as pyHanko's full path would find it."""

    field_name: str
    subfilter: str
    signed_data: Any
    signer_info: Any
    byte_range: tuple[int, int, int, int]
    signing_time_entry: Any | None
    """The ``/M`` string object (pyHanko's), when present."""
    _digests: dict[str, bytes]
    _document: bytes

    def digest(self, hash_name: str) -> bytes:
        """The byte range's digest with ``hash_name`` (pyHanko's function, as the full path)."""
        known = self._digests.get(hash_name)
        if known is None:
            try:
                _, known = byte_range_digest(BytesIO(self._document), self.byte_range, hash_name)
            except Exception as exc:  # pyHanko: unknown algorithm
                raise crypto.UnknownAlgorithm(hash_name) from exc
            self._digests[hash_name] = known
        return known


@dataclass(frozen=True, slots=True)
class Section:
    """One revision's cross-reference section."""

    entries: dict[int, int]
    trailer: dict[str, Any]
    start: int
    end: int
    """Where the table's trailer dictionary or the stream's ``endobj`` ends."""
    stream_number: int | None
    """The cross-reference stream's own object number."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offsets: dict[int, int] = {}
        self.root: Ref | None = None
        self._cache: dict[int, Any] = {}
        self.sections: list[Section] = []
        """Every revision's cross-reference section, oldest first."""

    # --- tokens -------------------------------------------------------------------------------

    def value(self, position: int) -> tuple[Any, int]:
        """The direct object at ``position`` (after whitespace) and where it ends: contiguous
        :data:`_TOKEN` matches, each anchored where the last ended; containers built on a
        stack."""
        data, token_at = self.data, _TOKEN.match
        stack: list[tuple[list[Any], bool]] = []
        while (match := token_at(data, position)) is not None:
            position = match.end()
            kind = match.lastindex
            value: Any
            if kind == _NAME_GROUP:
                value = "/" + match.group(kind).decode("ascii")
            elif kind == _INTEGER_GROUP:
                value = int(match.group(kind))
            elif kind == _REF_GROUP:
                if int(match.group(_REF_GROUP + 2)) != 0:
                    raise _Decline
                value = Ref(int(match.group(_REF_GROUP + 1)))
            elif kind == _OPEN_DICTIONARY_GROUP or kind == _OPEN_ARRAY_GROUP:
                if len(stack) >= _MAX_DEPTH:
                    raise _Decline
                stack.append(([], kind == _OPEN_DICTIONARY_GROUP))
                continue
            elif kind == _CLOSE_DICTIONARY_GROUP or kind == _CLOSE_ARRAY_GROUP:
                if not stack:
                    raise _Decline
                items, is_dictionary = stack.pop()
                if is_dictionary != (kind == _CLOSE_DICTIONARY_GROUP):
                    raise _Decline
                value = _dictionary(items) if is_dictionary else items
            elif kind == _HEX_GROUP:
                value = Hex(match.start(kind) - 1, match.group(kind))
            elif kind == _STRING_GROUP:
                token = match.group(kind)
                if b"\\" not in token:  # pyHanko keeps the bytes between the parentheses
                    value = pdf_string(token[1:-1])
                elif _SIMPLE_STRING.fullmatch(token):  # pyHanko's decoding, without its loop
                    value = pdf_string(_ESCAPE.sub(_unescape, token[1:-1]))
                else:
                    stream = BytesIO(token)
                    value = generic.read_string_from_stream(stream)
                    if stream.tell() != len(token):
                        raise _Decline
            elif kind == _REAL_GROUP:
                value = float(match.group(kind))
            else:
                value = {b"true": True, b"false": False}.get(match.group("keyword"))
            if not stack:
                return value, position
            stack[-1][0].append(value)
        raise _Decline  # a byte no token explains (an escape, a stray byte), or the data ended

    # --- objects ------------------------------------------------------------------------------

    def _indirect_at(self, offset: int, number: int) -> tuple[Any, int]:
        """The object ``number 0 obj`` at ``offset``: (value, end of its value)."""
        match = _OBJECT.match(self.data, offset)
        if match is None or int(match.group(1)) != number:
            raise _Decline
        return self.value(match.end())

    def resolve(self, value: Any) -> Any:
        """``value``, or the object it refers to (a dictionary, array, string or number)."""
        if not isinstance(value, Ref):
            return value
        known = self._cache.get(value.number)
        if known is not None:
            return known
        offset = self.offsets.get(value.number)
        if offset is None:
            raise _Decline
        found, end = self._indirect_at(offset, value.number)
        if _ENDOBJ.match(self.data, end) is None or isinstance(found, Ref):
            raise _Decline  # a stream, a reference to a reference, a missing endobj
        self._cache[value.number] = found
        return found

    def cached(self) -> dict[int, Any]:
        """The objects :meth:`resolve` has read, by object number (each at ``offsets``)."""
        return self._cache

    # --- cross-reference sections -------------------------------------------------------------

    def read_sections(self) -> None:
        data = self.data
        if _HEADER.match(data) is None:
            raise _Decline
        tail = _TAIL.search(data, max(0, len(data) - 1024))
        if tail is None:
            raise _Decline
        position: int | None = int(tail.group(1))
        sections: list[tuple[dict[int, int], dict[str, Any], int | None]] = []
        while position is not None:
            if len(sections) >= _MAX_SECTIONS:
                raise _Decline
            if _XREF.match(data, position):
                trailer, entries, end = self._table(position)
                stream_number: int | None = None
            else:
                entries, trailer, stream_number, end = self._stream_section(position)
            if "/Encrypt" in trailer or "/XRefStm" in trailer:
                raise _Decline
            previous = trailer.get("/Prev")
            if previous is not None and (type(previous) is not int or not 0 <= previous < position):
                raise _Decline
            sections.append((entries, trailer, stream_number))
            self.sections.append(Section(entries, trailer, position, end, stream_number))
            position = previous
        sections.reverse()  # oldest first
        self.sections.reverse()
        size = 0
        for index, (entries, trailer, stream_number) in enumerate(sections):
            declared = trailer.get("/Size")
            if (
                type(declared) is not int
                or declared < size
                or any(number >= declared for number in entries)
            ):
                raise _Decline
            size = declared
            if stream_number is not None and any(
                stream_number in later for later, _, _ in sections[index + 1 :]
            ):
                raise _Decline  # a cross-reference stream redefined later
            self.offsets.update(entries)
        root = sections[-1][1].get("/Root")
        if not isinstance(root, Ref):
            raise _Decline
        self.root = root

    def _table(self, position: int) -> tuple[dict[str, Any], dict[int, int], int]:
        data = self.data
        match = _XREF.match(data, position)
        assert match is not None
        position = match.end()
        entries: dict[int, int] = {}
        while True:
            header = _SUBSECTION.match(data, position)
            if header is None:
                break
            first, count = int(header.group(1)), int(header.group(2))
            position = header.end()
            for number in range(first, first + count):
                entry = _ENTRY.match(data, position)
                if entry is None:
                    raise _Decline
                position = entry.end()
                self._entry(entries, number, entry.group(3) == b"n", int(entry.group(1)),
                            int(entry.group(2)))  # fmt: skip
        trailer = _TRAILER.match(data, position)
        if trailer is None or data[trailer.end() : trailer.end() + 2] != b"<<":
            raise _Decline
        dictionary, end = self.value(trailer.end())
        return dictionary, entries, end

    @staticmethod
    def _entry(entries: dict[int, int], number: int, used: bool, offset: int, gen: int) -> None:
        if not used:
            if number != 0:
                raise _Decline  # a freed object: pyHanko's generation rules apply
            return
        if gen != 0 or number == 0 or number in entries:
            raise _Decline
        entries[number] = offset

    def _stream_section(self, position: int) -> tuple[dict[int, int], dict[str, Any], int, int]:
        data = self.data
        match = _OBJECT.match(data, position)
        if match is None:
            raise _Decline
        number = int(match.group(1))
        dictionary, end = self.value(match.end())
        if not isinstance(dictionary, dict) or not _is_name(dictionary.get("/Type"), "/XRef"):
            raise _Decline
        if not _is_name(dictionary.get("/Filter"), "/FlateDecode") or "/DecodeParms" in dictionary:
            raise _Decline
        length = dictionary.get("/Length")
        widths = dictionary.get("/W")
        size = dictionary.get("/Size")
        index = dictionary.get("/Index", [0, size])
        if type(length) is not int or not isinstance(widths, list) or len(widths) != 3:
            raise _Decline
        if not all(type(w) is int and 0 <= w <= 8 for w in widths) or widths[0] == 0:
            raise _Decline
        if (
            not isinstance(index, list)
            or len(index) % 2
            or not all(type(i) is int and i >= 0 for i in index)
        ):
            raise _Decline
        opening = _STREAM.match(data, end)
        if opening is None or length < 0:
            raise _Decline
        body = data[opening.end() : opening.end() + length]
        closing = _ENDSTREAM.match(data, opening.end() + length)
        finished = _ENDOBJ.match(data, closing.end()) if closing is not None else None
        if len(body) != length or finished is None:
            raise _Decline
        width = sum(widths)
        pairs = list(zip(index[0::2], index[1::2], strict=True))
        expected = width * sum(count for _, count in pairs)
        if expected > _MAX_XREF_BYTES:
            raise _Decline
        inflater = zlib.decompressobj()
        rows = inflater.decompress(body, expected + 1)
        if len(rows) != expected or not inflater.eof or inflater.unused_data:
            raise _Decline
        entries: dict[int, int] = {}
        cursor, last_end = 0, 0
        for first, count in pairs:
            if first < last_end:
                raise _Decline
            last_end = first + count
            for listed in range(first, first + count):
                row = rows[cursor : cursor + width]
                cursor += width
                kind = int.from_bytes(row[: widths[0]], "big")
                second = int.from_bytes(row[widths[0] : widths[0] + widths[1]], "big")
                third = int.from_bytes(row[widths[0] + widths[1] :], "big")
                if kind not in (0, 1):
                    raise _Decline  # object streams and unknown entry types
                self._entry(entries, listed, kind == 1, second, third)
        return entries, dictionary, number, finished.end()


def _dictionary(items: list[Any]) -> dict[str, Any]:
    if len(items) % 2:
        raise _Decline
    entries: dict[str, Any] = {}
    for key, value in zip(items[0::2], items[1::2], strict=True):
        if type(key) is not str or key in entries:
            raise _Decline  # a key that is no name, a duplicate key (pyHanko's strict error)
        entries[key] = value
    return entries


def _is_name(value: Any, name: str) -> bool:
    """Whether ``value`` is the name ``name`` (names are plain ``str``; strings are pyHanko's
    string objects, which are ``str`` subclasses)."""
    return type(value) is str and value == name


def _decline_unless(condition: bool) -> None:
    if not condition:
        raise _Decline


def _single_field(reader: _Reader) -> tuple[str, int]:
    """(name, object number of ``/V``) of the one filled signature field."""
    root = reader.resolve(reader.root)
    _decline_unless(isinstance(root, dict))
    form = reader.resolve(root.get("/AcroForm"))
    _decline_unless(isinstance(form, dict))
    fields = reader.resolve(form.get("/Fields"))
    _decline_unless(isinstance(fields, list) and len(fields) <= _MAX_FIELDS)
    found: list[tuple[str, int]] = []
    seen: set[int] = set()
    for entry in fields:
        _decline_unless(isinstance(entry, Ref) and entry.number not in seen)
        seen.add(entry.number)
        field = reader.resolve(entry)
        _decline_unless(isinstance(field, dict))
        _decline_unless("/Kids" not in field and "/Parent" not in field)
        name, kind = field.get("/T"), field.get("/FT")
        _decline_unless(isinstance(name, generic.TextStringObject) and type(kind) is str)
        if kind != "/Sig" or "/V" not in field:
            continue
        value = field["/V"]
        _decline_unless(isinstance(value, Ref))
        found.append((str(name), value.number))
    _decline_unless(len(found) == 1)
    return found[0]


def _signature(reader: _Reader, document: bytes, name: str, number: int) -> SimpleSignature:
    sig = reader.resolve(Ref(number))
    _decline_unless(isinstance(sig, dict))
    _decline_unless(_is_name(sig.get("/Type", "/Sig"), "/Sig"))
    subfilter = sig.get("/SubFilter")
    _decline_unless(type(subfilter) is str)
    _decline_unless(subfilter in ("/adbe.pkcs7.detached", "/ETSI.CAdES.detached"))
    contents, byte_range = sig.get("/Contents"), sig.get("/ByteRange")
    _decline_unless(isinstance(contents, Hex) and len(contents.digits) % 2 == 0)
    _decline_unless(isinstance(byte_range, list) and len(byte_range) == 4)
    _decline_unless(all(type(value) is int for value in byte_range))
    start, first, second, length = byte_range
    gap = len(contents.digits) + 2
    _decline_unless(start == 0 and first == contents.offset and second == first + gap)
    _decline_unless(second + length == len(document))
    signing_time = sig.get("/M")
    _decline_unless(signing_time is None or isinstance(signing_time, generic.TextStringObject))
    # The CMS as pyHanko's EmbeddedPdfSignature reads it.
    message = cms.ContentInfo.load(bytes.fromhex(contents.digits.decode("ascii")))
    signed_data = message["content"]
    (signer_info,) = signed_data["signer_infos"]
    algorithm = signer_info["digest_algorithm"]["algorithm"].native.lower()
    _decline_unless(signed_data["encap_content_info"]["content_type"].native == "data")
    _, digest = byte_range_digest(BytesIO(document), (0, first, second, length), algorithm)
    return SimpleSignature(
        field_name=name,
        subfilter=subfilter,
        signed_data=signed_data,
        signer_info=signer_info,
        byte_range=(0, first, second, length),
        signing_time_entry=signing_time,
        _digests={algorithm: digest},
        _document=document,
    )


def read_structure(document: bytes) -> _Reader | None:
    """The cross-reference sections of ``document`` when they fit the profile (module
    docstring), for :func:`read_simple` and ``pades_fast_lta.read_lta`` to share; else None."""
    reader = _Reader(document)
    try:
        reader.read_sections()
    except _Decline:
        return None
    except Exception:  # noqa: BLE001 - anything unexpected: pyHanko's path reports it
        return None
    return reader


def read_simple(document: bytes, reader: _Reader | None = None) -> SimpleSignature | None:
    """The one signature of ``document`` when it fits the profile (module docstring), else None.
    ``reader``: :func:`read_structure`'s for the same document, when already read."""
    reader = read_structure(document) if reader is None else reader
    if reader is None:
        return None
    try:
        name, number = _single_field(reader)
        return _signature(reader, document, name, number)
    except _Decline:
        return None
    except Exception:  # noqa: BLE001 - anything unexpected: pyHanko's path reports it
        return None
