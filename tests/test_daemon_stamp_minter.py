"""`StampMinter`: the daemon's stamps are minted ahead on a worker thread, and a DM or the
node's own posts use them rather than minting on the core."""

from __future__ import annotations

import trio

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.crypto.stamp import STAMP_BITS, stamp_day, stamp_worth
from meshnode.daemon.stamps import StampMinter
from meshnode.node import Node, NodeConfig
from meshnode.store.memory import MemoryStore

NOW = 1_790_000_000


def _node() -> Node:
    return Node(Identity.generate(), MemoryStore(1 << 20), TrustStore(()), NOW,
                NodeConfig(stamp_own=True, seed=5))


async def _hands_over() -> None:
    node = _node()
    minter = StampMinter(node.identity.public.sign_key, STAMP_BITS, lambda: float(NOW))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(minter.run)
        with trio.fail_after(60):
            await minter.ready.wait()
        minter.give_due(node, NOW)
        assert node.own_stamp_work(NOW) is None  # the node will not mint on the core
        ack = minter.take_ack(NOW)
        assert ack is not None and ack.day == stamp_day(NOW)
        assert minter.take_ack(NOW) is None  # taken: the next is being minted
        result = node.send_dm(Identity.generate().public, "hoi", NOW, ack=ack)
        stored = node.held.get(result.verdict.msg_id or b"")
        assert stored is not None and ack.stamp in stored.raw
        own = node.post("wijk", "Stroom?", NOW)
        raw = node.held.get(own.verdict.msg_id or b"")
        assert raw is not None and minter.own is not None and minter.own[1] in raw.raw
        assert stamp_worth(node.identity.public.sign_key, stamp_day(NOW),
                           minter.own[1]) >= STAMP_BITS
        nursery.cancel_scope.cancel()


async def _other_day() -> None:
    node = _node()
    minter = StampMinter(node.identity.public.sign_key, STAMP_BITS, lambda: float(NOW))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(minter.run)
        with trio.fail_after(60):
            await minter.ready.wait()
        assert minter.take_ack(NOW + 86_400) is None
        nursery.cancel_scope.cancel()


def test_the_minter_hands_over_todays_own_stamp_and_a_spare_ack_key() -> None:
    trio.run(_hands_over)


def test_a_spare_of_another_day_is_not_used() -> None:
    trio.run(_other_day)
