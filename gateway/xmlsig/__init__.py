"""XML Signature core (W3C XML Signature 1.1): the pieces every verifier and signer here shares.

Below both the WS-Security gate and the document-signature engine, which judge signatures by
different rules but read the same syntax: ``names`` (the ``ds:`` element names and the
enveloped-signature transform URI), ``references`` (the document's Id index and ``#id`` URIs),
``c14n`` (exclusive canonicalisation in document context) and ``values`` (Base64 element
values). Nothing here decides whether a signature is
trusted; that is ``gateway.trust``. Modules are imported one by one: this file imports none.
"""
