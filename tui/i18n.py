"""The TUI's strings in Dutch and English, and how the language is chosen.

`pick_language(explicit, environ)`: an explicit `--lang` wins, then $MESHNODE_LANG, then the
locale variables ($LC_ALL, $LC_MESSAGES, $LANG: Dutch if they start with "nl"), else English.
`text(lang, key, **values)` formats one string; every key exists in both tables (a test checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = ["REASONS_NL", "STRINGS", "Lang", "pick_language", "refusal", "text"]


class Lang(StrEnum):
    NL = "nl"
    EN = "en"

    def other(self) -> Lang:
        return Lang.EN if self is Lang.NL else Lang.NL


_EN: dict[str, str] = {
    "title": "meshnode",
    "tab.alerts": "Alerts",
    "tab.channels": "Channels",
    "tab.messages": "Messages",
    "tab.peers": "Status",
    "key.alerts": "Alerts",
    "key.channels": "Channels",
    "key.messages": "Messages",
    "key.peers": "Status",
    "key.language": "Nederlands",
    "key.refresh": "Refresh",
    "key.quit": "Quit",
    "offline.title": "The meshnode daemon is not running",
    "offline.body": "No daemon answers at {path}.\n\nStart it in another terminal with:\n\n"
                    "    {command}\n\n(first time: meshnode init). This screen reconnects "
                    "by itself as soon as the daemon is up.",
    "offline.retry": "Trying again every {seconds} s…",
    "alerts.none": "No authority alerts. Verified alerts appear here as soon as they arrive.",
    "alerts.verified": "✔ VERIFIED by {issuer}, certified by {root}",
    "alerts.unverified": "✖ NOT VERIFIED — an alert arrived that failed verification and "
                         "was discarded: {reason}. Do not act on copies of it.",
    "alerts.covers.yes": "Your area IS in the alert area",
    "alerts.covers.no": "Your area is outside the alert area",
    "alerts.covers.unknown": "Unknown whether your area is affected (no location configured)",
    "alerts.what": "What is happening",
    "alerts.todo": "What to do",
    "alerts.more": "More information",
    "alerts.area": "Area",
    "alerts.sent": "Sent {when} · severity {severity} · expires {expires}",
    "alerts.history": "History",
    "alerts.cancelled": "CANCELLED — this alert has been withdrawn",
    "alerts.withdrawn": "WITHDRAWN — the issuer's certificate was revoked",
    "alerts.expired": "EXPIRED — no longer in force",
    "alerts.unverified.seen": "Last seen {when} ({count}×)",
    "alerts.superseded": "superseded",
    "channels.none": "No channels yet. Type a channel name and a message below to start one.",
    "channels.channel": "Channel",
    "channels.placeholder": "Message to the channel, Enter sends · Esc: channel list",
    "channels.posted": "Posted in #{channel}",
    "channels.empty": "No messages in #{channel} yet.",
    "messages.me": "Me",
    "messages.you": "You are {fingerprint}",
    "messages.qr.missing": "(no QR code: install `segno` to show one)",
    "messages.add.placeholder": "Add contact: NAME FINGERPRINT, Enter adds",
    "messages.to": "To",
    "messages.placeholder": "Write a direct message, Enter sends",
    "messages.none": "No contacts yet: ask a neighbour for their fingerprint and add it below.",
    "messages.pick": "Pick a contact on the left.",
    "messages.queued": "queued",
    "messages.carried": "carried by {n} relay(s)",
    "messages.delivered": "delivered ✔",
    "messages.added": "Added contact {name}",
    "messages.add.usage": "Type a name and a fingerprint, e.g.: Anna ABCD EFGH …",
    "messages.keychange": "⚠ KEY CHANGED for {name}: was {old}, now {new}. Someone may be "
                          "impersonating them. Compare fingerprints in person before trusting "
                          "new messages.",
    "messages.dismissed": "Warning for {name} cleared: fingerprints compared in person",
    "messages.sent": "Sent to {to}",
    "peers.none": "No links up: no other node in reach yet.",
    "peers.link": "Link",
    "peers.transport": "Transport",
    "peers.state": "State",
    "peers.last_sync": "Last sync",
    "peers.state.up": "up",
    "peers.state.probing": "probing",
    "alerts.unverified.detail": "Detail: {detail}",
    "status.node": "Node {name} · {fingerprint}",
    "status.links": "Links up: {links} · last sync: {last_sync}",
    "status.store": "Store: {messages} messages, {used} of {capacity}",
    "status.counters": "Accepted {accepted} · rejected {rejected} · duplicates {duplicates} · "
                       "relayed {relayed}",
    "status.inbox": "Direct messages: {received} received, {sent} sent",
    "status.roots": "Trusted roots: {roots}",
    "status.clock_behind": "CLOCK WRONG: this node's clock is at least {minutes} minutes "
                           "behind (a verified alert was sent at {floor}). Alerts are checked "
                           "against that time; set the clock right.",
    "status.recovered": "RECOVERED: the damaged message store was moved to {moved_to}; {dms} "
                        "of your undelivered direct messages and {posts} of your posts were "
                        "sent out again ({lost} could not be: expired or too old)",
    "status.https": "HTTPS: {names}, certificate valid until {until}",
    "status.https_expiring": "HTTPS CERTIFICATE EXPIRES in {days} day(s), on {until}: renew it "
                             "while the hub is online (docs/steunpunt.md, HTTPS)",
    "status.https_expired": "HTTPS CERTIFICATE EXPIRED on {until}: phones refuse the board and "
                            "the app; renew it, or serve plain HTTP (docs/steunpunt.md, HTTPS)",
    "status.never": "never",
    "error": "The daemon refused: {message}",
    "severity.Extreme": "Extreme",
    "severity.Severe": "Severe",
    "severity.Moderate": "Moderate",
    "severity.Minor": "Minor",
    "severity.Unknown": "Unknown",
    "key.qr": "QR",
    "key.keys_checked": "Keys OK",
    "qr.title": "Your fingerprint: let a neighbour scan it or read it out, and compare it "
                "in person",
    "qr.close": "Esc closes",
}

_NL: dict[str, str] = {
    "title": "meshnode",
    "tab.alerts": "Alerts",
    "tab.channels": "Kanalen",
    "tab.messages": "Berichten",
    "tab.peers": "Status",
    "key.alerts": "Alerts",
    "key.channels": "Kanalen",
    "key.messages": "Berichten",
    "key.peers": "Status",
    "key.language": "English",
    "key.refresh": "Vernieuwen",
    "key.quit": "Afsluiten",
    "offline.title": "De meshnode-daemon draait niet",
    "offline.body": "Er antwoordt geen daemon op {path}.\n\nStart hem in een andere terminal "
                    "met:\n\n    {command}\n\n(de eerste keer: meshnode init). Dit scherm "
                    "maakt vanzelf verbinding zodra de daemon draait.",
    "offline.retry": "Elke {seconds} s opnieuw proberen…",
    "alerts.none": "Geen alerts van de overheid. Geverifieerde alerts verschijnen hier zodra "
                   "ze binnenkomen.",
    "alerts.verified": "✔ GEVERIFIEERD: {issuer}, gecertificeerd door {root}",
    "alerts.unverified": "✖ NIET GEVERIFIEERD — er kwam een alert binnen dat de controle niet "
                         "doorstond en is weggegooid: {reason}. Volg kopieën hiervan niet op.",
    "alerts.covers.yes": "Uw omgeving LIGT in het alertgebied",
    "alerts.covers.no": "Uw omgeving ligt buiten het alertgebied",
    "alerts.covers.unknown": "Onbekend of uw omgeving getroffen is (geen locatie ingesteld)",
    "alerts.what": "Wat is er aan de hand",
    "alerts.todo": "Wat moet u doen",
    "alerts.more": "Meer informatie",
    "alerts.area": "Gebied",
    "alerts.sent": "Verstuurd {when} · ernst {severity} · verloopt {expires}",
    "alerts.history": "Geschiedenis",
    "alerts.cancelled": "OPGEHEVEN — dit alert is opgeheven",
    "alerts.withdrawn": "INGETROKKEN — het certificaat van de afzender is ingetrokken",
    "alerts.expired": "VERLOPEN — niet meer van kracht",
    "alerts.unverified.seen": "Laatst gezien {when} ({count}×)",
    "alerts.superseded": "vervangen",
    "channels.none": "Nog geen kanalen. Typ hieronder een kanaalnaam en een bericht om er een "
                     "te beginnen.",
    "channels.channel": "Kanaal",
    "channels.placeholder": "Bericht aan het kanaal, Enter verstuurt · Esc: kanalen",
    "channels.posted": "Geplaatst in #{channel}",
    "channels.empty": "Nog geen berichten in #{channel}.",
    "messages.me": "Ik",
    "messages.you": "U bent {fingerprint}",
    "messages.qr.missing": "(geen QR-code: installeer `segno` om er een te tonen)",
    "messages.add.placeholder": "Contact toevoegen: NAAM VINGERAFDRUK, Enter voegt toe",
    "messages.to": "Aan",
    "messages.placeholder": "Schrijf een privébericht, Enter verstuurt",
    "messages.none": "Nog geen contacten: vraag een buur om zijn vingerafdruk en voeg die "
                     "hieronder toe.",
    "messages.pick": "Kies links een contact.",
    "messages.queued": "in de wachtrij",
    "messages.carried": "meegenomen door {n} doorgever(s)",
    "messages.delivered": "afgeleverd ✔",
    "messages.added": "Contact {name} toegevoegd",
    "messages.add.usage": "Typ een naam en een vingerafdruk, bijv.: Anna ABCD EFGH …",
    "messages.keychange": "⚠ SLEUTEL GEWIJZIGD voor {name}: was {old}, nu {new}. Iemand doet "
                          "zich misschien voor als deze persoon. Vergelijk de vingerafdrukken "
                          "persoonlijk voordat u nieuwe berichten vertrouwt.",
    "messages.dismissed": "Waarschuwing voor {name} gewist: vingerafdrukken persoonlijk "
                          "vergeleken",
    "messages.sent": "Verstuurd aan {to}",
    "peers.none": "Geen verbindingen: nog geen ander apparaat binnen bereik.",
    "peers.link": "Verbinding",
    "peers.transport": "Transport",
    "peers.state": "Status",
    "peers.last_sync": "Laatste sync",
    "peers.state.up": "actief",
    "peers.state.probing": "zoekt",
    "alerts.unverified.detail": "Technisch detail (Engels): {detail}",
    "status.node": "Node {name} · {fingerprint}",
    "status.links": "Actieve verbindingen: {links} · laatste sync: {last_sync}",
    "status.store": "Opslag: {messages} berichten, {used} van {capacity}",
    "status.counters": "Geaccepteerd {accepted} · geweigerd {rejected} · dubbele {duplicates} · "
                       "doorgestuurd {relayed}",
    "status.inbox": "Privéberichten: {received} ontvangen, {sent} verstuurd",
    "status.roots": "Vertrouwde stamsleutels: {roots}",
    "status.clock_behind": "KLOK FOUT: de klok van dit knooppunt loopt minstens {minutes} "
                           "minuten achter (een geverifieerde waarschuwing is verstuurd om "
                           "{floor}). Waarschuwingen worden tegen die tijd gecontroleerd; zet "
                           "de klok goed.",
    "status.recovered": "HERSTELD: de beschadigde berichtenopslag is verplaatst naar "
                        "{moved_to}; {dms} van uw nog niet afgeleverde privéberichten en "
                        "{posts} van uw berichten zijn opnieuw verstuurd ({lost} niet: "
                        "verlopen of te oud)",
    "status.https": "HTTPS: {names}, certificaat geldig tot {until}",
    "status.https_expiring": "HTTPS-CERTIFICAAT VERLOOPT over {days} dag(en), op {until}: "
                             "vernieuw het terwijl de hub online is (docs/steunpunt.md, HTTPS)",
    "status.https_expired": "HTTPS-CERTIFICAAT VERLOPEN op {until}: telefoons weigeren het bord "
                            "en de app; vernieuw het, of gebruik gewoon HTTP "
                            "(docs/steunpunt.md, HTTPS)",
    "status.never": "nog nooit",
    "error": "De daemon weigerde: {message}",
    "severity.Extreme": "Extreem",
    "severity.Severe": "Ernstig",
    "severity.Moderate": "Matig",
    "severity.Minor": "Gering",
    "severity.Unknown": "Onbekend",
    "key.qr": "QR",
    "key.keys_checked": "Sleutels OK",
    "qr.title": "Uw vingerafdruk: laat een buur hem scannen of lees hem voor, en vergelijk "
                "hem persoonlijk",
    "qr.close": "Esc sluit",
}

STRINGS: Mapping[Lang, Mapping[str, str]] = {Lang.EN: _EN, Lang.NL: _NL}

# Why an alert failed verification (meshnode.crypto.authority.Reason's values), in Dutch; a
# test checks that every Reason has one.
REASONS_NL: Mapping[str, str] = {
    "malformed": "onleesbaar of beschadigd",
    "bad signature": "de handtekening klopt niet",
    "unknown root": "ondertekend onder een stamsleutel die hier niet vertrouwd wordt",
    "certificate not yet valid": "het certificaat is nog niet geldig",
    "certificate expired": "het certificaat is verlopen",
    "certificate is not an issuer certificate": "het certificaat mag geen alerts uitgeven",
    "certificate revoked": "het certificaat is ingetrokken",
    "CAP sender not covered by the certificate": "de afzender valt niet onder het certificaat",
    "sent time is in the future": "het verzendtijdstip ligt in de toekomst",
    "alert expired": "het alert is verlopen",
    "severity above the issuer's maximum": "de ernst is hoger dan de afzender mag melden",
    "message type not allowed for the issuer": "dit soort bericht mag de afzender niet sturen",
    "area outside the issuer's scope": "het gebied valt buiten dat van de afzender",
    "sequence number already used": "het volgnummer is al gebruikt (een herhaling)",
    "sequence number older than the issuer's window": "het volgnummer is te oud (een herhaling)",
    "update or cancel refers to another issuer's alert":
        "een update of opheffing van het alert van een andere afzender",
}


def refusal(reason: str, lang: Lang) -> tuple[str, str]:
    """A refused alert's reason ("alert unknown root: root id … is not pinned here") as
    (why, detail) for people: `why` in `lang`, `detail` as the node said it ("" if none)."""
    # "alert unknown root: …" from a peer, "alert: unknown root: …" from a local inject.
    why, _, detail = reason.removeprefix("alert: ").removeprefix("alert ").partition(": ")
    if lang is Lang.NL:
        return REASONS_NL.get(why, why), detail
    return why, detail


def text(lang: Lang, key: str, **values: object) -> str:
    """The string `key` in `lang`, formatted with `values`; KeyError for an unknown key."""
    template = STRINGS[lang][key]
    return template.format(**values) if values else template


def pick_language(explicit: str | None, environ: Mapping[str, str]) -> Lang:
    """--lang, else $MESHNODE_LANG, else the locale ($LC_ALL, $LC_MESSAGES, $LANG), else English."""
    for value in (explicit, environ.get("MESHNODE_LANG"), environ.get("LC_ALL"),
                  environ.get("LC_MESSAGES"), environ.get("LANG")):
        if value:
            return Lang.NL if value.lower().startswith("nl") else Lang.EN
    return Lang.EN
