"""Sections of a recording: the docker command behind each group of exchanges.

Theory of operation
-------------------
A recording with markers (``ipamx-spy mark``) is cut at the markers: each marker opens a section
that holds the exchanges recorded after it. Exchanges before the first marker, and every exchange
of a recording without markers, are grouped by inference from the call sequences of PROTOCOL.md
section 5 (for example RequestPool + gateway RequestAddress is ``docker network create``).

Inference works in two passes, both tables:

1. ``classify`` turns each exchange into a token word (``pool``, ``gw``, ``addr``, ``rel`` ...),
   keeping a little state to tell a gateway from a container address and a gateway release from a
   container release. A failed call (one whose error dockerd does not ignore) gets a ``!`` suffix.
   Retries (the same call again after a transport fault) join the token of the call they repeat.
   An address asked for by value right after a gateway is an ``--aux-address`` only if the
   recording does not later release it on its own: dockerd gives aux addresses back between
   the gateway's release and ReleasePool (``ipamReleaseVersion``), while a ``docker run --ip``
   started right after ``docker network create`` has its address released by ``docker stop``.
2. ``COMMANDS`` is a list of patterns over those words, tried in order at each position; the first
   that matches (and whose ``check`` accepts the calls) takes the exchanges it covers. Pattern
   words match a call whatever its outcome; ``word!`` matches only a failed one. A failed
   ``docker network create`` holds the pools before its failure only if it gives them back
   (dockerd's rollback); otherwise they were an earlier, good create. Runs that no pattern
   explains become one "unrecognised" section. The patterns are loose on purpose: a section
   says "inferred" wherever it is shown.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import dockerd, render
from .dockerd import AddressRole, Endpoint
from .dockerd.verdict import is_gateway_request, pool_gateway
from .recording import Exchange, Message, Recording
from .recording_reader import REORDER_SLACK, SeqOrder, in_seq_order
from .records import SectionSource

SERIAL_OPTION = "com.docker.network.ipam.serial"
"""swarmkit's allocator asks every address of a swarm network with it (``ipamapi``)."""

COMMAND_GAP_S = 0.15
"""No command spans a pause this long between the end of one call and the start of the next:
dockerd makes the calls of one command back to back (a few milliseconds apart in recordings of
20.10.24), while even a script needs a few hundred milliseconds to start the next docker
command. The pause cuts the recording into bursts that patterns never cross, so a failed
``docker run`` right after a good one stays apart; and an --aux-address RequestAddress is told
from a container's by following the gateway's within the same burst."""

MARKER, INFERRED, UNRECOGNISED = (SectionSource.MARKER, SectionSource.INFERRED,
                                  SectionSource.UNRECOGNISED)

Token = tuple[str, list[Exchange]]
"""A token word and the exchanges it stands for (the call and its retries)."""


@dataclass(frozen=True, kw_only=True)
class Section:
    """A run of exchanges and what docker command caused it (said by a marker, or inferred)."""

    title: str
    source: SectionSource  # given as its word, converted on construction
    t: float
    exchanges: tuple[Exchange, ...] = ()
    detail: str = ""
    failed: bool = False

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "source", SectionSource(self.source))
        except ValueError:
            raise ValueError(f"unknown section source {self.source!r}") from None

    @property
    def heading(self) -> str:
        """The title as exports show it, saying whether it failed and where it came from."""
        text = self.title + (" — failed" if self.failed else "")
        return f"{text} (inferred)" if self.source == INFERRED else text

    @property
    def seqs(self) -> tuple[int, ...]:
        return tuple(e.seq for e in self.exchanges)


# -- pass 1: tokens -------------------------------------------------------------------------

def _object(message: Message | None) -> Mapping[str, Any]:
    """A message's JSON object, or an empty one (no message, no body, not an object)."""
    value = None if message is None else message.value
    return value if isinstance(value, Mapping) else {}


def _body(exchange: Exchange) -> Mapping[str, Any]:
    """The request's JSON object."""
    return _object(exchange.request)


def _answer(exchange: Exchange) -> Mapping[str, Any]:
    """The answer's JSON object (empty when there was none)."""
    return _object(exchange.response)


def _plain(address: object) -> str:
    return str(address or "").split("/", 1)[0]


Key = tuple[str, str]
"""A pool's id and a plain address in it."""


def _gateway_of(exchange: Exchange) -> Key | None:
    """The gateway an exchange shows: asked for as one, or named by RequestPool's Data."""
    if exchange.endpoint == Endpoint.REQUEST_ADDRESS:
        request = _body(exchange)
        if not is_gateway_request(request):
            return None
        given = _answer(exchange).get("Address") or request.get("Address")
        return str(request.get("PoolID", "")), _plain(given)
    if exchange.endpoint == Endpoint.REQUEST_POOL:
        response = _answer(exchange)
        gateway = pool_gateway(response)
        return (str(response.get("PoolID", "")), _plain(gateway)) if gateway else None
    return None


def _release_key(exchange: Exchange) -> Key:
    request = _body(exchange)
    return str(request.get("PoolID", "")), _plain(request.get("Address"))


def _alone_at(exchanges: Sequence[Exchange], index: int, gateways: Container[Key],
              pools: Container[str]) -> tuple[bool, int]:
    """Whether the ReleaseAddress at ``index`` is released on its own, not by a network's
    removal (``_alone``), and the index of the exchange after its run of releases (the last
    one its answer depends on). ``gateways``: every gateway the exchanges show; ``pools``:
    their pools."""
    pool = _release_key(exchanges[index])[0]
    start = index  # the run of this pool's releases around it
    while start > 0 and _releases(exchanges[start - 1], pool):
        start -= 1
    end = index + 1
    while end < len(exchanges) and _releases(exchanges[end], pool):
        end += 1
    pool_follows = end < len(exchanges) and _gives_back(exchanges[end], pool)
    gateway_before = any(_release_key(exchanges[i]) in gateways for i in range(start, index + 1))
    return _alone(pool_follows, pool in pools, gateway_before), end


def _alone(pool_follows: bool, gateway_known: bool, gateway_before: bool) -> bool:
    """The rule for a ReleaseAddress on its own. dockerd removes a network's addresses as one
    run: the gateway, the aux addresses, then ReleasePool of that pool (``ipamReleaseVersion``);
    so a release is a network's only when its run of the pool's releases is followed by the
    pool's ReleasePool and holds no gateway before it (when the pool's gateway is known at
    all)."""
    return not pool_follows or (gateway_known and not gateway_before)


def _releases(exchange: Exchange, pool: str) -> bool:
    return (exchange.endpoint == Endpoint.RELEASE_ADDRESS
            and _release_key(exchange)[0] == pool)


def _gives_back(exchange: Exchange, pool: str) -> bool:
    return (exchange.endpoint == Endpoint.RELEASE_POOL
            and _body(exchange).get("PoolID") == pool)


def _asks_by_value(request: Mapping[str, Any]) -> bool:
    """A RequestAddress for a given address with no options: an --aux-address or a
    ``docker run --ip`` (``_Tracker.address_token`` tells which)."""
    return request.get("Options") is None and bool(request.get("Address")) and \
        not is_gateway_request(request)


@dataclass
class _Resolution:
    """The first ReleaseAddress of an address after requests that asked for it by value:
    what ``_alone`` needs of it, gathered as the exchanges go by (``ReleaseLookahead``)."""

    asked: list[int]  # positions of the requests it is the first later release for
    pool: str
    run: frozenset[Key]  # the keys of its run of releases, up to and including it
    top: int  # the highest number seen by the release (``ReleaseLookahead.alone``'s limit)
    pool_follows: bool = False
    following_top: int | None = None  # the same, at the exchange after the run


class ReleaseLookahead:
    """What an address asked for by value right after a network's setup looks ahead for
    (whether its first later release is on its own: ``_alone``), gathered in one pass over
    the exchanges in number order (``add``), then answered for all at once (``alone``).

    Whole-file inference reads it over its exchanges (``classify``); ``stream_sections`` is
    given it from a first pass over the file (``export.stream``'s survey, through
    ``LookaheadSurvey``), so that it answers as the whole file does however far ahead the
    release is. It holds, besides the answers' facts (one per such request), the gateways
    the exchanges show (one per pool and gateway address, not per exchange) and the run of
    releases in progress."""

    def __init__(self) -> None:
        self.position = 0  # exchanges added so far
        self.top = -1  # the highest exchange number added so far
        self.gateways: dict[Key, int] = {}  # gateway -> ``top`` when it was first shown
        self.waiting: dict[Key, list[int]] = {}  # requests by value whose release is to come
        self.run_pool: str | None = None
        self.run: set[Key] = set()
        self.open: list[_Resolution] = []  # releases of the run in progress
        self.resolved: list[_Resolution] = []
        self.previous: Exchange | None = None

    def add(self, exchange: Exchange) -> None:
        self.top = max(self.top, exchange.seq)
        released = (_release_key(exchange) if exchange.endpoint == Endpoint.RELEASE_ADDRESS
                    else None)
        if self.run_pool is not None and (released is None or released[0] != self.run_pool):
            self._end_run(exchange)  # as ``_releases(exchange, self.run_pool)`` is false
        gateway = _gateway_of(exchange)
        if gateway is not None:
            self.gateways.setdefault(gateway, self.top)
        if released is not None:
            self._release(released)
        elif self._may_be_aux(exchange):
            request = _body(exchange)
            key = (str(request.get("PoolID", "")), _plain(request.get("Address")))
            self.waiting.setdefault(key, []).append(self.position)
        self.previous = exchange
        self.position += 1

    def _may_be_aux(self, exchange: Exchange) -> bool:
        """Every request ``_Tracker.address_token`` may ask ``released_alone`` about (and a
        few more: the tokens of the calls before are not known here)."""
        previous = self.previous
        return (exchange.endpoint == Endpoint.REQUEST_ADDRESS and previous is not None
                and previous.endpoint in {Endpoint.REQUEST_ADDRESS, Endpoint.REQUEST_POOL}
                and _asks_by_value(_body(exchange)) and _gap(previous, exchange) <= COMMAND_GAP_S)

    def _release(self, key: Key) -> None:
        if self.run_pool is None:
            self.run_pool = key[0]
        self.run.add(key)
        asked = self.waiting.pop(key, None)
        if asked:
            self.open.append(_Resolution(asked=asked, pool=key[0], run=frozenset(self.run),
                                         top=self.top))

    def _end_run(self, following: Exchange | None) -> None:
        for resolution in self.open:
            if following is not None:
                resolution.pool_follows = _gives_back(following, resolution.pool)
                resolution.following_top = self.top
        self.resolved += self.open
        self.open, self.run, self.run_pool = [], set(), None

    def alone(self, limit: int | None = None) -> frozenset[int]:
        """The positions of the requests whose first later release is on its own, reading only
        the exchanges before the first one numbered above ``limit`` (None: all of them), as
        ``stream_sections`` infers the calls before a recording's first marker."""
        def seen(top: int | None) -> bool:
            return top is not None and (limit is None or top <= limit)

        gateways = {key for key, top in self.gateways.items() if seen(top)}
        pools = {pool for pool, _ in gateways}
        found: set[int] = set()
        for resolution in (*self.resolved, *self.open):
            if not seen(resolution.top):
                continue  # released after the limit: inference there sees no release
            follows = resolution.pool_follows and seen(resolution.following_top)
            if _alone(follows, resolution.pool in pools, bool(resolution.run & gateways)):
                found.update(resolution.asked)
        return frozenset(found)


def _first_release_alone(exchanges: Sequence[Exchange]) -> Callable[[int, Key], bool]:
    """``(index, key)`` -> whether the first release of ``key`` after ``index`` is on its own
    (asked only of a request ``ReleaseLookahead`` waits on)."""
    lookahead = ReleaseLookahead()
    for exchange in exchanges:
        lookahead.add(exchange)
    alone = lookahead.alone()
    return lambda index, key: index in alone


@dataclass(frozen=True)
class _Change:
    """One change to what ``_Tracker`` holds, logged so ``GrowingInference`` can undo it:
    ``address`` reserved in ``pool`` (or, with ``address`` None, ``pool`` noted as a swarm
    allocator's), or (``added`` false) forgotten."""

    index: int
    pool: str
    address: str | None
    added: bool


@dataclass
class _Tracker:
    """What pass 1 remembers: gateway and aux addresses per pool, the pools of a swarm
    manager's allocator, and the previous call.

    A pool's entries are forgotten at its ReleasePool (dockerd gives a network's addresses back
    before its pool), so what is held is bounded by the pools held at the time, not by the
    length of the recording: ``stream_sections`` carries one tracker from window to window.
    Pools dockerd never gives back (a recording cut before ``docker network rm``, a daemon that
    restarted and asked a plugin that names pools afresh for new ones) would grow it still:
    with ``pool_limit`` (``stream_sections``: ``TRACKER_POOLS``) the pool touched longest ago
    is forgotten once more are held.
    ``offset`` is the position of the next exchange ``classify`` reads, counted from the first
    it read with this tracker (what ``released_alone`` is asked by)."""

    reserved: dict[str, set[str]] = field(default_factory=dict)  # pool -> addresses
    serial_pools: set[str] = field(default_factory=set)  # pools of a swarm manager's allocator
    previous: Exchange | None = None
    previous_token: str = ""
    released_alone: Callable[[int, Key], bool] = lambda index, key: False
    log: list[_Change] | None = None  # every change, for ``undo``
    offset: int = 0
    pool_limit: int | None = None  # pools held at most (None: every pool until its release)
    _touched: dict[str, None] = field(default_factory=dict)  # with a limit: pools, oldest first

    @property
    def held(self) -> int:
        """How many entries the tracker holds (reserved addresses and swarm pools)."""
        return sum(map(len, self.reserved.values())) + len(self.serial_pools)

    def holds(self, key: Key) -> bool:
        return key[1] in self.reserved.get(key[0], ())

    def reserve(self, index: int, key: Key) -> None:
        if not self.holds(key):
            self.reserved.setdefault(key[0], set()).add(key[1])
            self._logged(_Change(index=index, pool=key[0], address=key[1], added=True))
        self._touch(index, key[0])

    def note_serial(self, index: int, pool: str) -> None:
        if pool not in self.serial_pools:
            self.serial_pools.add(pool)
            self._logged(_Change(index=index, pool=pool, address=None, added=True))
        self._touch(index, pool)

    def _touch(self, index: int, pool: str) -> None:
        """With ``pool_limit``: ``pool`` is the latest touched; forget the oldest beyond it."""
        if self.pool_limit is None:
            return
        self._touched.pop(pool, None)
        self._touched[pool] = None
        while len(self._touched) > self.pool_limit:
            self._forget(next(iter(self._touched)), index)

    def release_pool(self, exchange: Exchange, index: int) -> None:
        """Forget what is held of the pool ReleasePool gives back."""
        self._forget(str(_body(exchange).get("PoolID", "")), index)

    def _forget(self, pool: str, index: int) -> None:
        self._touched.pop(pool, None)
        for address in sorted(self.reserved.pop(pool, ())):
            self._logged(_Change(index=index, pool=pool, address=address, added=False))
        if pool in self.serial_pools:
            self.serial_pools.discard(pool)
            self._logged(_Change(index=index, pool=pool, address=None, added=False))

    def undo(self, change: _Change) -> None:
        """Take back one logged change (the last one not taken back yet)."""
        if change.address is None:
            (self.serial_pools.discard if change.added else self.serial_pools.add)(change.pool)
            return
        addresses = self.reserved.setdefault(change.pool, set())
        (addresses.discard if change.added else addresses.add)(change.address)
        if not addresses:
            del self.reserved[change.pool]

    def _logged(self, change: _Change) -> None:
        if self.log is not None:
            self.log.append(change)

    def address_token(self, exchange: Exchange, index: int) -> str:
        request = _body(exchange)
        pool, options = str(request.get("PoolID", "")), request.get("Options")
        serial = isinstance(options, Mapping) and SERIAL_OPTION in options  # any JSON may come
        v6 = ":" in _plain(_answer(exchange).get("Address")) or ":" in _plain(
            request.get("Address"))
        if is_gateway_request(request):
            token = "gw"
            if serial:
                self.note_serial(index, pool)
        elif serial:
            self.note_serial(index, pool)  # swarmkit's allocator: a VIP, a task, a load balancer
            return "saddr"
        elif (_asks_by_value(request) and self._follows_network_setup(exchange)
              and not self.released_alone(index, (pool, _plain(request.get("Address"))))):
            token = "aux"
        else:
            return "addr6" if v6 else "addr"
        given = _answer(exchange).get("Address") or request.get("Address")
        self.reserve(index, (pool, _plain(given)))
        return token

    def _follows_network_setup(self, exchange: Exchange) -> bool:
        previous = self.previous  # dockerd asks for aux addresses only after a pool it got
        return (previous is not None and self.previous_token in {"gw", "aux", "pool"}
                and not _failed(previous) and _gap(previous, exchange) <= COMMAND_GAP_S)

    def pool_token(self, exchange: Exchange, index: int) -> str:
        gateway = pool_gateway(_answer(exchange))
        if gateway:
            pool_id = str(_answer(exchange).get("PoolID", ""))
            self.reserve(index, (pool_id, _plain(gateway)))
        return "pool"

    def release_token(self, exchange: Exchange, following: Exchange | None) -> str:
        """``relgw`` for a network's own address (its gateway or an --aux-address: what this
        tracker reserved, what the session's ``AddressRoles`` said, ``Exchange.address_role``,
        or a release right before its pool's), ``srel`` in a swarm allocator's pool, else a
        container's ``rel``/``rel6``."""
        request = _body(exchange)
        key = (str(request.get("PoolID", "")), _plain(request.get("Address")))
        if self.holds(key) or exchange.address_role in NETWORK_ROLES \
                or _pool_released_next(exchange, following):
            return "relgw"
        if key[0] in self.serial_pools:
            return "srel"
        return "rel6" if ":" in key[1] else "rel"


NETWORK_ROLES = frozenset({AddressRole.GATEWAY, AddressRole.AUX})
"""The releases ``docker network rm`` makes (``ipamReleaseVersion``), by their address role."""


def _pool_released_next(exchange: Exchange, following: Exchange | None) -> bool:
    """A release right before the ReleasePool of its pool: a gateway we did not see reserved."""
    return (following is not None and following.endpoint == Endpoint.RELEASE_POOL
            and _body(following).get("PoolID") == _body(exchange).get("PoolID")
            and _gap(exchange, following) <= COMMAND_GAP_S)


def _gap(earlier: Exchange, later: Exchange) -> float:
    """Seconds from the end of one call to the start of the next."""
    return later.t - (earlier.t + earlier.duration_ms / 1000)


FAILED_KEPT = 4096
"""Exchanges ``_failed`` remembers at most (emptied when full; like ``SECTION_WINDOW``, a
bound on what a streaming reader holds)."""
_FAILED: dict[int, tuple[Exchange, bool]] = {}
"""``_failed`` per exchange (by identity; the entry keeps the exchange, so its id stays its
own), for the last ``FAILED_KEPT``: reading dockerd's verdict decodes the answer as Go does,
the dearest part of inference, and the live view infers over each burst again with every new
call."""


def _went_on(exchange: Exchange) -> bool:
    """The docker command went on past this call's failure: dockerd's verdict on the answer
    (as the recording's daemon reads it) only logged it; a call with no answer (a fault) goes
    by the row (an endpoint whose errors dockerd ignores)."""
    if exchange.fault is None and exchange.response is not None:
        return render.only_logged(exchange)
    row = dockerd.ANY_BY_NAME.get(exchange.endpoint)
    return row is not None and row.errors_ignored


def _failed(exchange: Exchange) -> bool:
    known = _FAILED.get(id(exchange))
    if known is not None and known[0] is exchange:
        return known[1]
    failed = render.problem(exchange) is not None and not _went_on(exchange)
    if len(_FAILED) >= FAILED_KEPT:
        _FAILED.clear()
    _FAILED[id(exchange)] = (exchange, failed)
    return failed


def _is_retry(exchange: Exchange, previous: Exchange | None) -> bool:
    return (previous is not None and previous.endpoint == exchange.endpoint
            and (previous.fault is not None or previous.response is None))


def classify(exchanges: Sequence[Exchange], *, tracker: _Tracker | None = None) -> list[Token]:
    """Pass 1: one token per call (retries folded into the call they repeat). ``tracker``:
    what the calls before left (``stream_sections``' windows); without one, the exchanges are
    read on their own, their releases looked ahead at among themselves."""
    if tracker is None:
        tracker = _Tracker(released_alone=_first_release_alone(exchanges))
    tokens: list[Token] = []
    for index, exchange in enumerate(exchanges):
        if tokens and _is_retry(exchange, tracker.previous):
            word, group = tokens[-1]  # the call's outcome is its last attempt's
            tokens[-1] = (word.rstrip("!") + ("!" if _failed(exchange) else ""), group)
            group.append(exchange)
            tracker.previous = exchange
            continue
        following = exchanges[index + 1] if index + 1 < len(exchanges) else None
        token = _token(tracker, exchange, tracker.offset + index, following)
        tokens.append((token + ("!" if _failed(exchange) else ""), [exchange]))
        tracker.previous, tracker.previous_token = exchange, token
    tracker.offset += len(exchanges)
    return tokens


def _token(tracker: _Tracker, exchange: Exchange, index: int,
           following: Exchange | None) -> str:
    if exchange.endpoint == Endpoint.REQUEST_ADDRESS:
        return tracker.address_token(exchange, index)
    if exchange.endpoint == Endpoint.RELEASE_ADDRESS:
        return tracker.release_token(exchange, following)
    if exchange.endpoint == Endpoint.REQUEST_POOL:
        return tracker.pool_token(exchange, index)
    if exchange.endpoint == Endpoint.RELEASE_POOL:
        tracker.release_pool(exchange, index)
    row = dockerd.ANY_BY_NAME.get(exchange.endpoint)  # each row names its token word
    return row.token if row is not None else "other"


# -- pass 2: command patterns ---------------------------------------------------------------

Detail = Callable[[Sequence[Exchange]], str]


def _compile(pattern: str) -> re.Pattern[str]:
    """Pattern words become ``word!?;`` (any outcome), ``word!;`` (``word!``: failed only) or
    ``word;`` (``=word``: succeeded only)."""

    def word(match: re.Match[str]) -> str:
        if match[1]:
            return f"(?:{match[2]};)"
        return f"(?:{match[2]}!;)" if match[3] else f"(?:{match[2]}!?;)"

    return re.compile(re.sub(r"(=?)([a-z0-9]+)(!?)", word, pattern).replace(" ", ""))


Check = Callable[[Sequence[Exchange]], bool]


@dataclass(frozen=True, kw_only=True)
class Command:
    """One row of the pattern table; ``check`` may refuse what the pattern matched."""

    title: str
    pattern: str
    detail: Detail = field(default=lambda exchanges: "")
    check: Check = field(default=lambda exchanges: True)
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    first: frozenset[str] = field(init=False, repr=False, compare=False)
    vocabulary: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", _compile(self.pattern))
        _nullable, first, vocabulary = _Grammar(self.pattern).parse()
        object.__setattr__(self, "first", first)  # the tokens a match can begin with
        object.__setattr__(self, "vocabulary", vocabulary)  # every token a match can hold


class _Grammar:
    """A pattern's words as sets of tokens: which a match can begin with, and which it can
    hold at all (``GrowingSections`` uses them to know how far a match may look ahead).

    The pattern language is ``_compile``'s: words (``w`` either outcome, ``w!`` failed,
    ``=w`` succeeded), groups, ``|`` and the quantifiers ``?``, ``*``, ``+``."""

    def __init__(self, pattern: str) -> None:
        self.parts = re.findall(r"=?[a-z0-9]+!?|[()|?*+]", pattern)
        self.at = 0

    def parse(self) -> tuple[bool, frozenset[str], frozenset[str]]:
        found = self._alternatives()
        if self.at != len(self.parts):
            raise ValueError(f"pattern: unexpected {self.parts[self.at]!r}")
        return found

    def _alternatives(self) -> tuple[bool, frozenset[str], frozenset[str]]:
        nullable, first, vocabulary = self._sequence()
        while self.at < len(self.parts) and self.parts[self.at] == "|":
            self.at += 1
            more = self._sequence()
            nullable, first, vocabulary = (nullable or more[0], first | more[1],
                                           vocabulary | more[2])
        return nullable, first, vocabulary

    def _sequence(self) -> tuple[bool, frozenset[str], frozenset[str]]:
        nullable, first, vocabulary = True, frozenset[str](), frozenset[str]()
        while self.at < len(self.parts) and self.parts[self.at] not in {"|", ")"}:
            item_nullable, item_first, item_vocabulary = self._item()
            if nullable:
                first |= item_first
            nullable = nullable and item_nullable
            vocabulary |= item_vocabulary
        return nullable, first, vocabulary

    def _item(self) -> tuple[bool, frozenset[str], frozenset[str]]:
        part = self.parts[self.at]
        self.at += 1
        if part == "(":
            nullable, first, vocabulary = self._alternatives()
            if self.at >= len(self.parts) or self.parts[self.at] != ")":
                raise ValueError("pattern: a group is not closed")
            self.at += 1
        else:
            word = part.lstrip("=").rstrip("!")
            tokens = ({word} if part.startswith("=") else {f"{word}!"} if part.endswith("!")
                      else {word, f"{word}!"})
            nullable, first, vocabulary = False, frozenset(tokens), frozenset(tokens)
        while self.at < len(self.parts) and self.parts[self.at] in {"?", "*", "+"}:
            nullable = nullable or self.parts[self.at] != "+"
            self.at += 1
        return nullable, first, vocabulary


def _calls(exchanges: Sequence[Exchange], endpoint: str) -> list[Exchange]:
    return [e for e in exchanges if e.endpoint == endpoint and e.response is not None]


def _activation_detail(exchanges: Sequence[Exchange]) -> str:
    for exchange in _calls(exchanges, Endpoint.ACTIVATE):
        implements = _answer(exchange).get("Implements") or []
        if isinstance(implements, list) and implements:
            return "the plugin implements " + " and ".join(map(str, implements))
    return ""


def _create_detail(exchanges: Sequence[Exchange]) -> str:
    parts = []
    for exchange in _calls(exchanges, Endpoint.REQUEST_POOL):
        asked, got = _body(exchange).get("Pool"), _answer(exchange).get("Pool")
        if got:
            parts.append(f"pool {got}" + ("" if asked else " (chosen by the allocator)"))
    for exchange in _calls(exchanges, Endpoint.REQUEST_ADDRESS):
        address = _answer(exchange).get("Address")
        if is_gateway_request(_body(exchange)) and address:
            parts.append(f"gateway {address}")
    return ", ".join(parts)


def _start_detail(exchanges: Sequence[Exchange]) -> str:
    parts = []
    for exchange in _calls(exchanges, Endpoint.REQUEST_ADDRESS):
        asked, got = _body(exchange).get("Address"), _answer(exchange).get("Address")
        if got:
            how = f"asked for {asked} with --ip" if asked else "chosen by the allocator"
            parts.append(f"address {got} ({how})")
    return ", ".join(parts)


def _release_detail(exchanges: Sequence[Exchange]) -> str:
    freed = [str(_body(e)["Address"]) for e in exchanges
             if e.endpoint == Endpoint.RELEASE_ADDRESS and _body(e).get("Address")]
    pools = [str(_body(e)["PoolID"]) for e in exchanges
             if e.endpoint == Endpoint.RELEASE_POOL and _body(e).get("PoolID")]
    parts = [f"frees {', '.join(freed)}"] if freed else []
    if pools:
        parts.append(f"gives back pool {', '.join(pools)}")
    return ", ".join(parts)


def _got_pools(exchanges: Sequence[Exchange]) -> set[str]:
    return {str(_answer(e).get("PoolID"))
            for e in _calls(exchanges, Endpoint.REQUEST_POOL)
            if not _failed(e) and _answer(e).get("PoolID")}


def _own_rollback(exchanges: Sequence[Exchange]) -> bool:
    """A rollback gives back only what its command got: each ReleaseAddress an address it was
    given, each ReleasePool one of its pools, each Leave/DeleteEndpoint one of its endpoints
    (else the releases belong to a following ``docker rm`` or ``network rm``)."""
    addresses = {(str(_body(e).get("PoolID", "")), _plain(_answer(e).get("Address")))
                 for e in _calls(exchanges, Endpoint.REQUEST_ADDRESS) if not _failed(e)}
    endpoints = {str(_body(e).get("EndpointID")) for e in exchanges
                 if e.endpoint == Endpoint.CREATE_ENDPOINT}
    pools = _got_pools(exchanges) | {  # a pool dockerd asks addresses of: one it was given
        str(_body(e).get("PoolID")) for e in exchanges if e.endpoint == Endpoint.REQUEST_ADDRESS}
    for e in exchanges:
        if e.endpoint == Endpoint.RELEASE_ADDRESS and _release_key(e) not in addresses:
            return False
        if e.endpoint == Endpoint.RELEASE_POOL and _body(e).get("PoolID") not in pools:
            return False
        if (e.endpoint in {Endpoint.LEAVE, Endpoint.DELETE_ENDPOINT}
                and str(_body(e).get("EndpointID")) not in endpoints):
            return False
    return True


def _pools_given_back(exchanges: Sequence[Exchange]) -> bool:
    """Every pool a failed create got is released again in it (dockerd's rollback), and the
    rollback gives back nothing else."""
    back = {str(_body(e).get("PoolID")) for e in exchanges
            if e.endpoint == Endpoint.RELEASE_POOL}
    return _got_pools(exchanges) <= back and _own_rollback(exchanges)


def _none_failed(exchanges: Sequence[Exchange]) -> bool:
    return not any(_failed(e) for e in exchanges)


_POOLS = "(spaces* pool relpool* (gw|aux)*)"
_GOT_POOLS = "(spaces* =pool relpool* (=gw|=aux)*)"  # dockerd stops at the first failure
_ROLLBACK = "(revoke|leave|info|delep|rel|rel6|relgw|relpool)*"

COMMANDS: tuple[Command, ...] = (
    Command(title="plugin activation", pattern="activate caps* spaces?",
            detail=_activation_detail),
    # a managed plugin is never activated: its handlers run at docker plugin enable (IPAM
    # first, as its manifest lists it) and, on a manager, at docker swarm init (the swarm
    # allocator's registry: network drivers first)
    Command(title="managed plugin registered (docker plugin enable, or docker swarm init)",
            pattern="caps+ spaces caps? | caps"),
    Command(title="docker network create",
            pattern=f"gwcheck? {_GOT_POOLS}* spaces* (spaces!|pool!|gw!|aux!|net!) {_ROLLBACK}",
            detail=_create_detail, check=_pools_given_back),
    Command(title="docker network create", pattern=f"gwcheck? ({_POOLS}+ net? | net)",
            detail=_create_detail, check=_none_failed),
    Command(title="container start",
            pattern=f"info* addr? addr6? ep? join? (addr!|addr6!|ep!|join!|prog!) {_ROLLBACK}",
            detail=_start_detail, check=_own_rollback),
    Command(title="docker network connect",
            pattern="info+ addr addr6? ep join (revoke|prog)* info*", detail=_start_detail),
    Command(title="container start",
            pattern="addr addr6? (ep join (revoke|prog)* info*)? | ep join (revoke|prog)* info*",
            detail=_start_detail),
    Command(title="docker network disconnect", pattern="revoke? leave info+ delep rel? rel6?",
            detail=_release_detail),
    Command(title="container stop",
            pattern="(revoke|prog)* leave (revoke|prog)* delep? rel? rel6? | delep rel? rel6? "
                    "| rel rel6? | rel6",
            detail=_release_detail),
    Command(title="docker network rm", pattern="delnet? (relgw* relpool)+ delnet? | delnet",
            detail=_release_detail),
    Command(title="swarm network allocation", pattern="alloc | free"),
    Command(title="docker service create: the swarm allocator's virtual IP, task and "
                  "load-balancer addresses", pattern="saddr+"),
    Command(title="the swarm allocator frees addresses (docker service rm, a stopped task, "
                  "docker network rm)", pattern="srel+"),
    Command(title="swarm node discovery", pattern="disc+"),
)


def _match_at(text: str, offsets: Sequence[int], tokens: Sequence[Token],
              index: int) -> tuple[Command, int] | None:
    """The first command matching at token ``index`` and how many tokens it covers."""
    position = offsets[index]
    for command in COMMANDS:
        match = command.compiled.match(text, position)
        if match is None or match.end() == position:
            continue
        longest = text.count(";", position, match.end())
        for count in range(longest, 0, -1):  # the longest run the check accepts
            if (count == longest or command.compiled.fullmatch(
                    text, position, offsets[index + count])) and command.check(
                    _exchanges(tokens[index:index + count])):
                return command, count
    return None


def _bursts(tokens: list[Token]) -> list[list[Token]]:
    """Cut the tokens wherever the docker side paused longer than COMMAND_GAP_S."""
    bursts: list[list[Token]] = []
    previous: Exchange | None = None
    for token in tokens:
        first = token[1][0]
        if previous is None or (_gap(previous, first) > COMMAND_GAP_S
                                and not _continues(previous, first)):
            bursts.append([])
        bursts[-1].append(token)
        previous = token[1][-1]
    return bursts


def _continues(previous: Exchange, exchange: Exchange) -> bool:
    """ProgramExternalConnectivity for the endpoint that just joined: the same ``docker run``
    however long dockerd took in between (28.5 sets up the container's namespace first)."""
    return (previous.endpoint == Endpoint.JOIN
            and exchange.endpoint == Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY
            and _body(previous).get("EndpointID") == _body(exchange).get("EndpointID"))


def infer(exchanges: Sequence[Exchange], *, tracker: _Tracker | None = None) -> list[Section]:
    """Inferred sections for exchanges in recording order (no markers involved); ``tracker``
    as ``classify``'s."""
    sections: list[Section] = []
    for burst in _bursts(classify(exchanges, tracker=tracker)):
        sections += _infer_burst(burst)
    return sections


def _infer_burst(tokens: list[Token]) -> list[Section]:
    text = "".join(f"{word};" for word, _ in tokens)
    offsets = [0]
    for word, _ in tokens:
        offsets.append(offsets[-1] + len(word) + 1)
    sections: list[Section] = []
    index = 0
    unexplained: list[Token] = []
    while index < len(tokens):
        found = _match_at(text, offsets, tokens, index)
        if found is None:
            unexplained.append(tokens[index])
            index += 1
            continue
        _flush(sections, unexplained)
        command, count = found
        sections.append(_inferred(command, tokens[index:index + count]))
        index += count
    _flush(sections, unexplained)
    return sections


def _exchanges(tokens: Sequence[Token]) -> tuple[Exchange, ...]:
    return tuple(e for _, group in tokens for e in group)


def _failures(tokens: Sequence[Token]) -> list[Exchange]:
    """The calls that failed in the end (a retry that succeeded makes its call a success)."""
    return [group[-1] for word, group in tokens if word.endswith("!")]


def _inferred(command: Command, tokens: Sequence[Token]) -> Section:
    exchanges, failures = _exchanges(tokens), _failures(tokens)
    detail = command.detail(exchanges)
    if failures:
        seen = f"#{failures[0].seq} failed: {render.problem(failures[0])}"
        detail = f"{detail}; {seen}" if detail else seen
    return Section(title=command.title, source=INFERRED, t=exchanges[0].t,
                   exchanges=exchanges, detail=detail, failed=bool(failures))


def _flush(sections: list[Section], unexplained: list[Token]) -> None:
    if unexplained:
        exchanges = _exchanges(unexplained)
        sections.append(Section(title="calls with no recognised docker command",
                                source=UNRECOGNISED, t=exchanges[0].t, exchanges=exchanges,
                                failed=bool(_failures(unexplained))))
        unexplained.clear()


# -- markers --------------------------------------------------------------------------------


def sections(recording: Recording) -> list[Section]:
    """The recording cut into sections: at its markers, and inferred before the first one."""
    exchanges = sorted(recording.exchanges, key=lambda e: e.seq)
    markers = sorted(recording.markers(), key=lambda m: (int(m.get("after_seq", 0)),
                                                         float(m.get("t", 0.0))))
    if not markers:
        return infer(exchanges)
    first_after = int(markers[0].get("after_seq", 0))
    result = infer([e for e in exchanges if e.seq <= first_after])
    for index, marker in enumerate(markers):
        after = int(marker.get("after_seq", 0))
        until = (int(markers[index + 1].get("after_seq", 0)) if index + 1 < len(markers)
                 else None)
        inside = tuple(e for e in exchanges
                       if e.seq > after and (until is None or e.seq <= until))
        detail = "; ".join(s.detail for s in infer(inside) if s.detail)
        result.append(Section(title=str(marker.get("text", "")), source=MARKER,
                              t=float(marker.get("t", 0.0)), exchanges=inside, detail=detail,
                              failed=bool(_failures(classify(inside)))))
    return result


# -- streamed -------------------------------------------------------------------------------

SECTION_WINDOW = 4096
"""Calls ``stream_sections`` infers over at most at once (it holds one more, to know that a
burst goes on). It cuts the calls before a recording's first marker at the last pause no
command spans (``COMMAND_GAP_S``) and carries the tracker of pass 1 from one window to the next,
and a first pass over the file (``LookaheadSurvey``) tells it what an --aux-address reading
looks ahead for; so it gives exactly the sections of ``sections``, except in a burst longer
than the window (a load test, a daemon's restart replaying thousands of addresses). Such a
burst is cut on purpose, deterministically: after every ``window`` calls counted from its first
call. A command may then be split in two, and the sections on each side of a cut say so in
their detail (``burst_cut_note``). A marker's section longer than the window is handed out in
parts of ``window`` calls, each under the marker's text and saying so (``marker_part_note``)."""

class LookaheadSurvey:
    """What ``stream_sections`` needs to know ahead, gathered in a first pass over a recording:
    ``add`` every exchange in the order the file holds them (they are put in number order as
    ``stream_sections`` does), then ``released_alone`` with the recording's markers gives its
    ``released_alone`` argument. Holds what ``ReleaseLookahead`` holds."""

    def __init__(self, slack: int = REORDER_SLACK) -> None:
        self._order = SeqOrder(slack)
        self.lookahead = ReleaseLookahead()

    def add(self, exchange: Exchange) -> None:
        for ordered in self._order.push(exchange):
            self.lookahead.add(ordered)

    def released_alone(self, markers: Sequence[Mapping[str, Any]]) -> frozenset[int]:
        """The positions (in number order, from 0) of the calls before the first marker that
        ask for an address by value whose first later release is on its own."""
        for ordered in self._order.drain():
            self.lookahead.add(ordered)
        return self.lookahead.alone(min((_after(m) for m in markers), default=None))


def _pause_before(pending: Sequence[Exchange]) -> int:
    """The index of the last call that starts a new burst (a pause no command spans, not a
    retry), so inferring ``pending[:index]`` alone gives what inferring all would; 0 if none."""
    for index in range(len(pending) - 1, 0, -1):
        previous, exchange = pending[index - 1], pending[index]
        if (_gap(previous, exchange) > COMMAND_GAP_S and not _continues(previous, exchange)
                and not _is_retry(exchange, previous)):
            return index
    return 0


def burst_cut_note(before: Exchange, after: Exchange, window: int) -> str:
    """What the sections on each side of a cut in a burst longer than the window say."""
    return (f"streamed inference cut this burst between #{before.seq} and #{after.seq}: it "
            f"runs on past {window:,} calls without a pause, so it is read {window:,} calls at "
            f"a time and a command there may be split")


def marker_part_note(window: int) -> str:
    """What each part of a marker's section longer than the window says."""
    return (f"one part of a marker's section longer than {window:,} calls: streamed inference "
            f"hands it out {window:,} calls at a time")


def _noted(section: Section, note: str) -> Section:
    return dataclasses.replace(section, detail=f"{section.detail}; {note}" if section.detail
                               else note)


def _marker_section(marker: Mapping[str, Any], inside: tuple[Exchange, ...]) -> Section:
    detail = "; ".join(s.detail for s in infer(inside) if s.detail)
    return Section(title=str(marker.get("text", "")), source=MARKER,
                   t=float(marker.get("t", 0.0)), exchanges=inside, detail=detail,
                   failed=bool(_failures(classify(inside))))


def _after(marker: Mapping[str, Any]) -> int:
    return int(marker.get("after_seq", 0))


TRACKER_POOLS = 4096
"""Pools the streamed tracker holds at most (``_Tracker.pool_limit``): far more networks than a
daemon holds at once; only pools never given back pass it."""


class SectionStream:
    """``stream_sections``' state between two windows: the calls not inferred yet
    (``pending``, at most ``window`` + 1 before the first marker) and the tracker of pass 1
    carried from window to window (``tracker``: bounded by the pools held at the time)."""

    def __init__(self, markers: Sequence[Mapping[str, Any]], *, window: int = SECTION_WINDOW,
                 released_alone: Container[int] | None = None,
                 pool_limit: int = TRACKER_POOLS) -> None:
        self.markers = sorted(markers, key=lambda m: (_after(m), float(m.get("t", 0.0))))
        self.window = window
        self.pending: list[Exchange] = []
        self.released_alone = released_alone
        self.tracker = _Tracker(released_alone=self._alone, pool_limit=pool_limit)
        self._window_alone: frozenset[int] = frozenset()
        self._cut: tuple[Exchange, Exchange] | None = None  # the cut the next window starts at

    def _alone(self, index: int, key: Key) -> bool:
        if self.released_alone is not None:
            return index in self.released_alone
        return index in self._window_alone

    def sections(self, exchanges: Iterable[Exchange]) -> Iterator[Section]:
        """The sections of ``exchanges`` (in the file's order), each as it is complete."""
        markers, at, parted = self.markers, -1, False  # at: the marker being filled
        for exchange in in_seq_order(exchanges):
            while at + 1 < len(markers) and exchange.seq > _after(markers[at + 1]):
                yield from self._region(at, parted)
                self.pending, at, parted = [], at + 1, False
            self.pending.append(exchange)
            if at >= 0 and len(self.pending) > self.window:  # it goes on: a part of it
                part, self.pending = self.pending[:self.window], self.pending[self.window:]
                yield _noted(_marker_section(markers[at], tuple(part)),
                             marker_part_note(self.window))
                parted = True
            elif at < 0 and len(self.pending) > self.window:
                yield from self._next_window()
        yield from self._region(at, parted)
        for marker in markers[at + 1:]:
            yield _marker_section(marker, ())

    def _next_window(self) -> Iterator[Section]:
        """Infer the calls up to the last pause, or, in a burst that fills the window, the
        window's calls (at least as many calls as the previous window left: linear in all)."""
        cut = _pause_before(self.pending)
        if cut:
            piece, self.pending = self.pending[:cut], self.pending[cut:]
            yield from self._infer(piece)
        else:
            piece, self.pending = self.pending[:self.window], self.pending[self.window:]
            yield from self._infer(piece, cut=(piece[-1], self.pending[0]))

    def _infer(self, piece: list[Exchange],
               cut: tuple[Exchange, Exchange] | None = None) -> Iterator[Section]:
        if not piece:
            return
        if self.released_alone is None:  # no first pass: look ahead within the window
            lookahead = ReleaseLookahead()
            for exchange in piece:
                lookahead.add(exchange)
            self._window_alone = frozenset(self.tracker.offset + i for i in lookahead.alone())
        found = infer(piece, tracker=self.tracker)
        if self._cut is not None:
            found[0] = _noted(found[0], burst_cut_note(*self._cut, self.window))
        if cut is not None:
            found[-1] = _noted(found[-1], burst_cut_note(*cut, self.window))
        self._cut = cut
        yield from found

    def _region(self, at: int, parted: bool) -> Iterator[Section]:
        """The sections of the calls gathered since the last cut: inferred before the first
        marker, else the marker's (its last part; an empty last part only when it is the
        whole)."""
        if at < 0:
            yield from self._infer(self.pending)
        elif parted and self.pending:
            yield _noted(_marker_section(self.markers[at], tuple(self.pending)),
                         marker_part_note(self.window))
        elif not parted:
            yield _marker_section(self.markers[at], tuple(self.pending))


def stream_sections(exchanges: Iterable[Exchange], markers: Sequence[Mapping[str, Any]],
                    *, window: int = SECTION_WINDOW,
                    released_alone: Container[int] | None = None) -> Iterator[Section]:
    """``sections`` of a recording read record by record: the same sections, handed out as
    each is complete, holding at most ``window`` + 1 calls plus ``REORDER_SLACK`` (see
    ``SECTION_WINDOW`` for the bursts longer than the window, cut on purpose). ``markers`` are
    the recording's marker records (few; a caller collects them first). ``released_alone``
    is ``LookaheadSurvey.released_alone`` of a first pass over the same exchanges; without
    it, an --aux-address reading looks ahead only within its window (it can then read
    differently when its release is further on)."""
    return SectionStream(markers, window=window, released_alone=released_alone).sections(
        exchanges)


# -- live -----------------------------------------------------------------------------------

LIVE_BURST_LIMIT = 32
"""Calls of one burst the live view infers over at most (a burst this long starts afresh, so
each exchange costs a bounded amount however long the session)."""


@dataclass
class LiveSections:
    """Inferred sections as the exchanges arrive, for the live view.

    ``add`` returns the heading to show before an exchange when the section it belongs to is
    not the one last shown: a new section starting at it, or a section that now, with this
    exchange, reads differently from an earlier call of its burst on (``Section.seqs[0]`` is
    then before the exchange). Calls no pattern explains (yet) get no heading: most are the
    first calls of a command whose rest is still to come. Only the current burst is inferred
    over: no command spans a pause (``COMMAND_GAP_S``)."""

    burst: list[Exchange] = field(default_factory=list)
    shown: tuple[int, str] | None = None  # (first seq, heading) of the section last shown
    current: Section | None = None

    def add(self, exchange: Exchange) -> Section | None:
        previous = self.burst[-1] if self.burst else None
        if (previous is None or len(self.burst) >= LIVE_BURST_LIMIT
                or (_gap(previous, exchange) > COMMAND_GAP_S
                    and not _continues(previous, exchange))):
            self.burst = []
        self.burst.append(exchange)
        section = next(s for s in infer(self.burst) if exchange.seq in s.seqs)
        self.current = section
        key = (section.seqs[0], section.heading)
        if key == self.shown or section.source == UNRECOGNISED:
            return None  # unrecognised live is mostly a command half seen: wait for the rest
        self.shown = key
        return section


@dataclass
class _Token:
    """A token of ``GrowingInference``: as ``classify`` gives it, plus where it starts."""

    word: str
    group: list[Exchange]
    start: int  # index of its first exchange
    raw: str  # the word without the failure mark (``_Tracker.previous_token``)


@dataclass
class _Asked:
    """A call whose token read ``_Tracker.released_alone``: what it read and what that
    depended on, so that a later exchange that changes the answer re-classifies from it."""

    index: int
    key: Key
    value: bool
    release: int | None  # the first release of ``key`` after ``index`` (None: none yet)
    until: int  # the exchange after that release's run: the last the answer read


@dataclass
class _Decision:
    """One step of ``_infer_burst``'s scan: a command over ``count`` tokens, or (None) one
    token no command explains; ``reach``: the first token index the decision did not read
    (a change there or later leaves it as it is)."""

    start: int
    command: Command | None
    count: int
    reach: int
    section: Section | None = None


@dataclass
class _Burst:
    """A burst of ``GrowingInference`` (tokens ``first`` .. the next burst's first)."""

    first: int
    decisions: list[_Decision] = field(default_factory=list)
    reached: list[int] = field(default_factory=list)  # running maximum of the reaches
    sections: list[Section] = field(default_factory=list)


class GrowingInference:
    """``infer`` of exchanges that arrive one by one, kept exact at a cost bounded by what
    changed.

    ``sections()`` is always ``infer(exchanges)`` of every exchange added, in number order,
    whatever the order they were added in; each update works only from the first place the
    new exchanges can change:

    * Tokens (``classify``) look ahead in two ways: a ReleaseAddress reads the call after it,
      and an address asked for right after a network's setup reads whether its first later
      release is on its own (``_released_alone``: the run of releases around it, the call
      after the run, and every gateway the recording shows). So each update re-classifies
      from the last token, and from any earlier call whose reading (``_Asked``) the new
      exchanges change; the tracker's reserved addresses are undone from there (its log).
    * Commands never span a burst (``COMMAND_GAP_S``), so only the bursts from the first
      re-classified token on are matched again, and within a burst only from its first
      decision that read a changed token: a pattern's match at a token can only read on
      while the tokens are in the pattern's vocabulary (``Command.first`` and
      ``Command.vocabulary``), which bounds what each decision read.
    """

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._seqs: list[int] = []
        self._releases: dict[Key, list[int]] = {}  # ReleaseAddress indices per key
        self._gateway_log: list[tuple[int, Key]] = []
        self._gateways: dict[Key, int] = {}  # gateway -> how many exchanges show it
        self._pools: dict[str, int] = {}  # pool -> how many gateways of it are shown
        self._tokens: list[_Token] = []
        self._failing = 0  # tokens that failed in the end
        self._reserved_log: list[_Change] = []
        self._asked: list[_Asked] = []
        self._tracker = _Tracker(released_alone=self._released_alone, log=self._reserved_log)
        self._bursts: list[_Burst] = []
        self._before: list[int] = []  # sections in the bursts before each burst
        self._unchanged = 0  # bursts unchanged since the last ``sections()``
        self._unmatched: int | None = None  # the first token not matched since it changed

    @property
    def failed(self) -> bool:
        """Whether a call failed in the end (``bool(_failures(classify(exchanges)))``)."""
        return self._failing > 0

    def add(self, exchange: Exchange) -> None:
        at = bisect.bisect(self._seqs, exchange.seq)
        self.exchanges.insert(at, exchange)
        self._seqs.insert(at, exchange.seq)
        changed_pools = self._index_from(at)
        redo = at - 1 if at else 0  # the call before reads the one after it
        new_keys = {_release_key(e) for e in self.exchanges[at:]
                    if e.endpoint == Endpoint.RELEASE_ADDRESS}
        for asked in self._asked:  # in index order
            if asked.index >= redo:
                break
            if ((asked.release is None and asked.key not in new_keys)
                    or (asked.release is not None and asked.until < at)) and \
                    asked.key[0] not in changed_pools:
                continue  # nothing it read changed
            value, asked.release, asked.until = self._read_alone(asked.index, asked.key)
            if value != asked.value:
                redo = asked.index
                break
        self._classify_from(redo)

    def sections(self) -> list[Section]:
        self._match()
        return list(itertools.chain.from_iterable(b.sections for b in self._bursts))

    @property
    def count(self) -> int:
        """How many sections ``sections()`` gives."""
        self._match()
        return self._before[-1] + len(self._bursts[-1].sections) if self._bursts else 0

    def changed_from(self) -> int:
        """The first section (an index into ``sections()``) that may differ from what it
        was at the last call of this method (``count``: none)."""
        self._match()
        bursts, self._unchanged = self._unchanged, len(self._bursts)
        return self._before[bursts] if bursts < len(self._bursts) else self.count

    # -- exchanges: releases and gateways (what ``_released_alone`` reads) -----------------

    def _index_from(self, at: int) -> set[str]:
        """Index the exchanges from ``at`` again; returns the pools whose gateways changed."""
        changed: set[str] = set()
        for indices in self._releases.values():
            while indices and indices[-1] >= at:
                indices.pop()
        while self._gateway_log and self._gateway_log[-1][0] >= at:
            _, key = self._gateway_log.pop()
            changed |= self._count_gateway(key, -1)
        for index in range(at, len(self.exchanges)):
            exchange = self.exchanges[index]
            if exchange.endpoint == Endpoint.RELEASE_ADDRESS:
                self._releases.setdefault(_release_key(exchange), []).append(index)
            gateway = _gateway_of(exchange)
            if gateway is not None:
                self._gateway_log.append((index, gateway))
                changed |= self._count_gateway(gateway, 1)
        return changed

    def _count_gateway(self, key: Key, step: int) -> set[str]:
        count = self._gateways.get(key, 0) + step
        if count:
            self._gateways[key] = count
        else:
            del self._gateways[key]
        if count and count != step:
            return set()  # shown before and still: nothing read changes
        pools = self._pools.get(key[0], 0) + step
        if pools:
            self._pools[key[0]] = pools
        else:
            del self._pools[key[0]]
        return {key[0]}

    def _read_alone(self, index: int, key: Key) -> tuple[bool, int | None, int]:
        """``_first_release_alone(exchanges)(index, key)``, the release it read and the
        index after that release's run."""
        releases = self._releases.get(key, [])
        at = bisect.bisect(releases, index)
        if at == len(releases):
            return False, None, len(self.exchanges)
        alone, until = _alone_at(self.exchanges, releases[at], self._gateways, self._pools)
        return alone, releases[at], until

    def _released_alone(self, index: int, key: Key) -> bool:
        value, release, until = self._read_alone(index, key)
        self._asked.append(_Asked(index=index, key=key, value=value, release=release,
                                  until=until))
        return value

    # -- tokens ---------------------------------------------------------------------------

    def _classify_from(self, index: int) -> None:
        """Undo the tokens from the one holding exchange ``index`` and classify again."""
        tokens = self._tokens
        while tokens and tokens[-1].start >= index or (tokens and index < tokens[-1].start
                                                        + len(tokens[-1].group)):
            token = tokens.pop()
            self._failing -= token.word.endswith("!")
            index = min(index, token.start)
        while self._reserved_log and self._reserved_log[-1].index >= index:
            self._tracker.undo(self._reserved_log.pop())
        while self._asked and self._asked[-1].index >= index:
            self._asked.pop()
        tracker = self._tracker
        tracker.previous = self.exchanges[index - 1] if index else None
        tracker.previous_token = tokens[-1].raw if tokens else ""
        first_token = len(tokens)
        exchanges = self.exchanges
        for at in range(index, len(exchanges)):
            exchange = exchanges[at]
            if tokens and _is_retry(exchange, tracker.previous):
                last = tokens[-1]  # the call's outcome is its last attempt's
                self._failing -= last.word.endswith("!")
                last.word = last.raw + ("!" if _failed(exchange) else "")
                self._failing += last.word.endswith("!")
                last.group.append(exchange)
                tracker.previous = exchange
                first_token = min(first_token, len(tokens) - 1)
                continue
            following = exchanges[at + 1] if at + 1 < len(exchanges) else None
            raw = _token(tracker, exchange, at, following)
            word = raw + ("!" if _failed(exchange) else "")
            self._failing += word.endswith("!")
            tokens.append(_Token(word=word, group=[exchange], start=at, raw=raw))
            tracker.previous, tracker.previous_token = exchange, raw
        self._unmatched = first_token if self._unmatched is None else min(self._unmatched,
                                                                          first_token)

    def _match(self) -> None:
        """Match the commands again from the first token changed since the last time (the
        exchanges added meanwhile are matched together, once)."""
        if self._unmatched is not None:
            changed, self._unmatched = self._unmatched, None
            self._match_from(changed)

    # -- bursts and commands --------------------------------------------------------------

    def _match_from(self, changed: int) -> None:
        """Cut the tokens from token ``changed`` into bursts again and match the commands
        again where a decision read a changed token."""
        bursts = self._bursts
        while bursts and bursts[-1].first >= changed and (changed or bursts[-1].first):
            bursts.pop()
        if not bursts and self._tokens:
            bursts.append(_Burst(first=0))
        del self._before[len(bursts):]
        self._unchanged = min(self._unchanged, len(bursts) - 1 if bursts else 0)
        tokens = self._tokens
        if not bursts:
            return
        open_burst = bursts[-1]
        self._forget(open_burst, changed)
        start = max(changed, open_burst.first)
        for index in range(start, len(tokens)):
            if index == open_burst.first:
                continue
            previous, first = tokens[index - 1].group[-1], tokens[index].group[0]
            if _gap(previous, first) > COMMAND_GAP_S and not _continues(previous, first):
                self._scan(open_burst, index)
                open_burst = _Burst(first=index)
                bursts.append(open_burst)
        self._scan(open_burst, len(tokens))
        while len(self._before) < len(bursts):
            at = len(self._before)
            self._before.append(self._before[-1] + len(bursts[at - 1].sections) if at else 0)

    @staticmethod
    def _forget(burst: _Burst, changed: int) -> None:
        """Drop the burst's decisions that read token ``changed`` or later."""
        keep = bisect.bisect_left(burst.reached, changed)
        del burst.decisions[keep:], burst.reached[keep:]

    def _scan(self, burst: _Burst, end: int) -> None:
        """``_infer_burst`` of tokens ``burst.first`` .. ``end``, from its first decision
        that is not known yet; then the burst's sections."""
        tokens = self._tokens
        done = burst.decisions
        index = done[-1].start + done[-1].count if done else burst.first
        if index < end:
            part = [(t.word, t.group) for t in tokens[index:end]]
            text = "".join(f"{word};" for word, _ in part)
            offsets = [0]
            for word, _ in part:
                offsets.append(offsets[-1] + len(word) + 1)
            runs = {}  # command -> per token: the first token from there outside its words
            for command in COMMANDS:
                run, upto = [0] * len(part), len(part)
                for k in range(len(part) - 1, -1, -1):
                    if part[k][0] not in command.vocabulary:
                        upto = k
                    run[k] = upto
                runs[id(command)] = run
            at = 0
            while at < len(part):
                reach = max([at] + [runs[id(c)][at] for c in COMMANDS
                                    if part[at][0] in c.first]) + index
                found = _match_at(text, offsets, part, at)
                if found is None:
                    decision = _Decision(start=index + at, command=None, count=1, reach=reach)
                else:
                    command, count = found
                    decision = _Decision(start=index + at, command=command, count=count,
                                         reach=reach,
                                         section=_inferred(command, part[at:at + count]))
                done.append(decision)
                burst.reached.append(max(reach, burst.reached[-1] if burst.reached else 0))
                at += decision.count
        burst.sections = self._sections_of(burst)

    def _sections_of(self, burst: _Burst) -> list[Section]:
        sections: list[Section] = []
        unexplained: list[Token] = []
        for decision in burst.decisions:
            if decision.section is None:
                token = self._tokens[decision.start]
                unexplained.append((token.word, token.group))
                continue
            _flush(sections, unexplained)
            sections.append(decision.section)
        _flush(sections, unexplained)
        return sections


@dataclass
class GrowingSections:
    """``sections`` of a session that grows, for the web page: each exchange and marker is
    added as it arrives, and ``sections()`` is always what ``sections`` of the session so
    far gives (``show`` and the exports), at a cost bounded by what changed.

    The exchanges before the first marker and those of each marker are inferred apart, as
    ``sections`` does: each part is a ``GrowingInference``. A marker usually comes after
    every exchange so far and opens a new part; one that cuts into exchanges already added
    (an answer that came after the marker for a request made before it) splits the part it
    cuts, which is inferred again."""

    head: GrowingInference = field(default_factory=GrowingInference)
    markers: list[tuple[tuple[int, float], dict[str, Any], GrowingInference]] = field(
        default_factory=list)
    _touched: int | None = None  # the first marker whose part changed (None: none)

    def add(self, exchange: Exchange) -> None:
        at = self._part(exchange.seq)
        (self.head if at < 0 else self.markers[at][2]).add(exchange)
        if at >= 0:
            self._touch(at)

    def add_marker(self, marker: Mapping[str, Any]) -> None:
        key = (int(marker.get("after_seq", 0)), float(marker.get("t", 0.0)))
        at = bisect.bisect([k for k, _, _ in self.markers], key)
        cut = self.head if at == 0 else self.markers[at - 1][2]
        moved = [e for e in cut.exchanges if e.seq > key[0]]
        part = GrowingInference()
        if moved:  # the marker cuts a part: both are inferred again
            kept = GrowingInference()
            for exchange in cut.exchanges:
                (part if exchange.seq > key[0] else kept).add(exchange)
            if at == 0:
                self.head = kept
            else:
                self.markers[at - 1] = (*self.markers[at - 1][:2], kept)
        self.markers.insert(at, (key, dict(marker), part))
        self._touch(max(at - 1, 0))

    def _part(self, seq: int) -> int:
        """The marker whose part holds exchange ``seq`` (-1: the head, before any)."""
        return bisect.bisect_left([k[0] for k, _, _ in self.markers], seq) - 1

    def _touch(self, marker: int) -> None:
        self._touched = marker if self._touched is None else min(self._touched, marker)

    def changed_from(self) -> int:
        """The first section (an index into ``sections()``) that may differ from what it
        was at the last call of this method."""
        head, touched, self._touched = self.head.changed_from(), self._touched, None
        if head < self.head.count or touched is None:
            return head + (len(self.markers) if touched is None and head == self.head.count
                           else 0)
        return self.head.count + touched

    def sections(self) -> list[Section]:
        found = self.head.sections()
        for (_after, t), marker, part in self.markers:
            inside = tuple(part.exchanges)
            detail = "; ".join(s.detail for s in part.sections() if s.detail)
            found.append(Section(title=str(marker.get("text", "")), source=MARKER, t=t,
                                 exchanges=inside, detail=detail, failed=part.failed))
        return found
