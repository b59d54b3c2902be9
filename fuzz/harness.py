"""The atheris (libFuzzer) entry point shared by the per-target `fuzz_<target>.py` files.

    python -m fuzz.fuzz_wire [libFuzzer flags] [corpus dirs]

Only meshnode's own code is instrumented for coverage. A crash is any exception outside the
target's documented error types; libFuzzer saves the input (see `-artifact_prefix`).
"""

from __future__ import annotations

import sys


def main(name: str) -> None:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    from fuzz.targets import TARGETS

    with atheris.instrument_imports(include=["meshnode"]):
        target = TARGETS[name]()
        # Import every module the target reaches now, inside the instrumented block.
        for seed in target.seeds():
            target.check(seed)

    atheris.Setup(sys.argv, target.check)
    atheris.Fuzz()
