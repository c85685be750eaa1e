"""Incremental updates that only add long-term validation data: a fast path for ``pdf_changes``.

A PAdES B-LT/B-LTA file grows by revisions that add a Document Security Store and document
time-stamps (EN 319 142-1 §5.4 and §6.3). pyHanko's difference analysis classifies them as
``LTA_UPDATES`` but costs more than validating the signature itself. A revision is recognised
here, conservatively, when every object it writes is one of:

* a new object -- reachable only through the changes below, since no other existing object
  changed;
* the catalog, changed in ``/DSS`` only, or the object its ``/DSS`` named before, holding DSS
  entries only before and after (``/Certs``, ``/OCSPs``, ``/CRLs``, ``/VRI``: unsigned validation
  data, meaningless to anything else that might also refer to the object);
* the document information dictionary, holding the standard entries only and as strings
  (``/Trapped`` a name) before and after: metadata, never displayed, and no dictionary a page
  uses looks like that;
* the ``/AcroForm`` dictionary, changed in ``/Fields`` only, by appending new signature fields
  whose value is a ``/DocTimeStamp`` and whose widget has a zero-size rectangle, no appearance
  and no entries beyond those of a plain signature field (no actions);
* a page, changed in ``/Annots`` only, by appending those same field widgets;

and the trailer keeps its ``/Root``, ``/Info`` and ``/Encrypt``. The DSS the revision leaves
must be as rigidly shaped as pyHanko's DSS rule wants it (its keys, arrays of stream references,
VRI entries keyed by a SHA-1 in hex, the old VRI entries unchanged). Anything else -- also an
encrypted or hybrid-reference file or a freed object -- answers False, and the caller runs
pyHanko's full analysis: a missed fast path costs time, never a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis.constants import VRI_KEY_PATTERN

MAX_REVISIONS = 32
"""Later revisions examined here; more go to pyHanko's analysis."""

_TRAILER_KEYS = ("/Root", "/Info", "/Encrypt")
_DSS_KEYS = frozenset({"/Type", "/Certs", "/OCSPs", "/CRLs", "/VRI"})
_VRI_ENTRY_KEYS = frozenset({"/Type", "/TU", "/TS", "/Cert", "/CRL", "/OCSP"})
_INFO_KEYS = frozenset(
    {
        "/Title",
        "/Author",
        "/Subject",
        "/Keywords",
        "/Creator",
        "/Producer",
        "/CreationDate",
        "/ModDate",
        "/Trapped",
    }
)
_FIELD_KEYS = frozenset(
    {"/FT", "/T", "/TU", "/TM", "/Ff", "/V", "/Type", "/Subtype", "/F", "/Rect", "/P"}
)


def only_ltv_updates(reader: PdfFileReader, signed_revision: int) -> bool:
    """Whether every revision after ``signed_revision`` only adds DSS data and invisible
    document time-stamps (rules in the module docstring)."""
    try:
        total = int(reader.xrefs.total_revisions)
        if reader.encrypted or reader.xrefs.hybrid_xrefs_present:
            return False
        if not 0 < total - 1 - signed_revision <= MAX_REVISIONS:
            return False
        return all(_ltv_revision(reader, rev) for rev in range(signed_revision + 1, total))
    except Exception:  # noqa: BLE001 - anything unexpected: pyHanko's analysis decides
        return False


def _object(reader: PdfFileReader, ref: generic.Reference, revision: int) -> Any:
    """``ref`` as it stood at ``revision``; from the reader's own cache when it has not changed
    since (a historical read parses the object again each time)."""
    if reader.xrefs.get_last_change(ref) <= revision:
        return reader.get_object(ref)  # type: ignore[no-untyped-call]  # pyHanko seam
    return reader.get_object(ref, revision)  # type: ignore[no-untyped-call]  # pyHanko seam


def _trailer_ref(reader: PdfFileReader, key: str, revision: int) -> Any:
    try:
        return reader.trailer.raw_get(key, revision=revision)
    except KeyError:
        return None


def _reference(value: Any) -> generic.Reference | None:
    return value.reference if isinstance(value, generic.IndirectObject) else None


def _same_except(old: Any, new: Any, key: str) -> bool:
    """Both dictionaries, equal in every raw entry but ``key``."""
    if not (
        isinstance(old, generic.DictionaryObject) and isinstance(new, generic.DictionaryObject)
    ):
        return False
    keys = (set(old) | set(new)) - {key}
    return all(k in old and k in new and old.raw_get(k) == new.raw_get(k) for k in keys)


def _appended(old: Any, new: Any, key: str) -> list[generic.Reference] | None:
    """The references appended to the direct array ``key`` (old entries kept, in order)."""
    before = old.raw_get(key) if key in old else generic.ArrayObject()
    after = new.raw_get(key) if key in new else None
    if not isinstance(before, generic.ArrayObject) or not isinstance(after, generic.ArrayObject):
        return None
    old_entries = [before.raw_get(i) for i in range(len(before))]
    new_entries = [after.raw_get(i) for i in range(len(after))]
    if len(new_entries) <= len(old_entries) or new_entries[: len(old_entries)] != old_entries:
        return None
    added = [_reference(value) for value in new_entries[len(old_entries) :]]
    if any(ref is None for ref in added):
        return None
    return [ref for ref in added if ref is not None]


def _ltv_revision(reader: PdfFileReader, revision: int) -> bool:
    xrefs = reader.xrefs
    previous = revision - 1
    if xrefs.refs_freed_in_revision(revision):
        return False
    if any(
        _trailer_ref(reader, key, previous) != _trailer_ref(reader, key, revision)
        for key in _TRAILER_KEYS
    ):
        return False
    root_ref = _reference(_trailer_ref(reader, "/Root", revision))
    info_ref = _reference(_trailer_ref(reader, "/Info", revision))
    if root_ref is None:
        return False
    old_root = _object(reader, root_ref, previous)
    if not isinstance(old_root, generic.DictionaryObject):
        return False
    dss_ref = _reference(old_root.raw_get("/DSS")) if "/DSS" in old_root else None
    form_ref = _reference(old_root.raw_get("/AcroForm")) if "/AcroForm" in old_root else None
    new_root = _object(reader, root_ref, revision)
    resolve_old, resolve = _resolver(reader, previous), _resolver(reader, revision)
    if not _dss_well_formed(old_root, new_root, resolve_old, resolve):
        return False
    fields: list[generic.Reference] = []
    widgets: list[generic.Reference] = []
    for ref in xrefs.explicit_refs_in_revision(revision):
        if xrefs.get_historical_ref(ref, previous) is None:
            _object(reader, ref, revision)  # new: must be readable (pyHanko reads them all)
            continue
        old, new = _object(reader, ref, previous), _object(reader, ref, revision)
        if ref == info_ref:
            if not (_is_info(old) and _is_info(new)):
                return False
        elif dss_ref is not None and ref == dss_ref:
            if not (_is_dss(old) and _is_dss(new)):
                return False
        elif ref == root_ref:
            if not _same_except(old, new, "/DSS"):
                return False
        elif form_ref is not None and ref == form_ref:
            added = _appended(old, new, "/Fields") if _same_except(old, new, "/Fields") else None
            if added is None:
                return False
            fields += added
        elif _is_page(old):
            added = _appended(old, new, "/Annots") if _same_except(old, new, "/Annots") else None
            if added is None:
                return False
            widgets += added
        else:
            return False
    if len(fields) != len(widgets) or set(fields) != set(widgets):
        return False
    return all(_invisible_timestamp_field(reader, ref, revision) for ref in fields)


Resolve = Callable[[Any], Any]


def _resolver(reader: PdfFileReader, revision: int) -> Resolve:
    def resolve(value: Any) -> Any:
        if isinstance(value, generic.IndirectObject):
            return _object(reader, value.reference, revision)
        return value

    return resolve


def _stream_refs(value: Any, resolve: Resolve) -> bool:
    array = resolve(value)
    return isinstance(array, generic.ArrayObject) and all(
        isinstance(item, generic.IndirectObject) and isinstance(resolve(item), generic.StreamObject)
        for item in (array.raw_get(i) for i in range(len(array)))
    )


def _dss_well_formed(old_root: Any, new_root: Any, resolve_old: Resolve, resolve: Resolve) -> bool:
    """The DSS after the revision, as pyHanko's DSSCompareRule accepts it (none is fine)."""
    _resolved = resolve
    if not isinstance(new_root, generic.DictionaryObject) or "/DSS" not in new_root:
        return True
    dss = _resolved(new_root.raw_get("/DSS"))
    if not isinstance(dss, generic.DictionaryObject) or isinstance(dss, generic.StreamObject):
        return False
    if not set(dss) <= _DSS_KEYS or not _is_dss(dss):
        return False
    if not all(
        _stream_refs(dss.raw_get(key), resolve)
        for key in ("/Certs", "/OCSPs", "/CRLs")
        if key in dss
    ):
        return False
    old_dss: Any = resolve_old(old_root.raw_get("/DSS")) if "/DSS" in old_root else None
    old_vri = resolve_old(old_dss.raw_get("/VRI")) if _has(old_dss, "/VRI") else None
    if "/VRI" not in dss:
        return old_vri is None
    vri = _resolved(dss.raw_get("/VRI"))
    if not isinstance(vri, generic.DictionaryObject) or isinstance(vri, generic.StreamObject):
        return False
    if isinstance(old_vri, generic.DictionaryObject):
        for key in old_vri:
            if key not in vri or vri.raw_get(key) != old_vri.raw_get(key):
                return False
    for key in vri:
        if isinstance(old_vri, generic.DictionaryObject) and key in old_vri:
            continue
        if not VRI_KEY_PATTERN.match(str(key)):
            return False
        entry = _resolved(vri.raw_get(key))
        if not isinstance(entry, generic.DictionaryObject) or isinstance(
            entry, generic.StreamObject
        ):
            return False
        if not set(entry) <= _VRI_ENTRY_KEYS:
            return False
        if not all(
            _stream_refs(entry.raw_get(k), resolve)
            for k in ("/Cert", "/OCSP", "/CRL")
            if k in entry
        ):
            return False
    return True


def _has(value: Any, key: str) -> bool:
    return isinstance(value, generic.DictionaryObject) and key in value


def _is_page(value: Any) -> bool:
    return (
        isinstance(value, generic.DictionaryObject)
        and "/Type" in value
        and value.raw_get("/Type") == "/Page"
    )


def _is_dss(value: Any) -> bool:
    if not isinstance(value, generic.DictionaryObject) or isinstance(value, generic.StreamObject):
        return False
    return set(value) <= _DSS_KEYS and ("/Type" not in value or value.raw_get("/Type") == "/DSS")


def _is_info(value: Any) -> bool:
    if not isinstance(value, generic.DictionaryObject) or isinstance(value, generic.StreamObject):
        return False
    if not set(value) <= _INFO_KEYS:
        return False
    for key in value:
        entry = value.raw_get(key)
        if key == "/Trapped" and isinstance(entry, generic.NameObject):
            continue
        if not isinstance(entry, generic.TextStringObject | generic.ByteStringObject):
            return False
    return True


def _invisible_timestamp_field(
    reader: PdfFileReader, ref: generic.Reference, revision: int
) -> bool:
    """A new merged signature field and widget: ``/FT /Sig``, a ``/DocTimeStamp`` value, no
    appearance, a zero-size rectangle."""
    if reader.xrefs.get_historical_ref(ref, revision - 1) is not None:
        return False
    field = _object(reader, ref, revision)
    if not isinstance(field, generic.DictionaryObject):
        return False
    if field.raw_get("/FT") != "/Sig" or field.raw_get("/Subtype") != "/Widget":
        return False
    if not set(field) <= _FIELD_KEYS or "/V" not in field:
        return False
    value = field.raw_get("/V")
    if isinstance(value, generic.IndirectObject):
        value = _object(reader, value.reference, revision)
    if not isinstance(value, generic.DictionaryObject) or value.get("/Type") != "/DocTimeStamp":
        return False
    rectangle = field.raw_get("/Rect") if "/Rect" in field else None
    if not isinstance(rectangle, generic.ArrayObject) or len(rectangle) != 4:
        return False
    x1, y1, x2, y2 = (float(number) for number in rectangle)
    return x1 == x2 or y1 == y2
