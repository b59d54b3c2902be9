"""Run the fuzz targets for a number of inputs or seconds each and report what was tried.

    python -m fuzz.run                        # every target, 60 s each, atheris if installed
    python -m fuzz.run --seconds 300 wire node
    python -m fuzz.run --runs 100000 frames   # a fixed number of inputs instead
    python -m fuzz.run --engine mutate        # the built-in mutator (no atheris needed)
    python -m fuzz.run --regressions          # replay fuzz/regressions/<target>/* only

With atheris, each target runs in its own process under libFuzzer, coverage-guided, starting
from the target's valid seeds (written to fuzz/corpus/<target>/, which libFuzzer grows); a
crashing input lands in fuzz/crashes/. The `mutate` engine applies bit flips, truncations,
splices and length-field inflation to the seeds, in process, without coverage feedback.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import random
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from fuzz.targets import TARGETS, Target

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MAX_LEN = {"capxml": 65_536, "node": 32_768, "reconcile": 16_384, "wire": 8_192,
           "frames": 8_192, "compact": 8_192, "verify": 8_192}
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STAT = re.compile(r"#(\d+)\s+(?:pulse|NEW|REDUCE|DONE|INITED)")


@dataclass
class Result:
    target: str
    engine: str
    inputs: int
    seconds: float
    crashes: list[str]


def run_atheris(name: str, runs: int | None, seconds: int) -> Result:
    corpus = HERE / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in TARGETS[name]().seeds():
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()}").write_bytes(seed)
    crashes = HERE / "crashes"
    crashes.mkdir(exist_ok=True)
    before = set(crashes.iterdir())
    cmd = [sys.executable, "-m", f"fuzz.fuzz_{name}", f"-max_len={MAX_LEN.get(name, 4096)}",
           f"-artifact_prefix={crashes}/{name}-", "-print_final_stats=1",
           f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=1536"]
    if runs is not None:
        cmd.append(f"-runs={runs}")
    cmd.append(str(corpus))
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    (HERE / "corpus" / f"{name}.log").write_text(log)
    done = _DONE.findall(log)
    inputs = int(done[-1][0]) if done else max((int(n) for n in _STAT.findall(log)), default=0)
    new = sorted(str(p.relative_to(ROOT)) for p in set(crashes.iterdir()) - before)
    if proc.returncode != 0 and not new:
        new = [f"exit status {proc.returncode} (see fuzz/corpus/{name}.log)"]
    return Result(name, "atheris", inputs, elapsed, new)


# --- the built-in mutator --------------------------------------------------------------------

_INTERESTING = [b"\xff", b"\x00", b"\x7f", b"\x80", b"\xff\xff", b"\xff\xff\xff\xff",
                b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff",
                b"\xdf\xff\xff\xff\xff", b"\x91" * 64, b"\xc1", b"<", b"&", b"[" * 64, b"a." * 64]


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 6)):
        pos = rng.randint(0, len(data))
        op = rng.randrange(7)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            del data[pos:]
        elif op == 2:
            del data[pos:pos + rng.randint(1, 16)]
        elif op == 3:
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 4:
            data[pos:pos] = rng.choice(_INTERESTING)
        elif op == 5:  # splice in a slice of another seed
            other = rng.choice(seeds)
            a = rng.randint(0, len(other))
            data[pos:pos] = other[a:a + rng.randint(1, 64)]
        elif data:  # inflate whatever byte sits here, as if it were a length
            data[min(pos, len(data) - 1)] = rng.choice((0x7F, 0xFF, 0xFE, 0x80))
    return bytes(data)


def run_mutate(name: str, runs: int | None, seconds: int, seed: int) -> Result:
    target: Target = TARGETS[name]()
    seeds = target.seeds() or [b""]
    rng = random.Random(seed)
    crashes: list[str] = []
    start = time.monotonic()
    tried = 0
    while (runs is None or tried < runs) and time.monotonic() - start < seconds:
        data = mutate(rng, seeds) if tried % 16 else rng.randbytes(rng.randint(0, 256))
        tried += 1
        try:
            target.check(data)
        except Exception:  # every other exception is the finding
            crashes.append(_save(name, data, traceback.format_exc()))
    return Result(name, "mutate", tried, time.monotonic() - start, crashes)


def _save(name: str, data: bytes, trace: str) -> str:
    folder = HERE / "crashes"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}-crash-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(trace)
    return str(path.relative_to(ROOT))


def run_regressions(names: list[str]) -> int:
    """Replay every saved regression input; returns the number that still crash."""
    failures = 0
    for name in names:
        folder = HERE / "regressions" / name
        target = TARGETS[name]()
        files = sorted(folder.glob("*")) if folder.is_dir() else []
        for path in files:
            try:
                target.check(path.read_bytes())
            except Exception:
                failures += 1
                print(f"{name}: {path.name} still crashes\n{traceback.format_exc()}")
        print(f"{name:10} {len(files)} regression inputs")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    parser.add_argument("--runs", type=int, help="stop each target after this many inputs")
    parser.add_argument("--engine", choices=["auto", "atheris", "mutate"], default="auto")
    parser.add_argument("--seed", type=int, default=0, help="for the mutate engine")
    parser.add_argument("--regressions", action="store_true")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}")
    if args.regressions:
        return 1 if run_regressions(names) else 0
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "mutate"
    print(f"{'target':10} {'engine':8} {'inputs':>12} {'seconds':>8} {'inputs/s':>9}  crashes")
    total_crashes = 0
    for name in names:
        if engine == "atheris":
            result = run_atheris(name, args.runs, args.seconds)
        else:
            result = run_mutate(name, args.runs, args.seconds, args.seed)
        total_crashes += len(result.crashes)
        rate = result.inputs / result.seconds if result.seconds else 0.0
        print(f"{name:10} {result.engine:8} {result.inputs:12,} {result.seconds:8.0f} "
              f"{rate:9,.0f}  {len(result.crashes)}", flush=True)
        for crash in result.crashes:
            print(f"    {crash}")
    return 1 if total_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
