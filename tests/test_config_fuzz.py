"""Fuzzing the daemon's config file parser (meshnode/daemon/config.py): mutations of the file
`meshnode init` writes, and hostile TOML, raise only `ConfigError`.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from meshnode.daemon.config import ConfigError, default_config_text, parse_config, render_config
from tests.fuzzing import mutated_from

VALID = [default_config_text().encode(),
         default_config_text(name="Sporthal Noord", listen="0.0.0.0:4242",
                             peers=("10.0.0.2:4242", "[::1]:4243"), discovery=False).encode()]


def refused_or_valid(data: bytes) -> None:
    try:
        config = parse_config(data.decode("utf-8", "replace"))
    except ConfigError as exc:
        assert str(exc)
        return
    assert parse_config(render_config(config)) == config


@given(mutated_from(VALID))
def test_mutated_config_files(data: bytes) -> None:
    refused_or_valid(data)


@given(st.binary(max_size=300))
@example(b"[node]\nname = " + b"[" * 600)  # tomllib recursed into a RecursionError
@example(b"[node]\nchannels = [" + b"{a=" * 600)
@example(b"[udp]\npeers = [\"" + b"9" * 5_000 + b"\"]")
def test_arbitrary_bytes(data: bytes) -> None:
    refused_or_valid(data)
