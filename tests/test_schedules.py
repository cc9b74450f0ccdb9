"""Agendas da taxa de aprendizado: valores nas fronteiras."""

import pytest

from helpers.engine.schedules import ScheduleConfig, lr_multiplier


def test_multistep_boundaries_of_deepseek():
    s = ScheduleConfig("multistep", warmup_steps=0)
    values = {step: lr_multiplier(step, 100, s) for step in (0, 79, 80, 89, 90, 99)}
    assert values == {0: 1.0, 79: 1.0, 80: 0.316, 89: 0.316, 90: 0.1, 99: 0.1}


def test_linear_warmup_then_peak():
    s = ScheduleConfig("multistep", warmup_steps=10)
    assert lr_multiplier(0, 100, s) == pytest.approx(0.1)
    assert lr_multiplier(4, 100, s) == pytest.approx(0.5)
    assert lr_multiplier(9, 100, s) == pytest.approx(1.0)
    assert lr_multiplier(10, 100, s) == 1.0


def test_cosine_goes_from_peak_to_final_fraction():
    s = ScheduleConfig("cosine", warmup_steps=10, final_fraction=0.1)
    assert lr_multiplier(10, 111, s) == pytest.approx(1.0)
    assert lr_multiplier(110, 111, s) == pytest.approx(0.1)
    assert lr_multiplier(60, 111, s) == pytest.approx(0.55)
    values = [lr_multiplier(k, 111, s) for k in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_constant():
    s = ScheduleConfig("constant", warmup_steps=2)
    assert [lr_multiplier(k, 5, s) for k in range(5)] == [0.5, 1.0, 1.0, 1.0, 1.0]


def test_custom_stage_boundaries():
    s = ScheduleConfig("multistep", boundaries=(0.5,), factors=(0.25,))
    assert lr_multiplier(49, 100, s) == 1.0 and lr_multiplier(50, 100, s) == 0.25


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"kind": "linear"}, "agenda desconhecida 'linear'"),
        ({"boundaries": (0.8,), "factors": (0.3, 0.1)}, "mesmo tamanho"),
        ({"boundaries": (0.9, 0.8)}, "crescentes"),
        ({"boundaries": (0.5, 1.2)}, "crescentes e estar em \\(0, 1\\)"),
        ({"factors": (0.0, 0.1)}, "factors devem estar em \\(0, 1\\]"),
        ({"warmup_steps": -1}, "warmup_steps deve ser um inteiro ≥ 0"),
    ],
)
def test_bad_schedules(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        ScheduleConfig(**kwargs)


def test_step_out_of_range():
    with pytest.raises(ValueError, match=r"step deve estar em \[0, 10\)"):
        lr_multiplier(10, 10, ScheduleConfig())
    with pytest.raises(ValueError, match="total_steps deve ser ≥ 1"):
        lr_multiplier(0, 0, ScheduleConfig())
