"""helpers.chapters.cap06_contexto: contas conferidas à mão, e os intervalos calibrados em dados
sintéticos com a verdade conhecida e o ruído medido nos treinos do capítulo."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from helpers.chapters import cap06_contexto as cx

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "06_lote_e_contexto.ipynb"
CONTEXTS = (32, 64, 128, 256, 512)
LRS = (0.002, 0.004, 0.008)


def _record(seq_len, lr, seed, bpb_curve, *, m=1000.0, tokens=(0, 1000, 2000, 4000), batch=4096, halves=None):
    trace = [{"step": i, "tokens": t, "val_bpb": b, "lr": lr} for i, (t, b) in enumerate(zip(tokens, bpb_curve))]
    return {"run_id": f"{seq_len}-{lr}-{seed}", "status": "ok", "tokens": tokens[-1], "trace": trace,
            "final_val_bpb": bpb_curve[-1], "flops_per_token": {"M": m * (1 + seq_len / 288)},
            "tokens_per_s": 4096 / (0.05 + seq_len / 10000), "model": {"hidden_size": 48},
            "train": {"seq_len": seq_len, "lr": lr, "seed": seed, "batch_size_tokens": batch, "tokens": tokens[-1]},
            "evaluation": {"final": {"halves_bpb": halves or [bpb_curve[-1] + 0.01, bpb_curve[-1] - 0.01]}}}


def test_value_at_flops_interpolates_in_log_by_hand():
    r = _record(32, 0.004, 0, [8.0, 4.0, 2.0, 1.5], m=10.0 / (1 + 32 / 288))  # M = 10 FLOPs por token
    # entre (10 mil FLOPs, 4) e (20 mil, 2), a 15 mil: 4 · 2^(−log 1,5 / log 2) = 4 / 1,5
    assert cx.value_at_flops(r, 15_000) == pytest.approx(4 / 1.5)
    assert cx.value_at_flops(r, 40_000) == pytest.approx(1.5)  # o último ponto: a avaliação final
    assert cx.value_at_flops(r, 10_000) == pytest.approx(4.0)
    for bad in (5_000, 50_000):
        with pytest.raises(ValueError, match="fora da curva"):
            cx.value_at_flops(r, bad)


def test_noise_from_pairs_by_hand():
    sigma, df, (lo, hi) = cx.noise_from_pairs([[1.0, 3.0], [2.0, 2.0], [5.0]])
    assert (sigma, df) == (1.0, 2)  # (2 + 0) / 2 graus de liberdade
    assert lo == pytest.approx(math.sqrt(2 / stats.chi2.ppf(0.95, 2)))
    assert hi == pytest.approx(math.sqrt(2 / stats.chi2.ppf(0.05, 2)))
    with pytest.raises(ValueError, match="duas sementes"):
        cx.noise_from_pairs([[1.0], [2.0]])


def _truth():
    """bpb verdadeiro de cada (contexto, taxa): o melhor contexto é o de 64, e a melhor taxa é 0,004."""
    base = {32: 2.56, 64: 2.52, 128: 2.53, 256: 2.66, 512: 2.78}
    return {(c, lr): base[c] + 0.3 * math.log2(lr / 0.004) ** 2 * 0.1 for c in CONTEXTS for lr in LRS}


def _cells(truth, sigma, rng, seeds=2):
    return {k: list(v + sigma * rng.standard_normal(seeds)) for k, v in truth.items()}


def test_compare_separates_clear_differences_and_ties_equal_ones():
    rng = np.random.default_rng(0)
    truth = _truth()
    clear = cx.compare(_cells(truth, 1e-4, rng), n_boot=500)
    assert clear.best == 64 and clear.tied == (64,) and clear.p_best[64] > 0.99
    assert clear.best_lr == {c: 0.004 for c in CONTEXTS} and clear.edge == ()
    lo, hi = clear.diff_ci[(32, 128)]
    assert 0.029 < lo <= hi < 0.031  # a diferença verdadeira é 0,03
    noisy = cx.compare(_cells(truth, 0.05, rng), n_boot=500)
    assert {64, 128} <= set(noisy.tied)  # 0,01 de diferença com σ = 0,05 e 2 sementes: não se distinguem
    # a melhor taxa na borda é sinalizada
    edge = {k: v + (0.0 if k[1] == 0.008 else 0.2) for k, v in truth.items() if k[0] == 32}
    edge.update({k: v for k, v in truth.items() if k[0] != 32})
    assert 32 in cx.compare(_cells(edge, 1e-4, rng), n_boot=200).edge


def test_difference_intervals_cover_the_truth_about_90_percent():
    """Calibração: com o ruído medido nos treinos (σ ≈ 0,02 por semente, 2 sementes), o IC de 90% da
    diferença entre dois contextos (cada um na sua melhor taxa, escolhida de novo a cada conjunto)
    cobre a diferença verdadeira em cerca de 90% dos conjuntos."""
    rng = np.random.default_rng(1)
    truth = _truth()
    true_best = {c: min(truth[(c, lr)] for lr in LRS) for c in CONTEXTS}
    hits = {(32, 128): 0, (64, 128): 0, (128, 256): 0}
    n = 300
    for i in range(n):
        cmp = cx.compare(_cells(truth, 0.02, rng), n_boot=400, seed=i)
        for (a, b) in hits:
            lo, hi = cmp.diff_ci[(a, b)]
            hits[(a, b)] += lo <= true_best[a] - true_best[b] <= hi
    coverage = {k: v / n for k, v in hits.items()}
    assert all(0.84 <= v <= 0.97 for v in coverage.values()), coverage
    # o capítulo cita esta medida: a faixa que ele escreve é a medida aqui
    lo, hi = re.search(r"cobre a verdade em (\d+)–(\d+)% dos conjuntos", _prose()).groups()
    assert (int(lo), int(hi)) == (round(100 * min(coverage.values())), round(100 * max(coverage.values())))


def _prose() -> str:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").replace("\n", " ")


def _committed() -> list[dict]:
    path = ROOT / "results" / "cap06_contexto_v2.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_committed_study_agrees_with_sums_over_the_raw_records():
    records = _committed()
    st = cx.context_study(records, n_boot=200)
    by_hand: dict = {}
    for r in records:
        by_hand.setdefault((r["train"]["seq_len"], r["train"]["lr"]), []).append(r["final_val_bpb"])
    for c in st.tokens.contexts:
        cells = {lr: sum(v) / len(v) for (cc, lr), v in by_hand.items() if cc == c}
        best = min(cells, key=cells.get)
        assert st.tokens.best_lr[c] == best and st.tokens.mean[c] == pytest.approx(cells[best])
        assert len(by_hand[(c, best)]) == 2  # duas sementes na melhor taxa de cada contexto
    # só o contexto muda: os mesmos tokens e o mesmo lote em todos os treinos
    assert len({(r["tokens"], r["train"]["batch_size_tokens"], r["steps"]) for r in records}) == 1
    assert st.tokens.edge == () and st.compute.edge == ()  # nenhuma melhor taxa na borda da grade


def test_attention_share_sentences_match_the_benchmark():
    """O texto diz que, de 64 tokens para cima, a fração medida acompanha a de M, e que nos contextos
    curtos o núcleo custa mais que as suas contas."""
    bench = cx.load_context_benchmark()
    assert bench is not None, "falta results/bench_contexto_cpu.json (python benchmarks/contexto.py --out ...)"
    ratio = {r["seq_len"]: r["measured_share"] / r["m_share"] for r in bench["rows"]}
    assert "de 64 *tokens* para cima" in _prose() and "Nos contextos curtos, o núcleo custa mais" in _prose()
    assert all(0.8 <= v <= 1.25 for l, v in ratio.items() if l >= 64), ratio
    assert all(v > 1.25 for l, v in ratio.items() if l < 64), ratio


def test_study_rejects_a_design_where_more_than_the_context_changes():
    curve = [8.0, 4.0, 3.0, 2.5]
    records = [_record(c, lr, s, curve) for c in (32, 64) for lr in LRS for s in (0, 1)]
    records[0]["train"]["tokens"] = 1234
    with pytest.raises(ValueError, match="única mudança"):
        cx.context_study(records, n_boot=50)
    with pytest.raises(ValueError, match="ao menos 2 contextos"):
        cx.context_study([r for r in records if r["train"]["seq_len"] == 64], n_boot=50)


def test_study_reads_equal_compute_at_the_cheapest_budget():
    rng = np.random.default_rng(2)
    records = []
    for c in CONTEXTS:
        for lr in LRS:
            for s in (0, 1):
                shift = 0.01 * rng.standard_normal()
                records.append(_record(c, lr, s, [8.0, 4.0 + shift, 3.0 + shift, 2.5 + shift + (0.0 if lr == 0.004 else 0.1)]))
    st = cx.context_study(records, n_boot=200)
    cheapest = min(r["flops_per_token"]["M"] * r["tokens"] for r in records)
    assert st.c_star == pytest.approx(cheapest)
    # o contexto mais curto é o mais barato: em C* ele está no fim da curva, os outros antes
    assert st.tokens_at_c_star[32] == pytest.approx(4000)
    assert all(st.tokens_at_c_star[c] < 4000 for c in CONTEXTS[1:])
    # com as mesmas curvas contra tokens, o mesmo orçamento favorece o contexto barato
    assert st.compute.best == 32
    assert st.eval_sigma == pytest.approx(0.01)
    numbers = cx.context_numbers(st)
    assert set(numbers) == set(cx.context_numbers(None))
    assert all(v == "—" for v in cx.context_numbers(None).values())
