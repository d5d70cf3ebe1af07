"""The planning of caps: who gives power first, how much, and how it comes back."""

from microdc.power.shedding import Candidate, plan_raise, plan_shed


def gpu(i, power, cap=700.0, priority=0, minimum=200.0, default=700.0):
    return Candidate(i, power, cap, minimum, default, priority)


def test_lowest_priority_gives_first_and_only_what_is_needed():
    plan = plan_shed([gpu(1, 600, priority=5), gpu(2, 600, priority=-1), gpu(3, 600, priority=0)], 300)
    assert plan == {2: 300.0}


def test_a_large_shed_spreads_but_never_below_the_minimum():
    plan = plan_shed([gpu(1, 650, priority=0), gpu(2, 650, priority=1)], 800)
    assert plan == {1: 200.0, 2: 300.0}  # 450 W from the first (to its minimum), 350 W from the second


def test_devices_at_their_minimum_are_skipped_and_a_shortfall_is_not_hidden():
    plan = plan_shed([gpu(1, 200, cap=200), gpu(2, 400)], 500)
    assert plan == {2: 200.0}


def test_raising_goes_step_by_step_highest_priority_first_within_the_headroom():
    held = [gpu(1, 300, cap=300, priority=0), gpu(2, 300, cap=300, priority=9)]
    assert plan_raise(held, 60, step_ratio=0.1) == {2: 350.0, 1: 310.0}
    # A cap reaching the default is released.
    assert plan_raise([gpu(1, 680, cap=680)], 1000, step_ratio=0.1) == {1: None}
