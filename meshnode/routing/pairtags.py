"""The DM tags a node answers to: pair tags shared with its contacts (docs/protocol.md §5).

A DM's tag is keyed by the X25519 secret its sender and recipient share, so only those two can
compute it; no identity card names it. A node's Hello therefore lists, blinded with the Hello's
nonce, the tags its contacts would put on DMs to it today and yesterday (`hello_field`), padded
with random entries to a power of two (at least `MIN_FIELD`) so that the field tells an observer
only which of five size classes (8, 16, 32, 64, 128 entries) a phone is in. A relay holding a
DM computes the same blinding with the DM's tag and the peer's nonce to know that the peer is
its recipient (docs/protocol.md §10.1).

The application says who the contacts are (`set_contacts`, in order of priority); the node
adds its latest correspondents (`correspond`); the first `MAX_CONTACTS` are presented. A DM
from someone who is not presented still reaches its recipient when a copy is handed to it on
the way (the node tries to open every DM it is given), but relays cannot recognise that
recipient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import hello_tag, pair_secret, recipient_tag
from meshnode.routing.frames import MAX_TAGS
from meshnode.wire import TAG_SIZE

__all__ = ["MAX_CONTACTS", "MIN_FIELD", "RECENT", "PairTags", "field_size", "hello_field"]

DAYS = 2  # today's tags and yesterday's: a DM made before midnight is still recognised
MAX_CONTACTS = MAX_TAGS // DAYS
RECENT = 16  # correspondents presented beside the contacts
MIN_FIELD = 8  # Hello field 3 holds at least this many entries, always a power of two


def field_size(tags: int) -> int:
    """How many entries Hello field 3 holds for `tags` real ones: the smallest power of two
    that fits them, at least `MIN_FIELD`, at most `MAX_TAGS` (a power of two)."""
    size = MIN_FIELD
    while size < min(tags, MAX_TAGS):
        size *= 2
    return size


def hello_field(nonce: bytes, tags: Iterable[bytes],
                pad: Callable[[int], bytes]) -> tuple[bytes, ...]:
    """Hello field 3: `tags` blinded with `nonce`, then `pad(16)` entries up to `field_size`,
    sorted so the padding cannot be told apart."""
    blinded = [hello_tag(nonce, t) for t in tags][:MAX_TAGS]
    blinded.extend(pad(TAG_SIZE) for _ in range(field_size(len(blinded)) - len(blinded)))
    return tuple(sorted(blinded))


class PairTags:
    """The pair tags of one identity with its contacts, computed once a day.

    The presented keys are the application's contacts (`set_contacts`) followed by up to
    `RECENT` correspondents, the keys it last sent a DM to or opened one from (`correspond`),
    so that replies and follow-ups are recognised without the user adding anyone."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity
        self._contacts: list[bytes] = []
        self._recent: list[bytes] = []  # most recent last
        self._secrets: dict[bytes, bytes | None] = {}  # X25519 key -> pair secret (cache)
        self._day = -1
        self._tags: tuple[bytes, ...] = ()

    def set_contacts(self, dh_keys: Iterable[bytes]) -> None:
        """The X25519 keys of the contacts whose DMs this node presents itself for, most
        important first; keys no secret can be agreed with are left out."""
        self._contacts = list(dict.fromkeys(dh_keys))
        kept = set(self._contacts) | set(self._recent)
        self._secrets = {k: v for k, v in self._secrets.items() if k in kept}
        self._day = -1

    def correspond(self, dh_key: bytes) -> None:
        """This node sent a DM to, or opened one from, the holder of `dh_key`."""
        if dh_key in self._contacts[:MAX_CONTACTS]:
            return
        if dh_key in self._recent:
            self._recent.remove(dh_key)
        self._recent.append(dh_key)
        for gone in self._recent[:-RECENT]:
            self._secrets.pop(gone, None)
        del self._recent[:-RECENT]
        self._day = -1

    @property
    def contacts(self) -> int:
        """How many keys are presented (at most `MAX_CONTACTS`)."""
        return len(self._presented())

    def _presented(self) -> list[bytes]:
        """The pair secrets presented: contacts first, then the latest correspondents."""
        out: list[bytes] = []
        for key in (*self._contacts, *reversed(self._recent)):
            if key not in self._secrets:
                self._secrets[key] = pair_secret(self._identity.agreement, key)
            secret = self._secrets[key]
            if secret is not None and secret not in out:
                out.append(secret)
            if len(out) == MAX_CONTACTS:
                break
        return out

    def tags(self, day: int) -> tuple[bytes, ...]:
        """The tags contacts put on DMs to this node on `day` and the day before, in the clear
        (only ever sent blinded, or in PRoPHET's opt-in field 6)."""
        if day != self._day:
            own = self._identity.public.dh_key
            secrets = self._presented()
            self._tags = tuple(recipient_tag(s, own, d)
                               for d in range(day, day - DAYS, -1) for s in secrets)
            self._day = day
        return self._tags
