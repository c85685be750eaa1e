"""PDF vectors from producers we did not write (issue 13, point 5): qpdf rewrites (cross-reference
streams, AES encryption with the empty user password), a hybrid-reference update checked by
``qpdf --check``, a trailer slip pyHanko's strict reader refuses, pyHanko's own signer on each,
and the legacy ``adbe.pkcs7.sha1`` / ``adbe.x509.rsa_sha1`` sub-filters (pyHanko's low-level CMS
embedder with the CMS or PKCS #1 value from ``openssl``). ``pdfsig`` (poppler) is the
independent check that each vector is valid and its twin is not.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from asn1crypto import core
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject
from pyhanko.sign import signers
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm, SigFieldSpec
from pyhanko.sign.signers.cms_embedder import PdfCMSEmbedder, SigIOSetup, SigObjSetup
from pyhanko.sign.signers.pdf_byterange import SignatureObject
from sig_vectors import Signer


def pyhanko_sign(
    pdf: bytes, signer: Signer, *, field: str = "Sig1", strict: bool = True, password: str | None
) -> bytes:
    """pyHanko's documented signing path; ``password`` encrypts the update like the file."""
    simple = signers.SimpleSigner.load(str(signer.key_path), str(signer.cert_path))
    assert simple is not None
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=strict)
    if password is not None:
        writer.encrypt(password)
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256")
    return signers.sign_pdf(writer, meta, signer=simple).getvalue()


def qpdf(pdf: bytes, *options: str) -> bytes:
    """``qpdf OPTIONS in.pdf out.pdf`` (options before the files, ``--`` ends ``--encrypt``)."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "in.pdf").write_bytes(pdf)
        subprocess.run(
            ["qpdf", *options, str(folder / "in.pdf"), str(folder / "out.pdf")],
            check=True,
            capture_output=True,
        )
        return (folder / "out.pdf").read_bytes()


def qpdf_check(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "in.pdf").write_bytes(pdf)
        result = subprocess.run(
            ["qpdf", "--check", str(Path(work) / "in.pdf")],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout + result.stderr


def pdfsig(pdf: bytes) -> list[str]:
    """poppler's verdict on each signature's bytes (``pdfsig -nocert``: no trust check)."""
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "in.pdf").write_bytes(pdf)
        result = subprocess.run(
            ["pdfsig", "-nocert", str(Path(work) / "in.pdf")],
            capture_output=True,
            text=True,
            check=False,
        )
    return re.findall(r"Signature Validation: (.*)", result.stdout)


def hybrid_update(pdf: bytes) -> bytes:
    """An incremental update in the hybrid-reference style (ISO 32000-1 §7.5.8.4), as Word
    writes them: a classic cross-reference table whose trailer's ``/XRefStm`` names a
    cross-reference stream listing the object kept in an object stream (the new /Info)."""
    size = int(re.findall(rb"/Size (\d+)", pdf)[-1])
    root = re.findall(rb"/Root (\d+ \d+ R)", pdf)[-1].decode()
    previous = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    info, object_stream, xref_stream = size, size + 1, size + 2
    header = f"{info} 0 ".encode()
    packed = header + b"<< /Producer (hybrid-reference writer) >>"
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    stream_offset = len(out)
    out += (
        (
            f"{object_stream} 0 obj\n<< /Type /ObjStm /N 1 /First {len(header)} "
            f"/Length {len(packed)} >>\nstream\n"
        ).encode()
        + packed
        + b"\nendstream\nendobj\n"
    )
    rows = bytes([2]) + object_stream.to_bytes(2, "big") + b"\x00"
    xref_offset = len(out)
    out += (
        (
            f"{xref_stream} 0 obj\n<< /Type /XRef /Size {xref_stream + 1} /Index [{info} 1] "
            f"/W [1 2 1] /Length {len(rows)} >>\nstream\n"
        ).encode()
        + rows
        + b"\nendstream\nendobj\n"
    )
    table_offset = len(out)
    out += (
        f"xref\n{object_stream} 2\n{stream_offset:010d} 00000 n \n{xref_offset:010d} 00000 n \n"
        f"trailer\n<< /Size {xref_stream + 1} /Root {root} /Info {info} 0 R /Prev {previous} "
        f"/XRefStm {xref_offset} >>\nstartxref\n{table_offset}\n%%EOF\n"
    ).encode()
    return bytes(out)


def trailer_size_slip(pdf: bytes) -> bytes:
    """The trailer's ``/Size`` two short of the objects it lists: a slip readers forgive,
    pyHanko's strict mode does not."""
    match = list(re.finditer(rb"/Size (\d+)", pdf))[-1]
    smaller = str(int(match.group(1)) - 2).encode().rjust(len(match.group(1)))
    return pdf[: match.start(1)] + smaller + pdf[match.end(1) :]


def _openssl(arguments: list[str], data: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "in.bin").write_bytes(data)
        return subprocess.run(
            # dgst takes its input as an operand, cms with -in
            [
                "openssl",
                *arguments,
                *(["-in"] if arguments[0] == "cms" else []),
                str(Path(work) / "in.bin"),
            ],
            check=True,
            capture_output=True,
        ).stdout


def legacy_sign(pdf: bytes, signer: Signer, subfilter: str, *, field: str = "Legacy") -> bytes:
    """A signature with a pre-PAdES sub-filter, through pyHanko's low-level CMS embedder:
    ``/adbe.pkcs7.sha1`` holds an ``openssl cms`` SignedData whose eContent is the SHA-1 digest
    of the byte range; ``/adbe.x509.rsa_sha1`` holds ``openssl dgst -sha1 -sign``'s PKCS #1
    value (as a DER OCTET STRING) and the certificate in ``/Cert``."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    embedder = PdfCMSEmbedder().write_cms(field_name=field, writer=writer)
    next(embedder)
    placeholder = SignatureObject(bytes_reserved=8192)
    placeholder[generic.NameObject("/SubFilter")] = generic.NameObject(subfilter)
    if subfilter == "/adbe.x509.rsa_sha1":
        placeholder[generic.NameObject("/Cert")] = generic.ByteStringObject(
            signer.certificate.public_bytes(serialization.Encoding.DER)
        )
    embedder.send(SigObjSetup(sig_placeholder=placeholder))
    prepared, output = embedder.send(SigIOSetup(md_algorithm="sha1", in_place=False))
    written = output.getvalue()
    signed_bytes = (
        written[: prepared.reserved_region_start] + written[prepared.reserved_region_end :]
    )
    if subfilter == "/adbe.x509.rsa_sha1":
        value = _openssl(["dgst", "-sha1", "-sign", str(signer.key_path)], signed_bytes)
        contents = core.OctetString(value).dump()
    else:
        digest = _openssl(["dgst", "-sha1", "-binary"], signed_bytes)
        contents = _openssl_cms_over(digest, signer)
    embedder.send(contents)
    return output.getvalue()


def _openssl_cms_over(data: bytes, signer: Signer) -> bytes:
    return _openssl(
        ["cms", "-sign", "-binary", "-nodetach", "-cades", "-md", "sha1", "-signer",
         str(signer.cert_path), "-inkey", str(signer.key_path), "-outform", "DER"],
        data,
    )  # fmt: skip


def tamper_signed_comment(pdf: bytes) -> bytes:
    """One byte changed in the binary comment after the header: inside every byte range, and
    meaningless to a parser, so only the digests can notice."""
    position = pdf.index(b"\n%", 0, 64) + 2
    return pdf[:position] + bytes([pdf[position] ^ 0x01]) + pdf[position + 1 :]


# --- changes after signing (issue 13, point 6) ---------------------------------------------------


def reportlab_form() -> bytes:
    """A one-page form as reportlab writes it: two empty text fields, ``name`` and ``city``."""
    from reportlab.pdfgen import canvas

    output = BytesIO()
    page = canvas.Canvas(output, pagesize=(300, 300), invariant=1)
    page.drawString(20, 260, "Application form")
    page.acroForm.textfield(name="name", x=20, y=200, width=200, height=20)
    page.acroForm.textfield(name="city", x=20, y=150, width=200, height=20)
    page.showPage()
    page.save()
    return output.getvalue()


def pyhanko_certify(
    pdf: bytes,
    signer: Signer,
    *,
    field: str,
    certify: MDPPerm | None = None,
    lock: FieldMDPSpec | None = None,
) -> bytes:
    """pyHanko's signer: a certification with DocMDP ``certify``, or an approval signature whose
    new field carries the FieldMDP ``lock``."""
    simple = signers.SimpleSigner.load(str(signer.key_path), str(signer.cert_path))
    assert simple is not None
    meta = signers.PdfSignatureMetadata(
        field_name=field,
        md_algorithm="sha256",
        certify=certify is not None,
        docmdp_permissions=certify or MDPPerm.FILL_FORMS,
    )
    spec = SigFieldSpec(field, field_mdp_spec=lock) if lock is not None else None
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    return signers.sign_pdf(writer, meta, signer=simple, new_field_spec=spec).getvalue()


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    change(writer)
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


def fill_field(pdf: bytes, name: str, value: str) -> bytes:
    """Form filling in an incremental update: the field's ``/V`` set, as a viewer does."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        for reference in writer.root["/AcroForm"]["/Fields"]:
            field = reference.get_object()
            if field.get("/T") == name:
                field[generic.NameObject("/V")] = generic.TextStringObject(value)
                writer.mark_update(reference)

    return _update(pdf, change)


def add_comment(pdf: bytes) -> bytes:
    """A text annotation (a sticky note) added to the first page in an incremental update."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
        page = page_ref.get_object()
        note = writer.add_object(
            generic.DictionaryObject(
                {
                    generic.NameObject("/Type"): generic.NameObject("/Annot"),
                    generic.NameObject("/Subtype"): generic.NameObject("/Text"),
                    generic.NameObject("/Rect"): generic.ArrayObject(
                        [generic.NumberObject(v) for v in (10, 10, 30, 30)]
                    ),
                    generic.NameObject("/Contents"): generic.TextStringObject("Seen"),
                }
            )
        )
        existing = page.get("/Annots")
        annots = generic.ArrayObject(
            [existing.raw_get(i) for i in range(len(existing))] if existing is not None else []
        )
        annots.append(note)
        page[generic.NameObject("/Annots")] = annots
        writer.mark_update(page_ref)

    return _update(pdf, change)


def add_page(pdf: bytes) -> bytes:
    """A blank page appended in an incremental update."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        writer.insert_page(
            PageObject(
                contents=writer.add_object(generic.StreamObject(stream_data=b"")),
                media_box=generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 300, 300)]),
            )
        )

    return _update(pdf, change)


def add_page_keeping_count(pdf: bytes) -> bytes:
    """A page slipped into the page tree's ``/Kids`` with ``/Count`` left as it was."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        pages_ref = writer.root.raw_get("/Pages")
        pages = pages_ref.get_object()
        page = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Page"),
                generic.NameObject("/Parent"): pages_ref,
                generic.NameObject("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 300, 300)]
                ),
            }
        )
        pages["/Kids"].append(writer.add_object(page))
        writer.mark_update(pages_ref)

    return _update(pdf, change)
