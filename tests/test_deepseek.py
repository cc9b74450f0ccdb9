"""As leis publicadas do DeepSeek LLM contra os números conferidos à mão (reference/facts.md)."""

import math

import numpy as np
import pytest

from helpers.laws import deepseek

C_7B = 4.228e10 * 2e12  # M·D do 7B (facts.md §1.5)
C_67B = 4.973e11 * 2e12


def test_eta_opt_reproduces_table2_consistency_check():
    assert deepseek.eta_opt(C_7B) == pytest.approx(4.25e-4, rel=5e-3)
    assert deepseek.eta_opt(C_67B) == pytest.approx(3.12e-4, rel=5e-3)


def test_batch_opt_is_in_tokens():
    assert deepseek.batch_opt(C_7B) == pytest.approx(9.22e6, rel=5e-3)
    assert deepseek.batch_opt(C_67B) == pytest.approx(2.07e7, rel=5e-3)
    assert deepseek.batch_opt(C_7B) / 4096 == pytest.approx(2252, rel=5e-3)
    assert deepseek.TABLE2["7B"].batch_size_tokens == 2304 * 4096 == 9_437_184


def test_small_budget_values_from_facts_table():
    # facts.md §6.6: C = 1e12 -> η ≈ 9,86e-3, B ≈ 2,5e3, M_opt ≈ 3,4e5, D_opt ≈ 3,0e6.
    assert deepseek.eta_opt(1e12) == pytest.approx(9.86e-3, rel=5e-3)
    assert deepseek.batch_opt(1e12) == pytest.approx(2.5e3, rel=2e-2)
    assert deepseek.m_opt(1e12) == pytest.approx(3.4e5, rel=2e-2)
    assert deepseek.d_opt(1e12) == pytest.approx(3.0e6, rel=2e-2)


def test_allocation_multiplies_back_to_the_budget():
    for c in (1e17, 3e20, 1e24):
        assert deepseek.m_opt(c) * deepseek.d_opt(c) == pytest.approx(c, rel=2e-3)
    assert deepseek.M_EXP + deepseek.D_EXP == pytest.approx(1.0, abs=1e-9)


def test_derived_optimum_for_the_67b():
    assert deepseek.m_opt(C_67B) == pytest.approx(6.55e11, rel=5e-3)
    assert deepseek.d_opt(C_67B) == pytest.approx(1.52e12, rel=5e-3)


def test_vectorised_inputs():
    out = deepseek.eta_opt(np.array([1e17, 1e18]))
    assert out.shape == (2,)
    assert out[1] / out[0] == pytest.approx(10**-0.125)


@pytest.mark.parametrize("bad", [0, -1e18, float("nan"), float("inf"), []])
def test_bad_budgets_raise(bad):
    with pytest.raises(ValueError, match="orçamento C deve ser um número finito > 0"):
        deepseek.batch_opt(bad)


def test_table4_rows_sum_to_one():
    assert len(deepseek.TABLE4) == 5
    for row in deepseek.TABLE4:
        assert row.a + row.b == pytest.approx(1.0)
    current = next(r for r in deepseek.TABLE4 if "atuais" in r.label)
    assert current.a == pytest.approx(deepseek.M_EXP, abs=5e-4)


def test_multi_step_factors():
    factors = deepseek.MULTI_STEP_SCHEDULE["factors"]
    assert factors[0] == pytest.approx(10 ** -0.5, abs=1e-3)
    assert math.isclose(factors[1], 0.1)


def test_compute_budget_validation():
    assert deepseek.compute_budget(2.0, 3.0) == 6.0
    with pytest.raises(ValueError, match=r"M deve ser um número finito > 0 .*recebi 0\.0"):
        deepseek.compute_budget(0.0, 1e9)
    with pytest.raises(ValueError, match=r"D deve ser um número finito > 0 \(em tokens\).*recebi 'abc' \(um texto\)"):
        deepseek.compute_budget(1e9, "abc")


@pytest.mark.parametrize("fn", [deepseek.eta_opt, deepseek.batch_opt, deepseek.m_opt, deepseek.d_opt])
@pytest.mark.parametrize("bad, shown", [("abc", "'abc' (um texto)"), ("1e18", "'1e18' (um texto)"),
                                        (True, "True (um booleano)"), (None, "None"), (float("nan"), "nan"),
                                        (-1.0, "-1.0"), ([1e18, "x"], "[1e+18, 'x']"), ([True, 1e18], "[True, 1e+18]"),
                                        ({"C": 1e18}, "{'C': 1e+18}")])
def test_published_laws_reject_non_numbers_in_portuguese(fn, bad, shown):
    """Texto, booleano, None, não finito, ≤ 0: ValueError em português com o valor e a faixa válida."""
    with pytest.raises(ValueError) as info:
        fn(bad)
    message = str(info.value)
    assert message.startswith("o orçamento C deve ser um número finito > 0 (em FLOPs)")
    assert "(0, ∞)" in message and message.endswith(f"recebi {shown}.")


def test_published_laws_accept_numpy_and_plain_numbers():
    assert deepseek.batch_opt(np.float32(1e18)) == pytest.approx(deepseek.batch_opt(1e18), rel=1e-6)
    assert deepseek.batch_opt(10**18) == pytest.approx(deepseek.batch_opt(1e18))
    assert deepseek.eta_opt([1e17, 1e18]).shape == (2,)
