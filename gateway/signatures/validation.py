"""The validation entry point: bytes in, a :class:`ValidationReport` out -- never an exception
for bad input.

Size is the caller's first defence (stream-limit the request body before it is read whole); this
function refuses anything above ``policy.max_document_bytes`` again with ``LimitExceeded``
(code ``DOCUMENT_TOO_LARGE``), the only exception it raises for a client's input. Everything else
-- truncated, random, hostile bytes -- becomes a report whose signature entry is
TOTAL_FAILED/FORMAT_FAILURE. A bug surfacing as an unexpected exception is logged with its
traceback and reported the same way (message ``internal error``), so one bad document cannot
break a batch; tests assert that no valid-looking input reaches that branch.

Each format's engine is imported when a document of that format first arrives (CAdES, the most
common and also needed by PAdES, up front): ``gateway validate`` of one CMS file does not load
the XML stack, and of a folder, each worker loads only the engines of the files it gets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from gateway.domain.clock import require_aware
from gateway.errors import LimitExceeded
from gateway.signatures.assessment import format_failure
from gateway.signatures.cades import validate_cades
from gateway.signatures.detached import DetachedDocument
from gateway.signatures.detect import decode_text, detect_format
from gateway.signatures.findings import FormatError
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    ContainerObject,
    SignatureFormat,
    SignatureReport,
    ValidationReport,
)
from gateway.trust.certificates import TrustStore

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "internal error"


def validate(
    document: bytes,
    *,
    detached_content: bytes | None = None,
    format: SignatureFormat | None = None,  # the public keyword of the contract
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    detached: Sequence[DetachedDocument] = (),
) -> ValidationReport:
    """Validate every signature in ``document`` at ``now`` (ETSI EN 319 102-1).

    ``format`` skips detection; ``detached_content`` is the signed data of a detached XAdES or
    CAdES signature (ignored when the CMS encapsulates its content, and for PDF and ASiC, whose
    data objects are inside); ``detached`` several named documents, which a detached XAdES
    pairs with its references by URI (``gateway.signatures.detached``; CAdES signs one). ``now``
    is the
    validation time (timezone-aware; the official clock's). Raises ``LimitExceeded`` only for
    oversized input.
    """
    require_aware(now, "now")
    documents = tuple(detached)
    if detached_content is not None:
        documents += (DetachedDocument(detached_content),)
    sizes = [(document, "document")] + [(d.content, "detached content") for d in documents]
    for value, name in sizes:
        if len(value) > policy.max_document_bytes:
            raise LimitExceeded(
                f"The {name} is larger than {policy.max_document_bytes} bytes",
                code="DOCUMENT_TOO_LARGE",
            )
    document = bytes(document)
    detected = format or detect_format(document)
    if detected is None:
        return ValidationReport(
            now,
            None,
            (format_failure("document", None, "The document is not XML, CMS, PDF or ASiC"),),
        )
    container_objects: tuple[ContainerObject, ...] = ()
    try:
        if detected is SignatureFormat.ASIC:
            from gateway.signatures.asic import validate_asic  # both XML and CMS engines

            signatures, container_objects = validate_asic(
                document, policy=policy, trust=trust, now=now
            )
        else:
            signatures = _dispatch(detected, document, documents, policy, trust, now)
    except FormatError as exc:
        signatures = (format_failure("document", detected, exc.message),)
    except RecursionError:
        signatures = (format_failure("document", detected, "The document nests too deeply"),)
    except Exception:  # the never-raise contract; the traceback goes to the log
        logger.exception("signature validation failed unexpectedly (format %s)", detected.value)
        signatures = (format_failure("document", detected, INTERNAL_ERROR),)
    return ValidationReport(now, detected, signatures, container_objects)


def _dispatch(
    detected: SignatureFormat,
    document: bytes,
    detached: tuple[DetachedDocument, ...],
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[SignatureReport, ...]:
    if detected is SignatureFormat.XADES:
        from gateway.signatures.xades import validate_xades  # lxml and the XML-DSig stack

        return validate_xades(
            document, detached_content=None, detached=detached, policy=policy, trust=trust, now=now
        )
    if detected is SignatureFormat.CADES:
        if len(detached) > 1:
            raise FormatError(f"A CAdES signature signs one detached document, not {len(detached)}")
        der = decode_text(document)
        signatures = validate_cades(
            der or document,
            detached_content=detached[0].content if detached else None,
            policy=policy,
            trust=trust,
            now=now,
        )
        if der is None:
            return signatures
        return tuple(
            replace(s, warnings=(*s.warnings, "The CMS was read from its Base64 text"))
            for s in signatures
        )
    from gateway.signatures import pyhanko_packages

    pyhanko_packages.defer_inits()  # pyHanko's validation modules, not its signers (aiohttp)
    from gateway.signatures.pades import validate_pades  # pyHanko's reader: PDFs only

    return validate_pades(document, policy=policy, trust=trust, now=now)
