"""The board's words in Dutch and English, and how times and CAP codes are said in each.

`text(key, lang)` is a fixed phrase; `cap(code, lang)` a CAP value (severity, urgency,
msgType, status) in plain words; `clock`, `day_time` and `ago` say a unix time. Only these two
languages exist: the alerts residents receive are NL-Alerts written in both.
"""

from __future__ import annotations

import time

__all__ = ["LANGUAGES", "ago", "cap", "clock", "day_time", "pick_language", "text"]

LANGUAGES = ("nl", "en")

_TEXT: dict[str, tuple[str, str]] = {
    # key: (Dutch, English)
    "title": ("Steunpunt", "Support point"),
    "board": ("Informatiebord", "Information board"),
    "join_app": ("Zelf berichten sturen aan de buurt en aan uw contacten, ook zonder internet: "
                 "open de buurtberichten-app.", "Send messages to the neighbourhood and your "
                 "contacts yourself, without internet: open the neighbourhood messages app."),
    "alerts": ("Waarschuwingen", "Alerts"),
    "no_alerts": ("Er is geen waarschuwing van kracht.", "No alert is in force."),
    "verified": ("Geverifieerd: afgegeven door {issuer}, gecertificeerd door {root}.",
                 "Verified: issued by {issuer}, certified by {root}."),
    "covers_yes": ("Dit steunpunt ligt in het gebied van deze waarschuwing.",
                   "This support point is inside the area of this alert."),
    "covers_no": ("Dit steunpunt ligt buiten het gebied van deze waarschuwing.",
                  "This support point is outside the area of this alert."),
    "covers_unknown": ("Of dit steunpunt in het gebied ligt, is onbekend (geen locatie "
                       "ingesteld).", "Whether this support point is inside the area is "
                       "unknown (no location set)."),
    "area": ("Gebied", "Area"),
    "what_to_do": ("Wat moet u doen?", "What should you do?"),
    "what_happens": ("Wat is er aan de hand?", "What is happening?"),
    "more_info": ("Meer informatie", "More information"),
    "sent": ("Verstuurd", "Sent"),
    "until": ("Geldig tot", "Valid until"),
    "history": ("Verloop", "History"),
    "received": ("ontvangen", "received"),
    "superseded": ("vervangen", "superseded"),
    "only_in": ("Alleen beschikbaar in het {language}.", "Only available in {language}."),
    "lang_nl": ("Nederlands", "Dutch"),
    "lang_en": ("Engels", "English"),
    "exercise": ("OEFENING of TEST: geen echte waarschuwing", "EXERCISE or TEST: not a real "
                 "alert"),
    "ended": ("Beëindigde waarschuwingen", "Alerts that ended"),
    "state_cancelled": ("ingetrokken", "cancelled"),
    "state_withdrawn": ("teruggetrokken", "withdrawn"),
    "state_expired": ("verlopen", "expired"),
    "state_active": ("van kracht", "in force"),
    "notices": ("Berichten van dit steunpunt", "Notices from this support point"),
    "no_notices": ("Geen berichten van dit steunpunt.", "No notices from this support point."),
    "notice_signed": ("Ondertekend door het steunpunt ({fingerprint}).",
                      "Signed by the support point ({fingerprint})."),
    "channels": ("Buurtkanalen", "Neighbourhood channels"),
    "channels_readonly": ("Alleen lezen. Berichten zijn van buurtbewoners; het steunpunt "
                          "controleert ze niet.", "Read only. Posts are by residents; the "
                          "support point does not check them."),
    "no_channels": ("Nog geen buurtberichten.", "No neighbourhood posts yet."),
    "posts": ("{n} berichten", "{n} posts"),
    "latest": ("laatste", "latest"),
    "back": ("Terug naar het bord", "Back to the board"),
    "by": ("door", "by"),
    "mesh": ("Verbinding met het netwerk", "Connection to the network"),
    "links": ("Nu verbonden met {n} andere knooppunten.",
              "Connected to {n} other nodes now."),
    "last_sync": ("Laatste uitwisseling met een ander knooppunt: {when}.",
                  "Last exchange with another node: {when}."),
    "never_synced": ("Nog geen uitwisseling met een ander knooppunt.",
                     "No exchange with another node yet."),
    "newest": ("Nieuwste bericht ontvangen: {when}.", "Newest message received: {when}."),
    "stale": ("Let op: dit steunpunt heeft al een tijd geen contact met het netwerk. Het "
              "nieuws hier kan verouderd zijn.", "Note: this support point has had no contact "
              "with the network for a while. The news here may be out of date."),
    "updated": ("Bijgewerkt om {time}", "Updated at {time}"),
    "fingerprint": ("Vingerafdruk van dit steunpunt", "This support point's fingerprint"),
    "unavailable": ("Het bord is even niet beschikbaar. Probeer het over een minuut opnieuw.",
                    "The board is unavailable for a moment. Try again in a minute."),
    "not_found": ("Deze pagina bestaat niet.", "This page does not exist."),
    "kiosk_none": ("Geen waarschuwingen van kracht", "No alerts in force"),
    "kiosk_join": ("Bekijk dit bord op uw telefoon: wifi {wifi}, dan {url}",
                   "See this board on your phone: Wi-Fi {wifi}, then {url}"),
    "notice": ("Bericht van het steunpunt", "Notice from the support point"),
    "card_join": ("Verbind met de wifi van dit steunpunt", "Join this support point's Wi-Fi"),
    "card_open": ("Open daarna het informatiebord", "Then open the information board"),
    "card_network": ("Netwerk", "Network"),
    "card_password": ("Wachtwoord", "Password"),
    "card_open_network": ("open netwerk, geen wachtwoord", "open network, no password"),
    "card_address": ("Adres", "Address"),
    "card_what": ("Actuele waarschuwingen, berichten van het steunpunt en uit de buurt, ook "
                  "zonder internet of mobiel netwerk. Niets te installeren.",
                  "Current alerts, notices from the support point and from the neighbourhood, "
                  "also without internet or mobile network. Nothing to install."),
    "card_scan": ("Scan met de camera van uw telefoon", "Scan with your phone's camera"),
    "no_wifi": ("(wifi-naam niet ingesteld)", "(Wi-Fi name not set)"),
    "no_url": ("(adres niet ingesteld)", "(address not set)"),
    "other_language": ("English", "Nederlands"),
    "never": ("nooit", "never"),
}

_CAP: dict[str, tuple[str, str]] = {
    "Extreme": ("Extreem", "Extreme"), "Severe": ("Ernstig", "Severe"),
    "Moderate": ("Matig", "Moderate"), "Minor": ("Gering", "Minor"),
    "Unknown": ("Onbekend", "Unknown"),
    "Immediate": ("Direct handelen", "Act now"), "Expected": ("Binnenkort", "Soon"),
    "Future": ("Later", "Later"), "Past": ("Voorbij", "Past"),
    "Alert": ("Waarschuwing", "Alert"), "Update": ("Update", "Update"),
    "Cancel": ("Intrekking", "Cancel"), "Ack": ("Bevestiging", "Acknowledgement"),
    "Error": ("Correctie", "Error"),
}

_MONTHS = (
    ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
)


def _index(lang: str) -> int:
    return 1 if lang == "en" else 0


def text(key: str, lang: str, **values: object) -> str:
    """The phrase `key` in `lang`, with `{name}` filled from `values` (plain text, unescaped)."""
    phrase = _TEXT[key][_index(lang)]
    return phrase.format(**values) if values else phrase


def cap(code: str | None, lang: str) -> str:
    """A CAP code in plain words; an unknown code is shown as it is."""
    if code is None:
        return ""
    words = _CAP.get(code)
    return code if words is None else words[_index(lang)]


def clock(when: int) -> str:
    """HH:MM in the hub's local time."""
    return time.strftime("%H:%M", time.localtime(when))


def day_time(when: int, lang: str) -> str:
    """`7 dec 14:05` (Dutch) or `7 Dec 14:05` (English), the hub's local time."""
    t = time.localtime(when)
    return f"{t.tm_mday} {_MONTHS[_index(lang)][t.tm_mon - 1]} {t.tm_hour:02d}:{t.tm_min:02d}"


def ago(when: int | None, now: int, lang: str) -> str:
    """How long ago, coarsely, with the time itself: `12 min geleden (14:05)`."""
    if when is None:
        return text("never", lang)
    seconds = max(0, now - when)
    nl = lang != "en"
    if seconds < 60:
        span = "zojuist" if nl else "just now"
        return f"{span} ({clock(when)})"
    if seconds < 3600:
        span = f"{seconds // 60} min"
    elif seconds < 2 * 86_400:
        span = f"{seconds // 3600} uur" if nl else f"{seconds // 3600} h"
    else:
        span = f"{seconds // 86_400} dagen" if nl else f"{seconds // 86_400} days"
    return f"{span} {'geleden' if nl else 'ago'} ({day_time(when, lang)})"


def pick_language(query: str | None, accept: str, default: str) -> str:
    """`?lang=` if it names a language we have, else the first of ours the browser accepts
    (Accept-Language, in its order, ignoring weights), else `default`."""
    if query in LANGUAGES:
        return query
    for part in accept.split(",")[:20]:
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return default
