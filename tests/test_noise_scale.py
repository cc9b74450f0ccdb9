"""A escala de ruído do gradiente: estimadores contra a verdade sintética, o gradiente contra o autograd, o treino."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.engine import noise_scale as ns
from helpers.engine.runs import TrainConfig
from helpers.engine.trainer import train
from helpers.model.config import tiny


def synthetic(k: int, b_small: float, rng: np.random.Generator, g: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``k`` gradientes de micro-lotes de ``b_small`` exemplos: G + ruído de covariância diag(var)/b_small."""
    return g + rng.standard_normal((k, g.size)) * np.sqrt(var / b_small)


def test_estimators_are_unbiased_on_synthetic_gradients():
    rng = np.random.default_rng(0)
    g, var = rng.standard_normal(50) * 0.1, rng.uniform(0.5, 2.0, 50)
    b_small, truth_g2, truth_tr = 8.0, float(g @ g), float(var.sum())
    est = [ns.estimate(synthetic(4, b_small, rng, g, var), b_small, n_boot=0) for _ in range(4000)]
    g2 = np.array([e["g2"] for e in est])
    tr = np.array([e["trace"] for e in est])
    # a média de 4000 estimativas fica a menos de 4 erros-padrão da verdade (sem viés)
    assert abs(g2.mean() - truth_g2) < 4 * g2.std() / math.sqrt(g2.size)
    assert abs(tr.mean() - truth_tr) < 4 * tr.std() / math.sqrt(tr.size)
    # o estimador ingênuo |ḡ|² tem viés tr(Σ)/(k·B_small): o corrigido tira exatamente isso
    naive = np.array([e["g2"] + e["trace"] / (4 * b_small) for e in est])
    assert naive.mean() - truth_g2 > 10 * g2.std() / math.sqrt(g2.size)


def test_formula_is_mccandlish_two_batch_estimator():
    """Com B_big = k·B_small, as fórmulas do apêndice A.1 (contas à mão) dão os mesmos números."""
    rng = np.random.default_rng(1)
    grads, b_small = rng.standard_normal((6, 20)), 256.0
    k, b_big = grads.shape[0], grads.shape[0] * b_small
    small = float(np.mean([row @ row for row in grads]))
    big_vec = grads.mean(0)
    big = float(big_vec @ big_vec)
    g2 = (b_big * big - b_small * small) / (b_big - b_small)
    trace = (small - big) / (1 / b_small - 1 / b_big)
    e = ns.estimate(grads, b_small, n_boot=0)
    assert e["g2"] == pytest.approx(g2, rel=1e-12) and e["trace"] == pytest.approx(trace, rel=1e-12)
    assert e["b_simple"] == pytest.approx(trace / g2, rel=1e-12) and e["micro_batches"] == k


def test_interval_covers_the_truth_about_as_often_as_it_says():
    rng = np.random.default_rng(2)
    g, var = np.full(40, 0.2), np.ones(40)
    b_small = 4.0
    truth = float(var.sum() / (g @ g))  # 25 exemplos
    hits = 0
    for i in range(100):
        e = ns.estimate(synthetic(32, b_small, rng, g, var), b_small, n_boot=200, level=0.9, seed=i)
        hits += e["ci"][0] <= truth <= e["ci"][1]
    # 200 conjuntos deram 88%; com 100, o desvio-padrão binomial é ~3 pontos. (O percentil simples
    # das reamostras, deslocado pelo viés de |ḡ|², cobria só 55%.)
    assert 0.78 <= hits / 100 <= 0.97


def test_pure_noise_gives_no_finite_noise_scale():
    """Gradientes que se cancelam (média zero): |G|² estimado ≤ 0, e B_simple e o intervalo ficam nan."""
    row = np.random.default_rng(3).standard_normal(30)
    e = ns.estimate(np.stack([row, -row, row, -row]), 1.0, n_boot=50)
    assert e["g2"] < 0 and math.isnan(e["b_simple"]) and all(math.isnan(v) for v in e["ci"])


@pytest.mark.parametrize("grads, b_small, message", [
    (np.ones((1, 5)), 4, "≥ 2 micro-lotes"),
    (np.ones(5), 4, "≥ 2 micro-lotes"),
    (np.array([[1.0, math.nan], [0.0, 1.0]]), 4, "não finitos"),
    (np.ones((3, 5)), 0, "b_small deve ser um número > 0"),
])
def test_bad_input_is_rejected_in_portuguese(grads, b_small, message):
    with pytest.raises(ValueError, match=message):
        ns.estimate(grads, b_small)


def test_micro_gradients_match_autograd_of_each_slice_and_of_the_whole_batch():
    from helpers.model.transformer import Transformer

    torch.manual_seed(0)
    model = Transformer(tiny(2, vocab_size=64, max_position_embeddings=16))
    x = torch.randint(0, 64, (8, 16))
    y = torch.randint(0, 64, (8, 16))
    rows = ns.micro_gradients(model, x, y, 2)
    assert rows.shape[0] == 4 and all(p.grad is None for p in model.parameters())
    params = list(model.parameters())

    def flat_grad(xb, yb):
        loss = torch.nn.functional.cross_entropy(model(xb).flatten(0, 1), yb.flatten())
        return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]).double()

    for i in range(4):
        torch.testing.assert_close(rows[i], flat_grad(x[2 * i:2 * i + 2], y[2 * i:2 * i + 2]), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(rows.mean(0), flat_grad(x, y), rtol=1e-4, atol=1e-6)  # micro-lotes do mesmo tamanho
    with pytest.raises(ValueError, match="≥ 2 micro-lotes"):
        ns.micro_gradients(model, x, y, 8)


def test_training_records_the_noise_scale_without_changing_the_run(tiny_corpus):
    from helpers.engine.data import corpus_spec

    corpus = corpus_spec(tiny_corpus, validation_fraction=0.2)
    mc = tiny(1, vocab_size=256, max_position_embeddings=32)
    base = dict(tokens=16384, batch_size_tokens=512, seq_len=32, eval_points=2, eval_tokens=1024, corpus=corpus,
                device="cpu")
    plain = train(mc, TrainConfig(**base), quiet=True)
    measured = train(mc, TrainConfig(**base, noise_scale_micro=2, noise_scale_batches=8), quiet=True)
    assert "noise_scale_micro" not in TrainConfig(**base).to_dict()  # o run_id dos treinos antigos não muda
    assert plain.run_id != measured.run_id
    # a medida usa sorteios e gradientes à parte: a trajetória do treino é a mesma, bit a bit
    assert [p["val_loss"] for p in plain.trace] == [p["val_loss"] for p in measured.trace]
    points = [p["noise"] for p in measured.trace[1:]]
    assert len(points) == 2 and all(p["micro_batches"] == 8 and p["b_small"] == 64 for p in points)
    assert all(p["trace"] > 0 for p in points)
    assert "noise" not in measured.trace[0] and all("noise" not in p for p in plain.trace)
    with pytest.raises(ValueError, match="noise_scale_batches deve ser um inteiro ≥ 2"):
        TrainConfig(**base, noise_scale_micro=2, noise_scale_batches=1)
