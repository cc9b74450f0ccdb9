"""Capítulo 2: as tabelas e os números de ``helpers.chapters.cap02`` contra contas independentes."""

from __future__ import annotations

import json

import pytest

from helpers.chapters import cap02
from helpers.chapters.cap08 import SIZE_LADDER
from helpers.model import config as cfg
from helpers.model.flops import count_params, deepseek_m


def test_swiglu_widths_are_the_published_ones():
    table = cap02.swiglu_table()
    assert "11.008" in table and "22.016" in table
    assert cfg.swiglu_intermediate_size(4096) == cfg.deepseek_7b().intermediate_size
    assert cfg.swiglu_intermediate_size(8192) == cfg.deepseek_67b().intermediate_size


def test_kv_cache_numbers_by_hand():
    # 7B: 2 × 30 camadas × 32 heads × 128 × 4096 tokens × 2 bytes = 1,875 GiB
    assert cap02.kv_cache_gib(cfg.deepseek_7b()) == pytest.approx(2 * 30 * 32 * 128 * 4096 * 2 / 2**30)
    assert cap02.kv_cache_gib(cfg.deepseek_7b()) == pytest.approx(1.875)
    table, numbers = cap02.kv_cache_table()
    assert "1,875 GiB" in table and "1,48 GiB" in table
    assert numbers == {"cache_67b_vs_7b": "menos", "camadas_67b_7b": "3,2", "cache_mha_vezes": "8"}


def test_meta_count_matches_the_formula():
    meta = cap02.meta_count()
    assert meta.counted == {"7B": count_params(cfg.deepseek_7b()).total, "67B": count_params(cfg.deepseek_67b()).total}
    assert meta.counted["7B"] == 6_910_365_696  # 30·(4·4096² + 3·4096·11008 + 2·4096) + 4096 + 2·102400·4096
    assert meta.numbers["gb_67b_fp32"] == "270"
    assert meta.numbers["vocab_7B"] == "12%"


def test_experiment_shapes_reads_base_and_runs(tmp_path):
    (tmp_path / "cap05_x.json").write_text(json.dumps({"base": {"model": {"preset": "tiny", "num_hidden_layers": 3}}}))
    (tmp_path / "cap08_y.json").write_text(json.dumps({
        "base": {"model": {"num_hidden_layers": 2, "hidden_size": 32}},
        "runs": [{"model.num_hidden_layers": 1, "model.hidden_size": 16}, {"train.lr": 1e-3}]}))
    assert cap02.experiment_shapes(tmp_path) == {(3, 48): {5}, (1, 16): {8}, (2, 32): {8}}


def test_family_table_has_every_ladder_step_and_both_published_models():
    rows = cap02.family_rows()
    assert [(c.num_hidden_layers, c.hidden_size) for _, _, c, _ in rows[:-2]] == list(SIZE_LADDER)
    assert rows[-1][2] == cfg.deepseek_67b() and rows[-1][3] == 4096
    table, numbers = cap02.family_table()
    assert table.count("\n") == 2 + len(SIZE_LADDER) + 2 - 1
    assert "`tiny(3)`" in table  # tiny(3) = (3, 48) é um degrau da escada
    trained = [c for name, used, c, _ in rows if used not in ("—", "publicado")]
    largest = max(count_params(c).total for c in trained)
    expected = count_params(cfg.deepseek_7b()).total / largest
    assert numbers["familia_vezes_7b"].endswith(" mil")
    assert float(numbers["familia_vezes_7b"].split()[0].replace(",", ".")) == pytest.approx(expected / 1e3, rel=0.05)
    m_largest = max(deepseek_m(c, 128) for c in trained)
    assert float(numbers["familia_m_vezes_7b"].split()[0].replace(",", ".")) == pytest.approx(
        deepseek_m(cfg.deepseek_7b(), 4096) / m_largest / 1e3, rel=0.05)


def test_depth_vs_width_numbers():
    table, numbers = cap02.depth_vs_width()
    deep = cfg.deepseek_67b()
    wide = deep.replace(num_hidden_layers=80, intermediate_size=28672)
    assert numbers["mais_passos"] == "19%"  # 95 / 80 = 1,1875
    assert numbers["custo_m"] == "-16%"  # M só vê n_layer e d: os dois termos são proporcionais a n_layer
    assert deepseek_m(wide, 4096) / deepseek_m(deep, 4096) == pytest.approx(80 / 95)
    assert numbers["custo_frase"] == "quase o mesmo"
    assert numbers["cache_frase"] == "proporcionalmente maior"
    # 12 d² por camada contra o real por camada do 67B
    per_layer = count_params(deep).non_embedding / 95
    assert numbers["excesso_12d2"] == f"{12 * 8192**2 / per_layer - 1:.0%}"


def test_rope_scores_are_relative():
    scores, norm_change, spread = cap02.rope_scores(head_dim=16, length=32)
    assert scores.shape == (32, 32)
    assert norm_change < 1e-5 and spread < 1e-4
