#!/usr/bin/env python3
"""List every notification a certificate holder may see, page by page, with zeep.

    python client_examples/list_notifications.py --url http://127.0.0.1:8080/NotificationService?wsdl \\
        --cert var/pki/clients/company/cert.pem --key var/pki/clients/company/key.pem \\
        --server-cert var/pki/server/cert.pem [--status AVAILABLE] [--page-size 100]

Requests are signed (WS-Security X.509, RSA-SHA256, with a Timestamp) and every response's
signature is checked against the server certificate.
"""

from __future__ import annotations

import argparse
import sys

import zeep
from zeep.exceptions import Fault

from gateway.client.transport import ServerVerifyingSignature


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="WSDL URL of the NotificationService")
    parser.add_argument("--cert", required=True, help="client certificate (PEM)")
    parser.add_argument("--key", required=True, help="client private key (PEM)")
    parser.add_argument("--server-cert", required=True, help="server certificate (PEM)")
    parser.add_argument("--status", help="only items with this status")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--max-pages", type=int, default=0, help="stop after N pages (0: all)")
    args = parser.parse_args(argv)

    client = zeep.Client(args.url, wsse=ServerVerifyingSignature(args.key, args.cert,
                                                                   args.server_cert))
    cursor, pages, total = None, 0, 0
    try:
        while True:
            page = client.service.ListNotifications(status=args.status, cursor=cursor,
                                                    pageSize=args.page_size)
            for item in page["item"]:
                total += 1
                print(f"{item['id']:>8}  {item['kind']:<13} {item['issuer']:<4} "
                      f"{item['status']:<9} {item['role']:<4} {item['recipient']:<10} "
                      f"deadline {item['deadlineAt'] or '-'}  {item['subject']}")
            pages += 1
            cursor = page["nextCursor"]
            if not cursor or (args.max_pages and pages >= args.max_pages):
                break
    except Fault as fault:
        code = fault.detail[0].findtext("{*}code") if fault.detail is not None else "?"
        print(f"fault {fault.code} [{code}]: {fault.message}", file=sys.stderr)
        return 1
    print(f"{total} item(s) in {pages} page(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
