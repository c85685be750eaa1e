"""ASiC containers (ETSI EN 319 162-1): ASiC-S and ASiC-E holding CAdES or XAdES signatures.

Reading the ZIP is bounded before anything is inflated: at most ``policy.max_container_entries``
entries; entry names relative, ``/``-separated, without ``..`` segments, NUL, backslash or drive
(no path traversal: names are only ever compared, never joined to a path); declared sizes summed
against ``policy.max_container_bytes`` and each entry above 64 KiB at most
``policy.max_compression_ratio`` times its compressed size; then each entry is inflated with a
read bounded by its declared size, so a lying header cannot inflate more. Anything else is
FORMAT_FAILURE for the container.

Layout (EN 319 162-1 §4.3, §4.4): a ``mimetype`` entry (``application/vnd.etsi.asic-s+zip`` or
``-e+zip``; first and stored, else a warning; another value is FORMAT_FAILURE); ``META-INF/``
holds the signatures (``*.p7s`` CAdES, ``*signatures*.xml`` XAdES) and, for CAdES in ASiC-E,
``ASiCManifest*.xml`` files; every other entry is a data object.

* CAdES, ASiC-S: the signature is detached over the one data object.
* CAdES, ASiC-E: the signature is detached over the ASiCManifest whose ``SigReference`` names
  it; each ``DataObjectReference`` is then checked against its entry (missing:
  SIGNED_DATA_NOT_FOUND, different digest: HASH_FAILURE) and reported as a signed data object.
* XAdES: detached over the container's data object when there is exactly one (its reference
  must name that entry); over several (ASiC-E), each external ``ds:Reference`` resolves to the
  entry its URI names, percent-decoded (a URI naming no entry: SIGNED_DATA_NOT_FOUND).

* Time-stamps (EN 319 162-1 §4.3.2, §4.4.2): ``META-INF/timestamp*.tst`` is an RFC 3161 token.
  In ASiC-S (no manifest names it) its imprint covers the one data object; in ASiC-E it covers
  the ASiCManifest (or ``ASiCArchiveManifest``) whose ``SigReference`` names it, whose entries
  are then checked as for CAdES (an archive manifest may list ``META-INF/`` entries too: the
  signatures and manifests it preserves). Each is reported as an entry of its own (format ASiC,
  level ASiC-BASELINE-T when valid, the TSA as signer, genTime as the claimed time), failing
  as its token or the covered entries fail (a changed entry: HASH_FAILURE).

Every data object is reported with the signatures that cover it (``ContainerObject``).
"""

from __future__ import annotations

import base64
import hmac
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from io import BytesIO
from urllib.parse import unquote

from lxml import etree

from gateway.errors import GatewayError
from gateway.signatures import crypto
from gateway.signatures.assessment import format_failure
from gateway.signatures.cades import validate_cades
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    ContainerObject,
    Finding,
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SignedObjectKind,
    SubIndication,
    TimestampKind,
)
from gateway.signatures.timestamps import validate_timestamp
from gateway.signatures.xades import validate_xades
from gateway.trust.certificates import TrustStore
from gateway.xmlsafe import parse_xml

ASIC_NS = "http://uri.etsi.org/02918/v1.2.1#"
"""ASiCManifest (EN 319 162-1 Annex A). Kept here until the shared namespace table takes it."""
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
MIMETYPES = ("application/vnd.etsi.asic-s+zip", "application/vnd.etsi.asic-e+zip")
ZIP_MAGIC = b"PK\x03\x04"
_RATIO_FLOOR = 64 * 1024


@dataclass(frozen=True, slots=True)
class Container:
    entries: dict[str, bytes]
    """Every file entry, by name, in the ZIP's order."""
    warnings: tuple[str, ...]

    @property
    def data_objects(self) -> list[str]:
        return [name for name in self.entries if not _is_meta(name)]


def _is_meta(name: str) -> bool:
    return name == "mimetype" or name.startswith("META-INF/")


def _safe_name(name: str) -> bool:
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return False
    if len(name) > 1 and name[1] == ":":
        return False
    return all(segment not in ("..", ".") for segment in name.split("/"))


def read_container(document: bytes, policy: SignaturePolicy) -> Container:
    """The container's entries, read within the policy's bounds (module docstring)."""
    try:
        archive = zipfile.ZipFile(BytesIO(document))
        infos = archive.infolist()
        if len(infos) > policy.max_container_entries:
            raise FormatError("The container holds too many entries")
        declared = 0
        for info in infos:
            if not _safe_name(info.filename):
                raise FormatError("The container holds an entry with an unsafe name")
            declared += info.file_size
            if info.file_size > _RATIO_FLOOR and (
                info.file_size > policy.max_compression_ratio * max(info.compress_size, 1)
            ):
                raise FormatError("A container entry is compressed beyond the accepted ratio")
        if declared > policy.max_container_bytes:
            raise FormatError("The container's entries are larger than accepted")
        entries: dict[str, bytes] = {}
        for info in infos:
            if info.is_dir():
                continue
            if info.filename in entries:
                raise FormatError("The container holds two entries with one name")
            with archive.open(info) as stream:
                data = stream.read(info.file_size + 1)
            if len(data) != info.file_size:
                raise FormatError("A container entry is not the size its header declares")
            entries[info.filename] = data
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        raise FormatError("The container is not a readable ZIP file") from exc
    except (NotImplementedError, RuntimeError, ValueError) as exc:  # encrypted, unknown method
        raise FormatError("The container uses ZIP features that are not supported") from exc
    return Container(entries, _mimetype_warnings(infos, entries))


def _mimetype_warnings(infos: list[zipfile.ZipInfo], entries: dict[str, bytes]) -> tuple[str, ...]:
    mimetype = entries.get("mimetype")
    if mimetype is None:
        return ("The container has no mimetype entry",)
    if mimetype.strip().decode("ascii", "replace") not in MIMETYPES:
        raise FormatError("The container's mimetype is not an ASiC one")
    first = infos[0]
    if first.filename != "mimetype" or first.compress_type != zipfile.ZIP_STORED:
        return ("The mimetype entry is not the first, stored entry (EN 319 162-1 §4.4.1)",)
    return ()


def validate_asic(
    document: bytes,
    *,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[tuple[SignatureReport, ...], tuple[ContainerObject, ...]]:
    """Every signature of an ASiC container, and every data object with what covers it."""
    container = read_container(document, policy)
    data_objects = container.data_objects
    cades = sorted(name for name in container.entries if _is_signature(name, ".p7s"))
    xades = sorted(name for name in container.entries if _is_signature(name, ".xml"))
    stamps = sorted(name for name in container.entries if _is_timestamp(name))
    if not cades and not xades and not stamps:
        raise FormatError("The container holds no signature")
    if len(cades) + len(xades) + len(stamps) > policy.max_signatures:
        raise FormatError("The container holds too many signatures")
    reports: list[SignatureReport] = []
    for name in cades:
        reports.extend(_cades(container, name, data_objects, policy, trust, now))
    for name in xades:
        reports.extend(_xades(container, name, data_objects, policy, trust, now))
    for name in stamps:
        reports.append(_timestamp(container, name, data_objects, policy, trust, now))
    reports = [
        replace(report, warnings=(*container.warnings, *report.warnings)) for report in reports
    ]
    coverage = tuple(
        ContainerObject(
            name,
            tuple(
                report.identifier
                for report in reports
                if any(
                    item.identifier == name or unquote(item.identifier) == name
                    for item in report.signed_data_objects
                )
            ),
        )
        for name in data_objects
    )
    return tuple(reports), coverage


def _is_signature(name: str, suffix: str) -> bool:
    if not name.startswith("META-INF/") or not name.endswith(suffix):
        return False
    base = name[len("META-INF/") :]
    return "signature" in base.lower() and "/" not in base


def _is_timestamp(name: str) -> bool:
    if not name.startswith("META-INF/") or not name.endswith(".tst"):
        return False
    base = name[len("META-INF/") :]
    return "timestamp" in base.lower() and "/" not in base


def _timestamp(
    container: Container,
    path: str,
    data_objects: list[str],
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> SignatureReport:
    """An ASiC time-stamp token over its data object (ASiC-S) or its manifest (ASiC-E)."""
    manifest_name, manifest = _manifest_for(container, path, policy)
    objects: tuple[SignedDataObject, ...]
    if manifest is None:
        if len(data_objects) != 1:
            return _not_found(path, SignatureFormat.ASIC, "No ASiCManifest references this "
                              "time-stamp (ASiC-E) and the container does not hold exactly one "
                              "data object (ASiC-S)")  # fmt: skip
        covered = container.entries[data_objects[0]]
        findings: tuple[Finding, ...] = ()
        objects = ()
        covered_name = data_objects[0]
    else:
        covered = container.entries[manifest_name]
        objects, findings = _check_manifest(
            manifest, container, policy, preserved={path, manifest_name}
        )
        covered_name = manifest_name
    report = validate_timestamp(
        container.entries[path],
        kind=TimestampKind.DOCUMENT_TIMESTAMP,
        imprint_of=lambda hash_name: crypto.digest(hash_name, covered),
        trust=trust,
        policy=policy,
        now=now,
    )
    try:
        digest = crypto.digest(report.imprint_algorithm or "", covered)
    except crypto.UnknownAlgorithm:
        digest = b""
    scope = SignedDataObject(
        kind=SignedObjectKind.CONTAINER_ENTRY,
        identifier=covered_name,
        digest_algorithm=report.imprint_algorithm or "",
        digest=digest,
        covers_whole_document=False,
    )
    return SignatureReport(
        identifier=path,
        format=SignatureFormat.ASIC,
        findings=report.findings + (findings if report.passed else ()),
        signer=report.tsa,
        claimed_signing_time=report.generation_time,
        signed_data_objects=(scope, *objects),
        timestamps=(report,),
        signing_certificate_reference=report.passed,
    )


def _prefixed(path: str, report: SignatureReport) -> SignatureReport:
    return replace(report, identifier=f"{path}/{report.identifier}")


def _cades(
    container: Container,
    path: str,
    data_objects: list[str],
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> list[SignatureReport]:
    manifest_name, manifest = _manifest_for(container, path, policy)
    if manifest is None:
        if len(data_objects) != 1:
            return [
                _not_found(path, SignatureFormat.CADES, "No ASiCManifest references this signature (ASiC-E) and the "
                           "container does not hold exactly one data object (ASiC-S)")
            ]  # fmt: skip
        name = data_objects[0]
        reports = _validated(
            validate_cades, SignatureFormat.CADES, container, path, name, policy, trust, now
        )
        return [_renamed_scope(report, name, by_uri=False) for report in reports]
    reports = _validated(
        validate_cades, SignatureFormat.CADES, container, path, manifest_name, policy, trust, now
    )
    objects, findings = _check_manifest(manifest, container, policy)
    return [
        replace(
            report,
            findings=report.findings + findings if report.signed_data_objects else report.findings,
            signed_data_objects=report.signed_data_objects + objects,
        )
        for report in reports
    ]


def _manifest_for(
    container: Container, signature_path: str, policy: SignaturePolicy
) -> tuple[str, etree._Element | None]:
    for name, data in container.entries.items():
        if not (name.startswith("META-INF/") and "manifest" in name.lower()):
            continue
        if not name.endswith(".xml"):
            continue
        root = _parse(data, policy)
        if root.tag not in (f"{{{ASIC_NS}}}ASiCManifest", f"{{{ASIC_NS}}}ASiCArchiveManifest"):
            continue
        reference = root.find(f"{{{ASIC_NS}}}SigReference")
        if reference is not None and unquote(reference.get("URI") or "") == signature_path:
            return name, root
    return "", None


def _parse(data: bytes, policy: SignaturePolicy) -> etree._Element:
    try:
        return parse_xml(data, max_bytes=policy.max_document_bytes, max_depth=policy.max_xml_depth)
    except GatewayError as exc:
        raise FormatError("An ASiCManifest is not well-formed XML") from exc


def _check_manifest(
    manifest: etree._Element,
    container: Container,
    policy: SignaturePolicy,
    *,
    preserved: set[str] | None = None,
) -> tuple[tuple[SignedDataObject, ...], tuple[Finding, ...]]:
    """The manifest's data object references, checked against the entries. With ``preserved``
    (a time-stamp's manifest), ``META-INF/`` entries other than those named may be listed."""
    objects: list[SignedDataObject] = []
    findings = Findings()
    for reference in manifest.findall(f"{{{ASIC_NS}}}DataObjectReference"):
        uri = unquote(reference.get("URI") or "")
        method = reference.find(f"{{{DS_NS}}}DigestMethod")
        value = reference.findtext(f"{{{DS_NS}}}DigestValue") or ""
        hash_name = crypto.XML_DIGESTS.get("" if method is None else method.get("Algorithm") or "")
        data = container.entries.get(uri)
        meta_allowed = preserved is not None and uri != "mimetype" and uri not in preserved
        if data is None or (_is_meta(uri) and not meta_allowed):
            findings.add(
                Step.CRYPTO,
                SubIndication.SIGNED_DATA_NOT_FOUND,
                f"The manifest references {uri[:100]!r}, which the container does not hold",
            )
            continue
        if hash_name is None or not policy.allows_digest(hash_name):
            findings.add(
                Step.ACCEPTANCE,
                SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                f"The manifest digests {uri[:100]!r} with an algorithm that is not accepted",
            )
            continue
        computed = crypto.digest(hash_name, data)
        try:
            expected = _base64(value)
        except ValueError:
            expected = b""
        if not hmac.compare_digest(computed, expected):
            findings.add(
                Step.CRYPTO,
                SubIndication.HASH_FAILURE,
                f"The container entry {uri[:100]!r} has been modified",
            )
            continue
        objects.append(
            SignedDataObject(
                kind=SignedObjectKind.CONTAINER_ENTRY,
                identifier=uri,
                digest_algorithm=hash_name,
                digest=computed,
                covers_whole_document=False,
            )
        )
    if not objects and not findings:
        findings.add(
            Step.FORMAT, SubIndication.FORMAT_FAILURE, "The ASiCManifest references no data object"
        )
    return tuple(objects), findings.ordered()


def _base64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)


def _xades(
    container: Container,
    path: str,
    data_objects: list[str],
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> list[SignatureReport]:
    if len(data_objects) != 1:
        # ASiC-E: each ds:Reference names its entry by URI (percent-decoded)
        entries = {name: container.entries[name] for name in data_objects}
        try:
            found = validate_xades(
                container.entries[path],
                detached_content=entries,
                policy=policy,
                trust=trust,
                now=now,
            )
        except FormatError as exc:
            return [format_failure(path, SignatureFormat.XADES, exc.message)]
        return [_unresolved(_named_entries(_prefixed(path, report), entries)) for report in found]
    name = data_objects[0]
    reports = _validated(
        validate_xades, SignatureFormat.XADES, container, path, name, policy, trust, now
    )
    return [_unresolved(_renamed_scope(report, name, by_uri=True)) for report in reports]


def _named_entries(report: SignatureReport, entries: dict[str, bytes]) -> SignatureReport:
    """Each detached object whose decoded URI names a container entry is that entry."""
    return replace(
        report,
        signed_data_objects=tuple(
            replace(
                item, kind=SignedObjectKind.CONTAINER_ENTRY, identifier=unquote(item.identifier)
            )
            if item.kind is SignedObjectKind.DETACHED_CONTENT
            and unquote(item.identifier) in entries
            else item
            for item in report.signed_data_objects
        ),
    )


def _unresolved(report: SignatureReport) -> SignatureReport:
    """A XAdES reference left detached names no entry of the container: its data is not here."""
    missing = [
        item.identifier
        for item in report.signed_data_objects
        if item.kind is SignedObjectKind.DETACHED_CONTENT
    ]
    if not missing:
        return report
    finding = Finding(
        SubIndication.SIGNED_DATA_NOT_FOUND,
        f"The reference {missing[0][:100]!r} names no data object of the container",
    )
    return replace(report, findings=(*report.findings, finding))


def _validated(
    validator: Callable[..., tuple[SignatureReport, ...]],
    signature_format: SignatureFormat,
    container: Container,
    path: str,
    content: str,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> list[SignatureReport]:
    """``validator`` (``validate_cades`` or ``validate_xades``) on the signature entry ``path``
    with the entry ``content`` as its detached data; a format failure is its one report."""
    try:
        reports = validator(
            container.entries[path],
            detached_content=container.entries[content],
            policy=policy,
            trust=trust,
            now=now,
        )
    except FormatError as exc:
        return [format_failure(path, signature_format, exc.message)]
    return [_prefixed(path, report) for report in reports]


def _renamed_scope(report: SignatureReport, name: str, *, by_uri: bool) -> SignatureReport:
    """The detached data object is the container entry ``name``: report it so. ``by_uri``
    (XAdES): only a reference whose URI names that entry covers it."""
    return replace(
        report,
        signed_data_objects=tuple(
            replace(item, kind=SignedObjectKind.CONTAINER_ENTRY, identifier=name)
            if item.kind is SignedObjectKind.DETACHED_CONTENT
            and (not by_uri or unquote(item.identifier) == name)
            else item
            for item in report.signed_data_objects
        ),
    )


def _not_found(path: str, signature_format: SignatureFormat, message: str) -> SignatureReport:
    findings = Findings()
    findings.add(Step.CRYPTO, SubIndication.SIGNED_DATA_NOT_FOUND, message)
    return SignatureReport(identifier=path, format=signature_format, findings=findings.ordered())
