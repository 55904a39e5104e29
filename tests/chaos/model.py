"""The history of a chaos run, and the checker that holds it against the model of a session.

Each simulated browser owns a session of a few keys. Every value it writes is unique and tagged with the browser
(``b3-17``), so a value says who wrote it and in which operation. The operations, and the keys each one writes:

- ``read``, ``remember`` (a longer ``max_age``): none;
- ``set K V`` and ``delete K``: K;
- ``append X``: ``cart`` (a nested change, ``mark_modified("cart")``), whose new value is the list the handler made;
- ``login U``: ``user`` (a new id, the data kept);
- ``logout``: every key (the session ends).

The checker accepts any order of operations consistent with real time: an operation that ended before another began
comes first; overlapping ones may come in either order. For each answered read of key K by a request R, the value
seen must be written by an operation W that began before R ended and that no *definite* write to K superseded
(one that began after W ended and ended before R began), or be the initial absence when no definite write to K
ended before R began. A write is definite when it was answered 200 and no login or logout of the same browser
overlapped it: the session policy documents that a change racing a login or a logout of its session is dropped
(never stored under an id the login gave up, never bringing an ended session back). Nor is a write definite when
it and another request of its browser were sent at once and both found no live session (no cookie, or one naming a
session that had expired or been emptied): each starts a session of its own, or clears the dead cookie, and the
browser keeps the cookie of the last answer, so the other session is orphaned (inherent to cookies).
A write that failed (503, or no answer) may still have landed, late even, so its value is accepted but it
supersedes nothing. So may a failed login: its old id's tombstone may have landed, while the browser never got the
new cookie, so from the browser's side it may have emptied the session (as a failed logout may have). A request
that overlapped a login or logout of its browser may see an empty session (its
cookie named an id that was just ended); a login that overlapped another login or logout of its browser may have
started from such an empty session, so it may leave every key empty but ``user``: the id a login replaced never
leads to the new session's data, by design, so that a fixated id gains nothing.

Besides values: a logged-out id never answers again, an id a login replaced never carries data, no browser sees a
value tagged with another browser, no request goes unanswered, and every non-200 answer is a 503 with a fault
(injected on that app's proxy, or the server down) during the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

KEYS = ("k0", "k1", "k2", "cart", "user")
WRITES_ALL = "logout"
OVERLAP_SENSITIVE = frozenset({"login", "logout"})
FAULT_SLACK_SECONDS = 1.0  # a fault this long before a request began may still be what failed it (a retry)


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()


@dataclass
class Op:
    """One request of one browser, as sent and as answered."""

    browser: int
    seq: int
    kind: str
    app: str
    key: str | None = None
    value: str | None = None
    start: float = 0.0
    end: float = 0.0
    status: int | None = None  # None: no HTTP answer at all
    error: str | None = None
    data: dict[str, Any] | None = None
    reply_id: str | None = None
    sent_id: str | None = None  # the session id in the cookie the request carried
    set_id: str | None = None  # the session id in the cookie the answer set
    sent_cookie: str | None = None

    @property
    def acked(self) -> bool:
        return self.status == 200

    def writes(self, raced: bool = False) -> tuple[str, ...]:
        """The keys this operation changes; ``raced``: a login that overlapped another login or logout of its
        browser, which may have started from an empty session (see the module docstring)."""
        if self.kind in ("set", "delete"):
            assert self.key is not None
            return (self.key,)
        if self.kind == "append":
            return ("cart",)
        if self.kind == "login":
            return KEYS if raced or not self.acked else ("user",)
        if self.kind == WRITES_ALL:
            return KEYS
        return ()

    def written(self, key: str) -> Any:
        """The value this operation leaves in ``key``: a value, ABSENT, or a predicate for an unknown list."""
        if self.kind in ("delete", WRITES_ALL) or (self.kind == "login" and (key != "user" or not self.acked)):
            return ABSENT
        if self.kind == "append":
            if self.acked and self.data is not None and isinstance(self.data.get("cart"), list):
                return tuple(self.data["cart"])
            return _EndsWith(self.value)
        return self.value

    def overlaps(self, other: Op) -> bool:
        return self.start < other.end and other.start < self.end

    def describe(self, t0: float) -> str:
        args = " ".join(str(part) for part in (self.key, self.value) if part is not None)
        answer = f"{self.status}" if self.status is not None else f"no answer ({self.error})"
        return (
            f"#{self.seq:<4} {self.kind:8} {args:24} via {self.app:7} [{self.start - t0:8.3f} .. {self.end - t0:8.3f}] "
            f"-> {answer} id={_short(self.reply_id)} sent={_short(self.sent_id)} data={self.data}"
        )


@dataclass(frozen=True)
class _EndsWith:
    """A failed append's value: some list that ends with its item."""

    item: str | None

    def matches(self, seen: Any) -> bool:
        return isinstance(seen, list) and bool(seen) and seen[-1] == self.item


def _short(sid: str | None) -> str:
    return "-" if sid is None else sid[:6]


def _matches(candidate: Any, seen: Any) -> bool:
    if isinstance(candidate, _EndsWith):
        return candidate.matches(seen)
    if isinstance(candidate, tuple):
        return isinstance(seen, list) and tuple(seen) == candidate
    if candidate is ABSENT:
        return seen is ABSENT
    return bool(candidate == seen)


@dataclass
class Anomaly:
    browser: int
    seq: int
    what: str

    def __str__(self) -> str:
        return f"browser {self.browser}, op #{self.seq}: {self.what}"


@dataclass
class History:
    """Everything a run did: operations, fault times, server outages, and replays of ended cookies."""

    ops: list[Op] = field(default_factory=list)
    fault_times: list[tuple[float, str, str]] = field(default_factory=list)  # (time, app, kind)
    outages: list[tuple[float, float]] = field(default_factory=list)  # the server was down from .. to
    replays: list[tuple[Op, Op]] = field(default_factory=list)  # (the login or logout, the replay of its cookie)

    def by_browser(self) -> dict[int, list[Op]]:
        grouped: dict[int, list[Op]] = {}
        for op in self.ops:
            grouped.setdefault(op.browser, []).append(op)
        return grouped


def check(history: History) -> list[Anomaly]:
    """Every anomaly in the history (an empty list when it fits the model)."""
    anomalies: list[Anomaly] = []
    for browser, ops in history.by_browser().items():
        anomalies += _check_answers(history, ops)
        anomalies += _check_values(browser, ops)
    anomalies += _check_ended_ids(history)
    return anomalies


def _check_answers(history: History, ops: Iterable[Op]) -> list[Anomaly]:
    found = []
    for op in ops:
        if op.status == 200:
            continue
        if op.status is None:
            found.append(Anomaly(op.browser, op.seq, f"no answer: {op.error}"))
        elif op.status != 503:
            found.append(Anomaly(op.browser, op.seq, f"undocumented status {op.status}"))
        elif not _fault_during(history, op):
            found.append(Anomaly(op.browser, op.seq, "503 with no fault injected during the request"))
    return found


def _fault_during(history: History, op: Op) -> bool:
    begin = op.start - FAULT_SLACK_SECONDS
    if any(app == op.app and begin <= at <= op.end for at, app, _ in history.fault_times):
        return True
    return any(down <= op.end and begin <= up for down, up in history.outages)


def _definite(op: Op, ops: list[Op]) -> bool:
    if not op.acked:
        return False
    return not any(other is not op and other.overlaps(op) and _race(op, other) for other in ops)


def _raced(op: Op, ops: list[Op]) -> bool:
    return op.kind == "login" and any(
        other is not op and other.kind in OVERLAP_SENSITIVE and other.overlaps(op) for other in ops
    )


def _race(op: Op, other: Op) -> bool:
    """Whether two overlapping requests of one browser may drop one's change: one is a login or a logout, or both
    found no live session (no cookie, or one naming a session that had ended): each starts a session of its own,
    or clears the dead cookie, and the browser keeps the cookie of the last answer."""
    if op.kind in OVERLAP_SENSITIVE or other.kind in OVERLAP_SENSITIVE:
        return True
    return op.reply_id is None and other.reply_id is None and other.acked


def _check_values(browser: int, ops: list[Op]) -> list[Anomaly]:
    found: list[Anomaly] = []
    definite = {id(op): _definite(op, ops) for op in ops}
    raced = {id(op): _raced(op, ops) for op in ops}
    writers_of = {key: [op for op in ops if key in op.writes(raced[id(op)])] for key in KEYS}
    tag = f"b{browser}-"
    for reader in ops:
        if not reader.acked or reader.data is None:
            continue
        for value in _strings(reader.data):
            if not value.startswith(tag):
                found.append(Anomaly(browser, reader.seq, f"sees another browser's value {value!r}"))
        unknown = set(reader.data) - set(KEYS)
        if unknown:
            found.append(Anomaly(browser, reader.seq, f"sees keys nobody wrote: {sorted(unknown)}"))
        may_be_empty = any(other.kind in OVERLAP_SENSITIVE and other.overlaps(reader) for other in ops)
        for key in KEYS:
            seen = reader.data.get(key, ABSENT)
            if key in reader.writes():
                own = reader.written(key)
                if not (_matches(own, seen) or (reader.kind == "append" and _EndsWith(reader.value).matches(seen))):
                    found.append(Anomaly(browser, reader.seq, f"its own change to {key} is missing: {seen!r}"))
                continue
            candidates = _candidates(reader, writers_of[key], definite, key)
            if may_be_empty:
                candidates.append(ABSENT)
            if not any(_matches(candidate, seen) for candidate in candidates):
                what = f"{key} is {seen!r}; the model allows only {candidates!r}"
                found.append(Anomaly(browser, reader.seq, what))
    return found


def _candidates(reader: Op, writers_of_key: list[Op], definite: dict[int, bool], key: str) -> list[Any]:
    writers = [op for op in writers_of_key if op is not reader and op.start < reader.end]
    settled = [op.start for op in writers if definite[id(op)] and op.end < reader.start]
    # A write is superseded by a settled one that began after it ended.
    latest_settled_start = max(settled, default=None)
    candidates = [op.written(key) for op in writers if latest_settled_start is None or latest_settled_start <= op.end]
    if not settled:
        candidates.append(ABSENT)
    return candidates


def _strings(data: dict[str, Any]) -> list[str]:
    found = []
    for value in data.values():
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found += [item for item in value if isinstance(item, str)]
    return found


def _check_ended_ids(history: History) -> list[Anomaly]:
    """A logged-out id never answers again; an id a login replaced never carries data."""
    found: list[Anomaly] = []
    ended = [op for op in history.ops if op.acked and op.kind in OVERLAP_SENSITIVE and op.sent_id is not None]
    answered_as: dict[str, list[Op]] = {}
    for op in history.ops:
        if op.acked and op.reply_id is not None:
            answered_as.setdefault(op.reply_id, []).append(op)

    for ender in ended:
        for later in answered_as.get(str(ender.sent_id), []):
            if later.start <= ender.end:
                continue
            if ender.kind == "logout":
                what = f"a logged-out id answers again (logout #{ender.seq})"
                found.append(Anomaly(later.browser, later.seq, what))
            elif later.data:
                found.append(Anomaly(later.browser, later.seq, f"an id replaced at login #{ender.seq} carries data"))
    for ender, replay in history.replays:
        if replay.status != 200:
            found.append(Anomaly(ender.browser, ender.seq, f"replaying its cookie answered {replay.status}"))
        elif replay.data or (replay.reply_id is not None and replay.reply_id == ender.sent_id):
            what = f"its ended cookie, replayed, still has a session: {replay.data}"
            found.append(Anomaly(ender.browser, ender.seq, what))
    return found


def replay_text(history: History, anomalies: list[Anomaly], seed: int) -> str:
    """The seed, the anomalies, and the operations of the first browsers with one: a minimal replay."""
    ordered = anomalies
    lines = [f"chaos seed {seed}: {len(anomalies)} anomalies"]
    lines += [f"  {anomaly}" for anomaly in ordered[:20]]
    t0 = min((op.start for op in history.ops), default=0.0)
    for browser in list(dict.fromkeys(anomaly.browser for anomaly in ordered))[:3]:
        lines.append(f"operations of browser {browser} (times in seconds from the start of the run):")
        lines += [f"  {op.describe(t0)}" for op in history.by_browser().get(browser, [])]
    if anomalies:
        lines.append(f"re-run: python -m tests.chaos --seed {seed}")
    return "\n".join(lines)


def figures(history: History, anomalies: list[Anomaly], fault_counts: dict[str, int]) -> dict[str, Any]:
    """The run's numbers, for chaos.json."""
    by_kind: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for op in history.ops:
        by_kind[op.kind] = by_kind.get(op.kind, 0) + 1
        status = str(op.status) if op.status is not None else "no answer"
        by_status[status] = by_status.get(status, 0) + 1
    concurrent = sum(
        1
        for ops in history.by_browser().values()
        for i, op in enumerate(ops)
        if any(op.overlaps(other) for other in ops[i + 1 :])
    )
    return {
        "operations": len(history.ops),
        "operations_by_kind": dict(sorted(by_kind.items())),
        "answers_by_status": dict(sorted(by_status.items())),
        "overlapping_pairs_on_one_browser": concurrent,
        "faults_by_kind": dict(sorted(fault_counts.items())),
        "server_restarts": len(history.outages),
        "replayed_ended_cookies": len(history.replays),
        "anomalies": len(anomalies),
        "anomaly_examples": [str(anomaly) for anomaly in anomalies[:10]],
    }


__all__ = [
    "ABSENT",
    "KEYS",
    "Anomaly",
    "History",
    "Op",
    "check",
    "figures",
    "replay_text",
]
