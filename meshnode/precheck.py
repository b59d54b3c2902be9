"""Checking frames ahead of the node: the pure, thread-safe half of taking a frame in.

Most of a hub's CPU per message goes into decoding what a peer sent and verifying its Ed25519
signature. Both depend on the frame's bytes alone, so a driver may do them before the node
needs them, on any thread: `FrameCheck` (made by `Node.frame_check`) decodes one frame and,
for a post, announce, DM or receipt, decodes its body and verifies its signature into a scratch
`SignatureMemo` of its own, returned as `MemoEntries`. The node's thread hands those to
`Node.take_checked`, which puts them into the node's memo; the node's `receive` of the same
frame then finds the work done. Where the check runs (a worker thread, a process, inline) is
the driver's choice; nothing here does I/O or starts anything.

Thread safety, by construction rather than by locks: a `FrameCheck` is immutable (it holds the
node's frozen `IntakeConfig` and nothing else), every call builds its own scratch memo and lets
no reference to it escape but the immutable `MemoEntries`, and it calls only pure decoders and
libsodium's stateless verification. So any number of calls may run at once, beside anything
the node does; the node's own memo is written only by `take_checked`, on the node's thread.

Nothing is decided here: a check never stores, refuses or relays anything. A result it did not
produce (the frame was not checked ahead, or not yet) only means the node verifies the frame
itself in `receive`; a forged signature checked ahead is remembered as invalid and refused
there like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshnode.codec import WireError
from meshnode.crypto.signing import (
    SignatureError,
    decode_self_signed,
    signing_key_of,
    verify_signature,
)
from meshnode.crypto.verify import MemoEntries, SignatureMemo
from meshnode.intake import IntakeConfig, stamp_shortfall
from meshnode.routing.frames import Msg, decode_frame
from meshnode.wire import decode_message

__all__ = ["NOTHING_LEARNED", "FrameCheck"]

NOTHING_LEARNED = MemoEntries()  # a frame that carries no message, or one that cannot decode


@dataclass(frozen=True, slots=True)
class FrameCheck:
    """The pure check of one arrived frame for a node with `config` (see the module
    docstring). A post, announce or DM whose stamp falls short of what `config` requires of an
    unknown key is not verified (the node refuses it before paying for its signature, unless
    it knows the key, and then verifies it itself)."""

    config: IntakeConfig

    def __call__(self, data: bytes) -> MemoEntries:
        try:
            frame = decode_frame(data)
            if not isinstance(frame, Msg):
                return NOTHING_LEARNED
            msg = decode_message(frame.data)
            scratch = SignatureMemo()
            body = decode_self_signed(msg, scratch)  # WireError for authority messages
            if stamp_shortfall(self.config, msg.kind, body) is None:
                verify_signature(msg, signing_key_of(body), scratch)
        except WireError:
            return NOTHING_LEARNED  # `receive` reports it
        except SignatureError:
            pass  # remembered as invalid: `receive` refuses it
        return scratch.entries()
