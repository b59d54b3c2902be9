"""What other implementations must match on the air: UUIDs, the advert and the GATT layout.

Advert (legacy advertising, 31 bytes of AD structures), as BlueZ builds it from our
`LEAdvertisement1` of type "peripheral"::

    02 01 06                       Flags: LE General Discoverable, BR/EDR not supported (3 B)
    1a 21 <SERVICE_UUID, 16 B LE>  Service Data - 128-bit UUID: length 26, type 0x21,
          <format: 1 B> <token: 8 B>                                             (27 B)
                                   total 30 of 31 bytes

The only room left next to a 128-bit UUID is 31 - 3 - (2 + 16) = `SERVICE_DATA_BUDGET`
= 10 bytes of service data; we use 9 (`format` = 0x10: version 1 in the high nibble, low
nibble reserved 0; then the token of `ble_token`). No local name, no TX power, no
manufacturer data, no service UUID list: nothing that stays the same across epochs except
the service UUID every meshnode device shares. Scanners match the service data UUID
(Android `ScanFilter.setServiceData`, BlueZ or_pattern on AD type 0x21).

GATT service `SERVICE_UUID`:

* `RX_UUID` write-without-response (and write): the central writes fragments to us.
* `TX_UUID` notify: we notify fragments to the central. Subscribe before writing.
* `INFO_UUID` read: `INFO_FORMAT` (6 bytes): protocol version, framing version, largest
  frame in bytes (uint32 BE): the largest sync frame, 8,256. No identity: the node id only
  travels inside the signed sync exchange.
* `TOKEN_UUID` read: `TOKEN_VALUE_SIZE` (10 bytes): format (0x10), flags (bit 0
  `CENTRAL_LIMITED`: this device cannot be relied on to connect, e.g. an iOS app in the
  background), the current epoch token. The same token as the service-data advert, for
  peers that learn it only once connected.

Two advert profiles (docs/hardware.md, "Discovery profiles"):

* "service-data" (above): the token is in the advert; of two devices, the lower token
  connects.
* "uuid": what an iOS app can send: flags and the 128-bit service UUID in the Complete List
  of 128-bit Service UUIDs (AD type 0x07), 21 bytes, no token, no name. A scanner that hears
  it connects at once (the advertiser may be unable to), reads TOKEN, and disconnects only
  if the peer can connect itself and has the lower token (or it is itself, or already linked).

Fragments follow `meshnode.transport.framing` at ATT MTU - 3 bytes per write/notification.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from meshnode.codec import WireError
from meshnode.transport.ble_token import TOKEN_SIZE
from meshnode.transport.framing import DEFAULT_MAX_FRAME, VERSION

__all__ = [
    "ADVERT_FORMAT",
    "ATT_HEADER",
    "CENTRAL_LIMITED",
    "DEFAULT_ATT_MTU",
    "FLAGS_AD_SIZE",
    "INFO_FORMAT",
    "INFO_UUID",
    "LEGACY_ADV_SIZE",
    "MAX_ATT_MTU",
    "PROTOCOL_VERSION",
    "RX_UUID",
    "SERVICE_DATA_BUDGET",
    "SERVICE_UUID",
    "TOKEN_UUID",
    "TOKEN_VALUE_SIZE",
    "TX_UUID",
    "AdvertError",
    "Info",
    "PeerToken",
    "advert_size",
    "advertising_data",
    "decode_info",
    "encode_info",
    "encode_token_value",
    "fragment_size",
    "parse_service_data",
    "parse_token_value",
    "service_data",
    "uuid_advert_size",
]

SERVICE_UUID = "092993ba-5aa2-44d6-bb5e-de14ccf19d72"
RX_UUID = "092993bb-5aa2-44d6-bb5e-de14ccf19d72"
TX_UUID = "092993bc-5aa2-44d6-bb5e-de14ccf19d72"
INFO_UUID = "092993bd-5aa2-44d6-bb5e-de14ccf19d72"
TOKEN_UUID = "092993be-5aa2-44d6-bb5e-de14ccf19d72"

PROTOCOL_VERSION = 1
ADVERT_FORMAT = 0x10  # version 1 in the high nibble
ATT_HEADER = 3  # opcode + handle in front of every ATT write/notification value
DEFAULT_ATT_MTU = 23  # before (or without) an MTU exchange; Core Vol 3 Part F 3.2.8
MAX_ATT_MTU = 517  # the largest ATT MTU; what BlueZ offers in an MTU exchange

LEGACY_ADV_SIZE = 31
FLAGS_AD_SIZE = 3
_AD_HEADER = 2  # length + type
SERVICE_DATA_BUDGET = LEGACY_ADV_SIZE - FLAGS_AD_SIZE - _AD_HEADER - 16
SERVICE_DATA_SIZE = 1 + TOKEN_SIZE
assert SERVICE_DATA_SIZE <= SERVICE_DATA_BUDGET

INFO_FORMAT = struct.Struct(">BBI")
TOKEN_VALUE_SIZE = 2 + TOKEN_SIZE
CENTRAL_LIMITED = 0x01


class AdvertError(WireError):
    """Service data or an INFO value from a peer is not in our format."""


def service_data(token: bytes) -> bytes:
    """The service data value we advertise for `token`."""
    if len(token) != TOKEN_SIZE:
        raise ValueError(f"token must be {TOKEN_SIZE} bytes")
    return bytes((ADVERT_FORMAT,)) + token


def parse_service_data(data: object) -> bytes:
    """The token in a peer's service data; `AdvertError` if it is not ours."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise AdvertError("advert", "service data is not bytes")
    if not data:
        raise AdvertError("advert", "empty service data")
    if data[0] >> 4 != ADVERT_FORMAT >> 4:
        raise AdvertError("advert.format", f"unknown advert version {data[0] >> 4}")
    if data[0] != ADVERT_FORMAT:
        # The low bits are reserved in this version: one advert, one meaning.
        raise AdvertError("advert.format", f"reserved bits set in format byte {data[0]:#04x}")
    if len(data) != SERVICE_DATA_SIZE:
        raise AdvertError("advert", f"{len(data)} bytes, expected {SERVICE_DATA_SIZE}")
    return data[1:]


def advert_size(service_data_len: int = SERVICE_DATA_SIZE) -> int:
    """Bytes of legacy advertising payload our advert takes (flags + 128-bit service data)."""
    return FLAGS_AD_SIZE + _AD_HEADER + 16 + service_data_len


def uuid_advert_size() -> int:
    """Bytes of legacy advertising payload the "uuid" profile takes (flags + UUID list)."""
    return FLAGS_AD_SIZE + _AD_HEADER + 16


def advertising_data(profile: str, token: bytes) -> bytes:
    """The legacy advertising payload (AD structures) of `profile` ("service-data" or
    "uuid"), as BlueZ sends it for our advertisement; `token` is unused for "uuid"."""
    flags = bytes((2, 0x01, 0x06))
    uuid = uuid_le(SERVICE_UUID)
    if profile == "uuid":
        return flags + bytes((1 + len(uuid), 0x07)) + uuid
    if profile != "service-data":
        raise ValueError(f"unknown advert profile {profile!r}")
    value = service_data(token)
    return flags + bytes((1 + len(uuid) + len(value), 0x21)) + uuid + value


@dataclass(frozen=True, slots=True)
class PeerToken:
    """A peer's TOKEN value: its epoch token, and whether it can connect to others."""

    token: bytes
    central: bool


def encode_token_value(token: bytes, *, central: bool) -> bytes:
    """The TOKEN characteristic's value for `token`."""
    if len(token) != TOKEN_SIZE:
        raise ValueError(f"token must be {TOKEN_SIZE} bytes")
    return bytes((ADVERT_FORMAT, 0 if central else CENTRAL_LIMITED)) + token


def parse_token_value(data: object) -> PeerToken:
    """A peer's TOKEN value; `AdvertError` for anything else."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise AdvertError("token", "expected bytes")
    if len(data) != TOKEN_VALUE_SIZE:
        raise AdvertError("token", f"{len(data)} bytes, expected {TOKEN_VALUE_SIZE}")
    if data[0] != ADVERT_FORMAT:
        raise AdvertError("token.format", f"unknown format byte {data[0]:#04x}")
    if data[1] & ~CENTRAL_LIMITED:
        raise AdvertError("token.flags", f"reserved flags set in {data[1]:#04x}")
    return PeerToken(data[2:], central=not data[1] & CENTRAL_LIMITED)


def fragment_size(att_mtu: int) -> int:
    """Bytes per GATT write or notification, the framing MTU, on a link with `att_mtu`.

    `att_mtu` is clamped to DEFAULT_ATT_MTU..MAX_ATT_MTU first (a peer cannot talk us below
    the default or above the maximum); the result is at least framing's MIN_MTU.
    """
    return min(max(att_mtu, DEFAULT_ATT_MTU), MAX_ATT_MTU) - ATT_HEADER


def uuid_le(value: str) -> bytes:
    """A UUID as it appears inside AD structures (little-endian)."""
    return uuid.UUID(value).bytes[::-1]


@dataclass(frozen=True, slots=True)
class Info:
    """The INFO characteristic: what a central checks before it starts a sync."""

    protocol: int = PROTOCOL_VERSION
    framing: int = VERSION
    max_frame: int = DEFAULT_MAX_FRAME


def encode_info(info: Info) -> bytes:
    return INFO_FORMAT.pack(info.protocol, info.framing, info.max_frame)


def decode_info(data: object) -> Info:
    """A peer's INFO value; `AdvertError` for anything else."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise AdvertError("info", "expected bytes")
    if len(data) < INFO_FORMAT.size:
        raise AdvertError("info", f"{len(data)} bytes, expected at least {INFO_FORMAT.size}")
    protocol, framing, max_frame = INFO_FORMAT.unpack_from(data)
    if protocol != PROTOCOL_VERSION:
        raise AdvertError("info.protocol", f"unsupported protocol version {protocol}")
    if framing != VERSION:
        raise AdvertError("info.framing", f"unsupported framing version {framing}")
    if max_frame < 1:
        raise AdvertError("info.max_frame", "must be positive")
    return Info(protocol, framing, max_frame)
