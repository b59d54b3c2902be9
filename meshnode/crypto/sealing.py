"""Sealed direct messages: sign-then-encrypt with HPKE (RFC 9180).

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, base mode, single shot.
The plaintext carries the sender's keys and an Ed25519 signature over the recipient key, the
envelope's one-time ack key, the times and the text, so only the recipient learns who wrote it
and a recipient cannot re-address it to someone else. Relays see a daily *pair tag* that only
the sender and the recipient can compute (an X25519 shared secret keys it): nobody else can tell
whose it is, even holding every identity card.

Opening fails with one `OpenError` whatever went wrong (wrong key, tampered ciphertext,
malformed plaintext, forged inner signature): the caller must not reply differently either.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from meshnode.codec import Fields, WireError, pack, unpack_bounded
from meshnode.crypto.entropy import Entropy, SystemEntropy
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.signing import sign_body, verify_message
from meshnode.crypto.stamp import STAMP_BITS, mint_stamp, stamp_day
from meshnode.crypto.verify import ed25519_valid
from meshnode.wire import (
    DAY,
    DM_PAD_BLOCK,
    DM_PLAINTEXT_MAX,
    DM_TEXT_MAX,
    KEY_SIZE,
    MAX_TTL,
    SIG_SIZE,
    TAG_SIZE,
    DmBody,
    Kind,
    Message,
    ReceiptBody,
)

__all__ = [
    "OpenError",
    "OpenedDm",
    "StampedAck",
    "create_receipt",
    "hello_tag",
    "open_dm",
    "open_verified_dm",
    "pair_secret",
    "receipt_matches",
    "recipient_tag",
    "seal_dm",
    "stamped_ack",
]

DEFAULT_DM_TTL = 7 * DAY
DEFAULT_RECEIPT_TTL = 7 * DAY
PAD_BLOCK = DM_PAD_BLOCK

TAG_DOMAIN = b"meshnode/v2/pair-tag\x00"
HELLO_TAG_DOMAIN = b"meshnode/v1/hello-tag\x00"
HPKE_INFO_DOMAIN = b"meshnode/v1/dm\x00"
INNER_SIG_DOMAIN = b"meshnode/v1/dm-inner\x00"

_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
Encrypt = Callable[[bytes, x25519.X25519PublicKey, bytes], bytes]
_INNER_KEYS = frozenset(range(1, 7))


class OpenError(Exception):
    """This node cannot open the message. Deliberately says nothing about why."""

    def __init__(self) -> None:
        super().__init__("cannot open this direct message")


@dataclass(frozen=True, slots=True)
class OpenedDm:
    """A DM that decrypted and whose inner signature verified."""

    dm_id: bytes
    sender: PublicIdentity
    text: str
    created: int
    expires: int
    ack_seed: bytes


def pair_secret(own: x25519.X25519PrivateKey, peer_dh: bytes) -> bytes | None:
    """The X25519 secret `own` shares with the holder of `peer_dh`; None for a key no secret
    can be agreed with (a small-order point gives the all-zero secret, which X25519 refuses)."""
    try:
        return own.exchange(x25519.X25519PublicKey.from_public_bytes(peer_dh))
    except ValueError:
        return None


def recipient_tag(secret: bytes, recipient_dh: bytes, day: int) -> bytes:
    """The tag relays see on a DM to `recipient_dh` created on UTC day `day` (unix time //
    86400), between the two holders of the pair `secret` (`pair_secret`).

    Only the sender and the recipient can compute it: a card holds public keys only. The
    recipient's key in the input makes it one-way: A's DMs to B and B's to A differ."""
    mac = hmac.new(secret, TAG_DOMAIN + recipient_dh + day.to_bytes(4, "big"), hashlib.sha256)
    return mac.digest()[:TAG_SIZE]


def hello_tag(nonce: bytes, tag: bytes) -> bytes:
    """`tag` as a sync Hello with `nonce` names it: unlinkable across Hellos without the tag.

    A node's pair tags are fixed for a day; sent in the clear they would let a passive radio
    link all of one phone's syncs that day. A relay holding a DM with `tag` recognises its
    recipient by computing this with the peer's nonce.
    """
    return hashlib.sha256(HELLO_TAG_DOMAIN + nonce + tag).digest()[:TAG_SIZE]


def _hpke_info(tag: bytes, created: int, expires: int, ack_key: bytes) -> bytes:
    return HPKE_INFO_DOMAIN + pack([tag, created, expires, ack_key])


def _inner_signed(recipient_dh: bytes, ack_key: bytes, created: int, expires: int,
                  text: str) -> bytes:
    return INNER_SIG_DOMAIN + pack([recipient_dh, ack_key, created, expires, text])


def _padded(inner: dict[int, object]) -> bytes:
    """The plaintext with the smallest zero padding that makes it a multiple of PAD_BLOCK.

    Fields 1-5 encode to `base` bytes; field 6 adds its key (1 byte), a bin 8 header (2 bytes,
    the padding being under 256 bytes) and the padding, and the fixmap header stays 1 byte.
    """
    pad = -(len(pack(inner)) + 3) % PAD_BLOCK
    return pack({**inner, 6: bytes(pad)})


def seal_dm(
    sender: Identity,
    recipient: PublicIdentity,
    text: str,
    now: int,
    *,
    ttl: int = DEFAULT_DM_TTL,
    entropy: Entropy | None = None,
    ack: ed25519.Ed25519PrivateKey | None = None,
    encrypt: Encrypt | None = None,
    stamp: StampedAck | None = None,
) -> Message:
    """Sign `text` as `sender` for `recipient`, seal it, and wrap it in a signed DM envelope.

    The one-time acknowledgement key and HPKE's ephemeral key come from `entropy` (the
    operating system's by default; `SeededEntropy` makes a simulation reproducible). `ack` and
    `encrypt` replace them outright: only tests that craft hostile DMs need them. `stamp` is
    an ack key minted ahead with its proof of work (`stamped_ack`): the DM is signed with it
    and carries the stamp.
    """
    entropy = entropy or SystemEntropy()
    if not 1 <= len(text.encode("utf-8", "surrogatepass")) <= DM_TEXT_MAX:
        raise WireError("dm.text", f"must be 1..{DM_TEXT_MAX} UTF-8 bytes")
    ttl = min(ttl, MAX_TTL[Kind.DM])
    created, expires = now, now + ttl
    if stamp is not None:
        if stamp.day != stamp_day(created):
            raise ValueError(f"the ack key's stamp is for day {stamp.day}, the DM's is "
                             f"{stamp_day(created)}")
        ack = ed25519.Ed25519PrivateKey.from_private_bytes(stamp.seed)
    ack = ack or ed25519.Ed25519PrivateKey.from_private_bytes(entropy.random_bytes(32))
    ack_key = ack.public_key().public_bytes_raw()
    secret = pair_secret(sender.agreement, recipient.dh_key)
    if secret is None:
        raise WireError("dm.recipient", "no key can be agreed with this X25519 key")
    tag = recipient_tag(secret, recipient.dh_key, created // DAY)
    me = sender.public
    inner: dict[int, object] = {
        1: me.sign_key,
        2: me.dh_key,
        3: text,
        4: ack.private_bytes_raw(),
        5: sender.sign(_inner_signed(recipient.dh_key, ack_key, created, expires, text)),
    }
    sealed = (encrypt or entropy.seal)(
        _padded(inner),
        x25519.X25519PublicKey.from_public_bytes(recipient.dh_key),
        _hpke_info(tag, created, expires, ack_key),
    )
    return sign_body(DmBody(tag, created, expires, ack_key, sealed,
                            None if stamp is None else stamp.stamp), ack)


@dataclass(frozen=True, slots=True)
class StampedAck:
    """A one-time ack key (its 32-byte private seed) and its proof of work for UTC `day`."""

    seed: bytes
    day: int
    stamp: bytes


def stamped_ack(seed: bytes, day: int, bits: int = STAMP_BITS) -> StampedAck:
    """Mint the stamp of the ack key `seed` for `day`: pure CPU work (`mint_stamp`), which a
    driver runs off its event loop before `seal_dm`."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return StampedAck(seed, day, mint_stamp(key, day, bits))


def open_dm(identity: Identity, msg: Message) -> OpenedDm:
    """Verify the envelope, decrypt, and verify the sender's inner signature.

    Raises `OpenError` for every failure, including a message that is not a DM at all.
    """
    try:
        body = verify_message(msg)
    except Exception as exc:
        raise OpenError() from exc  # one error whatever the cause: no parsing oracle
    if not isinstance(body, DmBody):
        raise OpenError()
    return open_verified_dm(identity, msg.id, body)


def open_verified_dm(identity: Identity, dm_id: bytes, body: DmBody) -> OpenedDm:
    """`open_dm` for a DM whose envelope the caller has already verified (its signature
    checked against `body.ack_key`): decrypt and verify the sender's inner signature. A node
    verifies every DM it is handed before it tries to open it, and a second check of the same
    signature would be one Ed25519 verification per DM per node for nothing.

    Raises `OpenError` for every failure.
    """
    try:
        plain = _SUITE.decrypt(
            body.sealed,
            identity.agreement,
            info=_hpke_info(body.tag, body.created, body.expires, body.ack_key),
        )
        f = Fields(
            unpack_bounded(plain, what="dm.inner", max_size=DM_PLAINTEXT_MAX, max_items=6),
            "dm.inner",
            allowed=_INNER_KEYS,
        )
        sender = PublicIdentity(
            f.bin(1, "sign_key", size=KEY_SIZE, hi=KEY_SIZE),
            f.bin(2, "dh_key", size=KEY_SIZE, hi=KEY_SIZE),
        )
        text = f.text(3, "text", lo=1, hi=DM_TEXT_MAX)
        ack_seed = f.bin(4, "ack_seed", size=32, hi=32)
        sig = f.bin(5, "sig", size=SIG_SIZE, hi=SIG_SIZE)
        f.bin(6, "padding", hi=DM_PLAINTEXT_MAX)
        # One plaintext per message: canonical, zero padding, the smallest that fits.
        if _padded({1: sender.sign_key, 2: sender.dh_key, 3: text, 4: ack_seed, 5: sig}) != plain:
            raise OpenError()
        ack = ed25519.Ed25519PrivateKey.from_private_bytes(ack_seed)
        if ack.public_key().public_bytes_raw() != body.ack_key:
            raise OpenError()
        signed = _inner_signed(identity.public.dh_key, body.ack_key, body.created,
                               body.expires, text)
        if not ed25519_valid(sender.sign_key, sig, signed):
            raise OpenError()
    except OpenError:
        raise
    except Exception as exc:
        # Collapse every cause into one error: no decryption or parsing oracle.
        raise OpenError() from exc
    return OpenedDm(dm_id, sender, text, body.created, body.expires, ack_seed)


def create_receipt(opened: OpenedDm, now: int, *, ttl: int = DEFAULT_RECEIPT_TTL) -> Message:
    """The signed receipt for an opened DM; relays holding the DM check it against `ack_key`."""
    ack = ed25519.Ed25519PrivateKey.from_private_bytes(opened.ack_seed)
    ack_key = ack.public_key().public_bytes_raw()
    ttl = min(ttl, MAX_TTL[Kind.RECEIPT])
    return sign_body(ReceiptBody(opened.dm_id, ack_key, now, now + ttl), ack)


def receipt_matches(receipt: ReceiptBody, dm_id: bytes, dm: DmBody) -> bool:
    """Whether a signature-verified receipt acknowledges this DM (same id, same ack key)."""
    return hmac.compare_digest(receipt.dm_id, dm_id) and hmac.compare_digest(
        receipt.ack_key, dm.ack_key
    )
