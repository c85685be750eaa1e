"""XAdES-BES signatures made by Debian's xmlsec1 (software we did not write) for the port tests:
enveloping (the data inside ``ds:Object``, as XML or Base64) and detached (relative URIs).

The template is ours (references, SignedProperties with SigningCertificateV2 and SigningTime);
xmlsec1 computes every digest and the signature value. Files named by relative URIs are written
next to the template: xmlsec1, run in that folder, reads them.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization

from gateway import namespaces as ns
from gateway.pki import Credential

SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
BASE64 = "http://www.w3.org/2000/09/xmldsig#base64"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def reference(uri: str, transforms: Sequence[str] = ()) -> str:
    listed = "".join(f'<ds:Transform Algorithm="{t}"/>' for t in transforms)
    return (f'<ds:Reference URI="{uri}">'
            + (f"<ds:Transforms>{listed}</ds:Transforms>" if listed else "")
            + f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue/></ds:Reference>')


def xades(credential: Credential, references: Sequence[str], *, objects: str = "",
          files: dict[str, bytes] | None = None, object_ids: bool = False) -> bytes:
    """A XAdES-BES over ``references`` (from :func:`reference`), with ``objects`` (ds:Object
    elements) before the QualifyingProperties and ``files`` beside it for relative URIs."""
    der = credential.certificate().public_bytes(serialization.Encoding.DER)
    signing_time = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    template = (
        f'<ds:Signature xmlns:ds="{ns.DS}" Id="sig-1"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
        f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"/>'
        + "".join(references)
        + '<ds:Reference URI="#sig-1-sp" Type="http://uri.etsi.org/01903#SignedProperties">'
        f'<ds:Transforms><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue/></ds:Reference>'
        "</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo>"
        + objects
        + f'<ds:Object><xades:QualifyingProperties xmlns:xades="{ns.XADES}" Target="#sig-1">'
        '<xades:SignedProperties Id="sig-1-sp"><xades:SignedSignatureProperties>'
        f"<xades:SigningTime>{signing_time}</xades:SigningTime>"
        "<xades:SigningCertificateV2><xades:Cert><xades:CertDigest>"
        f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue>'
        f"{base64.b64encode(hashlib.sha256(der).digest()).decode()}</ds:DigestValue>"
        "</xades:CertDigest></xades:Cert></xades:SigningCertificateV2>"
        "</xades:SignedSignatureProperties></xades:SignedProperties>"
        "</xades:QualifyingProperties></ds:Object></ds:Signature>")
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for name, content in (files or {}).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
        (folder / "template.xml").write_text(template, encoding="utf-8")
        command = ["xmlsec1", "--sign", "--privkey-pem",
                   f"{credential.key_path},{credential.cert_path}",
                   "--id-attr:Id", f"{ns.XADES}:SignedProperties"]
        if object_ids:
            command += ["--id-attr:Id", f"{ns.DS}:Object"]
        command += ["--output", "signed.xml", "template.xml"]
        subprocess.run(command, cwd=folder, check=True, capture_output=True)
        return (folder / "signed.xml").read_bytes()


def detached(credential: Credential, files: dict[str, bytes]) -> bytes:
    """A detached XAdES over ``files``, each named by its percent-encoded relative path."""
    return xades(credential, [reference(quote(name)) for name in files], files=files)


def enveloping(credential: Credential, document: bytes, *, as_base64: bool = False) -> bytes:
    """An enveloping XAdES: ``document`` (an XML document, its declaration dropped) inside
    ``ds:Object Id="data"``, or its Base64 with the Base64 transform."""
    if as_base64:
        data = (f'<ds:Object Id="data" Encoding="{BASE64}">'
                f"{base64.b64encode(document).decode()}</ds:Object>")
        return xades(credential, [reference("#data", (BASE64,))], objects=data, object_ids=True)
    body = document.decode("utf-8")
    if body.startswith("<?xml"):
        body = body[body.index("?>") + 2:].lstrip()
    data = f'<ds:Object Id="data">{body}</ds:Object>'
    return xades(credential, [reference("#data", (EXC_C14N,))], objects=data, object_ids=True)
