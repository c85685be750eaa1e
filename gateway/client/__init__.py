"""The client's room: what a program calling the gateway reuses, never the server.

- ``transport``: zeep WS-Security that signs requests (RSA-SHA256, Timestamp) and verifies every
  response with the *server's* certificate;
- ``download``: one document streamed to disk as it arrives, signature and SHA-256 checked;
- ``service``: the native service as the batch agent calls it (a client per thread, retries);
- ``xades``: the XAdES-BES signer of acknowledgements; ``receipts``: server receipts checked
  offline;
- ``state``, ``rules``, ``archive``, ``agent``: the batch agent's state file, decision rules,
  archive on disk and workflow (``client_examples/batch_agent.py`` is its command line).

Nothing in the server imports this package (``tests/unit/test_client_room.py``): the server's
modules and the client's evolve apart, and a client never loads the server's stack.
"""
