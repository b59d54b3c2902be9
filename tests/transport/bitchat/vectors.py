"""bitchat-android's golden wire vectors, copied as data (never code) for our codec tests.

Source: permissionlesstech/bitchat-android,
app/src/test/kotlin/com/bitchat/android/contracts/ClientRewriteWireContractTest.kt
(commit 09b481f1). Each constant below is the literal hex of one of its assertions.
"""

from __future__ import annotations

# `v1 packet matches canonical unpadded bytes`: version 1, type MESSAGE, sender 1011..17,
# timestamp 0x0102030405060708, payload aabbcc, ttl 7, no signature.
V1_PACKET = bytes.fromhex("01020701020304050607080000031011121314151617aabbcc")

# `v2 routed signed packet matches canonical section order`: version 2, NOISE_ENCRYPTED,
# sender 0102..08, recipient 1112..18, timestamp 42, payload dead, ttl 5, two route hops,
# signature 64 x 0x5a.
V2_SIGNATURE = b"\x5a" * 64
V2_PACKET = bytes.fromhex(
    "021105000000000000002a0b00000002"
    "0102030405060708"
    "1112131415161718"
    "02"
    "2122232425262728"
    "3132333435363738"
    "dead") + V2_SIGNATURE

# `fragment payload matches the thirteen byte iOS header`: id 0001..07, index 1, total 3,
# original type MESSAGE, data aabb.
FRAGMENT = bytes.fromhex("00010203040506070001000302aabb")

# `identity announcement matches canonical TLV order and preserves extensions`: nickname
# bob, Noise key 32 x 0x11, signing key 32 x 0x22, capabilities TLV 05 = 0001, unknown 7f.
ANNOUNCEMENT = (bytes.fromhex("0103626f620220") + b"\x11" * 32 + bytes.fromhex("0320")
                + b"\x22" * 32 + bytes.fromhex("050200017f02cafe"))

# `TLV decoders reject missing required fields and truncated values`: an announcement whose
# Noise key TLV declares 32 bytes and carries one.
ANNOUNCEMENT_TRUNCATED = bytes.fromhex("0103626f62022011")
