"""Event delivery (issue 17): ``gateway events deliver`` and what it sends with.

``worker`` runs the loop (fan out the audit chain, claim due deliveries, send them, record the
outcome); ``sender`` makes one signed, SSRF-safe HTTP attempt. The rules live in
``gateway.domain.events`` and ``gateway.domain.callbacks``, the bookkeeping in
``gateway.services.events``.
"""
