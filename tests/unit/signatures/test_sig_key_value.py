"""``key_value``: readable KeyValues give their key; anything else is ignored, never raised."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from gateway import namespaces as ns
from gateway.signatures.key_value import key_value, same_key


def key_info(inner: str) -> etree._Element:
    return etree.fromstring(
        f'<ds:KeyInfo xmlns:ds="{ns.DS}" xmlns:dsig11="{ns.DS11}">'
        f"<ds:KeyValue>{inner}</ds:KeyValue></ds:KeyInfo>"
    )


def b64_int(value: int) -> str:
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode()


def test_rsa_and_ec_key_values() -> None:
    rsa_key = rsa.generate_private_key(65537, 2048).public_key()
    numbers = rsa_key.public_numbers()
    parsed = key_value(
        key_info(
            f"<ds:RSAKeyValue><ds:Modulus>{b64_int(numbers.n)}</ds:Modulus>"
            f"<ds:Exponent>{b64_int(numbers.e)}</ds:Exponent></ds:RSAKeyValue>"
        )
    )
    assert same_key(parsed, rsa_key)
    ec_key = ec.generate_private_key(ec.BrainpoolP256R1()).public_key()
    point = ec_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    parsed = key_value(
        key_info(
            '<dsig11:ECKeyValue><dsig11:NamedCurve URI="urn:oid:1.3.36.3.3.2.8.1.1.7"/>'
            f"<dsig11:PublicKey>{base64.b64encode(point).decode()}</dsig11:PublicKey>"
            "</dsig11:ECKeyValue>"
        )
    )
    assert same_key(parsed, ec_key)
    assert not same_key(parsed, rsa_key)


def rsa_value(modulus: str, exponent: str = "AQAB") -> str:
    return (
        f"<ds:RSAKeyValue><ds:Modulus>{modulus}</ds:Modulus>"
        f"<ds:Exponent>{exponent}</ds:Exponent></ds:RSAKeyValue>"
    )


def ec_value(curve_uri: str, point: str = "BAAA") -> str:
    return (
        f'<dsig11:ECKeyValue><dsig11:NamedCurve URI="{curve_uri}"/>'
        f"<dsig11:PublicKey>{point}</dsig11:PublicKey></dsig11:ECKeyValue>"
    )


@pytest.mark.parametrize(
    "inner",
    [
        "",
        "<ds:RSAKeyValue><ds:Modulus>AQAB</ds:Modulus></ds:RSAKeyValue>",
        rsa_value("!!"),
        rsa_value("A" * 4000),
        ec_value("urn:oid:1.2.3"),
        ec_value("urn:oid:not-an-oid"),
        ec_value("urn:oid:1.2.840.10045.3.1.7"),
        ec_value("urn:other"),
        "<ds:DSAKeyValue><ds:P>AQ==</ds:P></ds:DSAKeyValue>",
        "<ds:Other/>",
    ],
)
def test_unreadable_key_values_are_ignored(inner: str) -> None:
    assert key_value(key_info(inner)) is None
