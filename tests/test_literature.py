"""Leis de Kaplan e do Chinchilla contra contas feitas à mão (reference/facts.md)."""

import re

import pytest

from helpers.laws import literature


def test_doubling_n_multiplies_loss_by_0_95():
    ratio = literature.kaplan_loss_n(2e9) / literature.kaplan_loss_n(1e9)
    assert ratio == pytest.approx(2**-0.076)
    assert round(ratio, 2) == 0.95


def test_kaplan_laws_at_their_scale_constants():
    assert literature.kaplan_loss_n(literature.KAPLAN["N_c"]) == pytest.approx(1.0)
    assert literature.kaplan_loss_d(literature.KAPLAN["D_c"]) == pytest.approx(1.0)
    assert literature.kaplan_loss_cmin(literature.KAPLAN["C_c_min"] * literature.PF_DAY) == pytest.approx(1.0)
    assert literature.PF_DAY == 8.64e19


def test_chinchilla_closed_form_with_rounded_values():
    # facts.md §4.2 [D]: com α = 0,34 e β = 0,28, a = 0,4516 e G = 1,3447.
    c = 1e22
    n_opt, d_opt = literature.chinchilla_optimal(c)
    assert 6 * n_opt * d_opt == pytest.approx(c)
    n2, _ = literature.chinchilla_optimal(10 * c)
    assert n2 / n_opt == pytest.approx(10**0.4516, rel=1e-3)
    assert n_opt / (c / 6) ** (0.28 / 0.62) == pytest.approx(1.3447, rel=1e-3)


def test_chinchilla_frontier_is_the_minimum_on_an_isoflop():
    c = 1e21
    n_opt, _ = literature.chinchilla_optimal(c)
    losses = {f: literature.chinchilla_loss(n_opt * f, c / (6 * n_opt * f)) for f in (0.5, 0.9, 1.0, 1.1, 2.0)}
    assert min(losses, key=losses.get) == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="N deve ser um número finito > 0"):
        literature.kaplan_loss_n(0)
    with pytest.raises(ValueError, match="C deve ser um número finito > 0"):
        literature.chinchilla_optimal(-1.0)
    for fn in (literature.kaplan_loss_n, literature.kaplan_loss_d, literature.kaplan_loss_cmin,
               literature.chinchilla_optimal):
        for bad, shown in (("abc", "'abc' (um texto)"), (True, "True (um booleano)"), (float("inf"), "inf")):
            with pytest.raises(ValueError, match=r"deve ser um número finito > 0, isto é, no intervalo \(0, ∞\); "
                                                 + re.escape(f"recebi {shown}.")):
                fn(bad)
    with pytest.raises(ValueError, match=r"^D deve ser um número finito > 0.*recebi 'muitos' \(um texto\)\.$"):
        literature.chinchilla_loss(1e9, "muitos")


def test_step_law_matches_the_worked_values():
    # Valores derivados à mão (facts §10): N = 1e8 sem embedding, D = 2e9 tokens.
    assert literature.step_law_lr(1e8, 2e9) == pytest.approx(2.536e-3, rel=2e-3)
    assert literature.step_law_batch(2e9) == pytest.approx(1.187e5, rel=2e-3)
    # O expoente em D do lote é 0,571: dobrar os tokens multiplica o lote por 2^0,571.
    assert literature.step_law_batch(4e9) / literature.step_law_batch(2e9) == pytest.approx(2 ** 0.571)
    with pytest.raises(ValueError):
        literature.step_law_lr(-1, 2e9)
