#!/usr/bin/env python3
"""List notifications through the WSCN-compatible port, the way WSCN clients page: per role,
feeding back the three cursors until ``hayMas`` is false.

    python client_examples/wscn_list.py --url http://127.0.0.1:8080/WSCN?wsdl \\
        --cert var/pki/clients/company/cert.pem --key var/pki/clients/company/key.pem \\
        --server-cert var/pki/server/cert.pem [--rol 0]

Requests are signed (WS-Security X.509, RSA-SHA256, with a Timestamp) and every response's
signature is checked against the server certificate. WSCN reports refusals inside the answer
(``error``): printed with their code.
"""

from __future__ import annotations

import argparse
import sys

import zeep

from gateway.client.transport import ServerVerifyingSignature

BUCKETS = (("notificacionesPropias", "propia"), ("notificacionesAutorizadoRED", "RED"),
           ("notificacionesApoderado", "apoderado"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="WSDL URL of the WSCN port")
    parser.add_argument("--cert", required=True, help="client certificate (PEM)")
    parser.add_argument("--key", required=True, help="client private key (PEM)")
    parser.add_argument("--server-cert", required=True, help="server certificate (PEM)")
    parser.add_argument("--rol", type=int, default=0, help="0 all, 1 own, 2 RED, 3 mandate")
    parser.add_argument("--poderdante", help="NIF of the principal acted for")
    args = parser.parse_args(argv)

    client = zeep.Client(args.url, wsse=ServerVerifyingSignature(args.key, args.cert,
                                                                   args.server_cert))
    cursors, total = [-1, -1, -1], 0
    while True:
        listing = client.service.consultarListadoNotificaciones(args.rol, args.poderdante,
                                                                *cursors)
        if listing.error is not None:
            print(f"WSCN error {listing.error.codigo}: {listing.error.descripcion}",
                  file=sys.stderr)
            return 1
        for field, bucket in BUCKETS:
            for item in listing[field] or []:
                total += 1
                print(f"{item.codigo:>8}  {bucket:<9} {item.estado} {item.descripcionEstado:<10} "
                      f"{item.destinatario:<10} {item.fechaPuestaDisposicion}  "
                      f"fin {item.fechaFinDisponibilidad or '-'}  {item.descripcion}")
        cursors = [listing.codigoSiguienteNotificacionPropia,
                   listing.codigoSiguienteNotificacionAutorizadoRED,
                   listing.codigoSiguienteNotificacionApoderado]
        if not listing.hayMas:
            break
    print(f"{total} notification(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
