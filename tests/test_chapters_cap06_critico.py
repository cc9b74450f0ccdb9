"""O estudo do lote crítico (capítulo 6 v2) contra curvas sintéticas com a lei conhecida."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from helpers.chapters import cap06_critico as cc

BATCHES = (512, 1024, 2048, 4096, 8192, 16384)
LRS = (0.002, 0.004, 0.008)
WARMUP = 16


def s_min(t: float) -> float:
    return 60.0 * math.exp(1.2 * (3.6 - t))


def b_crit(t: float) -> float:
    """O lote crítico verdadeiro: 10^(−0,5) por bit por byte de alvo, 2000 *tokens* em 3,0 bpb."""
    return 2000.0 * 10 ** (-0.5 * (t - 3.0))


def steps_needed(t: float, batch: float, lr_penalty: float = 1.0) -> float:
    return lr_penalty * (s_min(t) + s_min(t) * b_crit(t) / batch)


def record(batch: int, lr: float, seed: int, noise_ratio: float = 1.0, noise_power: float = 1.0) -> dict:
    """Um treino cuja curva cruza cada perda t no passo S(t, B) da lei (a taxa do meio é a melhor)."""
    penalty = 1.0 if lr == LRS[1] else 1.25
    steps = np.unique(np.geomspace(8, steps_needed(2.4, batch, penalty) * 1.05, 48).round().astype(int))
    trace = [{"step": 0, "tokens": 0, "val_bpb": 5.5, "val_loss": 3.8}]
    for s in steps:
        t = brentq(lambda t: steps_needed(t, batch, penalty) - s, 0.5, 8.0)
        trace.append({"step": int(s), "tokens": int(s) * batch, "val_bpb": t, "val_loss": t * 0.69,
                      "noise": {"b_simple": b_crit(t) ** noise_power * 2000.0 ** (1 - noise_power) / noise_ratio}})
    return {"status": "ok", "train": {"batch_size_tokens": batch, "lr": lr, "seed": seed, "warmup_steps": WARMUP},
            "flops_per_token": {"M": 5.0e5}, "trace": trace}


def records(noise_ratio: float = 1.0, noise_power: float = 1.0) -> list[dict]:
    return [record(b, lr, s, noise_ratio, noise_power) for b in BATCHES for lr in LRS for s in (0, 1)]


@pytest.fixture(scope="module")
def study():
    return cc.critical_study(records(), n_boot=20)


def test_recovers_the_critical_batch_of_every_target(study):
    assert len(study.targets) >= 4
    for t in study.targets:
        assert t.b_crit == pytest.approx(b_crit(t.target), rel=0.03), t.target
        assert t.s_min == pytest.approx(s_min(t.target), rel=0.03)
        assert set(t.lrs) == {LRS[1]} and t.edge_lr == 0  # a taxa do meio é a melhor, e não é borda
        assert len(t.batches) >= cc.MIN_BATCHES


def test_noise_scale_and_trends_follow_the_known_law(study):
    for t in study.targets:
        assert t.b_simple == pytest.approx(b_crit(t.target), rel=0.03)
        assert t.ratio_ci[0] == pytest.approx(1.0, abs=0.05) and t.ratio_ci[1] == pytest.approx(1.0, abs=0.05)
    assert study.slope_b_crit == pytest.approx(-0.5, abs=0.02)
    assert study.slope_b_simple == pytest.approx(-0.5, abs=0.02)
    numbers = cc.critical_numbers(study)
    assert numbers["cr_fator"].startswith(f"em {len(study.targets)} de {len(study.targets)} alvos")
    assert "cresce quando o alvo desce" in numbers["cr_tend_crit"]
    assert set(numbers) == set(cc.NUMBER_KEYS)


def test_a_noise_scale_four_times_smaller_is_outside_the_factor_of_two():
    st = cc.critical_study(records(noise_ratio=4.0), n_boot=20)
    assert all(t.ratio_ci[0] > 2 for t in st.targets)
    assert cc.critical_numbers(st)["cr_fator"].startswith(f"em 0 de {len(st.targets)} alvos")


def test_crossings_inside_the_warmup_transient_do_not_count():
    st = cc.critical_study(records(), n_boot=5)
    first = cc.min_step(records())
    assert first == cc.WARMUP_FACTOR * WARMUP
    for t in st.targets:
        assert min(t.steps) >= first


def test_deepseek_law_is_evaluated_at_the_budget_that_reaches_the_target(study):
    from helpers.laws import deepseek

    for t in study.targets:
        assert t.compute == pytest.approx(5.0e5 * 2 * t.e_min)
        assert t.b_opt_deepseek == pytest.approx(float(deepseek.batch_opt(t.compute)))


def test_empty_or_too_short_studies_are_refused_in_portuguese():
    with pytest.raises(ValueError, match="nenhum treino concluído"):
        cc.critical_study([])
    short = [record(b, LRS[1], 0) for b in BATCHES]
    for r in short:
        r["trace"] = r["trace"][:3]
    with pytest.raises(ValueError, match="nenhuma perda-alvo"):
        cc.critical_study(short)
    assert set(cc.critical_numbers(None).values()) == {"—"}


def test_a_noise_scale_that_grows_half_as_fast_is_reported_as_slower():
    st = cc.critical_study(records(noise_power=0.5), n_boot=20)
    assert st.slope_b_simple == pytest.approx(-0.25, abs=0.02)
    text = cc.critical_numbers(st)["cr_tend_compara"]
    assert text.startswith("o lote crítico cresce mais depressa") and "sobe" in text
