"""Scenario files: TOML parsed into one frozen, validated record tree.

Sections: [scenario] (name, seed, duration, step), [population], [mobility] (which model),
one section per model ([neighbourhood], [random_waypoint], [trace]), [ble], [battery],
[workload] (with [[workload.alerts]] and [workload.attacker]), [routing] and [output].
Every key has a default; unknown keys and invalid values raise `ScenarioError` naming the
dotted key. Durations are seconds or strings such as "90s", "15m", "24h". Bundled scenarios
live in `sim/scenarios/`; `parameter_table()` renders the reference table in
docs/simulator.md.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from meshnode.routing.ghosts import DEFAULT_GHOST_LIMIT
from meshnode.routing.policy import PolicyName
from meshnode.store.base import DEFAULT_SEEN_CAPACITY
from sim.config import ScenarioError, check, describe, load, param
from sim.linkmodel import BatteryParams, LinkParams
from sim.mobility import NeighbourhoodParams, RandomWaypointParams

__all__ = [
    "ATTACK_MODES",
    "MODELS",
    "AlertSpec",
    "AttackerSpec",
    "Meta",
    "MobilitySpec",
    "OutputSpec",
    "Population",
    "RoutingSpec",
    "Scenario",
    "ScenarioError",
    "TraceSpec",
    "WorkloadSpec",
    "bundled",
    "bundled_names",
    "load_scenario",
    "parameter_table",
    "parse_scenario",
]

MODELS = ("neighbourhood", "random-waypoint", "trace")
POLICIES = tuple(p.value for p in PolicyName)


@dataclass(frozen=True, slots=True)
class Meta:
    """[scenario]: identity and clock of a run."""

    name: str = param("unnamed", "scenario name, used in result file names")
    description: str = param("", "free text")
    seed: int = param(1, "master seed; every random stream derives from it", ge=0)
    duration: float = param(86_400.0, "simulated time", unit="s", gt=0)
    step: float = param(5.0, "mobility and contact-detection time step", unit="s", gt=0)
    start_hour: float = param(8.0, "clock hour at which the outage (t = 0) starts, for the "
                              "day/night rhythm", ge=0, lt=24)

    def __post_init__(self) -> None:
        check(self)
        if self.step > self.duration:
            raise ScenarioError("step", "must not exceed duration")


@dataclass(frozen=True, slots=True)
class Population:
    """[population]: who takes part."""

    residents: int = param(2500, "residents with a phone (for a trace: nodes minus hubs)", ge=0)
    hubs: int = param(20, "neighbourhood hubs (stationary, mains power)", ge=0)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class MobilitySpec:
    """[mobility]: which movement model drives the residents."""

    model: str = param("neighbourhood", "neighbourhood, random-waypoint or trace",
                       choices=MODELS)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class TraceSpec:
    """[trace]: an external contact trace replayed instead of mobility."""

    file: str = param("", "trace file, relative to the scenario file")
    format: str = param("auto", "one, csv, or auto (by extension: .csv is CSV, else ONE)",
                        choices=("auto", "one", "csv"))
    strict: bool = param(True, "reject redundant up/down events instead of skipping them")
    hub_ids: tuple[str, ...] = param((), "trace node ids that are hubs (default: the first "
                                     "population.hubs nodes in id order)")

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """One [[workload.alerts]] entry: an authority alert injected at a hub."""

    at: float = param(600.0, "injection time", unit="s", ge=0)
    hub: int = param(0, "index of the hub that injects it (0-based among hubs)", ge=0)
    size: int = param(1500, "encoded size; real CAP alerts are 0.6–3.8 KB (design.md §4)",
                      unit="B", gt=0, le=4096)

    def __post_init__(self) -> None:
        check(self)


ATTACK_MODES = ("sybil", "single")


@dataclass(frozen=True, slots=True)
class AttackerSpec:
    """[workload.attacker]: residents flooding the network with junk posts.

    `mode` "sybil": every junk post is signed by a fresh identity (defeats per-author quotas);
    "single": each attacker signs all its junk under its own one identity (a high-rate author).
    """

    count: int = param(0, "attacking residents", ge=0)
    rate: float = param(3600.0, "posts per hour per attacker", unit="1/h", ge=0)
    start: float = param(3600.0, "when the flood starts", unit="s", ge=0)
    mode: str = param("sybil", "sybil: each junk post from a fresh identity; single: each "
                      "attacker posts under its own one identity", choices=ATTACK_MODES)
    stamps: bool = param(False, "the attacker pays: it mints a proof-of-work stamp of "
                         "routing.stamp_bits for each fresh identity (docs/protocol.md §15)")

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """[workload]: what the population sends."""

    alerts: tuple[AlertSpec, ...] = param((AlertSpec(),), "authority alerts "
                                          "([[workload.alerts]] tables)")
    posts_per_hour: float = param(0.1, "neighbourhood posts per resident per hour (Poisson)",
                                  unit="1/h", ge=0)
    post_size: int = param(300, "post size on the wire (text up to 1 KiB)", unit="B", gt=0,
                           le=1024 + 512)
    dms_per_day: float = param(2.0, "direct messages per resident per day, to a random other "
                               "resident (Poisson)", unit="1/d", ge=0)
    dm_size: int = param(650, "sealed DM size on the wire (up to 4 KiB)", unit="B", gt=0,
                         le=4096 + 512)
    messages: str = param(
        "", "message list (ONE external events `<t> C <id> <from> <to> <size>`, or CSV "
        "`time,id,from,to,size`), relative to the scenario file: its messages are sent as DMs, "
        "message for message, instead of the random ones (dms_per_day is then not used)")
    messages_format: str = param("auto", "one, csv, or auto (by extension: .csv is CSV, else "
                                 "ONE)", choices=("auto", "one", "csv"))
    attacker: AttackerSpec = field(default_factory=AttackerSpec)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class RoutingSpec:
    """[routing]: forwarding policy and limits (mapped onto the node configuration)."""

    policy: str = param("spray-and-wait", "DM forwarding: " + ", ".join(POLICIES),
                        choices=POLICIES)
    spray_copies: int = param(32, "copies L for binary spray-and-wait", ge=1)
    hop_limit: int = param(16, "hops a post or DM may travel (authority messages: 32)", ge=1)
    post_hops: int = param(16, "scope of posts: every node clamps a post's hop budget to this "
                           "(NodeConfig.post_hops)", ge=0)
    store_bytes: int = param(4 * 1024 * 1024, "message store per phone", unit="B", gt=0)
    hub_store_bytes: int = param(64 * 1024 * 1024, "message store per hub", unit="B", gt=0)
    seen_capacity: int = param(
        DEFAULT_SEEN_CAPACITY, "ids of dropped messages (expired, evicted, purged) a store "
        "remembers so they are not taken again; the daemon's default", ge=1)
    stamps: bool = param(False, "honest nodes stamp what they originate and require a "
                         "proof-of-work stamp of keys new to them (NodeConfig.stamp_own and "
                         "require_stamps; docs/protocol.md §15)")
    stamp_bits: int = param(14, "the stamps' difficulty (NodeConfig.stamp_bits)", ge=1, le=32)
    ghost_capacity: int = param(
        DEFAULT_GHOST_LIMIT, "ghosts a node keeps: ids the network holds only as copies that "
        "can go no further (NodeConfig.ghost_capacity); the daemon's default", ge=0)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """[output]: what a run writes."""

    dir: str = param("results", "output directory (relative to the working directory)")
    sample: float = param(60.0, "interval of metric samples (coverage, buffers, battery)",
                          unit="s", gt=0)
    contacts: bool = param(False, "also write the contact intervals (CSV)")
    plots: bool = param(True, "write PNG plots")

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario; build with `load_scenario`/`parse_scenario` or directly."""

    scenario: Meta = field(default_factory=Meta)
    population: Population = field(default_factory=Population)
    mobility: MobilitySpec = field(default_factory=MobilitySpec)
    neighbourhood: NeighbourhoodParams = field(default_factory=NeighbourhoodParams)
    random_waypoint: RandomWaypointParams = field(default_factory=RandomWaypointParams)
    trace: TraceSpec = field(default_factory=TraceSpec)
    ble: LinkParams = field(default_factory=LinkParams)
    battery: BatteryParams = field(default_factory=BatteryParams)
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    routing: RoutingSpec = field(default_factory=RoutingSpec)
    output: OutputSpec = field(default_factory=OutputSpec)

    def __post_init__(self) -> None:
        hubs = self.population.hubs
        for i, alert in enumerate(self.workload.alerts):
            if alert.hub >= hubs:
                raise ScenarioError(f"workload.alerts[{i}].hub",
                                    f"there are only {hubs} hubs")
            if alert.at >= self.scenario.duration:
                raise ScenarioError(f"workload.alerts[{i}].at", "is not before the end of the run")
        if self.workload.attacker.count > self.population.residents:
            raise ScenarioError("workload.attacker.count", "exceeds population.residents")
        if self.mobility.model == "trace" and not self.trace.file:
            raise ScenarioError("trace.file", "is required for the trace model")
        if len(self.trace.hub_ids) not in (0, hubs):
            raise ScenarioError("trace.hub_ids", "must list exactly population.hubs ids")


def parse_scenario(text: str, base: Path | None = None) -> Scenario:
    """A scenario from TOML text; a relative trace file is resolved against `base`."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError("", f"not valid TOML: {error}") from None
    scenario = load(Scenario, table)
    if scenario.trace.file and base is not None:
        resolved = (base / scenario.trace.file).resolve()
        scenario = dataclasses.replace(
            scenario, trace=dataclasses.replace(scenario.trace, file=str(resolved)))
    if scenario.workload.messages and base is not None:
        resolved = (base / scenario.workload.messages).resolve()
        scenario = dataclasses.replace(scenario, workload=dataclasses.replace(
            scenario.workload, messages=str(resolved)))
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError("", f"{path}: not UTF-8 text") from None
    return parse_scenario(text, path.parent)


def bundled_names() -> list[str]:
    """Names of the scenarios shipped in sim/scenarios/."""
    root = resources.files("sim") / "scenarios"
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir()
                  if p.name.endswith(".toml"))


def bundled(name: str) -> Scenario:
    """Load a bundled scenario by name, e.g. "neighbourhood" or "small"."""
    if name not in bundled_names():
        raise ScenarioError("", f"no bundled scenario {name!r} (have: "
                            f"{', '.join(bundled_names())})")
    with resources.as_file(resources.files("sim") / "scenarios" / f"{name}.toml") as path:
        return load_scenario(path)


def parameter_table() -> str:
    """The Markdown reference table of every scenario key, default and meaning."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for p in describe(Scenario):
        doc = p.doc.replace("|", "\\|")
        lines.append(f"| `{p.key}` | `{p.default}` | {doc} |")
    return "\n".join(lines)
