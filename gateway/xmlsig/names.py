"""Qualified names of XML Signature elements (XMLDSig 1.1 §4) and the enveloped-signature
transform URI (§6.6.4), spelled once for the gate and the engine. Namespace URIs themselves are
``gateway.namespaces``'.
"""

from __future__ import annotations

from gateway import namespaces as ns

SIGNATURE = ns.qname(ns.DS, "Signature")
SIGNED_INFO = ns.qname(ns.DS, "SignedInfo")
SIGNATURE_VALUE = ns.qname(ns.DS, "SignatureValue")
KEY_INFO = ns.qname(ns.DS, "KeyInfo")
OBJECT = ns.qname(ns.DS, "Object")
CANONICALIZATION_METHOD = ns.qname(ns.DS, "CanonicalizationMethod")
SIGNATURE_METHOD = ns.qname(ns.DS, "SignatureMethod")
REFERENCE = ns.qname(ns.DS, "Reference")
TRANSFORMS = ns.qname(ns.DS, "Transforms")
TRANSFORM = ns.qname(ns.DS, "Transform")
DIGEST_METHOD = ns.qname(ns.DS, "DigestMethod")
DIGEST_VALUE = ns.qname(ns.DS, "DigestValue")
INCLUSIVE_NAMESPACES = ns.qname(ns.EC, "InclusiveNamespaces")
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

