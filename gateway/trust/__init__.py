"""Trust decisions shared by the WS-Security gate, the signature engine and the receipts.

Below the WS-Security gate and the document-signature engine, above ``gateway.domain``; it
imports neither of them. Modules, one concept each: ``certificates`` (the trust store: anchors, path
validation with pyca's verifier, CRLs; RFC 5280 §6), ``algorithms`` (the digest and signature
algorithm Enums both allow-lists are made of) and ``principals`` (certificate subject ->
``Principal``). Modules are imported one by one: this file imports none, so a command that only
needs the algorithm names does not load path validation.
"""
