"""Verified alerts as bitchat chat text: NL-Alert style, Dutch and English, <= 96 bytes each.

Why so short: bitchat compresses payloads of 100 bytes or more, and a receiver verifies a
signature by re-encoding the packet, which re-compresses; Apple's DEFLATE output need not
match ours, so on iPhones a signed message of 100+ bytes probably fails to verify. Below 100
bytes nobody compresses and the re-encoding is byte-identical everywhere. 96 rather than 99:
then the whole signed packet (14 + 8 + 96 + 64 = 182 bytes) fits one notification at iOS's
usual limit (ATT MTU 185), so no phone has to reassemble fragments to read an alert.

Each info of the alert (one language) becomes lines: a header ("NL-Alert 07-12-2026 14:05",
or "NL-Alert UPDATE"/"INGETROKKEN"/"CANCELLED"), the headline, the instruction (what to do)
and a verification line naming the issuer, the root that certified it and the message id.
The framing is Dutch for a Dutch info and English otherwise; an alert with no English info
gets a short English notice, so that every reader learns what it is. Lines are packed into
messages of at most `MAX_TEXT_BYTES` UTF-8 bytes, each prefixed "k/n ", broken at spaces
where possible and never inside a UTF-8 character.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from meshnode.alerts.model import Info, MsgType, Status
from meshnode.crypto.authority import VerifiedAlert

__all__ = ["MAX_FRAME", "MAX_TEXT_BYTES", "alert_texts", "split_text"]

MAX_TEXT_BYTES = 96
MAX_FRAME = 182  # bytes of a whole packet: one notification at ATT MTU 185

_WORDS = {
    "nl": {"update": "UPDATE", "cancel": "INGETROKKEN", "verified": "geverifieerd",
           "certified": "gecertificeerd door", "refs": "trekt in", "exercise": "OEFENING",
           "other": ""},
    "en": {"update": "UPDATE", "cancel": "CANCELLED", "verified": "verified",
           "certified": "certified by", "refs": "withdraws", "exercise": "EXERCISE",
           "other": "NL-Alert in Dutch above"},
}


def _lang(info: Info | None) -> str:
    return "nl" if info is not None and info.language.lower().startswith("nl") else "en"


def _header(v: VerifiedAlert, lang: str) -> str:
    a = v.alert
    when = time.strftime("%d-%m-%Y %H:%M", time.gmtime(a.sent + a.sent_tz * 60))
    kind = {MsgType.UPDATE: " " + _WORDS[lang]["update"],
            MsgType.CANCEL: " " + _WORDS[lang]["cancel"]}.get(a.msg_type, "")
    drill = f" {_WORDS[lang]['exercise']}" if a.status is Status.EXERCISE else ""
    return f"NL-Alert{drill}{kind} {when}"


def _verification(v: VerifiedAlert, lang: str) -> str:
    w = _WORDS[lang]
    return (f"{w['verified']}: {v.cert.name}, {w['certified']} {v.root.name}, "
            f"id {v.msg_id.hex()[:16]}")


def _lines(v: VerifiedAlert, info: Info | None, lang: str) -> list[str]:
    lines = [_header(v, lang)]
    if info is not None:
        lines += [t for t in (info.headline or info.event, info.instruction) if t]
    if v.alert.msg_type is MsgType.CANCEL and v.alert.references:
        refs = ", ".join(r.identifier for r in v.alert.references)
        lines.append(f"{_WORDS[lang]['refs']}: {refs}")
    lines.append(_verification(v, lang))
    return lines


def alert_texts(v: VerifiedAlert) -> list[str]:
    """The chat messages for one verified alert, in sending order."""
    infos = [i for i in v.alert.infos if _lang(i) == "nl"] + \
            [i for i in v.alert.infos if _lang(i) == "en"]
    groups = [_lines(v, info, _lang(info)) for info in infos] or [
        _lines(v, None, "nl"), _lines(v, None, "en")]
    if infos and all(_lang(i) == "nl" for i in infos):
        groups.append([_WORDS["en"]["other"] + ".", _verification(v, "en")])
    return [text for lines in groups for text in _numbered(lines)]


def _numbered(lines: list[str]) -> list[str]:
    """Lines packed into messages of <= MAX_TEXT_BYTES, each prefixed "k/n "."""
    # Reserve room for the widest prefix, then pack; the count only shrinks the prefix.
    width = len("99/99 ")
    chunks = list(_pack(lines, MAX_TEXT_BYTES - width))
    if len(chunks) > 99:
        chunks = chunks[:99]  # unreachable within CAP's text limits; keeps the bound
    n = len(chunks)
    return [f"{k}/{n} {chunk}" for k, chunk in enumerate(chunks, 1)]


def _pack(lines: list[str], limit: int) -> Iterator[str]:
    current = ""
    for line in lines:
        for piece in split_text(" ".join(line.split()), limit):
            joined = f"{current}\n{piece}" if current else piece
            if len(joined.encode("utf-8")) <= limit:
                current = joined
            else:
                yield current
                current = piece
    if current:
        yield current


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` UTF-8 bytes: at spaces where possible, else at
    character boundaries (never inside a character)."""
    pieces: list[str] = []
    rest = text
    while len(rest.encode("utf-8")) > limit:
        cut = _fit(rest, limit)
        space = rest.rfind(" ", 0, cut + 1)
        if space > 0:
            cut = space
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _fit(text: str, limit: int) -> int:
    """The largest number of characters of `text` whose UTF-8 fits in `limit` bytes."""
    size = 0
    for count, char in enumerate(text):
        size += len(char.encode("utf-8"))
        if size > limit:
            return count
    return len(text)
