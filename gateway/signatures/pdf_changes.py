"""What was changed in a PDF after a signature, judged against its DocMDP/FieldMDP permissions.

A signature's own integrity (its ``/ByteRange`` digest) is one thing; what later incremental
updates did to the document is another (issue 13, point 6; ISO 32000-1 §12.8.2, ETSI EN 319
142-1 §5.4). pyHanko's difference analysis classifies every later revision by the least lenient
``ModificationLevel`` needed to explain it; this module runs it with:

* pyHanko's standard rules (catalog, document info, metadata, DSS, signature fields, form
  fields), the form rule filtered to the references the revision actually wrote (pyHanko's
  rule walks every field, and a FieldMDP-locked field that a revision did not touch must not be
  reported as changed);
* an annotation rule at level ANNOTATIONS: new or changed annotations other than widgets, their
  appearance streams, and pages whose only change is their ``/Annots`` (widgets kept).

:func:`judge` says, for one signature:

* a *violation* (the signature is flagged: TOTAL_FAILED/FORMAT_FAILURE, its own bytes intact)
  when pages were added or removed, a field locked by its FieldMDP (or ``/Lock``) was changed,
  or the changes go beyond the DocMDP permission in force (P=1 nothing but DSS/document
  time-stamps, P=2 form filling and signing, P=3 also annotations);
* a *warning* when no permission restricts the document and the changes go beyond form filling
  and annotations (pyHanko's level OTHER): allowed by ISO 32000 for approval signatures, but what
  is shown is no longer what was signed;
* nothing else: form filling, signing and annotations as permitted pass silently.

Revisions that only add a DSS and invisible document time-stamps are recognised first, cheaply
(``pdf_ltv_updates``: LTA_UPDATES, allowed under every permission); any other shape goes to
pyHanko's analysis.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    FormUpdate,
    FormUpdatingRule,
    ModificationLevel,
    ReferenceUpdate,
    StandardDiffPolicy,
    SuspiciousModification,
    WhitelistRule,
)
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from gateway.signatures.pdf_ltv_updates import only_ltv_updates

PAGES_CHANGED = (
    "Pages were added to or removed from the document after signing ({before} -> {after})"
)
FIELD_LOCKED = "A form field locked by the signature (FieldMDP) was changed after signing"
BEYOND_DOCMDP = (
    "The document was changed after signing ({level}) beyond what its DocMDP permission "
    "P={permission} allows; the signed revision itself is intact"
)
OTHER_CHANGES = (
    "The document was changed after signing beyond form filling, signing and annotations; "
    "no DocMDP permission forbids it and the signed revision itself is intact, but what is "
    "shown is no longer what was signed"
)
UNANALYSABLE = "The revisions after the signature cannot be analysed"


@dataclass(frozen=True, slots=True)
class Judgement:
    level: ModificationLevel
    violation: str | None = None
    warning: str | None = None


def _is_annotation(value: Any) -> bool:
    return (
        isinstance(value, generic.DictionaryObject)
        and "/Rect" in value
        and "/Subtype" in value
        and value.get("/Subtype") != "/Widget"
        and value.get("/Type", "/Annot") == "/Annot"
    )


def _is_page(value: Any) -> bool:
    return isinstance(value, generic.DictionaryObject) and value.get("/Type") == "/Page"


def _annotation_refs(page: generic.DictionaryObject) -> list[Any]:
    try:
        annots = page.raw_get("/Annots")
    except KeyError:
        return []
    array = annots.get_object() if isinstance(annots, generic.IndirectObject) else annots  # type: ignore[no-untyped-call]
    if not isinstance(array, generic.ArrayObject):
        return []
    return [array.raw_get(i) for i in range(len(array))]


def _split(page: generic.DictionaryObject) -> tuple[set[Any], set[Any]]:
    """(widget references, other annotations) in the page's ``/Annots``."""
    widgets: set[Any] = set()
    others: set[Any] = set()
    for entry in _annotation_refs(page):
        if not isinstance(entry, generic.IndirectObject):
            others.add(id(entry))  # a direct annotation: always counts as changed
            continue
        target = entry.get_object()  # type: ignore[no-untyped-call]
        is_widget = isinstance(target, generic.DictionaryObject) and (
            target.get("/Subtype") == "/Widget"
        )
        (widgets if is_widget else others).add(entry.reference)
    return widgets, others


class AnnotationRule(WhitelistRule):
    """Annotations (not widgets) added, changed or removed, qualified at level ANNOTATIONS."""

    def apply(self, old: Any, new: Any) -> Iterable[ReferenceUpdate]:
        xrefs = old.reader.xrefs
        for ref in new.explicit_refs_in_revision():
            value = new(ref)
            existed = xrefs.get_historical_ref(ref, old.revision) is not None
            previous = old(ref) if existed else None
            if _is_annotation(value) and (previous is None or _is_annotation(previous)):
                yield ReferenceUpdate(ref)
                yield from self._appearance(new, old, value)
            elif _is_page(value) and previous is not None and _is_page(previous):
                if not self._only_annots(previous, value):
                    continue
                yield ReferenceUpdate(ref)
                annots = value.raw_get("/Annots") if "/Annots" in value else None
                if isinstance(annots, generic.IndirectObject):
                    yield ReferenceUpdate(annots.reference)

    @staticmethod
    def _appearance(new: Any, old: Any, annotation: generic.DictionaryObject) -> Iterator[Any]:
        if "/AP" not in annotation:
            return
        for dependency in new.collect_dependencies(
            annotation.raw_get("/AP"), since_revision=old.revision + 1
        ):
            yield ReferenceUpdate(dependency)

    @staticmethod
    def _only_annots(previous: generic.DictionaryObject, value: generic.DictionaryObject) -> bool:
        keys = (set(previous) | set(value)) - {"/Annots"}
        if any(
            previous.raw_get(k) != value.raw_get(k) for k in keys if k in previous and k in value
        ):
            return False
        if any((k in previous) != (k in value) for k in keys):
            return False
        old_widgets, old_others = _split(previous)
        new_widgets, new_others = _split(value)
        # widgets kept; and some annotation changed (widget-only changes are the form rules')
        return old_widgets <= new_widgets and old_others != new_others


class WrittenFormUpdates(FormUpdatingRule):
    """pyHanko's form rule, keeping only the updates of references the revision wrote."""

    def apply(self, old: Any, new: Any) -> Iterable[tuple[ModificationLevel, FormUpdate]]:
        written = new.explicit_refs_in_revision()
        for level, update in super().apply(old, new):
            if update.updated_ref in written:
                yield level, update


_default_form_rule = DEFAULT_DIFF_POLICY.form_rule
assert _default_form_rule is not None
POLICY = StandardDiffPolicy(
    global_rules=[
        *DEFAULT_DIFF_POLICY.global_rules,
        AnnotationRule().as_qualified(ModificationLevel.ANNOTATIONS),
    ],
    form_rule=WrittenFormUpdates(field_rules=_default_form_rule.field_rules),
)


_MAX_PAGE_NODES = 100_000


def _resolved(value: Any) -> Any:
    """An indirect reference followed, an encrypted object (historical revisions) decrypted."""
    for _ in range(4):
        if isinstance(value, generic.IndirectObject):
            value = value.get_object()  # type: ignore[no-untyped-call]
        elif isinstance(value, generic.DecryptedObjectProxy):
            value = value.decrypted
        else:
            break
    return value


def _pages(root: Any) -> tuple[int, int]:
    """(``/Count`` of the page tree, pages found walking its ``/Kids``): a revision that adds a
    page without updating ``/Count`` (or the reverse) changes one of the two."""
    tree = _resolved(root["/Pages"])
    declared = int(_resolved(tree["/Count"]))
    found, seen, pending = 0, 0, [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        node = _resolved(node)
        seen += 1
        if seen > _MAX_PAGE_NODES or depth > 64:
            raise ValueError("page tree too large or too deep")
        has_kids = isinstance(node, generic.DictionaryObject) and "/Kids" in node
        kids = node.raw_get("/Kids") if has_kids else None
        kids = _resolved(kids)
        if not isinstance(kids, generic.ArrayObject):
            found += 1
            continue
        pending.extend((kids.raw_get(i), depth + 1) for i in range(len(kids)))
    return declared, found


def field_lock(signature: EmbeddedPdfSignature) -> FieldMDPSpec | None:
    """The FieldMDP transform of the signature, else the field's ``/Lock`` (PDF 2.0)."""
    spec = signature.fieldmdp
    if spec is not None:
        return spec
    lock = signature.sig_field.get("/Lock")
    if lock is None:
        return None
    try:
        return FieldMDPSpec.from_pdf_object(lock.get_object())
    except (ValueError, KeyError):
        return None


def judge(signature: EmbeddedPdfSignature, permission: MDPPerm | None) -> Judgement:
    """Judge the revisions after ``signature`` (its coverage already computed by pyHanko).

    ``permission`` is the DocMDP permission in force for it: the strictest of its own and of any
    certification or ``/Lock`` in an earlier or the same revision.
    """
    if signature.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return Judgement(ModificationLevel.NONE)
    reader = signature.reader
    # DSS and document time-stamps only: no page-tree node nor catalog /Pages was rewritten
    if only_ltv_updates(reader, signature.signed_revision):
        return Judgement(ModificationLevel.LTA_UPDATES)
    try:
        before = _pages(reader.get_historical_root(signature.signed_revision))
        after = _pages(reader.root)
    except Exception:  # noqa: BLE001 - a page tree that cannot be read counts as a change
        return Judgement(ModificationLevel.OTHER, violation=UNANALYSABLE)
    if before != after:
        return Judgement(
            ModificationLevel.OTHER,
            violation=PAGES_CHANGED.format(before=before[1], after=after[1]),
        )
    try:
        result = POLICY.review_file(
            reader,
            signature.signed_revision,
            field_mdp_spec=field_lock(signature),
            # pyHanko only asks whether a certification is in force (and warns on P=3)
            doc_mdp=None if permission is None else MDPPerm.FILL_FORMS,
        )
    except Exception:  # noqa: BLE001 - hostile revisions
        return Judgement(ModificationLevel.OTHER, violation=UNANALYSABLE)
    if isinstance(result, SuspiciousModification):
        if "is locked" in str(result):
            return Judgement(ModificationLevel.OTHER, violation=FIELD_LOCKED)
        level = ModificationLevel.OTHER
    else:
        assert isinstance(result, DiffResult)
        level = result.modification_level
    if permission is not None and level.value > permission.value:
        return Judgement(
            level,
            violation=BEYOND_DOCMDP.format(level=level.name, permission=permission.value),
        )
    if level is ModificationLevel.OTHER:
        return Judgement(level, warning=OTHER_CHANGES)
    return Judgement(level)
