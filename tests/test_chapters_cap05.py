"""helpers.chapters.cap05: as tabelas, as diferenças entre agendas e as frases do capítulo 5,
conferidas contra contas feitas à mão sobre os registros crus de ``results/cap05_agendas.jsonl``."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helpers.chapters import cap05

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "cap05_agendas.jsonl"
NOTEBOOK = ROOT / "notebooks" / "05_treinando_um_modelo.ipynb"


@pytest.fixture(scope="module")
def records():
    return [json.loads(line) for line in RESULTS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def ch(records):
    return cap05.chapter5(records)


def _finals(records, schedule):
    return sorted((r["train"]["seed"], r["final_val_bpb"]) for r in records
                  if r["train"]["schedule"] == schedule and r["train"]["tokenizer"]["kind"] == "bytes"
                  and r["train"]["budget_flops"] == 3e12)


def test_schedule_gap_matches_a_hand_computed_t_interval():
    gap = cap05.schedule_gap([1.0, 1.2], [1.5, 1.5])
    # média 1,1 − 1,5; variância combinada (0,02 + 0)/2 = 0,01; t(0,975; 2) = 4,302653
    assert gap.diff == pytest.approx(-0.4)
    assert gap.sigma == pytest.approx(0.1)
    assert gap.dof == 2
    assert gap.low == pytest.approx(-0.4 - 4.302653 * 0.1, abs=1e-5)
    assert gap.high == pytest.approx(-0.4 + 4.302653 * 0.1, abs=1e-5)
    assert gap.includes_zero
    assert gap.spread == pytest.approx(0.2)
    assert not cap05.schedule_gap([1.0, 1.01], [1.5, 1.51]).includes_zero


def test_schedule_gap_rejects_a_single_seed():
    with pytest.raises(ValueError, match="2 sementes"):
        cap05.schedule_gap([1.0], [1.5, 1.6])


def test_glued_numbers_are_the_raw_differences(records, ch):
    ms = [v for _, v in _finals(records, "multistep")]
    cos = [v for _, v in _finals(records, "cosine")]
    const = [v for _, v in _finals(records, "constant")]
    n = ch.numbers
    assert n["dif_agendas"] == f"{np.mean(ms) - np.mean(cos):+.3f}".replace(".", ",")
    assert n["dif_sementes"] == f"{max(abs(ms[0] - ms[1]), abs(cos[0] - cos[1])):.3f}".replace(".", ",")
    assert n["dif_constante"] == f"{const[0] - np.mean(ms):+.3f}".replace(".", ",")
    assert n["dif_constante_cosseno"] == f"{const[0] - np.mean(cos):+.3f}".replace(".", ",")
    long_run = max((r for r in records if r["train"]["schedule"] == "multistep" and r["train"]["seed"] == 0
                    and r["train"]["tokenizer"]["kind"] == "bytes"), key=lambda r: r["train"]["budget_flops"])
    short = [r for r in records if r["train"]["schedule"] == "multistep" and r["train"]["seed"] == 0
             and r["train"]["budget_flops"] == 3e12 and r["train"]["tokenizer"]["kind"] == "bytes"][0]
    assert n["ganho_dobro"] == f"{short['final_val_bpb'] - long_run['final_val_bpb']:.3f}".replace(".", ",")
    bpe = [r for r in records if r["train"]["tokenizer"]["kind"] == "bpe"][0]
    assert n["bpe_bytes_token"] == f"{bpe['data']['train_bytes'] / bpe['data']['train_tokens']:.2f}".replace(".", ",")


def test_the_comparison_words_follow_the_numbers(records, ch):
    ms = [v for _, v in _finals(records, "multistep")]
    cos = [v for _, v in _finals(records, "cosine")]
    spread = max(np.ptp(ms), np.ptp(cos))
    diff = np.mean(ms) - np.mean(cos)
    assert ch.numbers["agendas_vs_sementes"] == ("maior que" if abs(diff) > spread else "menor que")
    if max(ms) < min(cos):
        assert "degraus terminaram abaixo" in ch.numbers["agendas_ordem"]
    # o intervalo de 95% com 2 sementes por agenda inclui o zero nos resultados versionados?
    assert ("inclui o zero" in ch.numbers["agendas_intervalo"]) == ch.gap.includes_zero
    assert ("inclui o zero" in ch.numbers["resumo_agendas"]) == ch.gap.includes_zero
    # o resumo não pode mais dizer "perto um do outro" quando a diferença passa da de sementes
    assert "perto um do outro" not in ch.numbers["resumo_agendas"]


def test_the_sentences_flip_when_cosine_wins(records):
    flipped = copy.deepcopy(records)
    for r in flipped:
        if r["train"]["schedule"] == "cosine":
            r["final_val_bpb"] -= 0.5
    n = cap05.chapter5(flipped).numbers
    assert n["dif_agendas"].startswith("+")
    assert "o cosseno terminou" in n["resumo_agendas"]
    assert "cosseno terminaram abaixo" in n["agendas_ordem"]
    assert "todo acima de zero" in n["agendas_intervalo"]
    assert n["agendas_proximo_passo"] == ""


def test_seeds_needed_is_the_first_n_whose_interval_excludes_zero(ch):
    from scipy import stats

    n = int(ch.numbers["sementes_necessarias"])
    half = lambda k: stats.t.ppf(0.975, 2 * k - 2) * ch.gap.sigma * np.sqrt(2 / k)  # noqa: E731
    assert half(n) < abs(ch.gap.diff) <= half(n - 1)


def test_reuse_compares_the_shared_evaluation_points(records, ch):
    short, long_run = ch.byte_run, ch.long_run
    assert long_run["train"]["budget_flops"] == 2 * short["train"]["budget_flops"]
    boundary = int(0.8 * short["steps"])
    a = {p["step"]: p["val_bpb"] for p in short["trace"] if p["step"] <= boundary}
    b = {p["step"]: p["val_bpb"] for p in long_run["trace"]}
    shared = sorted(set(a) & set(b))
    assert ch.reuse_points == len(shared) and ch.reuse_boundary == boundary
    assert ch.reuse_max_diff == max(abs(a[s] - b[s]) for s in shared)
    assert (ch.numbers["reuso_veredito"] == "**idênticos**") == (ch.reuse_max_diff == 0.0)


def test_seed_spread_is_the_largest_difference_between_two_seeds(records):
    ms = [v for _, v in _finals(records, "multistep")]
    cos = [v for _, v in _finals(records, "cosine")]
    assert cap05.seed_spread(records) == pytest.approx(max(abs(ms[0] - ms[1]), abs(cos[0] - cos[1])))
    with pytest.raises(ValueError, match="nenhuma configuração repetida"):
        cap05.seed_spread([r for r in records if r["train"]["seed"] == 0])


def test_tables_show_every_run(records, ch):
    assert ch.schedule_table.count("\n") == 2 + len(ch.main_runs) - 1
    for r in ch.main_runs:
        assert f"{r['final_val_bpb']:.4f}".replace(".", ",") in ch.schedule_table
    assert "BPE (1024)" in ch.tokenizer_table and "bytes (256)" in ch.tokenizer_table


def test_live_summary_reads_the_result():
    res = SimpleNamespace(steps=150, tokens=614400, trace=[{"val_bpb": 8.0186}], final_val_bpb=3.1234,
                          tokens_per_s=30000.0, achieved_flops_per_s=2.2e10, status="ok", wall_time_s=21.4)
    table, numbers = cap05.live_summary(res)
    assert numbers == {"ao_vivo_passos": "150", "ao_vivo_bpb_inicial": "8,02", "ao_vivo_bpb_final": "3,12",
                       "ao_vivo_segundos": "21"}
    assert table.splitlines()[-1].startswith("| 150 | ")
    assert "| 8,019 | 3,123 | 30.000 | 22,0 | ok |" in table


def test_glue_numbers_sends_markup_as_markdown(monkeypatch):
    import myst_nb
    from IPython.display import Markdown

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: seen.__setitem__(name, value))
    cap05.glue_numbers({"reuso_veredito": "**idênticos**", "dif_agendas": "-0,059"})
    assert isinstance(seen["reuso_veredito"], Markdown) and seen["dif_agendas"] == "-0,059"


def test_the_notebook_glues_only_names_the_module_provides(ch):
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    _, live = cap05.live_summary(SimpleNamespace(steps=150, tokens=1, trace=[{"val_bpb": 8.0}], final_val_bpb=3.0,
                                                 tokens_per_s=1.0, achieved_flops_per_s=1.0, status="ok",
                                                 wall_time_s=1.0), ch)
    provided = set(ch.numbers) | set(live)
    for kind, name in re.findall(r"\{glue:(text|md)\}`([^`:]+)`", prose):
        assert name in provided, name
        assert (kind == "md") == (name in cap05.MARKDOWN_GLUES), name
    for name in re.findall(r"```\{glue:figure\} (\S+)", prose):
        assert name.startswith("fig-cap05-")
