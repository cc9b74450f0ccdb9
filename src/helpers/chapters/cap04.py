"""As duas escolhas de arquitetura do 67B, como experimentos: GQA e profundidade × largura.

- :data:`DEPTH_WIDTH_SHAPES` — formas ``(n_layer, d_model)`` com ``12·n_layer·d²``
  quase constante (a regra ``N ≈ 12·n_layer·d²``): de 1 camada larga a 16 estreitas;
- :data:`DEPTH_FFN_SHAPES` — a escolha que o 67B fez de fato: mesma largura ``d``,
  mais camadas e FFN mais estreita (ou menos camadas e FFN mais larga), com o mesmo
  número de parâmetros;
- :func:`depth_width_spec` e :func:`uptraining_spec` — as especificações das duas
  varreduras do capítulo 4, com taxa e lote das leis do capítulo 7;
- :func:`uptraining_table` e :func:`depth_table` — os registros viram as tabelas do capítulo;
  :func:`uptraining_summary` resume a primeira em médias por etapa;
- :func:`uptraining_section` e :func:`depth_section` — o que o notebook mostra dos dois
  experimentos: a tabela, os números da prosa e as frases de comparação escolhidas pelos
  números (:func:`closer_phrase`, :func:`noise_verdict`), como uma :class:`Section`.

A primeira metade do capítulo (o *kernel*, o cache KV, os benchmarks) está em
:mod:`helpers.chapters.cap04_bench`, e as figuras em :mod:`helpers.chapters.cap04_plots`;
os nomes de ``cap04_bench`` que os testes e outros capítulos usam (:func:`attention_kind`,
:func:`kernel_table`, :data:`GQA_TABLE1`…) continuam importáveis daqui.

Linha de comando::

    python -m helpers.chapters.cap04 depth-spec      --out experiments/cap04_profundidade.json
    python -m helpers.chapters.cap04 uptraining-spec --out experiments/cap04_uptraining.json
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from ..laws import fit
from ..model.config import ModelConfig, tiny
from .cap07 import HYPER_RESULTS, chapter7_laws
from ..presentation.plots import fmt, format_si, markdown_table
from .cap04_bench import (BENCH_VARIANTS, BENCHMARK_FILES, GQA_TABLE1, KV_CACHE_REFERENCE_GIB, Section,  # noqa: F401
                          attention_kind, kernel_table, load_attention_benchmarks)
from .common import records, round_batch, train_base, write_spec

__all__ = [
    "HEAD_DIM",
    "DEPTH_WIDTH_SHAPES",
    "DEPTH_FFN_SHAPES",
    "DEPTH_BUDGET",
    "UPTRAINING_BUDGET",
    "UPTRAINING_FRACTIONS",
    "depth_config",
    "depth_width_spec",
    "uptraining_spec",
    "depth_table",
    "uptraining_table",
    "uptraining_summary",
    "attention_kind",
    "GQA_TABLE1",
    "KV_CACHE_REFERENCE_GIB",
    "BENCHMARK_FILES",
    "BENCH_VARIANTS",
    "load_attention_benchmarks",
    "kernel_table",
    "Section",
    "closer_phrase",
    "noise_verdict",
    "uptraining_section",
    "attention_share",
    "depth_section",
    "main",
]


#: *Heads* de dimensão 8 nos dois experimentos: permite larguras de 8 em 8 (d = 24, 48…)
#: e 4 *heads* já com d = 32, o que dá espaço para GQA-2 e MQA num modelo minúsculo.
HEAD_DIM = 8

#: Família "largura × profundidade" (N ≈ 12·n_layer·d² entre 49k e 55k).
DEPTH_WIDTH_SHAPES: tuple[tuple[int, int], ...] = ((1, 64), (2, 48), (4, 32), (8, 24), (16, 16))

#: Família "profundidade × FFN" com d = 32: ``(n_layer, intermediate_size)``. A forma
#: (4, 88) é a SwiGLU padrão (≈ 8/3 · d); as outras trocam camadas por largura da FFN
#: mantendo N entre 48k e 52k, como o 67B (95 camadas, FFN 22016) contra a prática
#: comum (menos camadas, FFN mais larga).
DEPTH_FFN_SHAPES: tuple[tuple[int, int], ...] = ((2, 208), (3, 136), (4, 88), (6, 48), (8, 24))
DEPTH_FFN_WIDTH = 32

#: Orçamento de cada treino de profundidade × largura, em FLOPs **medidos** (a contagem
#: analítica exata, que enxerga a largura real da FFN; a convenção M do DeepSeek supõe
#: FFN de 8/3·d e daria o mesmo custo a formas com custos diferentes).
DEPTH_BUDGET = 1e12
DEPTH_SEEDS = (0, 1, 2)

#: *Uptraining*: o modelo de origem (MHA com 4 *heads*) treina com C = 1e12 (M), perto
#: do ótimo IsoFLOP desse orçamento; a conversão continua por 5% e 10% de C.
UPTRAINING_SHAPE = (2, 32)
UPTRAINING_BUDGET = 1e12
UPTRAINING_FRACTIONS = (0.05, 0.10)
UPTRAINING_SEEDS = (0, 1, 2)
#: Semente dos lotes da continuação = semente de origem + este deslocamento (para não
#: rever, na mesma ordem, os primeiros lotes do treino de origem).
CONTINUATION_SEED_OFFSET = 1000


def depth_config(n_layer: int, hidden_size: int, intermediate_size: int | None = None) -> ModelConfig:
    """Um modelo das duas famílias (*heads* de dimensão :data:`HEAD_DIM`)."""
    return tiny(n_layer, hidden_size=hidden_size, head_dim=HEAD_DIM, intermediate_size=intermediate_size)


def _laws_at(laws: fit.HyperparameterLaws, budget: float) -> tuple[float, int]:
    return float(f"{float(laws.lr_opt(budget)):.4g}"), round_batch(float(laws.batch_opt(budget)))


def depth_width_spec(laws: fit.HyperparameterLaws, *, budget: float = DEPTH_BUDGET, seeds=DEPTH_SEEDS,
                     source: str = "") -> dict:
    """Os treinos das duas famílias no mesmo orçamento, com várias sementes."""
    lr, batch = _laws_at(laws, budget)
    shapes = [(n, d, None) for n, d in DEPTH_WIDTH_SHAPES]
    shapes += [(n, DEPTH_FFN_WIDTH, f) for n, f in DEPTH_FFN_SHAPES
               if depth_config(n, DEPTH_FFN_WIDTH, f) not in {depth_config(a, b) for a, b in DEPTH_WIDTH_SHAPES}]
    runs = []
    for seed in seeds:
        for n, d, f in shapes:
            run = {"model.num_hidden_layers": n, "model.hidden_size": d, "train.seed": seed}
            if f is not None:
                run["model.intermediate_size"] = f
            runs.append(run)
    params = [12 * n * d * d for n, d in DEPTH_WIDTH_SHAPES]
    desc = (
        f"Capítulo 4 (DeepSeek LLM §2.2, seed 003): profundidade × largura com parâmetros fixos e computação fixa. "
        f"Família A: {len(DEPTH_WIDTH_SHAPES)} formas com 12·n_layer·d² entre {min(params) / 1e3:.0f}k e "
        f"{max(params) / 1e3:.0f}k; família B: d = {DEPTH_FFN_WIDTH} com camadas trocadas por largura da FFN. "
        f"Todas com {budget:.3g} FLOPs medidos (convenção 'measured'), sementes {list(seeds)}, taxa {lr} e lote "
        f"{batch} tokens das leis do capítulo 7 para esse orçamento. "
        f"Gerada por 'python -m helpers.chapters.cap04 depth-spec'{(' a partir de ' + source) if source else ''}."
    )
    base_model = {"preset": "tiny", "num_hidden_layers": 4, "hidden_size": 32, "head_dim": HEAD_DIM}
    n_shapes = len(shapes)
    return {"name": "cap04_profundidade", "description": desc,
            "base": {"model": base_model,
                     "train": {"budget_flops": budget, "batch_size_tokens": batch, "lr": lr,
                               **train_base(10), "flops_convention": "measured"}},
            "runs": runs,
            "mini": {"train.eval_tokens": 8192, "train.eval_points": 2},
            "mini_scale": {"train.budget_flops": 0.02},
            "mini_runs": [0, 2, 4, n_shapes - 1]}


def uptraining_spec(laws: fit.HyperparameterLaws, *, budget: float = UPTRAINING_BUDGET, seeds=UPTRAINING_SEEDS,
                    fractions=UPTRAINING_FRACTIONS, source: str = "") -> dict:
    """MHA → GQA/MQA por média das *heads* K/V, continuação curta, e os mesmos do zero.

    Para cada semente: o treino MHA de origem (orçamento ``budget``); para cada número
    de *heads* K/V (4 = MHA, o controle "só treinar mais", 2 = GQA-2, 1 = MQA) e cada
    fração, a continuação a partir da conversão, na taxa final do treino de origem
    (constante, como se o último degrau da agenda se estendesse); e os três modelos
    treinados do zero com o orçamento total (origem + 5%).
    """
    lr, batch = _laws_at(laws, budget)
    n_layer, d = UPTRAINING_SHAPE
    heads = d // HEAD_DIM
    kv_options = [h for h in range(heads, 0, -1) if heads % h == 0]  # 4, 2, 1
    final_lr = float(f"{lr * 0.1:.4g}")  # o último degrau da agenda multi-step (10% do pico)
    runs = []
    for seed in seeds:
        parent = len(runs)
        runs.append({"train.seed": seed})
        for frac in fractions:
            for kv in kv_options:
                runs.append({"train.init_from": {"run": parent, "num_key_value_heads": kv},
                             "model.num_key_value_heads": kv,
                             "train.budget_flops": float(f"{budget * frac:.4g}"), "train.lr": final_lr,
                             "train.schedule": "constant", "train.warmup_fraction": 0.0,
                             "train.seed": seed + CONTINUATION_SEED_OFFSET})
        for kv in kv_options:
            runs.append({"model.num_key_value_heads": kv, "train.seed": seed,
                         "train.budget_flops": float(f"{budget * (1 + fractions[0]):.4g}")})
    desc = (
        f"Capítulo 4 (Ainslie et al., 2023): uptraining de MHA para GQA. Origem: tiny({n_layer}, d={d}) com "
        f"{heads} heads de dimensão {HEAD_DIM}, {budget:.3g} FLOPs (M), taxa {lr}, lote {batch} tokens (leis do "
        f"capítulo 7). Conversão por média das heads K/V de cada grupo para {kv_options} heads K/V, continuação "
        f"de {[f'{100 * f:.0f}%' for f in fractions]} do orçamento na taxa constante {final_lr} (10% do pico); "
        f"os mesmos modelos do zero com {1 + fractions[0]:.2f}× o orçamento. Sementes {list(seeds)}. "
        f"Gerada por 'python -m helpers.chapters.cap04 uptraining-spec'{(' a partir de ' + source) if source else ''}."
    )
    per_seed = len(runs) // len(seeds)
    return {"name": "cap04_uptraining", "description": desc,
            "base": {"model": {"preset": "tiny", "num_hidden_layers": n_layer, "hidden_size": d, "head_dim": HEAD_DIM},
                     "train": {"budget_flops": budget, "batch_size_tokens": batch, "lr": lr, **train_base(10)}},
            "runs": runs,
            "mini": {"train.eval_tokens": 8192, "train.eval_points": 2},
            "mini_scale": {"train.budget_flops": 0.02},
            "mini_runs": [0, 1 + len(kv_options) - 1, per_seed - 1]}


# --- análise ------------------------------------------------------------------

def depth_table(records: list[dict]) -> list[dict]:
    """Uma linha por forma: perdas por semente, média, desvio, N, tokens, vazão."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        m = r["model"]
        groups.setdefault((m["num_hidden_layers"], m["hidden_size"], m["intermediate_size"]), []).append(r)
    rows = []
    for (n, d, f), rs in groups.items():
        losses = np.array([r["final_val_bpb"] if r["status"] == "ok" else np.nan for r in rs], dtype=float)
        family = "largura" if (n, d) in DEPTH_WIDTH_SHAPES and f == depth_config(n, d).intermediate_size else "ffn"
        if d == DEPTH_FFN_WIDTH and (n, f) in DEPTH_FFN_SHAPES:
            family = "ambas" if family == "largura" else "ffn"
        rows.append({
            "n_layer": n, "d_model": d, "ffn": f, "family": family, "seeds": len(rs),
            "loss_mean": float(np.nanmean(losses)), "loss_std": float(np.nanstd(losses, ddof=1)) if len(rs) > 1 else 0.0,
            "losses": losses.tolist(), "diverged": int(np.isnan(losses).sum()),
            "N": rs[0]["parameters"]["non_embedding"], "twelve_l_d2": 12 * n * d * d,
            "tokens": float(np.mean([r["tokens"] for r in rs])),
            "tokens_per_s": float(np.median([r["tokens_per_s"] for r in rs])),
            "flops_per_token": rs[0]["flops_per_token"]["measured"],
            # FLOPs medidos por segundo: a vazão por FLOP, que compara formas de custos diferentes
            "flops_per_s": float(np.median([r["tokens_per_s"] for r in rs])) * rs[0]["flops_per_token"]["measured"],
        })
    return sorted(rows, key=lambda row: (row["family"] == "ffn", row["n_layer"]))


def uptraining_table(records: list[dict]) -> dict:
    """Perdas do *uptraining*: por (nº de *heads* K/V, fração), a perda logo após a
    conversão (o ponto 0 da curva), ao fim da continuação, e os modelos do zero."""
    out = {"origem": [], "convertido": {}, "continuado": {}, "do_zero": {}, "curvas": {}}
    for r in records:
        init = r["train"].get("init_from")
        kv = r["model"]["num_key_value_heads"]
        if init is not None:
            frac = round(r["train"]["budget_flops"] / init["train"]["budget_flops"], 3)
            out["convertido"].setdefault(kv, []).append(r["trace"][0]["val_bpb"])
            out["continuado"].setdefault((kv, frac), []).append(r["final_val_bpb"])
            out["curvas"].setdefault((kv, frac), []).append([(p["tokens"], p["val_bpb"]) for p in r["trace"]])
        elif "model.num_key_value_heads" in r["overrides"]:
            out["do_zero"].setdefault(kv, []).append(r["final_val_bpb"])
        else:
            out["origem"].append(r["final_val_bpb"])
    # a perda logo após a conversão não depende da fração: uma por semente
    out["convertido"] = {kv: sorted(set(v)) for kv, v in out["convertido"].items()}
    return out


def uptraining_summary(records: list[dict]) -> list[dict]:
    """:func:`uptraining_table` em médias: uma linha por etapa (``origem``, ``convertido``,
    ``continuado``, ``do_zero``), número de *heads* K/V e fração da continuação.

    Cada linha tem ``mean``, ``std`` (entre sementes; ``nan`` com uma só), ``n`` e os
    ``values``. Funciona com qualquer subconjunto dos treinos (a versão miniatura roda
    só alguns): as combinações ausentes simplesmente não aparecem.
    """
    if not records:
        raise ValueError("uptraining_summary precisa de ao menos um registro; recebi uma lista vazia.")
    table = uptraining_table(records)
    heads = records[0]["model"]["num_attention_heads"]

    def row(stage, kv, frac, values):
        v = np.asarray(values, dtype=float)
        return {"stage": stage, "kv_heads": kv, "kind": attention_kind(kv, heads), "fraction": frac,
                "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"),
                "n": int(len(v)), "values": v.tolist()}

    rows = [row("origem", heads, None, table["origem"])] if table["origem"] else []
    rows += [row("convertido", kv, None, table["convertido"][kv]) for kv in sorted(table["convertido"], reverse=True)]
    rows += [row("continuado", kv, frac, table["continuado"][(kv, frac)])
             for kv, frac in sorted(table["continuado"], key=lambda t: (t[1], -t[0]))]
    rows += [row("do_zero", kv, None, table["do_zero"][kv]) for kv in sorted(table["do_zero"], reverse=True)]
    return rows


# --- o que o notebook mostra: tabelas, números e frases ----------------------------------

def closer_phrase(value: float, origin: float, untrained: float) -> str:
    """Onde fica uma perda entre a origem treinada e o modelo recém-inicializado:
    ``"mais perto da origem que do modelo não treinado"`` ou o contrário."""
    if not untrained > origin:
        raise ValueError(f"o modelo não treinado ({untrained!r}) deve ter perda maior que a origem ({origin!r}).")
    if abs(value - origin) < abs(untrained - value):
        return "mais perto da origem que do modelo não treinado"
    if abs(value - origin) > abs(untrained - value):
        return "mais perto do modelo não treinado que da origem"
    return "a meio caminho entre a origem e o modelo não treinado"


def noise_verdict(diff: float, noise: float, *, k: float = 2.0) -> str:
    """``"dentro do ruído"`` se ``|diff| ≤ k·noise``, senão ``"fora do ruído"`` (``noise`` > 0)."""
    if not (noise > 0 and np.isfinite(noise)):
        raise ValueError(f"o ruído deve ser finito e > 0; recebi {noise!r}.")
    return "dentro do ruído" if abs(diff) <= k * noise else "fora do ruído"


def _find(summary: list[dict], stage: str, kind: str, frac: float | None = None) -> dict | None:
    for r in summary:
        if r["stage"] == stage and r["kind"] == kind and (frac is None or r["fraction"] == frac):
            return r
    return None


def uptraining_section(records: list[dict]) -> Section:
    """A tabela do *uptraining* (média ± desvio por etapa) e os números e frases da prosa.

    ``data`` guarda o resumo, as curvas e os rótulos das etapas para :func:`helpers.chapters.cap04_plots.plot_uptraining`.
    """
    summary = uptraining_summary(records)
    parents = [r for r in records if r["train"].get("init_from") is None and "model.num_key_value_heads" not in r["overrides"]]
    scratch = [r for r in records if r["train"].get("init_from") is None and "model.num_key_value_heads" in r["overrides"]]
    c_parent = parents[0]["train"]["budget_flops"]
    factor = scratch[0]["train"]["budget_flops"] / c_parent if scratch else float("nan")
    label = {"origem": "origem (treinada com C)", "convertido": "logo após a conversão",
             "continuado": "após continuar {frac}", "do_zero": "do zero, com {factor}·C"}

    def mean_pm(row: dict) -> str:
        return fmt(row["mean"], ".3f") + ("" if math.isnan(row["std"]) else f" ± {fmt(row['std'], '.3f')}")

    rows = [[label[r["stage"]].format(frac=fmt(100 * (r["fraction"] or 0), ".0f") + "% de C", factor=fmt(factor, ".2f")),
             r["kind"], r["kv_heads"], mean_pm(r), r["n"]] for r in summary]
    table = markdown_table(["etapa", "atenção", "heads K/V", "bits por byte (média ± desvio entre sementes)", "sementes"], rows)

    def mean(row, spec=".2f"):
        return fmt(row["mean"], spec) if row else "—"

    fracs = sorted({r["fraction"] for r in summary if r["stage"] == "continuado"})
    f_lo, f_hi = (fracs[0], fracs[-1]) if fracs else (None, None)
    origin = _find(summary, "origem", "MHA")
    initial = parents[0]["trace"][0]["val_bpb"]
    zero_std = [r["std"] for r in summary if r["stage"] == "do_zero" and not math.isnan(r["std"])]
    noise = float(np.mean(zero_std)) if zero_std else float("nan")
    n: dict[str, object] = {"up_treinos": len(records), "up_minutos": fmt(sum(r["wall_time_s"] for r in records) / 60, ".0f"),
                            "up_origem": mean(origin, ".3f"), "up_inicial": fmt(initial, ".2f"),
                            "up_f_lo": fmt(100 * f_lo, ".0f") if f_lo else "—",
                            "up_f_hi": fmt(100 * f_hi, ".0f") if f_hi else "—",
                            "up_ruido": fmt(noise, ".2f") if zero_std else "—"}
    closed, gap = {}, {}
    for kind, tag in (("MHA", "mha"), ("GQA-2", "gqa2"), ("MQA", "mqa")):
        conv, lo, hi, zero = (_find(summary, "convertido", kind), _find(summary, "continuado", kind, f_lo),
                              _find(summary, "continuado", kind, f_hi), _find(summary, "do_zero", kind))
        n[f"up_conv_{tag}"] = mean(conv)
        n[f"up_lo_{tag}"] = mean(lo, ".3f" if kind == "MHA" else ".2f")
        n[f"up_hi_{tag}"] = mean(hi)
        n[f"up_zero_{tag}"] = mean(zero, ".3f")
        # fração fechada da distância aberta pela conversão (o controle MHA não abre distância nenhuma)
        ok = kind != "MHA" and conv and hi and origin and conv["mean"] > origin["mean"]
        closed[kind] = (conv["mean"] - hi["mean"]) / (conv["mean"] - origin["mean"]) if ok else None
        n[f"up_fechado_{tag}"] = fmt(100 * closed[kind], ".0f") if closed[kind] is not None else "—"
        n[f"up_conv_{tag}_perto"] = "—" if kind == "MHA" else (closer_phrase(conv["mean"], origin["mean"], initial)
                                     if conv and origin and initial > origin["mean"] else "—")
        gap[kind] = hi["mean"] - zero["mean"] if hi and zero else None
        if kind != "MHA":  # quanto a conversão continuada fica acima do mesmo modelo treinado do zero
            n[f"up_zero_ganho_{tag}"] = fmt(gap[kind], ".2f") if gap[kind] is not None else "—"
            n[f"up_zero_ganho_{tag}_ruido"] = fmt(gap[kind] / noise, ".0f") if gap[kind] is not None and zero_std else "—"
    conv_pair = [_find(summary, "convertido", k) for k in ("GQA-2", "MQA")]
    hi_pair = [_find(summary, "continuado", k, f_hi) for k in ("GQA-2", "MQA")]
    if all(conv_pair) and all(hi_pair) and closed["GQA-2"] is not None and closed["MQA"] is not None:
        worse = conv_pair[1]["mean"] > conv_pair[0]["mean"] and hi_pair[1]["mean"] > hi_pair[0]["mean"]
        faster = closed["GQA-2"] > closed["MQA"]
        n["up_ordem"] = ("a MQA perde mais que a GQA" if worse else "a MQA não perde mais que a GQA em todas as etapas") + \
            (", e a GQA se recupera mais depressa" if faster else ", mas a GQA não se recupera mais depressa")
        n["up_ordem_mantem"] = "se mantém" if worse and faster else "se mantém só em parte" if worse or faster else "não se mantém"
    else:
        n["up_ordem"] = n["up_ordem_mantem"] = "—"
    gaps = [g for k, g in gap.items() if k != "MHA" and g is not None]
    if gaps and zero_std:
        if all(g > 2 * noise for g in gaps):
            n["up_zero_veredito"] = "treinar do zero é melhor, e por mais que o ruído entre sementes"
        elif all(abs(g) <= 2 * noise for g in gaps):
            n["up_zero_veredito"] = "treinar do zero e converter empatam dentro do ruído entre sementes"
        else:
            n["up_zero_veredito"] = "treinar do zero não é melhor em todos os casos"
        fully = [c for k, c in closed.items() if c is not None]
        n["up_recupera"] = "só em parte" if fully and all(c < 1 for c in fully) else "por completo"
    else:
        n["up_zero_veredito"] = n["up_recupera"] = "—"
    stages = [("convertido", None, "convertido")] + [("continuado", f, f"+{fmt(100 * f, '.0f')}%") for f in fracs] + \
             [("do_zero", None, f"do zero\n({fmt(factor, '.2f')}·C)")]
    data = {"summary": summary, "curves": uptraining_table(records)["curvas"], "stages": stages, "origin": origin,
            "heads": records[0]["model"]["num_attention_heads"]}
    return Section({"uptraining": table}, n, data)


def attention_share(d_model: int, seq_len: int) -> float:
    """A fração de ``M`` que é atenção, ``12·d·l / (72·d² + 12·d·l)`` por camada (FFN SwiGLU de
    8/3·d, atenção MHA)."""
    return 12 * d_model * seq_len / (72 * d_model**2 + 12 * d_model * seq_len)


#: (camadas, d) do LLaMA-2 70B (Touvron et al., 2023, Tabela 1 e config publicado).
LLAMA2_70B_SHAPE = (80, 8192)


def _family_numbers(fam: list[dict], tag: str, noise: float | None) -> dict[str, str]:
    keys = ("melhor", "melhor_bpb", "pior", "pior_bpb", "faixa", "faixa_ruido", "vazao", "tokens", "pior_tipo")
    if not fam:
        return {f"prof_{tag}_{k}": "—" for k in keys}
    best, worst = min(fam, key=lambda r: r["loss_mean"]), max(fam, key=lambda r: r["loss_mean"])
    shape = (lambda r: f"({r['n_layer']}, {r['d_model']})") if tag == "a" else (lambda r: f"({r['n_layer']}, {r['ffn']})")
    shallow, deep = min(fam, key=lambda r: r["n_layer"]), max(fam, key=lambda r: r["n_layer"])
    spread = worst["loss_mean"] - best["loss_mean"]
    out = {"melhor": shape(best), "melhor_bpb": fmt(best["loss_mean"], ".3f"), "pior": shape(worst),
           "pior_bpb": fmt(worst["loss_mean"], ".3f"),
           "pior_tipo": "o estreito e profundo" if worst is deep else "o largo e raso" if worst is shallow else "uma forma do meio",
           "faixa": fmt(spread, ".2f"), "faixa_ruido": fmt(spread / noise, ".0f") if noise else "—",
           "vazao": fmt(shallow["flops_per_s"] / deep["flops_per_s"], ".1f"),
           "tokens": fmt(shallow["tokens"] / deep["tokens"], ".2f")}
    return {f"prof_{tag}_{k}": v for k, v in out.items()}


def depth_section(records: list[dict]) -> Section:
    """A tabela de profundidade × largura e os números e frases da prosa (``data``: as duas famílias)."""
    from ..model.config import deepseek_67b, deepseek_7b

    depth = depth_table(records)
    seq_len = records[0]["train"]["seq_len"]
    fam_label = {"largura": "A", "ffn": "B", "ambas": "A e B"}
    rows = [[fam_label[r["family"]], r["n_layer"], r["d_model"], r["ffn"], fmt(r["ffn"] / r["d_model"], ".3g"),
             fmt(r["d_model"] / r["n_layer"], ".3g"), format_si(r["N"], 3),
             fmt(100 * attention_share(r["d_model"], seq_len), ".0f") + "%", format_si(r["tokens"], 3),
             fmt(r["loss_mean"], ".3f") + ("" if r["seeds"] < 2 else f" ± {fmt(r['loss_std'], '.3f')}"), r["seeds"],
             format_si(r["tokens_per_s"], 3), fmt(r["flops_per_s"] / 1e9, ".1f")] for r in depth]
    table = markdown_table(["família", "n_layer", "d", "d_ff", "d_ff / d", "d / n_layer", "N", "atenção em M", "tokens",
                            "bits por byte", "sementes", "tokens/s", "GFLOP/s"], rows)
    fam_a = [r for r in depth if r["family"] in ("largura", "ambas")]
    fam_b = [r for r in depth if r["family"] in ("ffn", "ambas") and r["d_model"] == DEPTH_FFN_WIDTH]
    multi = [r["loss_std"] for r in depth if r["seeds"] >= 2]
    noise = float(np.median(multi)) if multi else None
    m7, m67 = deepseek_7b(), deepseek_67b()
    n: dict[str, object] = {"prof_treinos": len(records), "prof_contexto": str(seq_len),
                            "prof_minutos": fmt(sum(r["wall_time_s"] for r in records) / 60, ".0f"),
                            "prof_ruido": fmt(noise, ".3f") if noise is not None else "—"}
    n.update(_family_numbers(fam_a, "a", noise))
    n.update(_family_numbers(fam_b, "b", noise))
    ranked = sorted(fam_a, key=lambda r: r["loss_mean"])
    two = len(ranked) > 1
    n["prof_a_segundo"] = f"({ranked[1]['n_layer']}, {ranked[1]['d_model']})" if two else "—"
    n["prof_a_dif12"] = fmt(ranked[1]["loss_mean"] - ranked[0]["loss_mean"], ".3f") if two else "—"
    separated = two and noise is not None and ranked[1]["loss_mean"] - ranked[0]["loss_mean"] > 2 * noise
    n["prof_a_topo"] = "e também as duas melhores formas" if separated else "mas não as formas vizinhas do topo"
    n["aspecto_67b"] = fmt(m67.hidden_size / m67.num_hidden_layers, ".0f")
    n["aspecto_7b"] = fmt(m7.hidden_size / m7.num_hidden_layers, ".0f")
    n["aspecto_70b"] = fmt(LLAMA2_70B_SHAPE[1] / LLAMA2_70B_SHAPE[0], ".0f")
    n["aspecto_a_max"] = fmt(max(r["d_model"] / r["n_layer"] for r in fam_a), ".0f") if fam_a else "—"
    # Na família B, a forma com a razão d_ff/d mais próxima da do 67B e a vizinha com uma camada a
    # menos e FFN mais larga: o passo na direção da "prática comum".
    ratio_67b = m67.intermediate_size / m67.hidden_size
    n["razao_ffn_67b"] = fmt(ratio_67b, ".2f")
    fam_b_sorted = sorted(fam_b, key=lambda r: r["n_layer"])
    like = min(range(len(fam_b_sorted)), key=lambda i: abs(fam_b_sorted[i]["ffn"] / fam_b_sorted[i]["d_model"] - ratio_67b)) \
        if fam_b_sorted else None
    step_keys = ("prof_b_67b", "prof_b_67b_razao", "prof_b_vizinha", "prof_b_vizinha_razao", "prof_b_passo", "prof_b_veredito")
    if like is not None and like > 0:
        a, b = fam_b_sorted[like], fam_b_sorted[like - 1]
        step = a["loss_mean"] - b["loss_mean"]
        if noise is None:
            verdict = "e, com uma semente só, não dá para dizer se é ruído"
        elif abs(step) < 2 * noise:
            verdict = (f"da ordem do ruído entre sementes ({fmt(noise, '.3f')}): nesta escala, o passo que o 67B deu não é "
                       "nem vantagem nem desvantagem mensurável")
        else:
            verdict = (f"maior que o ruído entre sementes ({fmt(noise, '.3f')}): nesta escala, a forma "
                       f"{'mais profunda' if step < 0 else 'mais rasa, de FFN mais larga,'} é melhor")
        n.update({"prof_b_67b": f"({a['n_layer']}, {a['ffn']})", "prof_b_67b_razao": fmt(a["ffn"] / a["d_model"], ".2f"),
                  "prof_b_vizinha": f"({b['n_layer']}, {b['ffn']})",
                  "prof_b_vizinha_razao": fmt(b["ffn"] / b["d_model"], ".2f"), "prof_b_passo": fmt(step, "+.3f"),
                  "prof_b_veredito": verdict})
    else:
        n.update({k: "—" for k in step_keys})
    n["atencao_67b"] = fmt(100 * attention_share(m67.hidden_size, 4096), ".0f")
    n["atencao_d16"] = fmt(100 * attention_share(16, seq_len), ".0f")
    # o resumo: quem perde e quem empata, dos números acima
    if fam_a and noise is not None:
        deep = max(fam_a, key=lambda r: r["n_layer"])
        slow = deep["flops_per_s"] == min(r["flops_per_s"] for r in fam_a)
        n["prof_resumo"] = ((f"a forma mais profunda e estreita perde{' e roda mais devagar' if slow else ''}"
                             if deep is max(fam_a, key=lambda r: r["loss_mean"]) else "a forma mais profunda não é a pior")
                            + ("; as duas melhores empatam dentro do ruído" if not separated else
                               "; as duas melhores se separam além do ruído"))
    else:
        n["prof_resumo"] = "—"
    return Section({"profundidade": table}, n, {"fam_a": fam_a, "fam_b": fam_b, "depth": depth})

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.chapters.cap04", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("depth-spec", "profundidade × largura"), ("uptraining-spec", "uptraining MHA → GQA")):
        p = sub.add_parser(name, help=f"escreve a especificação do experimento de {text}")
        p.add_argument("--hyper", default=str(HYPER_RESULTS))
        p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    laws, _ = chapter7_laws(records(Path(args.hyper)), n_boot=200)
    source = Path(args.hyper).name
    spec = depth_width_spec(laws, source=source) if args.command == "depth-spec" else uptraining_spec(laws, source=source)
    write_spec(spec, args.out)
    print(f"escrevi {args.out}: {len(spec['runs'])} treinos")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
