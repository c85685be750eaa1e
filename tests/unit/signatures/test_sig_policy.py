"""SignaturePolicy: one allow-list shared with WS-Security; SHA-1 can never be allowed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from gateway.signatures import SignaturePolicy
from gateway.trust.algorithms import DigestAlgorithm, SignatureAlgorithm
from gateway.wssec.policy import WsSecurityPolicy


def test_defaults_accept_sha2_and_refuse_sha1() -> None:
    policy = SignaturePolicy()
    assert all(policy.allows_digest(name) for name in ("sha256", "sha384", "sha512"))
    assert not policy.allows_digest("sha1") and not policy.allows_digest("md5")
    assert policy.allows_signature("rsa", "sha256") and policy.allows_signature("ecdsa", "sha512")
    assert not policy.allows_signature("rsa", "sha1")
    assert not policy.allows_signature("dsa", "sha256")


def test_derived_from_the_ws_security_policy() -> None:
    ws = WsSecurityPolicy(
        signature_algorithms=frozenset({SignatureAlgorithm.ECDSA_SHA384}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA384}),
        min_rsa_key_bits=3072,
        require_revocation_info=True,
    )
    policy = SignaturePolicy.from_allow_lists(
        ws.signature_algorithms, ws.digest_algorithms, min_rsa_key_bits=ws.min_rsa_key_bits,
        check_revocation=ws.check_revocation, require_revocation_info=ws.require_revocation_info,
        require_whole_document=True,
    )
    assert policy.signature_algorithms == ws.signature_algorithms
    assert policy.min_rsa_key_bits == 3072 and policy.require_revocation_info
    assert policy.require_whole_document
    assert not policy.allows_digest("sha256") and policy.allows_digest("sha384")
    assert policy.allows_signature("ecdsa", "sha384") and not policy.allows_signature(
        "rsa", "sha384"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"digest_algorithms": frozenset()},
        {"signature_algorithms": frozenset()},
        {"max_document_bytes": 0},
        {"max_signatures": 0},
        {"future_signing_time_tolerance": timedelta(seconds=-1)},
        {"timestamp_order_tolerance": timedelta(seconds=-1)},
    ],
)
def test_nonsense_is_refused(change) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(SignaturePolicy(), **change)


def test_the_composition_root_derives_it_from_the_gate_policy() -> None:
    """``signatures`` does not import ``wssec``: ``bootstrap`` hands it the gate's values."""
    from gateway.bootstrap import signature_policy
    from gateway.config import Settings

    ws = WsSecurityPolicy(
        signature_algorithms=frozenset({SignatureAlgorithm.RSA_SHA512}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA512}),
        min_rsa_key_bits=4096,
        check_revocation=False,
    )
    settings = Settings()
    policy = signature_policy(ws, settings)
    assert policy.signature_algorithms == ws.signature_algorithms
    assert policy.digest_algorithms == ws.digest_algorithms
    assert policy.min_rsa_key_bits == 4096 and not policy.check_revocation
    assert policy.max_document_bytes == settings.max_message_bytes
    assert not policy.allows_signature("ecdsa", "sha3_256")
