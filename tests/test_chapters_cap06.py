"""helpers.chapters.cap06: tabelas, lote crítico e frases do capítulo 6, conferidos contra contas
independentes sobre os registros crus de ``results/cap06_*.jsonl`` e as leis publicadas."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from helpers.chapters import cap05, cap06, cap06_contexto, cap06_critico
from helpers.model.config import deepseek_7b, deepseek_67b

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "06_lote_e_contexto.ipynb"


def _load(name):
    path = ROOT / "results" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def raw():
    return _load("cap06_lote"), cap05.seed_spread(_load("cap05_agendas"))


@pytest.fixture(scope="module")
def ch(raw):
    batch, spread = raw
    return cap06.chapter6(batch, spread=spread)


def test_near_best_by_hand():
    assert cap06.near_best({32: 2.30, 64: 2.27, 128: 2.34}, 0.046) == (64, [32, 64])
    assert cap06.near_best({32: 2.30, 64: 2.27, 128: 2.34}, 0.01) == (64, [64])
    assert cap06.near_best({1: 1.0, 2: 1.05}, 0.05) == (1, [1, 2])
    with pytest.raises(ValueError):
        cap06.near_best({}, 0.1)
    with pytest.raises(ValueError):
        cap06.near_best({1: 1.0}, float("nan"))


def test_best_batch_comes_from_the_raw_records(raw, ch):
    batch, _ = raw
    best_b = min(batch, key=lambda r: r["final_val_bpb"])["train"]["batch_size_tokens"]
    assert ch.numbers["melhor_lote"] == f"{best_b:,d}".replace(",", ".")


def test_deepseek_batch_law_at_our_budget(raw, ch):
    c = raw[0][0]["compute"]["M"]
    # DeepSeek LLM, Eq. 1: B_opt = 0,2920 · C^0,3271
    assert ch.numbers["lote_opt_deepseek"] == f"{0.2920 * c ** 0.3271:,.0f}".replace(",", ".")
    assert ch.numbers["ordens_lote"] == f"{np.log10(1e17 / c):.1f}".replace(".", ",")


def test_verdicts_follow_the_noise_ruler(raw, ch):
    batch, spread = raw
    finals = {r["train"]["batch_size_tokens"]: r["final_val_bpb"] for r in batch}
    best = min(finals, key=finals.get)
    tied = sorted(b for b, v in finals.items() if round(v - finals[best], 3) <= round(spread, 3))
    assert ("sem dizer qual" in ch.numbers["lote_veredito"]) == (len(tied) > 1)
    # com uma régua de ruído minúscula, nenhum empate: o melhor se destaca
    strict = cap06.chapter6(batch, spread=1e-6).numbers
    assert "se destaca" in strict["lote_veredito"]


def test_throughput_peak_from_the_records(raw, ch):
    peak = max(raw[0], key=lambda r: r["tokens_per_s"])["train"]["batch_size_tokens"]
    assert ch.numbers["lote_vazao_max"] == f"{peak:,d}".replace(",", ".")


def test_context_cost_table_ratio_is_l_over_6d():
    table = cap06.context_cost_table(deepseek_7b(), contexts=(4096, 24576))
    rows = table.splitlines()[2:]
    assert rows[0].split(" | ")[2:] == ["1,00", "0,17 |"]  # 4096 / (6 · 4096) = 1/6
    assert rows[1].endswith("| 1,00 |")  # 24576 = 6 · 4096: atenção = camadas
    assert 6 * deepseek_67b().hidden_size == 49152


def test_the_notebook_glues_only_names_the_module_provides(ch):
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    critical = {**cap06_critico.critical_numbers(None), "cr_min_passos": 0}  # as chaves do lote crítico
    context = cap06_contexto.context_numbers(None)
    for kind, name in re.findall(r"\{glue:(text|md)\}`([^`:]+)`", prose):
        assert name in ch.numbers or name in critical or name in context, name
        markdown = (cap06.MARKDOWN_GLUES if name in ch.numbers else
                    cap06_critico.MARKDOWN_GLUES if name in critical else cap06_contexto.MARKDOWN_GLUES)
        assert (kind == "md") == (name in markdown), name
    for name in re.findall(r"```\{glue:figure\} (\S+)", prose):
        assert name.startswith("fig-cap06-")
