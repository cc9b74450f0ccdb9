"""helpers.chapters.cap04: as especificações do capítulo de GQA e as tabelas que saem delas."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers.chapters import cap04 as A
from helpers.engine import sweeps
from helpers.model.attention import kv_cache_bytes
from helpers.model.config import deepseek_67b, deepseek_7b
from helpers.model.flops import count_params
from helpers.model.transformer import KVCache
from helpers.chapters.common import write_spec

# Leis de hiperparâmetros de mentira: as especificações só chamam lr_opt e batch_opt.
LAWS = SimpleNamespace(lr_opt=lambda c: 3.98e-3, batch_opt=lambda c: 900.0)


def _load(spec: dict, tmp_path):
    path = tmp_path / f"{spec['name']}.json"
    write_spec(spec, path)
    return sweeps.load_spec(path)


# --- as especificações ------------------------------------------------------------

def test_depth_shapes_have_nearly_the_same_parameters(tmp_path):
    planned = sweeps.expand(_load(A.depth_width_spec(LAWS), tmp_path))
    shapes = {(p.model.num_hidden_layers, p.model.hidden_size, p.model.intermediate_size): p for p in planned}
    assert len(shapes) == len(A.DEPTH_WIDTH_SHAPES) + len(A.DEPTH_FFN_SHAPES) - 1  # (4, 32, 88) está nas duas
    n = np.array([count_params(p.model).non_embedding for p in shapes.values()])
    assert np.all(np.abs(n / n.mean() - 1) < 0.10), n
    ideal = np.array([12 * layers * d * d for layers, d in A.DEPTH_WIDTH_SHAPES])
    assert np.all(np.abs(ideal / ideal.mean() - 1) < 0.10)
    # profundidade × largura: o mesmo orçamento (FLOPs medidos), a mesma taxa e o mesmo lote
    assert {p.train.budget_flops for p in planned} == {A.DEPTH_BUDGET}
    assert {p.train.flops_convention for p in planned} == {"measured"}
    assert len({(p.train.lr, p.train.batch_size_tokens) for p in planned}) == 1
    assert len(planned) == len(shapes) * len(A.DEPTH_SEEDS)


def test_depth_spec_mini_samples_both_families(tmp_path):
    planned = sweeps.expand(_load(A.depth_width_spec(LAWS), tmp_path), mini=True)
    assert 2 <= len(planned) < 8
    assert all(p.train.budget_flops == pytest.approx(A.DEPTH_BUDGET * 0.02) for p in planned)
    assert any(p.model.intermediate_size != A.depth_config(p.model.num_hidden_layers, p.model.hidden_size).intermediate_size
               for p in planned), "a miniatura deve ter ao menos uma forma da família da FFN"


def test_uptraining_init_from_resolves_to_the_parent(tmp_path):
    spec = _load(A.uptraining_spec(LAWS), tmp_path)
    planned = sweeps.expand(spec)
    parents = [p for p in planned if p.train.init_from is None and "model.num_key_value_heads" not in p.overrides]
    children = [p for p in planned if p.train.init_from is not None]
    assert len(parents) == len(A.UPTRAINING_SEEDS)
    assert len(children) == len(A.UPTRAINING_SEEDS) * len(A.UPTRAINING_FRACTIONS) * 3  # 4, 2 e 1 heads K/V
    by_seed = {p.train.seed: p for p in parents}
    for c in children:
        init = c.train.init_from
        parent = by_seed[c.train.seed - A.CONTINUATION_SEED_OFFSET]
        assert init["model"] == parent.model.to_dict()
        assert init["train"] == parent.train.to_dict()
        assert c.model == parent.model.replace(num_key_value_heads=init["num_key_value_heads"])
        frac = c.train.budget_flops / init["train"]["budget_flops"]
        assert min(abs(frac - f) for f in A.UPTRAINING_FRACTIONS) < 1e-9
        assert c.train.schedule == "constant" and c.train.lr == pytest.approx(0.1 * parent.train.lr, rel=1e-3)
    scratch = [p for p in planned if p.train.init_from is None and "model.num_key_value_heads" in p.overrides]
    assert {p.model.num_key_value_heads for p in scratch} == {4, 2, 1}
    assert all(p.train.budget_flops == pytest.approx(A.UPTRAINING_BUDGET * (1 + A.UPTRAINING_FRACTIONS[0])) for p in scratch)


def test_uptraining_mini_keeps_the_fraction(tmp_path):
    planned = sweeps.expand(_load(A.uptraining_spec(LAWS), tmp_path), mini=True)
    children = [p for p in planned if p.train.init_from is not None]
    assert children, "a miniatura deve ter ao menos uma continuação"
    for c in children:
        frac = c.train.budget_flops / c.train.init_from["train"]["budget_flops"]
        assert frac == pytest.approx(A.UPTRAINING_FRACTIONS[0])


# --- as tabelas -------------------------------------------------------------------

def _record(kv, final, *, init_budget=None, budget=1e12, scratch=False, trace0=None, seed=0):
    train = {"budget_flops": budget, "seed": seed}
    overrides = {"train.seed": seed}
    if init_budget is not None:
        train["init_from"] = {"train": {"budget_flops": init_budget}, "model": {}, "num_key_value_heads": kv}
        overrides["train.init_from"] = {"run": 0, "num_key_value_heads": kv}
    if scratch or init_budget is not None:
        overrides["model.num_key_value_heads"] = kv
    return {"model": {"num_key_value_heads": kv, "num_attention_heads": 4}, "train": train, "overrides": overrides,
            "final_val_bpb": final, "status": "ok",
            "trace": [{"tokens": 0, "val_bpb": trace0 if trace0 is not None else final}, {"tokens": 10, "val_bpb": final}]}


def test_uptraining_table_and_summary_on_synthetic_records():
    recs = []
    for seed, parent in enumerate((2.0, 2.2)):
        recs.append(_record(4, parent, seed=seed))
        for frac in (0.05, 0.1):
            recs.append(_record(1, 3.0 - frac + seed, init_budget=1e12, budget=frac * 1e12, trace0=5.0 + seed, seed=seed))
        recs.append(_record(1, 2.5 + seed, budget=1.05e12, scratch=True, seed=seed))
    table = A.uptraining_table(recs)
    assert table["origem"] == [2.0, 2.2]
    assert table["convertido"] == {1: [5.0, 6.0]}  # uma perda de conversão por semente, não por fração
    assert set(table["continuado"]) == {(1, 0.05), (1, 0.1)}
    rows = {(r["stage"], r["kind"], r["fraction"]): r for r in A.uptraining_summary(recs)}
    assert rows[("origem", "MHA", None)]["mean"] == pytest.approx(2.1)
    assert rows[("convertido", "MQA", None)]["std"] == pytest.approx(np.std([5.0, 6.0], ddof=1))
    assert rows[("continuado", "MQA", 0.1)]["mean"] == pytest.approx(3.4)
    assert rows[("do_zero", "MQA", None)]["n"] == 2
    one = A.uptraining_summary(recs[:1])
    assert len(one) == 1 and math.isnan(one[0]["std"])
    with pytest.raises(ValueError, match="ao menos um registro"):
        A.uptraining_summary([])


def _depth_record(n, d, f, loss, *, status="ok", tps=1000.0, fpt=5e5):
    return {"model": {"num_hidden_layers": n, "hidden_size": d, "intermediate_size": f},
            "final_val_bpb": loss, "status": status, "parameters": {"non_embedding": 12 * n * d * d},
            "tokens": 1e6, "tokens_per_s": tps, "flops_per_token": {"measured": fpt}}


def test_depth_table_groups_by_shape_and_flags_the_family():
    f4 = A.depth_config(4, 32).intermediate_size
    recs = [_depth_record(4, 32, f4, 2.4), _depth_record(4, 32, f4, 2.6), _depth_record(1, 64, A.depth_config(1, 64).intermediate_size, 2.5),
            _depth_record(8, 32, 24, 2.6), _depth_record(8, 32, 24, 2.8), _depth_record(8, 32, 24, float("nan"), status="diverged")]
    rows = A.depth_table(recs)
    by_shape = {(r["n_layer"], r["d_model"]): r for r in rows}
    assert by_shape[(4, 32)]["family"] == "ambas" and by_shape[(4, 32)]["seeds"] == 2
    assert by_shape[(4, 32)]["loss_mean"] == pytest.approx(2.5)
    assert by_shape[(4, 32)]["loss_std"] == pytest.approx(np.std([2.4, 2.6], ddof=1))
    assert by_shape[(1, 64)]["family"] == "largura"
    assert by_shape[(8, 32)]["family"] == "ffn" and by_shape[(8, 32)]["diverged"] == 1
    assert by_shape[(8, 32)]["loss_mean"] == pytest.approx(2.7)
    assert by_shape[(1, 64)]["flops_per_s"] == pytest.approx(1000.0 * 5e5)
    assert rows[-1]["family"] == "ffn"  # a família da FFN vem por último


# --- os benchmarks ----------------------------------------------------------------

def _bench(dtype="torch.bfloat16", variants=A.BENCH_VARIANTS):
    kernels = []
    for s, g in ((128, 1), (128, 4)):
        for v in variants:
            base = 1000
            peak = base + (3 * g * s * s if v == "gqa" else 0) + (g * 2 * 2 * 1 * s * 8 * 2 if v == "repeat_sdpa" and g > 1 else 0)
            for mode in ("fwd", "fwd+bwd"):
                kernels.append({"seq_len": s, "group": g, "kv_heads": 4 // g, "variant": v, "mode": mode,
                                "time_s": {"gqa": 3e-3, "sdpa_gqa": 1e-3, "repeat_sdpa": 1.5e-3}[v], "peak_bytes": peak})
    return {"metadata": {"dtype": dtype, "batch": 2, "heads": 4, "head_dim": 8}, "kernels": kernels, "decode": []}


def test_kernel_table_computes_the_ratios():
    rows = A.kernel_table(_bench())
    assert [(r["seq_len"], r["group"]) for r in rows] == [(128, 1), (128, 4)]
    for r in rows:
        assert r["slowdown"] == pytest.approx(3.0)
        assert r["mask_elements"] == r["group"] * 128 * 128
        assert r["mask_bytes_per_element"] == pytest.approx(3.0)
        assert r["kv_bytes"] == 2 * 2 * r["kv_heads"] * 128 * 8 * 2
    assert rows[0]["repeat_extra_bytes"] == 0
    assert rows[1]["repeat_extra_bytes"] == 4 * rows[1]["kv_bytes"]  # as cópias têm o tamanho de K e V da MHA


def test_kernel_table_rejects_bad_input():
    with pytest.raises(ValueError, match="mode"):
        A.kernel_table(_bench(), mode="backward")
    with pytest.raises(ValueError, match="faltam as variantes"):
        A.kernel_table(_bench(variants=("gqa", "sdpa_gqa")))
    with pytest.raises(ValueError, match="dtype"):
        A.kernel_table(_bench(dtype="torch.int8"))


def test_load_attention_benchmarks_skips_missing_and_rejects_malformed(tmp_path):
    assert A.load_attention_benchmarks(tmp_path) == {}
    (tmp_path / A.BENCHMARK_FILES["gpu"]).write_text(json.dumps(_bench()), encoding="utf-8")
    assert set(A.load_attention_benchmarks(tmp_path)) == {"gpu"}
    (tmp_path / A.BENCHMARK_FILES["cpu"]).write_text(json.dumps({"kernels": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="faltam os campos"):
        A.load_attention_benchmarks(tmp_path)


def test_committed_gpu_benchmark_is_consistent():
    bench = A.load_attention_benchmarks()
    if "gpu" not in bench:
        pytest.skip("results/bench_atencao_gpu.json ausente")
    for r in A.kernel_table(bench["gpu"]):
        # o excesso do kernel do livro é a máscara [G·S, T]: 1 byte (bool) + 2 (a versão em bf16)
        assert r["mask_bytes_per_element"] == pytest.approx(3.0, rel=0.02)
    for d in bench["gpu"]["decode"]:
        assert d["cache_bytes"] == d["cache_bytes_formula"]


# --- nomes e números publicados ---------------------------------------------------

def test_attention_kind():
    assert A.attention_kind(64, 64) == "MHA"
    assert A.attention_kind(8, 64) == "GQA-8"
    assert A.attention_kind(1, 64) == "MQA"
    with pytest.raises(ValueError, match="deve dividir"):
        A.attention_kind(3, 64)
    with pytest.raises(ValueError, match="inteiro ≥ 1"):
        A.attention_kind(0, 64)


def test_kv_cache_reference_values():
    gib = {"7B": deepseek_7b(), "67B": deepseek_67b(), "67B-MHA": deepseek_67b().replace(num_key_value_heads=64)}
    for name, cfg in gib.items():
        nbytes = kv_cache_bytes(cfg, 4096)
        assert KVCache(cfg, 1, 4096, device="meta", dtype=torch.bfloat16).nbytes == nbytes
        assert nbytes / 2**30 == pytest.approx(A.KV_CACHE_REFERENCE_GIB[name], rel=0.005)
