"""Capítulo 3: as tabelas, os números e as frases de ``helpers.chapters.cap03`` contra contas independentes."""

from __future__ import annotations

import pytest

from helpers.chapters import cap03
from helpers.laws import deepseek
from helpers.model import config as cfg


def test_table3_has_only_the_known_exception():
    _, worst, numbers = cap03.table3()
    assert numbers["t3_excecoes"] == "1"
    assert numbers["t3_excecao"].startswith("(32, 4096) 6N₁/M")
    # 6N₁/M = 1/(1 + 4096/(6·4096)) = 6/7 = 0,857
    assert "0,857" in numbers["t3_excecao"]


def test_direction_words():
    assert cap03.direction([0.62, 0.86]) == "subestima"
    assert cap03.direction([1.1, 1.3]) == "superestima"
    assert cap03.direction([0.8, 1.2]) == "ora subestima, ora superestima"
    assert cap03.direction([0.97, 1.04]) == "acerta a poucos por cento"


@pytest.fixture(scope="module")
def small():
    cases = [c for c in cap03.measurement_cases() if c[0] == "minúscula"][:3]
    cases += [c for c in cap03.measurement_cases() if c[1] == "DeepSeek 67B"]
    return cap03.measurements(cases)


def test_measurements_small_models_underestimate(small):
    tiny = [r for r in small.records if r["grupo"] == "minúscula"]
    # 6N₂ ÷ medido < 1 em todo modelo pequeno (a atenção com l_seq = 128 não entra em 6N₂)
    assert all(r["6N₂"] < 1 for r in tiny)
    assert small.numbers["tiny_6n2_sentido"] == "subestima"
    lo, hi = (float(v.replace(",", ".")) for v in small.numbers["tiny_6n2_faixa"].split("–"))
    assert lo == pytest.approx(min(r["6N₂"] for r in tiny), abs=0.006)
    assert hi == pytest.approx(max(r["6N₂"] for r in tiny), abs=0.006)


def test_measurements_67b_phrase_comes_from_the_ratios(small):
    big = next(r for r in small.records if r["nome"] == "DeepSeek 67B")
    assert big["M"] - 1 == pytest.approx(0.136, abs=0.001)  # o +13,6% do issue
    assert "M, +13,6%" in small.numbers["g67_desvios"]
    assert "M" in small.numbers["g67_frase"].split("mas")[1]  # M está entre as que erram por mais
    assert small.numbers["m_67b_sentido"] == "superestima"


def test_table2_sequences_reading_gives_larger_batches():
    _, numbers = cap03.table2()
    C7 = deepseek.TABLE2["7B"]  # lido em sequências: B_opt sequências contra 2304 usadas
    from helpers.model.flops import deepseek_m
    b = deepseek.batch_opt(deepseek_m(cfg.deepseek_7b(), 4096) * 2e12)
    assert b / C7.batch_size_sequences == pytest.approx(4003, abs=1)
    assert numbers["seq_vezes_7B"] == "4.003" and numbers["seq_sentido"] == "maiores"
    assert numbers["bseq_7B"] == "2.252" and numbers["bseq_67B"] == "5.043"
    assert numbers["lote_67B_sentido"] == "abaixo"


def test_allocation_numbers():
    _, numbers = cap03.allocation()
    assert numbers["aloc_mais_perto"] == "67B" and numbers["aloc_mais_longe"] == "7B"
    m7 = 42_278_584_320  # M do 7B: 72·30·4096² + 12·30·4096·4096
    C = m7 * 2e12
    assert numbers["aloc_7B"] == f"{m7 / deepseek.m_opt(C):.2f}".replace(".", ",")
    assert numbers["dados_7B"] == f"{2e12 / deepseek.d_opt(C):.1f}".replace(".", ",")


def test_phrases_have_no_maths_markup(small):
    """Um {glue:text} entra como texto simples: nada de ``$…$`` nas frases coladas."""
    assert not any("$" in v for v in small.numbers.values())
    assert small.numbers["tiny_eq2_frase"] == "e as três da Eq. 2 subestimam"
    _, numbers = cap03.allocation()
    assert numbers["aloc_frase"].startswith("Os dois modelos são menores")
