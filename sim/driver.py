"""The simulator's driver: real `meshnode.Node`s over modelled BLE links in simulated time.

The driver plays the part the daemon plays on a device, through the same driving contract
(`meshnode.node`): it hands the node every frame that arrives, sends what the node returns,
calls `ready` when a burst has gone out and `handle_timer` when `get_timer` says; residents
post and send DMs through `Node.post` and `Node.send_dm`, exactly as the daemon's API does, so
the routing, copies and delivery states are the daemon's. Frames are the node's real bytes; a
link carries them at the modelled throughput, fragmented to the modelled ATT MTU, and may lose
one, which it sends again `ble.retransmit_after` later while the link lasts. Links come up
after the modelled discovery and connection set-up while two nodes stay in range, within each
device's connection slots, and go down when they part or a phone's battery dies."""

from __future__ import annotations

import dataclasses
import math
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ed25519
from numpy.typing import NDArray

from meshnode import wire
from meshnode.alerts.examples import RIJNMOND, example_authority, example_nl_alert
from meshnode.crypto.authority import (
    sign_alert,
)
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.crypto.stamp import mint_stamp, stamp_day
from meshnode.crypto.verify import SignatureMemo
from meshnode.events import (
    AlertReceived,
    Close,
    DmCarried,
    DmDelivered,
    DmReceived,
    Output,
    PostReceived,
    Send,
)
from meshnode.node import Node, NodeConfig
from meshnode.routing.policy import PolicyName
from meshnode.store.memory import MemoryStore, SharedBytes
from meshnode.transport.slots import Admit, Held, Role, Verdict
from sim import linkmodel
from sim.config import ScenarioError
from sim.contacts import ContactDetector, ContactRecorder, Intervals
from sim.events import EventQueue
from sim.messages import MessageListError, read_messages
from sim.rng import Streams
from sim.scenario import Scenario
from sim.workload import Action, Work, attackers, schedule
from sim.world import World, build_world

__all__ = ["Outcome", "Sample", "Simulation"]

EPOCH = 1_790_000_000  # simulated t = 0, as unix time for the nodes' clocks
CHANNEL = "wijk"
# The authority's area: a box around the example alert's polygon (the simulator's own plane is
# metres; alert geography only has to satisfy the issuer's scope).
SCOPE = RIJNMOND


class Ev(Enum):
    STEP = 1
    ATTEMPT = 2
    FRAME = 3
    WORK = 4
    TIMER = 5
    SAMPLE = 6
    DOWN = 7
    UP = 8  # a replayed trace's `up`: the pair is in range from now on
    RECHECK = 9  # a full device may have a link to give up for its waiting pairs


@dataclass(slots=True)
class _Dir:
    """One direction of a link: frames waiting, and whether one is on the air."""

    queue: deque[bytes] = field(default_factory=deque)
    sending: bool = False


@dataclass(slots=True)
class _Link:
    a: int
    b: int
    up: float
    ab: _Dir = field(default_factory=_Dir)
    ba: _Dir = field(default_factory=_Dir)

    def dir(self, src: int) -> _Dir:
        return self.ab if src == self.a else self.ba


@dataclass(frozen=True, slots=True)
class Sample:
    """The state of the run at one sample time: `alert_coverage[k]` is the share of residents
    holding alert k (one item per alert injected so far)."""

    t: float
    links: int
    store_mean_bytes: float
    store_max_bytes: float
    alive_share: float
    alert_coverage: tuple[float, ...]


@dataclass
class Outcome:
    """What a run measured; `sim.metrics` turns it into results."""

    scenario: Scenario
    kinds: NDArray[np.int8]
    alert_created: list[float] = field(default_factory=list)
    alert_origin: list[int] = field(default_factory=list)
    alert_expires: list[float] = field(default_factory=list)  # sim time each alert expires
    alert_arrival: list[NDArray[np.float64]] = field(default_factory=list)
    # Per alert and device, the hop that brought it: the device that sent it (-1: none, or
    # the issuer) and when the link that carried it came up (for `bench/alert_hops.py`).
    alert_sender: list[NDArray[np.int64]] = field(default_factory=list)
    alert_link_up: list[NDArray[np.float64]] = field(default_factory=list)
    alert_bytes: int = 0
    post_created: dict[bytes, tuple[float, int]] = field(default_factory=dict)
    post_receptions: dict[bytes, int] = field(default_factory=dict)
    # One per reception of a post: 8 bytes each, not a float object (a city's day has millions).
    post_latencies: array[float] = field(default_factory=lambda: array("d"))
    dm_created: dict[bytes, tuple[float, int, int]] = field(default_factory=dict)
    dm_bytes: dict[bytes, int] = field(default_factory=dict)  # encoded size, per DM
    # A message list's DMs: each list message's id, the DM sent for list entry k, completed
    # hand-overs of listed DMs (to relays and recipients alike) that gave the receiver a copy
    # and those that did not, and the hops the copy that reached the recipient had crossed.
    listed_ids: list[str] = field(default_factory=list)
    listed_dm: dict[bytes, int] = field(default_factory=dict)
    listed_relayed: int = 0  # hand-overs that left the receiver with a copy it lacked
    listed_duplicates: int = 0  # the other hand-overs of listed DMs (`_handed_over`)
    listed_oversize: int = 0  # larger than a DM can be: sent at the largest DM size
    dm_hops: dict[bytes, int] = field(default_factory=dict)
    dm_delivered: dict[bytes, float] = field(default_factory=dict)
    dm_carried: dict[bytes, float] = field(default_factory=dict)  # first hand-over, per DM
    dm_handovers: dict[bytes, int] = field(default_factory=dict)  # as the sender counts them
    dm_acknowledged: dict[bytes, float] = field(default_factory=dict)  # receipt at the sender
    # What the DMs cost: per DM, the nodes other than its sender and recipient that stored a
    # copy at some time in the run, and the on-air bytes of every Msg frame that carried a
    # copy of any DM (lost attempts included, as in `bytes_on_air`; receipts not).
    dm_holders: dict[bytes, set[int]] = field(default_factory=dict)
    dm_bytes_on_air: int = 0
    flood_posts: int = 0
    attackers: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    frames: int = 0
    msg_frames: int = 0
    bytes_on_air: int = 0
    frames_lost: int = 0
    links_made: int = 0
    links_refused_slots: int = 0
    links_evicted: int = 0  # links a full device gave up for a newcomer (the slot rule)
    slot_refused_at: dict[tuple[int, int], float] = field(default_factory=dict)  # first, per pair
    contacts: Intervals | None = None
    samples: list[Sample] = field(default_factory=list)
    energy: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    died_at: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    # Urgent dissemination (`meshnode.alerts.urgency`): per device, the seconds it spent at the
    # urgent radio settings and the extra energy (Wh) that cost.
    urgent_seconds: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    urgent_energy: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    # Each device's advert token (`linkmodel.advert_tokens`): of a pair, the lower connects.
    tokens: NDArray[np.uint64] = field(default_factory=lambda: np.empty(0, np.uint64))
    events: int = 0
    signature_memo_hits: int = 0


def _signature(raw: bytes) -> bytes:
    """A message's signature, from its encoded copy or the Msg frame carrying it: the 64 bytes
    before the 5-byte routing tail, the same in every copy and unique per message."""
    return raw[-69:-5]


def _identity(rng: np.random.Generator) -> Identity:
    return Identity.from_seeds(rng.bytes(32), rng.bytes(32))


class Simulation:
    """One run of a scenario. `run(progress)` returns the `Outcome`."""

    def __init__(self, scenario: Scenario, *, node_factory: Callable[..., Node] = Node) -> None:
        """`node_factory` builds each node as `Node` does (`meshnode.testing.CheckedNode`
        checks that this driver keeps the driving contract)."""
        self.scenario = scenario
        self._node_factory = node_factory
        self.streams = Streams(scenario.scenario.seed)
        self.world: World = build_world(scenario, self.streams)
        self.n = self.world.size
        self.link = scenario.ble
        self.queue: EventQueue[tuple[Ev, object]] = EventQueue()
        self.memo = SignatureMemo(decoded_size=16_384)  # bodies in flight across the city
        # Copies of a message differ only in their routing tail: the stores hold equal bytes once.
        self.shared_bytes = SharedBytes()
        self.out = Outcome(scenario, self.world.kinds)
        self._rng_link = self.streams.generator("links")
        self._rng_ids = self.streams.generator("identities")
        self._listed = self._message_list()
        self._authority()
        self._nodes()
        self.links: dict[tuple[int, int], _Link] = {}
        self.open_links = np.zeros(self.n, dtype=np.int64)  # links per node, kept with `links`
        self.slots = linkmodel.Slots(self.world.kinds == 0, self.link)
        self.slot_rule = self.link.slots()
        self.recheck_at: dict[int, float] = {}  # a full device's next look at its links
        # Pairs in range, each with the number of its current contact. A connect attempt
        # belongs to the contact whose discovery and set-up it models: once that contact has
        # ended it is void, even if the pair is back in range when it falls due (the set-up
        # cannot go on out of range, and the next contact draws its own).
        self.in_range: dict[tuple[int, int], int] = {}
        self._contacts_begun = 0
        self.near: dict[int, set[tuple[int, int]]] = {}  # `in_range` by device
        # Pairs in range with a connect attempt scheduled: the soonest one.
        self.attempt_due: dict[tuple[int, int], float] = {}
        # Pairs in range that were refused for want of a slot, by node: retried when that node
        # frees a slot (it advertises and accepts connections again).
        self.waiting: dict[int, set[tuple[int, int]]] = {}
        self.detector = ContactDetector(self.link.range, self.link.indoor_range)
        self.recorder = ContactRecorder(self.n)
        battery = scenario.battery
        self.charge = linkmodel.initial_charge(self.streams.generator("battery"), battery,
                                               self.n)
        self.mains = (self.world.kinds == 0) & battery.hub_mains
        self.hub = self.world.kinds == 0
        # A device holding a fresh alert scans and advertises faster over [from, until).
        self.urgent_from = np.full(self.n, -math.inf)
        self.urgent_until = np.full(self.n, -math.inf)
        self.urgent_seconds = np.zeros(self.n)
        self.urgent_energy = np.zeros(self.n)
        self._urgency = self.link.urgency()
        self.tokens = linkmodel.advert_tokens(self.streams.generator("tokens"), self.n)
        self.out.tokens = self.tokens
        self.energy = np.zeros(self.n)
        self.alive = np.ones(self.n, dtype=np.bool_)
        self.died_at = np.full(self.n, math.inf)
        self.bytes_node = np.zeros(self.n)
        self._alert_ids: list[str] = []
        self.timer_at = [math.inf] * self.n  # when each node's timer event is scheduled
        self._energy_t = 0.0
        self._trace_until = -math.inf
        # DMs on the air, by their signature (`_signature`): for their costs, and for the
        # listed ones (`Outcome.listed_dm`) the hops each holder's first copy had crossed.
        self._dms: dict[bytes, bytes] = {}
        self._hops: dict[tuple[bytes, int], int] = {}
        self._carrier = (-1, math.nan)  # the frame being received: its sender, its link's up

    # --- set-up ------------------------------------------------------------------------------

    def _message_list(self) -> list[tuple[float, int, int, int]] | None:
        spec = self.scenario.workload
        if not spec.messages:
            return None
        fmt = None if spec.messages_format == "auto" else spec.messages_format
        try:
            listed = read_messages(spec.messages, fmt)
            pairs = listed.resolve(self.world.ids)
        except OSError as error:
            raise ScenarioError("workload.messages", f"cannot read: {error}") from None
        except MessageListError as error:
            raise ScenarioError("workload.messages", str(error)) from None
        self.out.listed_ids = [m.id for m in listed.messages]
        return [(m.time, a, b, m.size)
                for m, (a, b) in zip(listed.messages, pairs, strict=True)]

    def _authority(self) -> None:
        rng = self.streams.generator("authority")
        root = ed25519.Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
        issuer = ed25519.Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
        authority = example_authority(
            EPOCH, root=root, issuer=issuer, root_name="simulation root",
            issuer_name="Simulated safety region", issuer_id="sim-region", serial=1,
            valid=(-86_400, 400 * 86_400), polygons=(SCOPE,), geocodes=())
        self.issuer, self.cert_msg, self.trust = issuer, authority.cert_msg, authority.trust

    def _nodes(self) -> None:
        routing = self.scenario.routing
        bad = set(attackers(self.scenario.workload, self.world.residents, self.streams).tolist())
        self.out.attackers = np.array(sorted(bad), dtype=np.int64)
        self.identities = [_identity(self._rng_ids) for _ in range(self.n)]
        self.nodes: list[Node] = []
        for i in range(self.n):
            hub = self.world.kinds[i] == 0
            config = NodeConfig(
                dm_policy=PolicyName(routing.policy), spray_copies=routing.spray_copies,
                hop_limit=routing.hop_limit, post_hops=routing.post_hops,
                ghost_capacity=routing.ghost_capacity,
                seed=int(self.streams.integer_seed(f"node{i}")),
                # An attacker runs a modified node that ignores its own author quota.
                author_posts_per_hour=10**9 if i in bad else 60,
                require_stamps=routing.stamps and i not in bad, stamp_own=routing.stamps,
                stamp_bits=routing.stamp_bits,
            )
            capacity = routing.hub_store_bytes if hub else routing.store_bytes
            store = MemoryStore(capacity, seen_capacity=routing.seen_capacity,
                                shared=self.shared_bytes)
            self.nodes.append(self._node_factory(self.identities[i], store, self.trust, EPOCH,
                                                 config, memo=self.memo))

    def _address_books(self, work: list[Work]) -> None:
        """Residents DM people they know: the two ends of every DM in the workload are each
        other's contacts from the start, so each presents the pair tags of the other's DMs
        (docs/protocol.md §5.1)."""
        books: dict[int, list[int]] = {}
        for w in work:
            if w.action is Action.DM and w.target >= 0:
                books.setdefault(w.target, []).append(w.origin)
                books.setdefault(w.origin, []).append(w.target)
        for i, people in books.items():
            self.nodes[i].set_contacts(self.identities[j].public.dh_key for j in people)

    # --- running ----------------------------------------------------------------------------

    def run(self, progress: Callable[[float, int], None] | None = None) -> Outcome:
        meta = self.scenario.scenario
        end = meta.duration
        work = schedule(self.scenario.workload, self.world.hubs, self.world.residents, end,
                        self.streams, self._listed)
        for w in work:
            self.queue.schedule(w.time, (Ev.WORK, w))
        self._address_books(work)
        self.queue.schedule(0.0, (Ev.STEP, None))
        for i in range(self.n):
            self._arm(0.0, i)
        self.queue.schedule(0.0, (Ev.SAMPLE, None))
        self._trace_until = -math.inf
        events = 0
        next_report = 0.0
        while self.queue:
            t = self.queue.peek_time()
            if t is None or t > end:
                break
            t, (kind, payload) = self.queue.pop()
            events += 1
            if kind is Ev.FRAME:
                self._frame_done(t, payload)  # type: ignore[arg-type]
            elif kind is Ev.STEP:
                self._step(t)
            elif kind is Ev.ATTEMPT:
                self._attempt(t, payload)  # type: ignore[arg-type]
            elif kind is Ev.UP:
                # Only the trace's own `up` puts a pair in range: a retry (ATTEMPT) queued
                # at the instant of the pair's `down` must find it out of range.
                pair: tuple[int, int] = payload  # type: ignore[assignment]
                self._attempt(t, (pair, self._come_in_range(pair)))
            elif kind is Ev.DOWN:
                self._go_out_of_range(payload)  # type: ignore[arg-type]
                self._link_down(t, payload)  # type: ignore[arg-type]
            elif kind is Ev.WORK:
                self._work(t, payload)  # type: ignore[arg-type]
            elif kind is Ev.TIMER:
                self._timer(t, payload)  # type: ignore[arg-type]
            elif kind is Ev.RECHECK:
                self._recheck(t, payload)  # type: ignore[arg-type]
            else:
                self._sample(t)
            if progress is not None and t >= next_report:
                progress(t, events)
                next_report = t + 60.0
        self._finish(end)
        self.out.events = events
        if progress is not None:
            progress(end, events)
        return self.out

    def _finish(self, end: float) -> None:
        self._drain_energy(end)
        self.out.energy = self.energy.copy()
        self.out.died_at = self.died_at.copy()
        self.out.urgent_seconds = self.urgent_seconds.copy()
        self.out.urgent_energy = self.urgent_energy.copy()
        if self.world.trace is not None:
            self.out.contacts = self.world.trace.intervals(end)
        else:
            self.out.contacts = self.recorder.intervals(end)
        self.out.signature_memo_hits = self.memo.hits

    # --- contacts ---------------------------------------------------------------------------

    def _step(self, t: float) -> None:
        step = self.scenario.scenario.step
        self._drain_energy(t)
        if self.world.trace is not None:
            self._trace_step(t)
        else:
            mobility = self.world.mobility
            assert mobility is not None
            pos = mobility.positions(t)
            pairs = self.detector.pairs(pos, mobility.indoors())
            dead = ~self.alive
            if dead.any() and len(pairs):
                pairs = pairs[~(dead[pairs[:, 0]] | dead[pairs[:, 1]])]
            up, down = self.recorder.step(t, pairs)
            self._contacts_changed(t, up, down, delayed=True)
        if t + step <= self.scenario.scenario.duration:
            self.queue.schedule(t + step, (Ev.STEP, None))

    def _trace_step(self, t: float) -> None:
        """Schedule the trace's events of the coming step at their exact times."""
        trace = self.world.trace
        assert trace is not None
        until = t + self.scenario.scenario.step
        window = trace.between(self._trace_until, until)
        self._trace_until = until
        for k in range(window.start, window.stop):
            pair = (int(trace.a[k]), int(trace.b[k]))
            when = max(t, float(trace.time[k]))
            # A trace records connectivity itself: no discovery delay on top.
            self.queue.schedule(when, (Ev.UP if trace.up[k] else Ev.DOWN, pair))

    def _contacts_changed(self, t: float, up: NDArray[np.int64], down: NDArray[np.int64],
                          *, delayed: bool) -> None:
        for a, b in down.tolist():
            self._go_out_of_range((a, b))
            self._link_down(t, (a, b))
        if not len(up):
            return
        delays = self._link_delays(t, up)
        for (a, b), d in zip(up.tolist(), delays.tolist(), strict=True):
            self._come_in_range((a, b))
            if d < math.inf:  # else the two never find each other (or never connect)
                self._schedule_attempt(t + d, (a, b))

    def _come_in_range(self, pair: tuple[int, int]) -> int:
        """`pair` is in range from now on, in a new contact: its number."""
        self._contacts_begun += 1
        self.in_range[pair] = self._contacts_begun
        for i in pair:
            self.near.setdefault(i, set()).add(pair)
        return self._contacts_begun

    def _go_out_of_range(self, pair: tuple[int, int]) -> None:
        self.in_range.pop(pair, None)
        self.attempt_due.pop(pair, None)
        for i in pair:
            near = self.near.get(i)
            if near is not None:
                near.discard(pair)

    def _schedule_attempt(self, when: float, pair: tuple[int, int]) -> None:
        """A connect attempt for `pair`'s current contact at `when`."""
        self.attempt_due[pair] = min(when, self.attempt_due.get(pair, math.inf))
        self.queue.schedule(when, (Ev.ATTEMPT, (pair, self.in_range[pair])))

    def _rediscover(self, t: float, node: int) -> None:
        """`node` just turned urgent: it scans, advertises and connects at its new settings
        from now on, as the transport does (a scan pause ends at once, a peer already heard
        is no longer yielded to). Each peer in range it is not linked to and not waiting on a
        slot for connects at the sooner of its pending draw and a fresh one from now (the
        earlier draw is the discovery that was already under way). A trace's contacts need no
        discovery."""
        near = self.near.get(node)
        if not near or self.world.trace is not None:
            return
        pairs = sorted(p for p in near if p not in self.links
                       and p not in self.waiting.get(p[0], ()) and p not in
                       self.waiting.get(p[1], ()) and self.alive[p[0]] and self.alive[p[1]])
        if not pairs:
            return
        delays = self._link_delays(t, np.array(pairs, dtype=np.int64))
        for pair, d in zip(pairs, delays.tolist(), strict=True):
            if t + d < self.attempt_due.get(pair, math.inf):
                self._schedule_attempt(t + d, pair)

    def _link_delays(self, t: float, pairs: NDArray[np.int64]) -> NDArray[np.float64]:
        """Seconds from now until each pair's link is up: discovery (the lower advert token
        connects at once, the other after its yield time), then the connecting device's
        connect attempts, each device at its own radio settings (hub, urgent or phone)."""
        return linkmodel.link_up_delay(self._rng_link, self.link, self.tokens, self.hub,
                                       pairs[:, 0], pairs[:, 1], self.urgent_until > t)

    def _attempt(self, t: float, attempt: tuple[tuple[int, int], int]) -> None:
        """A connect attempt, (pair, number of the contact it was drawn for): the link comes
        up (slots allowing) only if that contact is still going on."""
        pair, contact = attempt
        a, b = pair
        if self.attempt_due.get(pair, math.inf) <= t:
            del self.attempt_due[pair]  # this is the pending attempt (a later one may follow)
        if pair in self.links or self.in_range.get(pair) != contact:
            return
        if not (self.alive[a] and self.alive[b]):
            return
        a_first = self._rng_link.random() < 0.5
        if not self.slots.take(pair, a_first) and not self._evict_for(t, pair, a_first):
            self.out.links_refused_slots += 1
            self.out.slot_refused_at.setdefault(pair, t)
            for i in pair:
                if self.slots.blocked(i):
                    self.waiting.setdefault(i, set()).add(pair)
                    self._look_again(t, i)
            return
        self.links[pair] = _Link(a, b, t)
        self.open_links[a] += 1
        self.open_links[b] += 1
        self.out.links_made += 1
        now = EPOCH + int(t)
        self._outputs(t, a, self.nodes[a].link_up(b, now))
        self._outputs(t, b, self.nodes[b].link_up(a, now))

    # --- the connection slot rule (`meshnode.transport.slots`) --------------------------------

    def _held(self, i: int) -> list[Held]:
        """Device `i`'s open links as the slot rule sees them (in a fixed order)."""
        held = []
        for pair in sorted(p for p in self.near.get(i, ()) if p in self.links):
            since = self.nodes[i].idle_since(pair[0] if pair[1] == i else pair[1])
            held.append(Held(pair, self.slots.role(i, pair),
                             None if since is None else float(since - EPOCH)))
        return held

    def _admit(self, t: float, i: int, role: Role) -> Admit:
        return self.slot_rule.admit(self.slots.limits(i), self._held(i), role, t,
                                    bool(self.urgent_until[i] > t))

    def _evict_for(self, t: float, pair: tuple[int, int], a_first: bool) -> bool:
        """`pair` was refused for want of a slot: if, in either order of roles, each full end
        has a link to give up for it (the slot rule), give those up and make the link."""
        if not self.slot_rule.enabled:
            return False
        for c, p in self.slots.orders(pair[0], pair[1], a_first):
            central, peripheral = self._admit(t, c, Role.CENTRAL), self._admit(
                t, p, Role.PERIPHERAL)
            if central.verdict is Verdict.FULL or peripheral.verdict is Verdict.FULL:
                continue
            for victim in (central.close, peripheral.close):
                if victim is not None:
                    self._evict(t, victim)  # type: ignore[arg-type]
            return self.slots.take(pair, a_first)
        return False

    def _evict(self, t: float, pair: tuple[int, int]) -> None:
        """Give up the link of `pair` for a newcomer. The pair stays in range; as the
        transport's `revisit_after` does, it links again only after that long (and a fresh
        discovery and set-up), if the contact lasts."""
        self.out.links_evicted += 1
        self._link_down(t, pair)
        if pair in self.in_range and self.world.trace is None:
            delay = float(self._link_delays(t, np.array([pair], dtype=np.int64))[0])
            if delay < math.inf:
                self._schedule_attempt(t + self.link.revisit_after + delay, pair)
        elif pair in self.in_range:
            self._schedule_attempt(t + self.link.revisit_after, pair)

    def _look_again(self, t: float, node: int) -> None:
        """`node` is full and has pairs waiting for it: look at its links again when one of
        them can be given up (the slot rule), or when one next goes idle (`_idle_now`)."""
        if not self.slot_rule.enabled or not self.waiting.get(node):
            return
        urgent = bool(self.urgent_until[node] > t)
        held, limits = self._held(node), self.slots.limits(node)
        # Only a link that becomes one to give up later helps: one that already is did not
        # make room for these pairs (their other end is full, or the role does not fit), and
        # that end's own release or recheck retries them.
        times = [w for role in (Role.CENTRAL, Role.PERIPHERAL)
                 if (w := self.slot_rule.next_chance(limits, held, role, urgent)) is not None
                 and w > t]
        if not times:
            return  # every link carries something: `_idle_now` looks again
        when = min(times)
        if when < self.recheck_at.get(node, math.inf):
            self.recheck_at[node] = when
            self.queue.schedule(when, (Ev.RECHECK, (node, when)))

    def _recheck(self, t: float, payload: tuple[int, float]) -> None:
        """A full device's link can be given up now: its waiting pairs try again (a fresh
        discovery: it advertises and scans again), and take the slot by the rule."""
        node, when = payload
        if self.recheck_at.get(node) != when:
            return
        del self.recheck_at[node]
        if self.alive[node]:
            self._retry(t, node)

    def _idle_now(self, t: float, node: int) -> None:
        """`node` has sent all it had on a link: if pairs wait for its slots, that link may
        become one to give up."""
        if node in self.waiting and node not in self.recheck_at:
            self._look_again(t, node)

    def _link_down(self, t: float, pair: tuple[int, int]) -> None:
        link = self.links.pop(pair, None)
        if link is None:
            return
        a, b = pair
        self.slots.release(pair)
        self.open_links[a] -= 1
        self.open_links[b] -= 1
        now = EPOCH + int(t)
        self._outputs(t, a, self.nodes[a].link_down(b, now))
        self._outputs(t, b, self.nodes[b].link_down(a, now))
        self._retry(t, a)
        self._retry(t, b)

    def _retry(self, t: float, node: int) -> None:
        """`node` has a free slot again: peers still in range that it refused try again, after
        a fresh discovery and set-up (a trace's contacts need no discovery)."""
        pairs = self.waiting.pop(node, None)
        if not pairs:
            return
        for pair in pairs:
            other = pair[0] if pair[1] == node else pair[1]
            waiting = self.waiting.get(other)
            if waiting is not None:
                waiting.discard(pair)
        again = sorted(p for p in pairs if p in self.in_range and p not in self.links)
        if not again:
            return
        if self.world.trace is not None:
            delays = np.zeros(len(again))
        else:
            delays = self._link_delays(t, np.array(again, dtype=np.int64))
        for pair, d in zip(again, delays.tolist(), strict=True):
            if d < math.inf:
                self._schedule_attempt(t + d, pair)

    # --- frames -----------------------------------------------------------------------------

    def _outputs(self, t: float, node: int, outputs: list[Output]) -> None:
        for o in outputs:
            if isinstance(o, Send):
                peer = int(o.link)  # type: ignore[call-overload]
                link = self.links.get((min(node, peer), max(node, peer)))
                if link is None:
                    continue
                d = link.dir(node)
                d.queue.append(o.data)
                if not d.sending:
                    self._start(t, link, node)
            elif isinstance(o, Close):
                peer = int(o.link)  # type: ignore[call-overload]
                self._link_down(t, (min(node, peer), max(node, peer)))
            else:
                self._event(t, node, o)
        self._arm(t, node)

    def _arm(self, t: float, node: int) -> None:
        """Schedule `node`'s timer event when `get_timer` brought it forward."""
        wake = max(t, float(self.nodes[node].get_timer() - EPOCH))
        if wake < self.timer_at[node]:
            self.timer_at[node] = wake
            self.queue.schedule(wake, (Ev.TIMER, (node, wake)))

    def _timer(self, t: float, payload: tuple[int, float]) -> None:
        node, when = payload
        if self.timer_at[node] != when or not self.alive[node]:
            return  # superseded by an earlier one, or the phone is dead
        self.timer_at[node] = math.inf
        self._outputs(t, node, self.nodes[node].handle_timer(EPOCH + int(t)))

    def _start(self, t: float, link: _Link, src: int) -> None:
        d = link.dir(src)
        data = d.queue[0]
        d.sending = True
        duration = linkmodel.transfer_time(len(data), self.link)
        self.queue.schedule(t + duration, (Ev.FRAME, (link.a, link.b, src, link.up)))

    def _frame_done(self, t: float, payload: tuple[int, int, int, float]) -> None:
        a, b, src, born = payload
        link = self.links.get((a, b))
        if link is None or link.up != born:
            return  # the link went down while the frame was on the air
        d = link.dir(src)
        data = d.queue.popleft()
        d.sending = False
        dst = b if src == a else a
        size = linkmodel.on_air_bytes(len(data), self.link)
        self.out.frames += 1
        self.out.bytes_on_air += size
        self.bytes_node[src] += size
        self.bytes_node[dst] += size
        msg = data[1:2] == b"\x04"  # a Msg frame: [4, bin]
        dm = self._dms.get(_signature(data)) if msg else None
        if msg:
            self.out.msg_frames += 1
        if dm is not None:
            self.out.dm_bytes_on_air += size
        now = EPOCH + int(t)
        if self.link.frame_loss > 0 and self._rng_link.random() < self.link.frame_loss:
            # Lost on the air: the sender's link sends it again (as BLE's link layer and the
            # UDP link's ARQ do), in order, ahead of what queued behind it.
            self.out.frames_lost += 1
            d.queue.appendleft(data)
            self._start(t + self.link.retransmit_after, link, src)
            return
        listed = dm if dm is not None and dm in self.out.listed_dm else None
        if listed is not None:
            held, fresh = self._holds(listed, dst), self._track(listed, src, dst)
        self._carrier = (src, link.up)  # for the AlertReceived this frame may bring
        self._outputs(t, dst, self.nodes[dst].receive(src, data, now))
        self._carrier = (-1, math.nan)
        if dm is not None:
            self._dm_stored(dm, dst)
        if listed is not None:
            self._handed_over(listed, src, dst, held, fresh)
        if (a, b) not in self.links:
            return
        if d.queue:
            self._start(t, link, src)
        else:
            self._outputs(t, src, self.nodes[src].ready(dst, now))
            self._idle_now(t, src)

    def _dm_stored(self, msg_id: bytes, node: int) -> None:
        """A copy of DM `msg_id` reached `node`: count it if `node` stored it and is neither
        the DM's sender nor its recipient."""
        _, origin, target = self.out.dm_created[msg_id]
        if node not in (origin, target) and self.nodes[node].store.has(msg_id):
            self.out.dm_holders.setdefault(msg_id, set()).add(node)

    def _holds(self, msg_id: bytes, node: int) -> bool:
        """Whether `node` holds a copy of DM `msg_id`: stored, or opened as its recipient."""
        return self.nodes[node].store.has(msg_id) or (
            node == self.out.dm_created[msg_id][2] and msg_id in self.out.dm_delivered)

    def _track(self, msg_id: bytes, src: int, dst: int) -> bool:
        """A Msg frame carrying listed DM `msg_id` arrived, about to be received: note the
        hops of the receiver's copy if it has had none (the recipient's delivery reads them
        while it receives). True if it had none."""
        key = (msg_id, dst)
        if key in self._hops:
            return False
        self._hops[key] = self._hops.get((msg_id, src), 0) + 1
        return True

    def _handed_over(self, msg_id: bytes, src: int, dst: int, held: bool, fresh: bool) -> None:
        """The receiver of a listed DM's frame has received it: a relay in ONE's sense if it
        now holds a copy it did not hold before (ONE never sends a host a message it holds or
        has been delivered), else a duplicate (it held the DM, or refused it: purged on its
        receipt, or for want of room). A refused first copy leaves no hops behind."""
        if not held and self._holds(msg_id, dst):
            self.out.listed_relayed += 1
            return
        self.out.listed_duplicates += 1
        if fresh:
            del self._hops[(msg_id, dst)]

    # --- application ------------------------------------------------------------------------

    def _event(self, t: float, node: int, event: object) -> None:
        out = self.out
        if isinstance(event, AlertReceived):
            for k, identifier in enumerate(self._alert_ids):
                if event.verified.alert.identifier == identifier and math.isinf(
                        out.alert_arrival[k][node]):
                    out.alert_arrival[k][node] = t
                    out.alert_sender[k][node], out.alert_link_up[k][node] = self._carrier
                    self._urgent(t, node, out.alert_created[k])
        elif isinstance(event, PostReceived):
            origin = out.post_created.get(event.msg_id)
            if origin is not None and origin[1] != node:
                out.post_receptions[event.msg_id] = out.post_receptions.get(event.msg_id, 0) + 1
                out.post_latencies.append(t - origin[0])
        elif isinstance(event, DmReceived):
            created = out.dm_created.get(event.msg_id)
            if created is not None and event.msg_id not in out.dm_delivered:
                out.dm_delivered[event.msg_id] = t
                if event.msg_id in out.listed_dm:
                    out.dm_hops[event.msg_id] = self._hops.get((event.msg_id, node), 0)
        elif isinstance(event, DmCarried):
            out.dm_carried.setdefault(event.dm_id, t)
            out.dm_handovers[event.dm_id] = event.handovers
        elif isinstance(event, DmDelivered):
            out.dm_acknowledged.setdefault(event.dm_id, t)

    def _work(self, t: float, w: Work) -> None:
        if not self.alive[w.origin]:
            return
        node = self.nodes[w.origin]
        now = EPOCH + int(t)
        if w.action is Action.ALERT:
            alert = dataclasses.replace(example_nl_alert(now), identifier=f"sim-alert-{w.ref}")
            msg = sign_alert(self.issuer, self.cert_msg, alert, w.ref + 1)
            data = wire.encode_message(msg)
            self.out.alert_bytes = len(data)
            self._alert_ids.append(alert.identifier)
            self.out.alert_created.append(t)
            self.out.alert_origin.append(w.origin)
            self.out.alert_expires.append(
                math.inf if alert.expires is None else float(alert.expires - EPOCH))
            arrival = np.full(self.n, math.inf)
            arrival[w.origin] = t
            self.out.alert_arrival.append(arrival)
            self.out.alert_sender.append(np.full(self.n, -1, dtype=np.int64))
            self.out.alert_link_up.append(np.full(self.n, math.nan))
            # The issuing node holds a fresh alert as a receiver does (the daemon's radio
            # switch sees the AlertReceived of its own injection): it turns urgent too.
            self._urgent(t, w.origin, t)
            self._outputs(t, w.origin, node.inject(data, now).outputs)
        elif w.action is Action.FLOOD:
            # A modified node posting under a fresh identity each time (Sybil), asking for the
            # largest hop budget; honest relays clamp it like any other post.
            self.out.flood_posts += 1
            sybil = _identity(self._rng_ids)
            stamp = None
            if self.scenario.workload.attacker.stamps:  # it pays the work for each new key
                stamp = mint_stamp(sybil.public.sign_key, stamp_day(now),
                                   self.scenario.routing.stamp_bits)
            msg = create_post(sybil, CHANNEL, self._text(w), now, stamp=stamp)
            data = wire.encode_message(msg.with_routing(wire.Routing(wire.MAX_HOPS, 1)))
            self._outputs(t, w.origin, node.inject(data, now).outputs)
        elif w.action in (Action.POST, Action.SPAM):
            if w.action is Action.SPAM:
                self.out.flood_posts += 1  # its node ignores its own author quota
            verdict, outputs = node.post(CHANNEL, self._text(w), now)
            if w.action is Action.POST and verdict.msg_id is not None:
                self.out.post_created[verdict.msg_id] = (t, w.origin)
            self._outputs(t, w.origin, outputs)
        else:
            recipient = self.identities[w.target].public
            text = "y" * max(1, min(wire.DM_TEXT_MAX, w.size - 450))
            verdict, outputs = node.send_dm(recipient, text, now)
            if verdict.msg_id is not None:
                self.out.dm_created[verdict.msg_id] = (t, w.origin, w.target)
                stored = node.store.get(verdict.msg_id)
                self.out.dm_bytes[verdict.msg_id] = 0 if stored is None else len(stored.raw)
                if stored is not None:
                    self._dms[_signature(stored.raw)] = verdict.msg_id
                if w.ref >= 0 and stored is not None:
                    self._listed_created(verdict.msg_id, w)
            self._outputs(t, w.origin, outputs)

    def _listed_created(self, msg_id: bytes, w: Work) -> None:
        self.out.listed_dm[msg_id] = w.ref
        self.out.listed_oversize += w.size - 450 > wire.DM_TEXT_MAX
        self._hops[(msg_id, w.origin)] = 0

    @staticmethod
    def _text(w: Work) -> str:
        return "x" * max(1, min(wire.POST_TEXT_MAX, w.size - 170))

    def _urgent(self, t: float, node: int, issued: float) -> None:
        """`node` received (or issued) an alert issued at `issued`: it goes, or stays, urgent
        (a hub too, as the daemon's radio switch does: faster adverts, its own scan)."""
        current = float(self.urgent_until[node])
        until = self._urgency.hold(current, issued, t)
        if until <= t:
            return  # a stale alert changes nothing
        self.urgent_until[node] = until
        if current <= t:
            self.urgent_from[node] = t
            if self.link.urgent_rediscover:
                self._rediscover(t, node)

    # --- energy and samples -----------------------------------------------------------------

    def _drain_energy(self, t: float) -> None:
        last = self._energy_t
        if t <= last:
            return
        battery = self.scenario.battery
        used = linkmodel.energy_used(battery, self.link, t - last, self.open_links,
                                     self.bytes_node.astype(np.int64))
        self.bytes_node[:] = 0
        urgent = np.clip(np.minimum(self.urgent_until, t) - np.maximum(self.urgent_from, last),
                         0.0, None)
        if urgent.any():
            extra = np.where(self.hub, linkmodel.urgent_extra_power(battery, self.link, True),
                             linkmodel.urgent_extra_power(battery, self.link)) * urgent / 3600.0
            extra = np.where(self.mains | ~self.alive, 0.0, extra)
            self.urgent_seconds += np.where(self.alive, urgent, 0.0)
            self.urgent_energy += np.minimum(extra, np.maximum(self.charge - used, 0.0))
            used = used + extra
        # A phone cannot use more than it has left: a dead one (charge 0) uses nothing more.
        used = np.where(self.mains, used, np.minimum(used, self.charge))
        self.energy += used
        drained = np.where(self.mains, self.charge, linkmodel.drain(self.charge, used))
        dying = self.alive & (drained <= 0) & ~self.mains
        self.charge = drained
        self._energy_t = t
        for i in np.flatnonzero(dying).tolist():
            self.alive[i] = False
            self.died_at[i] = t
            for pair in [p for p in self.links if i in p]:
                self._link_down(t, pair)

    def _sample(self, t: float) -> None:
        used = np.array([node.store.usage().used_bytes for node in self.nodes], dtype=np.float64)
        residents = self.world.kinds == 1
        self.out.samples.append(Sample(
            t=t,
            links=len(self.links),
            store_mean_bytes=float(used[residents].mean()) if residents.any() else 0.0,
            store_max_bytes=float(used.max()) if len(used) else 0.0,
            alive_share=float(self.alive[residents].mean()) if residents.any() else 1.0,
            alert_coverage=tuple(float(np.mean(np.isfinite(arr[residents])))
                                 for arr in self.out.alert_arrival),
        ))
        self.queue.schedule(t + self.scenario.output.sample, (Ev.SAMPLE, None))
