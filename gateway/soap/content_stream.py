"""``GetContent`` with the document streamed (issue 7: content without memory growth).

Spyne's MTOM support is limited (it buffers the attachments), so the document goes inline as
``xs:base64Binary`` -- what the contract always said -- but never whole in memory: the service
hands over a ``ContentStream`` that reads the store in slices, this module turns the slices into
base64 pieces, and ``soap.splice`` writes them into ``ContentResult/data``. Every response is
signed over the Body, so the slices are read twice: once to digest the Body (and check the
document's sha256) before the first byte goes out, once to write it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator

from gateway import namespaces
from gateway.services.notifications import ContentStream

from .splice import Splice

_TNS = f"{{{namespaces.NOTIFICATION_SERVICE}}}"
DATA_PATH = (f"{_TNS}GetContentResponse", f"{_TNS}GetContentResult", f"{_TNS}data")
"""Where the base64 goes, from the SOAP Body down (``types.ContentResult.data``)."""


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def base64_pieces(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The base64 of the concatenated ``chunks``, one piece per chunk (without line breaks, as
    Spyne writes ``ByteArray``): bytes left over from a chunk whose length is not a multiple of
    3 are carried into the next, so the pieces concatenate to the base64 of the whole."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = len(data) - len(data) % 3
        if cut:
            yield base64.b64encode(memoryview(data)[:cut])
        carry = bytes(data[cut:])
    if carry:
        yield base64.b64encode(carry)


def data_splice(content: ContentStream) -> Splice:
    """The base64 of ``content`` as the text of ``ContentResult/data``, read on demand."""
    return Splice.streamed(DATA_PATH, base64_length(content.document.size - content.offset),
                           lambda: base64_pieces(content.chunks()))
