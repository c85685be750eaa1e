"""The address the published WSDL advertises (issue 14: behind nginx it must be https)."""

from __future__ import annotations

from typing import Any

from gateway.soap.wsgi import public_address

PROXY = ("10.0.0.0/8",)


def _environ(peer: str, **headers: str) -> dict[str, Any]:
    environ: dict[str, Any] = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http",
                               "HTTP_HOST": "10.1.2.3:8080", "SERVER_NAME": "10.1.2.3",
                               "SERVER_PORT": "8080", "SCRIPT_NAME": ""}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return environ


def test_public_url_wins_over_everything() -> None:
    environ = _environ("10.0.0.5", x_forwarded_proto="http", x_forwarded_host="evil.example")
    assert public_address(environ, "https://notess.example/gw/", PROXY) == \
        "https://notess.example/gw"


def test_forwarded_headers_from_a_trusted_proxy() -> None:
    environ = _environ("10.0.0.5", x_forwarded_proto="https",
                       x_forwarded_host="notess.example:8443")
    assert public_address(environ, "", PROXY) == "https://notess.example:8443"


def test_forwarded_headers_from_anyone_else_are_ignored() -> None:
    environ = _environ("192.0.2.7", x_forwarded_proto="https", x_forwarded_host="evil.example")
    assert public_address(environ, "", PROXY) == "http://10.1.2.3:8080"
    assert public_address(environ, "", ()) == "http://10.1.2.3:8080"


def test_malformed_forwarded_values_fall_back_to_the_request() -> None:
    environ = _environ("10.0.0.5", x_forwarded_proto="javascript",
                       x_forwarded_host="evil.example/path?x=<")
    assert public_address(environ, "", PROXY) == "http://10.1.2.3:8080"
    only_proto = _environ("10.0.0.5", x_forwarded_proto="https")
    assert public_address(only_proto, "", PROXY) == "https://10.1.2.3:8080"
