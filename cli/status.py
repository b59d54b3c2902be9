"""`meshnode status` and `meshnode peers`: what the running daemon is doing."""

from __future__ import annotations

import argparse
from typing import Any

from cli.client import add_json, call, emit, when
from meshnode.daemon import api


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="the daemon's links, store and counters")
    add_json(p)
    p.set_defaults(handler=status)
    p = sub.add_parser("peers", help="the daemon's links to other nodes")
    add_json(p)
    p.set_defaults(handler=peers)


def status(args: argparse.Namespace) -> int:
    result = call(args, api.Status())

    def show(r: dict[str, Any]) -> None:
        store, c, t = r["store"], r["counters"], r["transport"]
        print(f"node        {r['fingerprint']}  {r['name'] or ''}")
        print(f"software    {r['software']}, up {r['uptime']:.0f} s, data in {r['data_dir']}")
        print(f"links       {r['links']} up, last sync {when(r.get('last_sync'))}")
        print(f"store       {store['messages']} messages, {store['used_bytes']:,} of "
              f"{store['capacity_bytes']:,} bytes")
        print(f"messages    {c['accepted_total']} accepted, {c['rejected_total']} rejected, "
              f"{c['duplicates']} duplicates, {c['relayed']} relayed")
        for reason, n in sorted(c["rejected"].items()):
            print(f"              rejected {n} × {reason}")
        print(f"inbox       {r['inbox']['received']} received, {r['inbox']['sent']} sent")
        print(f"roots       {', '.join(r['roots']) or 'none pinned: alerts cannot be verified'}")
        if r.get("key_warnings"):
            print(f"WARNING     {r['key_warnings']} contact key change(s): "
                  "`meshnode contacts list` shows them")
        clock = r.get("clock") or {}
        if clock.get("warning"):
            print(f"WARNING     CLOCK WRONG: {clock['warning']}")
        rec = r.get("recovery")
        if rec:
            print(f"RECOVERED   the damaged message store was moved to {rec['moved_to']}; "
                  f"{rec['dms_restored']} undelivered direct message(s) and "
                  f"{rec['posts_restored']} post(s) of yours were sent out again"
                  + (f", {rec['dms_not_restored']} DM(s) could not be (expired or too old)"
                     if rec["dms_not_restored"] else ""))
        dropped = {k: v for k, v in t.items() if k in (
            "malformed", "oversized", "stale", "refused", "malformed_fragments") and v}
        print(f"udp         {t.get('datagrams_in', 0)} datagrams in, "
              f"{t.get('datagrams_out', 0)} out, {t.get('resent', 0)} resent"
              + (f", dropped {dropped}" if dropped else ""))
        b = r.get("bitchat")
        if b is not None:
            print(f"bitchat     {b['state']} as {b['nickname']!r}, fingerprint {b['fingerprint']}")
            print(f"              {b['alerts_in_force']} alert(s) in force, "
                  f"{b['messages_sent']} messages sent, {b['phones_heard']} phone(s) heard, "
                  f"{b['links']} link(s)" + "".join(f"; {p}" for p in b["problems"]))
        https = (r.get("web") or {}).get("https")
        if https is not None:
            print(f"https       {', '.join(https['names'])}: certificate valid until "
                  f"{when(https['not_after'])} ({https['days_left']} days)")
            for warning in https["warnings"]:
                print(f"WARNING     {warning}")
        a = r["api"]
        print(f"api         {a.get('requests', 0)} requests, {a.get('bad_requests', 0)} bad, "
              f"{a.get('clients', 0)} client(s)")

    emit(args, result, show)
    return 0


def peers(args: argparse.Namespace) -> int:
    result = call(args, api.Peers())

    def show(r: dict[str, Any]) -> None:
        if not r["peers"]:
            print("No peers: add some with `--peer HOST:PORT` or turn on discovery.")
        for p in r["peers"]:
            rtt = f"{p['rtt_ms']:.1f} ms" if p.get("rtt_ms") is not None else "-"
            origin = "static" if p.get("static") else "found"
            print(f"{p['link']:<28} {p.get('transport') or '-':<6} {p['state']:<8} {origin:<7} "
                  f"since {when(p.get('up_since'))}  last sync {when(p.get('last_sync'))}  "
                  f"rtt {rtt}  in {p.get('datagrams_in', 0)} out {p.get('datagrams_out', 0)}")

    emit(args, result, show)
    return 0
