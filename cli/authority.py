"""`meshnode authority ...`: what a national root and a safety region run to issue alerts.

Keys live in folders: a root folder holds root.key (private, 0600) and root.pub (the pin that
nodes install); an issuer folder holds issuer.key, issuer.pub and the issuer's sequence counter.
Messages (certificates, alerts, revocations) are written as wire-format files that any node or
`meshnode authority verify` checks offline.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli.errors import CliError
from cli.keys import ask_new_passphrase, load_key_file
from meshnode.alerts.area import covers
from meshnode.alerts.capxml import CapError, CapLimitError, export_cap, import_cap
from meshnode.alerts.compact import decode_alert
from meshnode.alerts.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    Info,
    MsgType,
    Reference,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from meshnode.codec import WireError
from meshnode.crypto.authority import (
    IssuerCert,
    Level,
    Rejection,
    RootKey,
    TrustStore,
    VerifiedAlert,
    apply_revocation,
    create_revocation,
    decode_alert_body,
    decode_cert,
    issue_cert,
    rotate_root,
    scope_problem,
    sign_alert,
    verify_alert,
    verify_cert,
    verify_revocation,
)
from meshnode.crypto.identity import Identity, fingerprint
from meshnode.crypto.keyfile import KeyFileError, save_identity
from meshnode.crypto.trustfile import TrustFileError, read_public_key, write_public_key
from meshnode.wire import Kind, Message, decode_message, encode_message

DAY = 86_400
DEFAULT_LIFETIME = "6h"  # of an alert made from options


def register(sub: Any) -> None:
    auth = sub.add_parser("authority", help="issue and check authority alerts (roots, issuers)")
    cmds = auth.add_subparsers(dest="authority_command", metavar="ACTION", required=True)

    p = cmds.add_parser("init-root", help="create a root key pair in a new folder")
    p.add_argument("--dir", required=True, type=Path, help="folder to create")
    p.add_argument("--name", required=True, help='e.g. "NL national alerting root 2027"')
    p.add_argument("--passphrase", action="store_true", help="encrypt the private key")
    p.set_defaults(handler=init_root)

    p = cmds.add_parser("init-issuer", help="create an issuer (safety region) key pair")
    p.add_argument("--dir", required=True, type=Path, help="folder to create")
    p.add_argument("--name", required=True, help='e.g. "Veiligheidsregio Rotterdam-Rijnmond"')
    p.add_argument("--passphrase", action="store_true", help="encrypt the private key")
    p.set_defaults(handler=init_issuer)

    p = cmds.add_parser("issue-cert", help="certify an issuer's key and scope with the root")
    p.add_argument("--root-dir", required=True, type=Path)
    p.add_argument("--issuer-pub", required=True, type=Path, help="the issuer's issuer.pub")
    p.add_argument("--issuer-id", required=True, help="stable id, e.g. nl-vr17")
    p.add_argument("--sender", action="append", required=True,
                   help="CAP sender the issuer may use (repeatable)")
    p.add_argument("--geocode", action="append", default=[], metavar="NAME=VALUE",
                   help="allowed area geocode, e.g. CBS=GM0599 (repeatable)")
    p.add_argument("--polygon", action="append", default=[], metavar='"LAT,LON LAT,LON ..."',
                   help="allowed area polygon (repeatable)")
    p.add_argument("--max-severity", default="Extreme", choices=[s.cap for s in Severity])
    p.add_argument("--msg-types", default="Alert,Update,Cancel",
                   help="comma-separated CAP msgTypes the issuer may send")
    p.add_argument("--level", default="region", choices=[lv.name.lower() for lv in Level])
    p.add_argument("--valid-days", type=float, default=30.0,
                   help="validity; keep it short so that expiry limits a stolen key")
    p.add_argument("--serial", type=int, help="default: the root folder's next serial")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=issue_cert_cmd)

    p = cmds.add_parser("revoke", help="revoke issuer certificates by serial")
    p.add_argument("--root-dir", required=True, type=Path)
    p.add_argument("--serial", type=int, action="append", required=True)
    p.add_argument("--reason")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=revoke_cmd)

    p = cmds.add_parser("rotate-root", help="hand over from this root to a new one")
    p.add_argument("--root-dir", required=True, type=Path, help="the current root")
    p.add_argument("--new-root-dir", required=True, type=Path, help="made with init-root")
    p.add_argument("--valid-days", type=float, default=3650.0)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=rotate_root_cmd)

    p = cmds.add_parser("sign-alert", help="sign an alert from a CAP file or from options")
    p.add_argument("--issuer-dir", required=True, type=Path)
    p.add_argument("--cert", required=True, type=Path, help="the issuer's certificate file")
    p.add_argument("--cap", type=Path, help="CAP 1.2 XML file to sign")
    p.add_argument("--trim", action="store_true",
                   help="trim a CAP file that exceeds the mesh limits instead of refusing it")
    _alert_options(p)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=sign_alert_cmd)

    p = cmds.add_parser("verify", help="verify alert/cert/revoke files offline; print the chain")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--root", action="append", type=Path, required=True,
                   help="root.pub to trust (repeatable)")
    p.add_argument("--revocations", action="append", type=Path, default=[],
                   help="revocation files to apply first")
    p.add_argument("--now", type=int, help="verify as of this unix time (default: now)")
    p.add_argument("--at", metavar="LAT,LON", help="also say whether the alert covers this point")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=verify_cmd)

    p = cmds.add_parser("export-cap", help="write an alert file's content as CAP 1.2 XML")
    p.add_argument("file", type=Path)
    p.add_argument("--out", type=Path, help="default: standard output")
    p.set_defaults(handler=export_cap_cmd)


def _alert_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("alert from options (instead of --cap)")
    g.add_argument("--event", help='what happens, e.g. "Grote brand"')
    g.add_argument("--event-en", help="the event in English (default: --event)")
    g.add_argument("--msg-type", default="Alert", choices=[t.cap for t in MsgType])
    g.add_argument("--status", default="Actual", choices=[s.cap for s in Status])
    g.add_argument("--category", default="Safety", choices=[c.cap for c in Category])
    g.add_argument("--response", choices=[r.cap for r in ResponseType])
    g.add_argument("--severity", default="Severe", choices=[s.cap for s in Severity])
    g.add_argument("--urgency", default="Immediate", choices=[u.cap for u in Urgency])
    g.add_argument("--certainty", default="Observed", choices=[c.cap for c in Certainty])
    g.add_argument("--area-desc", help="area description, e.g. a town or district")
    g.add_argument("--polygon", action="append", default=[], metavar='"LAT,LON LAT,LON ..."')
    g.add_argument("--circle", action="append", default=[], metavar='"LAT,LON RADIUS_KM"')
    g.add_argument("--geocode", action="append", default=[], metavar="NAME=VALUE")
    for lang in ("nl", "en"):
        g.add_argument(f"--headline-{lang}")
        g.add_argument(f"--description-{lang}", help="what is happening")
        g.add_argument(f"--instruction-{lang}", help="what to do")
    g.add_argument("--web", help="where to find more information")
    g.add_argument("--expires-in", help="lifetime, e.g. 90m, 6h, 2d (default 6h); with --cap "
                   "--trim, the lifetime of an <info> without <expires>")
    g.add_argument("--references", action="append", default=[],
                   metavar="SENDER,IDENTIFIER,SENT",
                   help="for Update/Cancel (repeatable): the referenced alert's sender, "
                        "identifier and sent time, as CAP writes it (2027-03-01T14:05:00+01:00) "
                        "or a unix time")
    g.add_argument("--identifier", help="default: derived from the issuer id and sequence")


# --- helpers ---------------------------------------------------------------------------------


def _new_folder(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        raise CliError(f"{path} exists and is not empty; choose a new folder")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _load_key(folder: Path, name: str) -> Identity:
    return load_key_file(folder / f"{name}.key")


def _write_message(path: Path, msg: Message) -> None:
    data = encode_message(msg)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise CliError(f"{path} exists; refusing to overwrite it") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_message(path: Path) -> Message:
    try:
        return decode_message(path.read_bytes())
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except WireError as exc:
        raise CliError(f"{path} is not a meshnode message ({exc})") from exc


@contextmanager
def _counter_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock (fcntl) on the counter at `path` for the `with` block, so that
    concurrent runs (two operators, a script) never read the same value: the second waits.
    The lock is on a separate ``.lock`` file, since the counter itself is replaced on write."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _peek_counter(path: Path, start: int) -> int:
    """The value `_next_counter` would return (hold `_counter_lock` around both)."""
    return int(path.read_text()) + 1 if path.exists() else start


def _next_counter(path: Path, start: int) -> int:
    """Read, increment and durably store a counter before its value is used."""
    value = _peek_counter(path, start)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(str(value))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return value


def _locked_next(path: Path) -> int:
    with _counter_lock(path):
        return _next_counter(path, 1)


_POINT = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*,\s*([+-]?\d+(?:\.\d+)?)\s*")


def _e7(text: str) -> int:
    return round(float(text) * 10**7)


def parse_polygon(text: str) -> tuple[tuple[int, int], ...]:
    points = []
    for part in text.split():
        m = _POINT.fullmatch(part)
        if not m:
            raise CliError(f"bad polygon point {part!r}: write LAT,LON in degrees, e.g. 51.9,4.3")
        points.append((_e7(m[1]), _e7(m[2])))
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        raise CliError(f"a polygon needs at least 3 points, got {len(points)}: {text!r}")
    return tuple(points)


def parse_geocode(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise CliError(f"bad geocode {text!r}: write NAME=VALUE, e.g. CBS=GM0599")
    return name, value


def parse_duration(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text.strip())
    if not m:
        raise CliError(f"bad duration {text!r}: write e.g. 90m, 6h or 2d")
    return round(float(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": DAY}[m[2]])


def _parse_circle(text: str) -> Circle:
    try:
        centre, radius = text.split()
        lat, lon = centre.split(",")
        return Circle(_e7(lat), _e7(lon), round(float(radius) * 1000))
    except ValueError:
        raise CliError(f"bad circle {text!r}: write \"LAT,LON RADIUS_KM\"") from None


def _parse_reference(text: str) -> Reference:
    parts = text.split(",")
    sent = parse_time(parts[2]) if len(parts) == 3 else None
    if sent is None:
        raise CliError(f"bad reference {text!r}: write SENDER,IDENTIFIER,SENT with SENT as in "
                       "CAP (2027-03-01T14:05:00+01:00) or a unix time")
    return Reference(parts[0], parts[1], sent)


def parse_time(text: str) -> int | None:
    """A CAP date-time with its UTC offset (ISO 8601), or a unix time; None if neither."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # CAP times always carry their offset; a bare one is ambiguous
    return int(moment.timestamp())


# --- commands --------------------------------------------------------------------------------


def _init_keys(args: argparse.Namespace, role: str) -> Identity:
    _new_folder(args.dir)
    identity = Identity.generate()
    passphrase = ask_new_passphrase() if args.passphrase else None
    try:
        save_identity(identity, args.dir / f"{role}.key", passphrase=passphrase)
    except KeyFileError as exc:
        raise CliError(str(exc)) from exc
    write_public_key(args.dir / f"{role}.pub", role=role, name=args.name,
                     key=identity.public.sign_key)
    return identity


def init_root(args: argparse.Namespace) -> int:
    identity = _init_keys(args, "root")
    print(f"Root key created in {args.dir}")
    print(f"  fingerprint: {identity.fingerprint}")
    print(f"  Nodes trust it after `meshnode trust add-root {args.dir / 'root.pub'}`.")
    print("  Keep root.key offline; anyone holding it can certify issuers.")
    return 0


def init_issuer(args: argparse.Namespace) -> int:
    identity = _init_keys(args, "issuer")
    print(f"Issuer key created in {args.dir}")
    print(f"  fingerprint: {identity.fingerprint}")
    print(f"  Send {args.dir / 'issuer.pub'} to the root operator for a certificate.")
    return 0


def issue_cert_cmd(args: argparse.Namespace) -> int:
    root = _load_key(args.root_dir, "root")
    try:
        name, key = read_public_key(args.issuer_pub, role="issuer")
    except TrustFileError as exc:
        raise CliError(str(exc)) from exc
    try:
        types = frozenset(MsgType.from_cap(t.strip()) for t in args.msg_types.split(","))
    except ValueError as exc:
        raise CliError(f"--msg-types: {exc}") from exc
    geocodes = tuple(parse_geocode(g) for g in args.geocode)
    polygons = tuple(parse_polygon(p) for p in args.polygon)
    if not geocodes and not polygons:
        raise CliError("give the issuer an area: --geocode NAME=VALUE and/or --polygon")
    now = int(time.time())
    serial = args.serial if args.serial is not None else _locked_next(args.root_dir / "serial")
    cert = IssuerCert(
        serial=serial, issuer_id=args.issuer_id, name=name, key=key, root_id=bytes(16),
        not_before=now - 300, not_after=now + round(args.valid_days * DAY),
        level=Level[args.level.upper()], senders=tuple(args.sender),
        max_severity=Severity.from_cap(args.max_severity), msg_types=types,
        geocodes=geocodes, polygons=polygons,
    )
    try:
        msg = issue_cert(root.signing, cert)
    except WireError as exc:
        raise CliError(f"certificate not valid: {exc}") from exc
    _write_message(args.out, msg)
    print(f"Certificate {serial} for {name} ({args.issuer_id}) written to {args.out}, "
          f"valid {args.valid_days:g} days")
    return 0


def revoke_cmd(args: argparse.Namespace) -> int:
    root = _load_key(args.root_dir, "root")
    msg = create_revocation(root.signing, args.serial, int(time.time()), args.reason)
    _write_message(args.out, msg)
    print(f"Revocation of serial(s) {', '.join(map(str, sorted(set(args.serial))))} written to "
          f"{args.out}; distribute it like an alert: it syncs before everything else")
    return 0


def rotate_root_cmd(args: argparse.Namespace) -> int:
    old, new = _load_key(args.root_dir, "root"), _load_key(args.new_root_dir, "root")
    name, _ = read_public_key(args.new_root_dir / "root.pub", role="root")
    now = int(time.time())
    serial = _locked_next(args.root_dir / "serial")
    msg = rotate_root(old.signing, new.signing, name, serial, now,
                      now + round(args.valid_days * DAY))
    _write_message(args.out, msg)
    print(f"Rotation to {name} ({new.fingerprint}) written to {args.out}")
    return 0


def _alert_from_options(args: argparse.Namespace, cert: IssuerCert, seq: int) -> Alert:
    now = int(time.time())
    if not args.event:
        raise CliError("give --cap FILE, or --event with the alert's text options")
    if not (args.headline_nl or args.description_nl or args.instruction_nl):
        raise CliError("give the Dutch text: --headline-nl, --description-nl, --instruction-nl")
    polygons = tuple(parse_polygon(p) for p in args.polygon)
    circles = tuple(_parse_circle(c) for c in args.circle)
    geocodes = tuple(parse_geocode(g) for g in args.geocode)
    if not (polygons or circles or geocodes):
        raise CliError("give the alert an area: --polygon, --circle or --geocode")
    area = Area(area_desc=args.area_desc or cert.name, polygons=polygons, circles=circles,
                geocodes=geocodes)
    expires = now + parse_duration(args.expires_in or DEFAULT_LIFETIME)
    infos = []
    for lang, code in (("nl", "nl-NL"), ("en", "en-GB")):
        texts = [getattr(args, f"{part}_{lang}") for part in ("headline", "description",
                                                               "instruction")]
        if not any(texts):
            continue
        infos.append(Info(
            language=code, categories=(Category.from_cap(args.category),),
            event=(args.event_en or args.event) if lang == "en" else args.event,
            response_types=(ResponseType.from_cap(args.response),) if args.response else (),
            urgency=Urgency.from_cap(args.urgency), severity=Severity.from_cap(args.severity),
            certainty=Certainty.from_cap(args.certainty), expires=expires,
            sender_name=cert.name, headline=texts[0], description=texts[1],
            instruction=texts[2], web=args.web, areas=(area,),
        ))
    return Alert(
        identifier=args.identifier or f"{cert.issuer_id}.{now}.{seq}", sender=cert.senders[0],
        sent=now, status=Status.from_cap(args.status), msg_type=MsgType.from_cap(args.msg_type),
        scope=Scope.PUBLIC, references=tuple(_parse_reference(r) for r in args.references),
        infos=tuple(infos),
    )


def sign_alert_cmd(args: argparse.Namespace) -> int:
    issuer = _load_key(args.issuer_dir, "issuer")
    cert_msg = read_message(args.cert)
    if cert_msg.kind is not Kind.CERT:
        raise CliError(f"{args.cert} is a {cert_msg.kind.name.lower()}, not a certificate")
    cert = decode_cert(cert_msg.body)
    if cert.key != issuer.public.sign_key:
        raise CliError(f"{args.cert} certifies another key than {args.issuer_dir}/issuer.key")
    seq_file = args.issuer_dir / "seq"
    # Locked from reading the next number to storing it: concurrent runs take turns.
    with _counter_lock(seq_file):
        return _sign_alert_locked(args, issuer, cert_msg, cert, seq_file)


def _sign_alert_locked(args: argparse.Namespace, issuer: Identity, cert_msg: Message,
                       cert: IssuerCert, seq_file: Path) -> int:
    seq = _peek_counter(seq_file, 1)
    trims: tuple[str, ...] = ()
    if args.cap is not None:
        if args.expires_in is not None and not args.trim:
            raise CliError("--expires-in does not apply to --cap: a CAP file sets its lifetime "
                           "in the <expires> of each <info> (with --trim, --expires-in is the "
                           "lifetime of an <info> that has none); nothing was signed")
        lifetime = {} if args.expires_in is None else {
            "default_lifetime": parse_duration(args.expires_in)}
        try:
            result = import_cap(args.cap.read_bytes(), trim=args.trim, **lifetime)
        except FileNotFoundError:
            raise CliError(f"{args.cap}: no such file") from None
        except CapError as exc:
            # Only a limit can be trimmed: an XML or CAP error needs the file fixed.
            hint = ("" if args.trim or not isinstance(exc, CapLimitError)
                    else " (--trim shortens texts and simplifies areas)")
            raise CliError(f"{args.cap}: {exc}{hint}") from exc
        alert, trims = result.alert, result.trims
        for warning in result.warnings:
            print(f"note: {warning}")
    else:
        alert = _alert_from_options(args, cert, seq)
    expires = alert.expires if alert.expires is not None else (
        alert.sent + parse_duration(args.expires_in or DEFAULT_LIFETIME))
    problem = scope_problem(alert, cert, expires, int(time.time()))
    if problem is not None:
        raise CliError(f"nodes would refuse this alert: {problem}; nothing was signed")
    # The sequence number is stored durably before it is used: it is never signed twice.
    seq = _next_counter(seq_file, 1)
    try:
        msg = sign_alert(issuer.signing, cert_msg, alert, seq, expires=expires)
    except WireError as exc:
        raise CliError(f"alert not valid: {exc}") from exc
    _write_message(args.out, msg)
    for t in trims:
        print(f"trimmed: {t}")
    print(f"Alert {alert.identifier} (#{seq}, {alert.msg_type.cap}) signed by {cert.name}: "
          f"{len(encode_message(msg)):,} bytes on the wire, written to {args.out}")
    return 0


def _trust_from(args: argparse.Namespace) -> TrustStore:
    roots = []
    for path in args.root:
        try:
            name, key = read_public_key(path, role="root")
        except TrustFileError as exc:
            raise CliError(str(exc)) from exc
        roots.append(RootKey(key, name))
    trust = TrustStore(tuple(roots))
    for path in args.revocations:
        result = apply_revocation(trust, read_message(path))
        if isinstance(result, Rejection):
            raise CliError(f"{path}: revocation refused: {result}")
        trust = result
    return trust


def _describe(path: Path, msg: Message, trust: TrustStore, now: int,
              at: tuple[int, int] | None) -> dict[str, object]:
    out: dict[str, object] = {"file": str(path), "kind": msg.kind.name.lower(),
                              "id": msg.id.hex()}
    if msg.kind is Kind.ALERT:
        result = verify_alert(msg, trust, now)
        if isinstance(result, VerifiedAlert):
            a = result.alert
            out.update(verdict="verified", root=result.root.name,
                       root_fingerprint=fingerprint(result.root.key),
                       issuer=result.cert.name, issuer_id=result.cert.issuer_id,
                       cert_serial=result.cert.serial, seq=result.seq,
                       identifier=a.identifier, sender=a.sender, msg_type=a.msg_type.cap,
                       severity=a.max_severity.cap if a.max_severity else None,
                       expires=result.expires,
                       headlines={i.language: i.headline for i in a.infos},
                       areas=list(dict.fromkeys(area.area_desc for area in a.areas)))
            if at is not None:
                out["covers_location"] = covers(a, *at)
        else:
            out.update(verdict="refused", reason=result.reason.value, detail=result.detail)
    elif msg.kind is Kind.CERT:
        cert_result = verify_cert(msg, trust, now)
        if isinstance(cert_result, Rejection):
            out.update(verdict="refused", reason=cert_result.reason.value,
                       detail=cert_result.detail)
        else:
            cert, root = cert_result
            out.update(verdict="verified", root=root.name, role=cert.role.name.lower(),
                       issuer=cert.name, issuer_id=cert.issuer_id, serial=cert.serial,
                       not_before=cert.not_before, not_after=cert.not_after,
                       max_severity=cert.max_severity.cap,
                       msg_types=sorted(t.cap for t in cert.msg_types),
                       geocodes=["=".join(g) for g in cert.geocodes],
                       polygons=len(cert.polygons))
    elif msg.kind is Kind.REVOKE:
        rev = verify_revocation(msg, trust)
        if isinstance(rev, Rejection):
            out.update(verdict="refused", reason=rev.reason.value, detail=rev.detail)
        else:
            out.update(verdict="verified", serials=list(rev.serials), reason=rev.reason)
    else:
        out.update(verdict="refused", reason="not an authority message")
    return out


def verify_cmd(args: argparse.Namespace) -> int:
    trust = _trust_from(args)
    now = args.now if args.now is not None else int(time.time())
    at = None
    if args.at:
        m = _POINT.fullmatch(args.at)
        if not m:
            raise CliError(f"--at {args.at!r}: write LAT,LON in degrees")
        at = (_e7(m[1]), _e7(m[2]))
    reports = [_describe(p, read_message(p), trust, now, at) for p in args.files]
    if args.json:
        print(json.dumps(reports, indent=2, ensure_ascii=False))
    else:
        for r in reports:
            print(f"{r['file']}: {r['kind']} {str(r['verdict']).upper()}")
            for key, value in r.items():
                if key not in ("file", "kind", "verdict"):
                    print(f"  {key.replace('_', ' ')}: {_readable(key, value)}")
    return 0 if all(r["verdict"] == "verified" for r in reports) else 1


_TIMES = ("expires", "not_before", "not_after")


def _readable(key: str, value: object) -> str:
    """A verify report's value for people: times as dates, lists and texts without reprs."""
    if key in _TIMES and type(value) is int:
        moment = datetime.datetime.fromtimestamp(value, datetime.UTC).astimezone()
        return moment.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dict):
        return "; ".join(f"[{k}] {v if v is not None else '-'}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def export_cap_cmd(args: argparse.Namespace) -> int:
    msg = read_message(args.file)
    if msg.kind is not Kind.ALERT:
        raise CliError(f"{args.file} is a {msg.kind.name.lower()}, not an alert")
    try:
        body = decode_alert_body(msg.body)
        xml = export_cap(decode_alert(body.cap))
    except WireError as exc:
        raise CliError(f"{args.file}: {exc}") from exc
    if args.out is None:
        print(xml.decode("utf-8"))
    else:
        args.out.write_bytes(xml)
        print(f"CAP 1.2 XML written to {args.out} (the signature stays in the mesh message; "
              "verify it with `meshnode authority verify`)")
    return 0
