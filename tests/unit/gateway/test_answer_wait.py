"""AnswerWait: how long the UBSCore client's owner thread parks while answers are awaited."""

from gateway.ubscore_client import (
    ANSWER_LATE_NS,
    ANSWER_WAIT_PARK_NS_MAX,
    ANSWER_WAIT_PARK_NS_SHORT,
    ROUND_TRIP_NS_INITIAL,
    ROUND_TRIP_NS_MIN,
    AnswerWait,
)

MS = 1_000_000


def test_parks_until_just_before_the_answer_is_due_then_briefly() -> None:
    wait = AnswerWait()
    wait.answered(250_000)  # faster than the estimate: taken at once
    assert wait.round_trip_ns == 250_000
    assert wait.park_ns(oldest_sent_ns=0, now_ns=0) == 250_000 - ANSWER_WAIT_PARK_NS_SHORT // 2
    assert wait.park_ns(oldest_sent_ns=0, now_ns=200_000) == ANSWER_WAIT_PARK_NS_SHORT  # due soon
    assert wait.park_ns(oldest_sent_ns=0, now_ns=250_000 + ANSWER_LATE_NS - 1) == ANSWER_WAIT_PARK_NS_SHORT


def test_a_long_round_trip_parks_at_most_the_maximum() -> None:
    wait = AnswerWait()
    for _ in range(200):  # slow answers raise the estimate step by step
        wait.answered(20 * MS)
    assert wait.round_trip_ns > 5 * MS
    assert wait.park_ns(oldest_sent_ns=0, now_ns=0) == ANSWER_WAIT_PARK_NS_MAX


def test_one_stalled_answer_moves_the_estimate_by_a_sixteenth_at_most() -> None:
    wait = AnswerWait()
    wait.answered(50 * MS)
    assert wait.round_trip_ns == ROUND_TRIP_NS_INITIAL + ROUND_TRIP_NS_INITIAL // 16


def test_a_late_answer_backs_off_doubling_to_the_maximum_and_an_answer_resets() -> None:
    wait = AnswerWait()
    late_ns = ROUND_TRIP_NS_INITIAL + ANSWER_LATE_NS + 1
    parks = [wait.park_ns(oldest_sent_ns=0, now_ns=late_ns) for _ in range(6)]
    assert parks == [ANSWER_WAIT_PARK_NS_SHORT * 2**step for step in range(4)] + [ANSWER_WAIT_PARK_NS_MAX] * 2
    wait.answered(ROUND_TRIP_NS_INITIAL)
    assert wait.park_ns(oldest_sent_ns=0, now_ns=late_ns) == ANSWER_WAIT_PARK_NS_SHORT


def test_a_fast_refusal_does_not_pull_the_estimate_below_the_floor() -> None:
    wait = AnswerWait()
    wait.answered(10_000)
    assert wait.round_trip_ns == ROUND_TRIP_NS_MIN
