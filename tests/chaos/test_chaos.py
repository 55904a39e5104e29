"""A short randomized history under faults (the long one is ``make chaos``), and the checker's own rules.

The short run: a Tornado and a Sanic process on one table, each behind a proxy that injects faults at random
(delays, dropped connections, lost answers, throttling, 500s), the DynamoDB server killed and restarted, and
browsers doing random operations, sometimes two at once. The seed is ``$CHAOS_SEED`` (default 1); on failure the
message holds the seed and the operations of the first browser with an anomaly.
"""

from __future__ import annotations

import os

from .harness import ChaosConfig, run_history
from .model import History, Op, check

SEED = int(os.environ.get("CHAOS_SEED", "1"))


async def test_a_short_history_under_faults_has_no_anomaly() -> None:
    result = await run_history(ChaosConfig(seed=SEED, seconds=20.0, browsers=10, restart_every=(6.0, 9.0)))
    assert not result.anomalies, result.report()
    numbers = result.figures()
    assert numbers["server_restarts"] >= 1, numbers  # the history really ran under every kind of fault
    assert set(numbers["faults_by_kind"]) >= {"delay", "reset", "lose-answer", "throttle", "error-500"}, numbers
    assert numbers["answers_by_status"].get("200", 0) > 100, numbers
    assert numbers["overlapping_pairs_on_one_browser"] > 0, numbers
    assert numbers["replayed_ended_cookies"] > 0, numbers


# -- the checker on small hand-made histories: it must flag what the model forbids ----------------------------


def op(seq: int, kind: str, start: float, end: float, **fields: object) -> Op:
    fields.setdefault("status", 200)
    return Op(browser=0, seq=seq, kind=kind, app="tornado", start=start, end=end, **fields)  # type: ignore[arg-type]


def test_the_checker_flags_an_acknowledged_write_that_a_later_read_does_not_see() -> None:
    history = History(
        ops=[
            op(1, "set", 0, 1, key="k0", value="b0-1", data={"k0": "b0-1"}, sent_id="a"),
            op(2, "read", 2, 3, data={}, sent_id="a"),
        ]
    )
    assert [str(anomaly) for anomaly in check(history)] == [
        "browser 0, op #2: k0 is <absent>; the model allows only ['b0-1']"
    ]


def test_the_checker_accepts_either_order_of_overlapping_writes_and_a_failed_write_that_landed() -> None:
    history = History(
        ops=[
            op(1, "set", 0, 2, key="k0", value="b0-1", data={"k0": "b0-1"}, sent_id="a"),
            op(2, "set", 1, 3, key="k0", value="b0-2", data={"k0": "b0-2"}, sent_id="a"),
            op(3, "set", 4, 5, key="k1", value="b0-3", status=503, sent_id="a"),
            op(4, "read", 6, 7, data={"k0": "b0-1", "k1": "b0-3"}, sent_id="a"),
        ],
        fault_times=[(4.5, "tornado", "reset")],
    )
    assert check(history) == []


def test_the_checker_lets_a_failed_login_empty_the_session_but_never_lets_a_write_after_it_be_lost() -> None:
    def history(login_status: int) -> History:
        return History(
            ops=[
                op(1, "set", 0, 1, key="k0", value="b0-1", data={"k0": "b0-1"}, sent_id="a"),
                op(2, "login", 2, 3, value="u", status=login_status, sent_id="a"),
                op(3, "read", 4, 5, data={}, sent_id="a"),  # the old id's tombstone had landed
                op(4, "set", 6, 7, key="k1", value="b0-4", data={"k1": "b0-4"}, sent_id="b"),
                op(5, "read", 8, 9, data={}, sent_id="b"),
            ],
            fault_times=[(2.5, "tornado", "reset")],
        )

    assert [str(anomaly) for anomaly in check(history(503))] == [
        "browser 0, op #5: k1 is <absent>; the model allows only ['b0-4']"
    ]
    acknowledged = [str(anomaly) for anomaly in check(history(200))]
    assert "browser 0, op #3: k0 is <absent>; the model allows only ['b0-1']" in acknowledged


def test_the_checker_lets_two_requests_on_a_dead_cookie_orphan_a_session_but_not_two_on_a_live_one() -> None:
    def history(found: str | None) -> History:
        return History(
            ops=[
                # Both carried cookie "a"; each found it live (reply_id "a") or dead (None). One started a session,
                # the other, a read, answered last: with a dead cookie it cleared it.
                op(1, "set", 0, 2, key="k0", value="b0-1", data={"k0": "b0-1"}, sent_id="a", reply_id=found),
                op(2, "read", 1, 3, data={}, sent_id="a", reply_id=found),
                op(3, "read", 4, 5, data={}, sent_id=None),
            ]
        )

    assert check(history(None)) == []
    assert [str(anomaly) for anomaly in check(history("a"))] == [
        "browser 0, op #3: k0 is <absent>; the model allows only ['b0-1']"
    ]


def test_the_checker_flags_a_logged_out_session_coming_back_and_another_browsers_value() -> None:
    history = History(
        ops=[
            op(1, "set", 0, 1, key="k0", value="b0-1", data={"k0": "b0-1"}, sent_id="a", reply_id="a"),
            op(2, "logout", 2, 3, data={}, sent_id="a"),
            op(3, "read", 4, 5, data={"k0": "b1-9"}, sent_id="a", reply_id="a"),
        ]
    )
    found = [str(anomaly) for anomaly in check(history)]
    assert "browser 0, op #3: sees another browser's value 'b1-9'" in found
    assert "browser 0, op #3: a logged-out id answers again (logout #2)" in found
    assert "browser 0, op #3: k0 is 'b1-9'; the model allows only [<absent>]" in found


def test_the_checker_flags_a_503_without_a_fault_and_any_other_error() -> None:
    history = History(
        ops=[
            op(1, "read", 0, 1, status=503),
            op(2, "read", 2, 3, status=500),
            op(3, "read", 4, 5, status=None, error="no answer within 30.0 s"),
        ]
    )
    assert [anomaly.what for anomaly in check(history)] == [
        "503 with no fault injected during the request",
        "undocumented status 500",
        "no answer: no answer within 30.0 s",
    ]
