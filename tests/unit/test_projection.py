"""The pool projection's simulation (benchmarks/projection.py): it must agree with what
can be worked out by hand, or its figures mean nothing."""

from __future__ import annotations

import pytest

from benchmarks.projection import EngineModel, simulate


def test_one_worker_runs_its_tests_one_after_another() -> None:
    wall = simulate(EngineModel(1.0, 1.0), workers=1, engines=1, tests=10, body=0.5)
    assert wall == pytest.approx(15.0, rel=0.02)


def test_a_serial_engine_queues_its_workers_and_engines_side_by_side_do_not() -> None:
    serial = EngineModel(1.0, 1.0)
    one = simulate(serial, workers=4, engines=1, tests=40, body=0.0)
    four = simulate(serial, workers=4, engines=4, tests=40, body=0.0)
    assert one == pytest.approx(40.0, rel=0.02)  # 40 lives, one at a time
    assert four == pytest.approx(10.0, rel=0.02)  # each engine serves one worker


def test_parallelism_comes_from_the_measured_pair_and_is_bounded() -> None:
    assert EngineModel.measured(1.0, 0.5).parallel == 2.0  # the pair as fast as one
    assert EngineModel.measured(1.0, 1.0).parallel == 1.0  # serial
    assert EngineModel.measured(1.0, 2.0).parallel == 1.0  # worse than serial: serial
    two = simulate(EngineModel(1.0, 2.0), workers=2, engines=1, tests=20, body=0.0)
    assert two == pytest.approx(10.0, rel=0.02)
