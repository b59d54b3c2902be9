"""The UDP link alone: datagrams each way for a stream of small frames (two transports in one
process, on loopback).

    python bench/bench_udp_link.py [--frames 3000] [--burst 20]

Frames of 150-400 bytes (sync `Msg` frames are about that size) are handed over in bursts of
`--burst`, as the daemon hands a node's burst; prints the datagrams the sender and the
receiver sent, and the process CPU time.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meshnode.transport.base import FrameReceived, LinkUp, TransportEvent
from meshnode.transport.udp import Endpoint, UdpConfig, UdpTransport


async def run(frames: list[bytes], burst: int) -> tuple[int, int]:
    here = Endpoint("127.0.0.1", 0)
    b = UdpTransport(UdpConfig(listen=here, discovery=False, keepalive=5.0, link_timeout=30.0))
    a = UdpTransport(UdpConfig(listen=here, discovery=False, keepalive=5.0, link_timeout=30.0,
                               peers=(b.local,)))
    a_in, a_out = trio.open_memory_channel[TransportEvent](1000)
    b_in, b_out = trio.open_memory_channel[TransportEvent](1000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.run, a_in)
        nursery.start_soon(b.run, b_in)
        while not isinstance(up := await a_out.receive(), LinkUp):
            pass

        async def send() -> None:
            for i in range(0, len(frames), burst):
                for frame in frames[i:i + burst]:
                    await a.send(up.link, frame)
                await trio.lowlevel.checkpoint()

        nursery.start_soon(send)
        got = 0
        while got < len(frames):
            got += isinstance(await b_out.receive(), FrameReceived)
        nursery.cancel_scope.cancel()
    return a.stats()["datagrams_out"], b.stats()["datagrams_out"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(1)
    frames = [rng.randbytes(rng.randrange(150, 400)) for _ in range(args.frames)]
    cpu, wall = time.process_time(), time.perf_counter()
    sender, receiver = trio.run(run, frames, args.burst)
    print(f"{args.frames:,} frames: sender {sender:,} datagrams, receiver {receiver:,}; "
          f"CPU {time.process_time() - cpu:.2f} s, wall {time.perf_counter() - wall:.2f} s "
          "(both ends)")


if __name__ == "__main__":
    main()
