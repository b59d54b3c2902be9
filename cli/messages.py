"""Messaging through the running daemon: post, dm, inbox, outbox, channels, read, alerts,
inject, events."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from cli.client import add_json, call, connect, emit, request, when, who
from cli.errors import CliError
from meshnode.daemon import api


def register(sub: Any) -> None:
    p = sub.add_parser("post", help="post to a neighbourhood channel")
    p.add_argument("channel", help="e.g. wijk-noord (lowercase letters, digits, - _ .)")
    p.add_argument("text")
    add_json(p)
    p.set_defaults(handler=post)

    p = sub.add_parser("dm", help="send an end-to-end encrypted direct message")
    p.add_argument("to", help="a contact name, a fingerprint, or a signing key (hex)")
    p.add_argument("text")
    add_json(p)
    p.set_defaults(handler=dm)

    p = sub.add_parser("inbox", help="direct messages received")
    p.add_argument("--limit", type=int, default=50, help="the newest N (default 50, at most "
                                                         f"{api.MAX_LIMIT})")
    p.add_argument("--since", type=int, default=0, metavar="UNIX_TIME",
                   help="only those received at or after this time")
    add_json(p)
    p.set_defaults(handler=inbox)

    p = sub.add_parser("outbox", help="direct messages sent, with their delivery state")
    p.add_argument("--limit", type=int, default=50, help="the newest N (default 50, at most "
                                                         f"{api.MAX_LIMIT})")
    add_json(p)
    p.set_defaults(handler=outbox)

    p = sub.add_parser("channels", help="channels with posts held by this node, and how many "
                                        "are unread")
    add_json(p)
    p.set_defaults(handler=channels)

    p = sub.add_parser("read", help="the latest posts of a channel")
    p.add_argument("channel", help="e.g. wijk-noord (`meshnode channels` lists them)")
    p.add_argument("--limit", type=int, default=50, help="the newest N (default 50, at most "
                                                         f"{api.MAX_LIMIT})")
    p.add_argument("--mark-read", action="store_true",
                   help="then mark the channel read up to its newest post (for every app on "
                        "this daemon)")
    add_json(p)
    p.set_defaults(handler=read)

    p = sub.add_parser("alerts", help="verified authority alerts in force on this node",
                       description="Verified authority alerts in force; with --history every "
                       "alert received, an alert with its Updates and Cancel as one thread; "
                       "with --rejected the alerts that failed verification.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--history", action="store_true",
                      help="every alert received (also superseded, cancelled and expired ones)")
    what.add_argument("--rejected", action="store_true",
                      help="alerts that failed verification and were discarded")
    p.add_argument("--limit", type=int, default=50, help="threads or reasons shown (default 50)")
    add_json(p)
    p.set_defaults(handler=alerts)

    p = sub.add_parser("inject", help="hand an authority's alert, revocation or certificate "
                                      "file to the node, which verifies and relays it")
    p.add_argument("files", nargs="+", type=Path)
    add_json(p)
    p.set_defaults(handler=inject)

    p = sub.add_parser("events", help="follow the daemon's events (JSON lines with --json)")
    p.add_argument("--only", action="append", default=[], choices=api.EVENTS,
                   metavar="EVENT", help=f"only these events (repeatable): "
                                         f"{', '.join(api.EVENTS)}")
    p.add_argument("--count", type=int, help="stop after this many events (default: follow "
                                             "until Ctrl-C or the daemon stops)")
    add_json(p)
    p.set_defaults(handler=events)


def _limit(value: int) -> int:
    if not 1 <= value <= api.MAX_LIMIT:
        raise CliError(f"--limit must be 1..{api.MAX_LIMIT}")
    return value


def post(args: argparse.Namespace) -> int:
    result = call(args, api.Post(args.channel, args.text))
    emit(args, result, lambda r: print(f"Posted to #{r['channel']}: {r['id']}"))
    return 0


def dm(args: argparse.Namespace) -> int:
    result = call(args, api.SendDm(args.to, args.text))
    emit(args, result, lambda r: print(f"Sealed for {who(r['to'])}: {r['id']} "
                                       "(`meshnode outbox` shows when it is delivered)"))
    for w in result.get("key_warnings", []):
        print(f"WARNING: {key_warning(w)}", file=sys.stderr)
    return 0


def key_warning(w: dict[str, Any]) -> str:
    """A contact-book warning, said so that it cannot be mistaken for something harmless."""
    return (f"KEY CHANGED for {w['name']} ({when(w['seen'])}): {w['detail']}; was "
            f"{w['old_fingerprint']}, now {w['new_fingerprint']}. Someone may be impersonating "
            "them: compare fingerprints in person before trusting new messages (if they match, "
            f"`meshnode contacts dismiss {w['name']}` clears this warning).")


def inbox(args: argparse.Namespace) -> int:
    result = call(args, api.Inbox(limit=_limit(args.limit), since=args.since))

    def show(r: dict[str, Any]) -> None:
        if not r["messages"]:
            print("No direct messages.")
        for m in r["messages"]:
            print(f"{when(m['created'])}  from {who(m['from'])}\n    {m['text']}")

    emit(args, result, show)
    return 0


def outbox(args: argparse.Namespace) -> int:
    result = call(args, api.Outbox(limit=_limit(args.limit)))

    def show(r: dict[str, Any]) -> None:
        if not r["messages"]:
            print("No direct messages sent.")
        for m in r["messages"]:
            state = (f"delivered {when(m['delivered'])}" if m["delivered"]
                     else f"handed to {m['handovers']} relay(s)" if m["handovers"]
                     else "waiting for a contact")
            print(f"{when(m['created'])}  to {who(m['to'])}  [{state}]\n    {m['text']}")

    emit(args, result, show)
    return 0


def channels(args: argparse.Namespace) -> int:
    result = call(args, api.Channels())

    def show(r: dict[str, Any]) -> None:
        if not r["channels"]:
            print("No posts yet.")
        for c in r["channels"]:
            unread = f", {c['unread']} unread" if c.get("unread") else ""
            print(f"#{c['channel']}  {c['posts']} post(s){unread}, latest {when(c['latest'])}")

    emit(args, result, show)
    return 0


def read(args: argparse.Namespace) -> int:
    with connect(args) as client:
        result = request(client, api.Posts(args.channel, limit=_limit(args.limit)))
        if args.mark_read:
            newest = max((p.get("received", 0) for p in result["posts"]), default=0)
            result["read"] = request(client, api.MarkRead(args.channel, upto=newest))

    def show(r: dict[str, Any]) -> None:
        if not r["posts"]:
            print(f"No posts in #{r['channel']}.")
        for p in r["posts"]:
            print(f"{when(p['created'])}  {who(p['author'])}\n    {p['text']}")

    emit(args, result, show)
    return 0


def _alert(a: dict[str, Any], indent: str = "") -> None:
    here = {True: "  [covers this node]", False: "  [elsewhere]", None: ""}[a["covers_here"]]
    removed = a.get("removed")
    gone = f"  [{removed['reason']} {when(removed['at'])}]" if removed else ""
    print(f"{indent}{a['msg_type'].upper()} {a['severity'] or ''} from {a['issuer']} "
          f"(#{a['seq']}, until {when(a['expires'])}){here}{gone}")
    for info in a["infos"]:
        print(f"{indent}  [{info['language']}] {info['headline'] or info['event']}")
        for part in ("description", "instruction"):
            if info[part]:
                print(f"{indent}      {info[part]}")


def alerts(args: argparse.Namespace) -> int:
    limit = _limit(args.limit)
    if args.history:
        result = call(args, api.AlertHistory(limit=limit))

        def history(r: dict[str, Any]) -> None:
            if not r["threads"]:
                print("No alerts received yet.")
            for t in r["threads"]:
                print(f"{t['state'].upper()}: {t['identifier']} ({t['sender']}), "
                      f"{len(t['entries'])} message(s)")
                for entry in t["entries"]:
                    _alert(entry, "  ")

        emit(args, result, history)
        return 0
    if args.rejected:
        result = call(args, api.RejectedAlerts(limit=limit))

        def rejected(r: dict[str, Any]) -> None:
            if not r["rejected"]:
                print("No alert has failed verification.")
            for x in r["rejected"]:
                print(f"NOT VERIFIED, discarded: {x['reason']} ({x['count']}×, last "
                      f"{when(x['last_seen'])} from {x['link'] or 'local input'})")

        emit(args, result, rejected)
        return 0
    with connect(args) as client:
        result = request(client, api.Alerts())
        refused = request(client, api.RejectedAlerts(limit=limit))["rejected"]
    result["rejected"] = refused

    def show(r: dict[str, Any]) -> None:
        if not r["alerts"]:
            print("No alerts in force.")
        for a in r["alerts"]:
            _alert(a)
        if refused:
            print(f"NOT VERIFIED: {sum(x['count'] for x in refused)} alert(s) failed "
                  f"verification and were discarded, last {when(refused[0]['last_seen'])}: "
                  "`meshnode alerts --rejected` lists them. Do not act on copies of them.")

    emit(args, result, show)
    return 0


def inject(args: argparse.Namespace) -> int:
    results = []
    failed = False
    with connect(args) as client:
        for path in args.files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CliError(f"{path}: {exc.strerror or exc}") from exc
            if len(data) > api.MAX_MESSAGE_FILE:
                raise CliError(f"{path}: " + api.not_a_message(
                    data, f"{len(data):,} bytes, more than a message file holds"))
            try:
                result = client.request(api.Inject(data))
            except api.ApiError as exc:
                failed = True
                result = {"file": str(path), "accepted": False, "error": exc.message}
            results.append({"file": str(path), **result})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['file']}: REFUSED: {r['error']}")
            elif r["duplicate"]:
                print(f"{r['file']}: {r['kind']} {r['id']} already held")
            else:
                print(f"{r['file']}: {r['kind']} {r['id']} accepted; it spreads at the next "
                      "contacts")
    return 1 if failed else 0


_TIMES = {"created", "received", "sent", "expires", "seen", "delivered", "at", "last_seen",
          "read_upto"}


def describe_event(name: str, data: dict[str, Any]) -> str:
    """One line for people: the time it arrived, the event, then its fields as key=value
    (people by name or fingerprint, times as dates; lists by their length)."""
    parts = [time.strftime("%H:%M:%S"), name]
    for key, value in data.items():
        if isinstance(value, dict) and "fingerprint" in value:
            shown = who(value)
        elif isinstance(value, dict | list):
            shown = f"{len(value)} item(s)" if value else "-"
        elif key in _TIMES and type(value) is int:
            shown = when(value)
        elif value is None:
            shown = "-"
        else:
            shown = str(value)
        if any(c in shown for c in " \n\t") or not shown:
            shown = json.dumps(shown, ensure_ascii=False)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def events(args: argparse.Namespace) -> int:
    seen = 0
    with connect(args, timeout=None) as client:
        try:
            client.request(api.Subscribe(tuple(args.only)))
            for event in client.events():
                if args.json:
                    print(json.dumps({"event": event.event, "data": event.data},
                                     ensure_ascii=False), flush=True)
                else:
                    print(describe_event(event.event, event.data), flush=True)
                seen += 1
                if args.count is not None and seen >= args.count:
                    return 0
        except api.ApiError as exc:
            raise CliError(exc.message) from exc
    print("the daemon stopped", file=sys.stderr)
    return 0 if args.count is None else 1
