"""Signing and verifying messages whose key travels in their own body.

Posts and announces are signed by their author's identity key; DM envelopes and receipts by
the DM's one-time ack key. Verification always runs over the exact body bytes received and
binds the key named in the body, so a changed author, body or signature never verifies.
Authority alerts, certificates and revocations are verified by `meshnode.crypto.authority`.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.crypto.identity import Identity
from meshnode.crypto.verify import SignatureMemo, ed25519_valid
from meshnode.wire import (
    MAX_TTL,
    AnnounceBody,
    Body,
    DmBody,
    Kind,
    Message,
    PostBody,
    ReceiptBody,
    Routing,
    WireError,
    body_kind,
    decode_body,
    encode_body,
    signed_bytes,
)

__all__ = [
    "SignatureError",
    "create_announce",
    "create_post",
    "decode_self_signed",
    "sign_body",
    "signing_key_of",
    "verify_message",
    "verify_signature",
]

DEFAULT_POST_TTL = 3 * 86_400
DEFAULT_ANNOUNCE_TTL = 90 * 86_400

# Names under which a shared memo keeps decoded bodies, by kind.
_BODY_MEMO = {kind: f"body:{kind.name.lower()}" for kind in Kind}


class SignatureError(Exception):
    """A signature did not verify against the key the message names."""


def sign_body(
    body: Body, key: ed25519.Ed25519PrivateKey, routing: Routing | None = None
) -> Message:
    """Encode `body` canonically and sign it with `key`."""
    kind = body_kind(body)
    data = encode_body(body)
    sig = key.sign(signed_bytes(1, kind, data))
    return Message(kind, data, sig, routing if routing is not None else Routing())


def verify_signature(msg: Message, public_key: bytes, memo: SignatureMemo | None = None) -> None:
    """Raise `SignatureError` unless `msg.sig` is `public_key`'s signature of its signed bytes."""
    if not ed25519_valid(public_key, msg.sig, msg.signed_bytes, memo):
        raise SignatureError(f"{msg.kind.name.lower()}: signature does not verify")


def signing_key_of(body: Body) -> bytes:
    """The public key that must have signed a message carrying `body`."""
    match body:
        case PostBody():
            return body.author
        case AnnounceBody():
            return body.sign_key
        case DmBody() | ReceiptBody():
            return body.ack_key


def verify_message(msg: Message, memo: SignatureMemo | None = None) -> Body:
    """Decode the body of a self-certifying message and verify its signature.

    Raises `WireError` for a malformed body and `SignatureError` for a bad signature.
    """
    body = decode_self_signed(msg, memo)
    verify_signature(msg, signing_key_of(body), memo)
    return body


def decode_self_signed(msg: Message, memo: SignatureMemo | None = None) -> Body:
    """The decoded body of a post, announce, DM or receipt, its signature not yet checked
    (what a node may look at before paying for the verification, e.g. a stamp)."""
    if msg.kind not in (Kind.POST, Kind.ANNOUNCE, Kind.DM, Kind.RECEIPT):
        raise WireError("message.kind", f"{msg.kind.name.lower()} is verified by its chain")
    if memo is None:
        return decode_body(msg.kind, msg.body)
    # Bodies are immutable: nodes sharing a memo decode a flooded body once.
    kind = msg.kind
    return memo.decoded(_BODY_MEMO[kind], msg.body, lambda data: decode_body(kind, data))


def create_post(
    identity: Identity,
    channel: str,
    text: str,
    now: int,
    *,
    ttl: int = DEFAULT_POST_TTL,
    reply_to: bytes | None = None,
    stamp: bytes | None = None,
) -> Message:
    """A signed public post in `channel`, valid from `now` for `ttl` seconds; `stamp` is a
    proof of work for the author and the day of `now` (`meshnode.crypto.stamp`)."""
    body = PostBody(identity.public.sign_key, channel, now, now + ttl, text, reply_to, stamp)
    return sign_body(body, identity.signing)


def create_announce(
    identity: Identity, name: str, now: int, *, ttl: int = DEFAULT_ANNOUNCE_TTL,
    stamp: bytes | None = None,
) -> Message:
    """A self-signed identity card binding `name` and the agreement key to the signing key;
    `stamp` as for `create_post`."""
    ttl = min(ttl, MAX_TTL[Kind.ANNOUNCE])
    pub = identity.public
    return sign_body(AnnounceBody(pub.sign_key, pub.dh_key, name, now, now + ttl, stamp),
                     identity.signing)
