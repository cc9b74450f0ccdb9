"""As peças do protocolo v2 (capítulos 7–9): constantes, escada, grades, especificações e custo.

Este módulo só monta dicionários de especificação e estima custos; quem lê resultados, ajusta
leis e escreve arquivos é :mod:`helpers.chapters.protocol_v2` (a linha de comando).

- :data:`SEQ_LEN_V2` — contexto de 64 tokens: o lote mínimo (uma sequência) cai para 64 tokens,
  abaixo do lote ótimo dos menores orçamentos (~110–140 tokens; no v1, com contexto 128, o
  ótimo encostava no mínimo de uma sequência);
- :data:`HEAD_DIM_V2` — cabeças de dimensão 8 em **toda** a cadeia v2: ``tiny()`` exige
  ``hidden_size`` múltiplo de ``head_dim``; com 16 (o padrão, o v1) nada fica abaixo de
  ``(1, 16)`` e a largura anda de 16 em 16. Com 8 a escada desce a ``(1, 8)`` e ganha as
  larguras 24, 40, 56… (o preço medido: ~1,2–1,4× menos tokens/s nos modelos maiores);
- :data:`LADDER_V2` — a escada IsoFLOP v2, de ``(1, 8)`` a ``(8, 144)``: passos de 1,28× a 1,52× em M
  a partir de ``(1, 32)`` (o v1 ia de 1,3× a 3×);
- :func:`lattice` — 4 valores de passo 2× de uma rede fixa, centrados num valor a priori;
- :func:`hyper_spec`, :func:`isoflop_spec`, :func:`prediction_spec` — os dicionários;
- :func:`mini_view` — a especificação cujos treinos são os da miniatura (para o relatório de
  bordas e a conferência das previsões em resultados de miniatura);
- :func:`run_seconds`, :func:`cpu_estimate` — o custo estimado de uma especificação na CPU.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..engine.runs import flops_per_token, planned_steps
from ..engine.specs import PlannedRun, SweepSpec, expand, parse_spec
from ..model.config import ModelConfig, tiny
from ..model.flops import deepseek_m

__all__ = ["SEQ_LEN_V2", "HEAD_DIM_V2", "LADDER_V2", "HYPER_BUDGETS_V2", "ISOFLOP_BUDGETS_V2",
           "PREDICTION_BUDGET_V2", "TOLERANCE_V2", "LR_BASE", "BATCH_BASE", "GRID_POINTS", "GRID_FACTOR",
           "WINDOW_SIDE", "MIN_EACH_SIDE", "PREDICTION_SEEDS", "EVAL_V2", "train_base_v2", "ladder_config_v2",
           "ladder_m_v2", "nearest_rung", "window", "lattice", "hyper_spec", "isoflop_spec", "prediction_spec",
           "mini_view", "COST", "run_seconds", "cpu_estimate", "describe_estimate"]

#: O contexto da cadeia v2 (o v1 usava 128).
SEQ_LEN_V2 = 64
#: A dimensão das cabeças de atenção da família v2 (o v1 usava 16).
HEAD_DIM_V2 = 8
#: ``(n_layer, d_model)`` da escada v2, em ordem crescente de M (contexto 64). Abaixo de ``(1, 32)``
#: os passos são de 2×, 1,43×, 1,95× e 1,64×: com d ≤ 24 a atenção (12·n·d·64) domina M e não há
#: forma da família entre os degraus; ``(2, 8)`` é o único degrau depois do qual a escada volta
#: uma camada (de 2 para 1), para preencher o buraco de 2,9× entre ``(1, 8)`` e ``(1, 16)``.
LADDER_V2: tuple[tuple[int, int], ...] = (
    (1, 8), (2, 8), (1, 16), (1, 24), (1, 32), (1, 40), (2, 32), (2, 40), (2, 48), (3, 48), (3, 56), (3, 64),
    (4, 64), (4, 80), (5, 88), (6, 96), (6, 112), (7, 128), (8, 144),
)
#: Orçamentos da grade de hiperparâmetros: 10^10,5 … 10^12,5 FLOPs (convenção M), meia década entre eles.
HYPER_BUDGETS_V2 = tuple(float(f"{10 ** (10.5 + 0.5 * k):.4g}") for k in range(5))
#: Orçamentos IsoFLOP: 10^10,5 … 10^12,5 FLOPs em passos de 0,4 década (6 orçamentos).
ISOFLOP_BUDGETS_V2 = tuple(float(f"{10 ** (10.5 + 0.4 * k):.4g}") for k in range(6))
#: O orçamento da previsão: 10^14 FLOPs, 31,6× o maior orçamento IsoFLOP.
PREDICTION_BUDGET_V2 = 1e14
#: A tolerância da região quase ótima (DeepSeek §3.1) — nas bordas (refine) e nas leis v2. Não a
#: do ruído (``cap07.near_optimal_tolerance``, ~3,4% no v1): no v2 o ruído entra pelo bootstrap
#: paramétrico, cuja cobertura foi medida com esta tolerância (:mod:`helpers.laws.calibration`); e
#: uma região de 3,4% ocupa boa parte de uma grade 4 × 4 de passos 2× (nas grades v1, ela tocava as bordas).
TOLERANCE_V2 = 0.0025
#: As redes de valores das grades: taxa = 0,00075·2^k (a do v1), lote = 64·2^k tokens.
LR_BASE, BATCH_BASE = 0.00075, SEQ_LEN_V2
#: Valores por eixo em cada grade e o fator entre vizinhos.
GRID_POINTS, GRID_FACTOR = 4, 2.0
#: Tamanhos de cada lado do vértice previsto em cada janela IsoFLOP, e o mínimo exigido pelo refine.
WINDOW_SIDE, MIN_EACH_SIDE = 4, 3
#: As sementes dos treinos da previsão (cada um com a sua previsão de um treino).
PREDICTION_SEEDS = (0, 1)
#: Os campos de avaliação v2: janelas espalhadas por toda a validação, avaliação final maior.
EVAL_V2 = {"eval_sampling": "spread", "eval_tokens": 65536, "final_eval_tokens": 524288}


def train_base_v2(eval_points: int = 4) -> dict:
    """Os campos de treino comuns às especificações v2 (convenção M, degraus do DeepSeek, contexto 64)."""
    return {"flops_convention": "M", "seq_len": SEQ_LEN_V2, "warmup_fraction": 0.05, "schedule": "multistep",
            "eval_points": eval_points, **EVAL_V2, "seed": 0}


def _model_base(n: int, d: int) -> dict:
    return {"preset": "tiny", "num_hidden_layers": n, "hidden_size": d, "head_dim": HEAD_DIM_V2}


def ladder_config_v2(index: int) -> ModelConfig:
    """O modelo do degrau ``index`` da escada v2."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(LADDER_V2):
        raise ValueError(f"degrau da escada v2 deve ser um inteiro em [0, {len(LADDER_V2) - 1}]; recebi {index!r}.")
    n, d = LADDER_V2[int(index)]
    return tiny(n, hidden_size=d, head_dim=HEAD_DIM_V2)


def ladder_m_v2() -> np.ndarray:
    """M (FLOPs não-embedding por token, contexto 64) de cada degrau da escada v2."""
    return np.array([deepseek_m(ladder_config_v2(i), SEQ_LEN_V2) for i in range(len(LADDER_V2))], dtype=float)


def _positive(name: str, x) -> float:
    number = isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool)
    if not (number and math.isfinite(x) and x > 0):
        raise ValueError(f"{name} deve ser um número finito > 0, isto é, em (0, ∞); recebi {x!r}.")
    return float(x)


def nearest_rung(m: float) -> int:
    """O degrau da escada v2 mais perto de ``m`` em escala log."""
    m = _positive("M", m)
    return int(np.argmin(np.abs(np.log(ladder_m_v2() / m))))


def window(vertex: float, side: int = WINDOW_SIDE) -> tuple[int, int]:
    """Os degraus (inclusive) com até ``side`` tamanhos abaixo e ``side`` acima de ``vertex``.

    Perto das pontas da escada ficam menos tamanhos daquele lado (a escada acaba).
    """
    vertex = _positive("o vértice previsto", vertex)
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise ValueError(f"side deve ser um inteiro ≥ 1; recebi {side!r}.")
    m = ladder_m_v2()
    below = int(np.sum(m < vertex))  # índice do primeiro degrau acima do vértice
    return max(0, below - side), min(len(m) - 1, below + side - 1)


def lattice(prior: float, base: float, *, points: int = GRID_POINTS, floor: bool = False) -> list[float]:
    """``points`` valores consecutivos de ``base·2^k`` com ``prior`` no meio (em escala log).

    O primeiro expoente é ``round(log2(prior/base) − (points − 1)/2)``; com ``floor``, nunca
    abaixo de ``base`` (o lote mínimo, uma sequência). Valores com 4 algarismos significativos.
    """
    prior, base = _positive("o valor a priori", prior), _positive("base", base)
    k0 = round(math.log2(prior / base) - (points - 1) / 2)
    if floor:
        k0 = max(0, k0)
    return [float(f"{base * 2.0 ** k:.4g}") for k in range(k0, k0 + points)]


def _refine_hyper() -> dict:
    return {"kind": "hyper", "group": "train.budget_flops",
            "axes": {"train.lr": {"factor": GRID_FACTOR},
                     "train.batch_size_tokens": {"factor": GRID_FACTOR, "multiple_of": SEQ_LEN_V2, "min": SEQ_LEN_V2}},
            "tolerance": TOLERANCE_V2, "quantity": "final_val_bpb"}


def _refine_isoflop() -> dict:
    return {"kind": "isoflop", "group": "train.budget_flops",
            "ladder": {"keys": ["model.num_hidden_layers", "model.hidden_size"],
                       "values": [list(r) for r in LADDER_V2]},
            "min_each_side": MIN_EACH_SIDE, "scale": "M", "quantity": "final_val_bpb"}


def _mini(eval_points: int = 2) -> dict:
    return {"train.eval_tokens": 4096, "train.final_eval_tokens": 8192, "train.eval_points": eval_points}


def _fmt(x: float, spec: str = ".4g") -> str:
    return format(x, spec).replace(".", ",")


def hyper_spec(lr_prior, batch_prior, m_prior, *, budgets=HYPER_BUDGETS_V2, name: str = "cap07_hiperparametros_v2",
               prior_text: str = "", source: str = "") -> dict:
    """A grade 4 × 4 de taxa × lote por orçamento, com o modelo da escada v2 mais perto de ``m_prior(C)``.

    ``lr_prior``, ``batch_prior`` e ``m_prior`` são funções do orçamento (os valores a priori);
    ``prior_text`` e ``source`` (os arquivos de entrada) entram na descrição.
    """
    budgets = [_positive("orçamento", c) for c in budgets]
    m = ladder_m_v2()
    runs, rows = [], []
    for c in budgets:
        i = nearest_rung(float(m_prior(c)))
        n, d = LADDER_V2[i]
        lrs = lattice(float(lr_prior(c)), LR_BASE)
        batches = [int(b) for b in lattice(float(batch_prior(c)), BATCH_BASE, floor=True)]
        for lr in lrs:
            for b in batches:
                runs.append({"train.budget_flops": c, "model.num_hidden_layers": n, "model.hidden_size": d,
                             "train.lr": lr, "train.batch_size_tokens": b})
        rows.append(f"{_fmt(c, '.3g')}: ({n}, {d}), M = {_fmt(m[i], '.3g')}, taxas {_fmt(lrs[0])}–{_fmt(lrs[-1])}, "
                    f"lotes {batches[0]}–{batches[-1]}")
    desc = (
        f"Capítulo 7, protocolo v2 (DeepSeek §3.1): em {len(budgets)} orçamentos de {_fmt(budgets[0], '.4g')} a "
        f"{_fmt(budgets[-1], '.4g')} FLOPs (convenção M, 2 décadas), uma grade {GRID_POINTS} × {GRID_POINTS} de taxa × "
        f"lote (passos de 2×) com um modelo perto do ótimo de computação de cada orçamento — o degrau da escada "
        f"LADDER_V2 (cabeças de dimensão {HEAD_DIM_V2}) mais perto do M_opt previsto pela lei IsoFLOP v1 "
        f"(results/cap08_isoflop.jsonl). Contexto de {SEQ_LEN_V2} tokens para o lote poder descer a "
        f"{SEQ_LEN_V2} tokens (uma sequência): no v1, com 128, o lote ótimo dos menores orçamentos encostava no mínimo "
        f"de uma sequência. Centro de cada grade: {prior_text} Grades: {'; '.join(rows)}. Avaliação v2: janelas "
        f"espalhadas por toda a validação, 4 pontos de 65 536 tokens e a final de 524 288. O campo refine estende a "
        f"grade onde a região quase ótima (tolerância {_fmt(100 * TOLERANCE_V2, '.2f')}% do DeepSeek, a das leis v2 "
        f"e da calibração dos intervalos; o ruído entra pelo bootstrap paramétrico, não pela tolerância) toca a borda; "
        f"depois, 'python -m helpers.chapters.protocol_v2 seeds' acrescenta 3 sementes novas na melhor configuração "
        f"de cada orçamento (o modelo de ruído). Gerada por 'python -m helpers.chapters.protocol_v2 hyper-spec'"
        f"{' a partir de ' + source if source else ''}."
    )
    per_budget = GRID_POINTS * GRID_POINTS
    mini_runs = [k * per_budget + i * GRID_POINTS + j for k in (0, len(budgets) // 2, len(budgets) - 1)
                 for i in (1, 2) for j in (1, 2)]
    c0 = budgets[0]
    return {"name": name, "description": desc,
            "base": {"model": _model_base(*LADDER_V2[nearest_rung(float(m_prior(c0)))]),
                     "train": {"budget_flops": c0, "batch_size_tokens": 256, "lr": 0.003, **train_base_v2(4)}},
            "runs": runs, "mini": _mini(), "mini_scale": {"train.budget_flops": 0.01}, "mini_runs": mini_runs,
            "refine": _refine_hyper()}


def isoflop_spec(lr_at, batch_at, vertex_at, *, budgets=ISOFLOP_BUDGETS_V2, name: str = "cap08_isoflop_v2",
                 laws_text: str = "", source: str = "") -> dict:
    """Perfis IsoFLOP: em cada orçamento, a janela da escada v2 em torno do vértice previsto ``vertex_at(C)``,
    com a taxa ``lr_at(C)`` e o lote ``batch_at(C)`` (tokens, múltiplo de 64) das leis v2."""
    budgets = [_positive("orçamento", c) for c in budgets]
    runs, rows, windows = [], [], []
    for c in budgets:
        lr = float(f"{_positive('a taxa prevista', float(lr_at(c))):.4g}")
        batch = int(batch_at(c))
        if batch < SEQ_LEN_V2 or batch % SEQ_LEN_V2:
            raise ValueError(f"o lote previsto para {c:.4g} FLOPs deve ser múltiplo de {SEQ_LEN_V2} e ≥ {SEQ_LEN_V2}; "
                             f"recebi {batch!r}.")
        vertex = _positive("o vértice previsto", float(vertex_at(c)))
        lo, hi = window(vertex)
        windows.append((lo, hi))
        for i in range(lo, hi + 1):
            n, d = LADDER_V2[i]
            runs.append({"train.budget_flops": c, "model.num_hidden_layers": n, "model.hidden_size": d,
                         "train.lr": lr, "train.batch_size_tokens": batch})
        rows.append(f"{_fmt(c, '.3g')}: vértice previsto M = {_fmt(vertex, '.3g')}, degraus {lo}–{hi} "
                    f"({LADDER_V2[lo]} a {LADDER_V2[hi]}), taxa {_fmt(lr)}, lote {batch}")
    desc = (
        f"Capítulo 8, protocolo v2 (DeepSeek §3.2): perfis IsoFLOP em {len(budgets)} orçamentos de "
        f"{_fmt(budgets[0], '.4g')} a {_fmt(budgets[-1], '.4g')} FLOPs (convenção M, 0,4 década entre eles), cada um "
        f"com até {WINDOW_SIDE} tamanhos da escada LADDER_V2 (helpers.chapters.protocol_v2_specs, cabeças de dimensão "
        f"{HEAD_DIM_V2}, contexto {SEQ_LEN_V2}) de cada lado do vértice previsto pela lei IsoFLOP v1. Taxa e lote de "
        f"cada orçamento (os mesmos para todos os tamanhos, como no DeepSeek): {laws_text} Janelas: {'; '.join(rows)}. "
        f"O campo refine acrescenta degraus até o vértice ter {MIN_EACH_SIDE} tamanhos medidos de cada lado. "
        f"Gerada por 'python -m helpers.chapters.protocol_v2 isoflop-spec'{' a partir de ' + source if source else ''}."
    )
    starts = np.cumsum([0] + [h - l + 1 for l, h in windows])
    # Miniatura: o primeiro, o do meio e o último orçamento, com os 4 tamanhos centrais de cada janela.
    mini_runs = []
    for k in sorted({0, len(budgets) // 2, len(budgets) - 1}):
        size = windows[k][1] - windows[k][0] + 1
        first = max(0, min(size - 4, size // 2 - 2))
        mini_runs += [int(starts[k] + first + j) for j in range(min(4, size))]
    lo0 = windows[0][0]
    return {"name": name, "description": desc,
            "base": {"model": _model_base(*LADDER_V2[lo0]),
                     "train": {"budget_flops": budgets[0], "batch_size_tokens": 256, "lr": 0.003, **train_base_v2(4)}},
            "runs": runs, "mini": _mini(), "mini_scale": {"train.budget_flops": 0.01}, "mini_runs": mini_runs,
            "refine": _refine_isoflop()}


def prediction_spec(budget: float, rung: int, lr: float, batch: int, *, name: str = "cap09_previsao_v2",
                    text: str = "", source: str = "", seeds=PREDICTION_SEEDS) -> dict:
    """Os treinos da previsão: o degrau ``rung`` da escada v2 em ``budget``, uma semente por treino."""
    budget = _positive("orçamento", budget)
    if isinstance(rung, bool) or not isinstance(rung, (int, np.integer)) or not 0 <= rung < len(LADDER_V2):
        raise ValueError(f"o degrau deve ser um inteiro em [0, {len(LADDER_V2) - 1}]; recebi {rung!r}.")
    n, d = LADDER_V2[int(rung)]
    lr = float(f"{_positive('a taxa prevista', lr):.4g}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < SEQ_LEN_V2 or batch % SEQ_LEN_V2:
        raise ValueError(f"o lote deve ser um inteiro múltiplo de {SEQ_LEN_V2} e ≥ {SEQ_LEN_V2}; recebi {batch!r}.")
    mini_scale = 0.0003
    # na miniatura, um lote que ainda compre ~10 passos (o lote previsto a 10^14 é de ~10⁴ tokens)
    per_seq = float(ladder_m_v2()[int(rung)]) * SEQ_LEN_V2
    mini_batch = SEQ_LEN_V2 * max(1, min(int(batch) // SEQ_LEN_V2, int(budget * mini_scale / (10 * per_seq))))
    desc = (
        f"Capítulo 9, protocolo v2 (DeepSeek Fig. 5): {len(seeds)} treinos (sementes "
        f"{', '.join(map(str, seeds))}) no orçamento {_fmt(budget, '.4g')} FLOPs com o degrau ({n}, {d}) da escada "
        f"LADDER_V2, M = {_fmt(float(ladder_m_v2()[int(rung)]), '.4g')}. {text} Gerada por "
        f"'python -m helpers.chapters.protocol_v2 prediction-spec'{' a partir de ' + source if source else ''}."
    )
    return {"name": name, "description": desc,
            "base": {"model": _model_base(n, d),
                     "train": {"budget_flops": budget, "batch_size_tokens": int(batch), "lr": lr, **train_base_v2(24)}},
            "runs": [{"train.seed": int(s)} for s in seeds],
            "mini": {**_mini(4), "train.batch_size_tokens": mini_batch},
            "mini_scale": {"train.budget_flops": mini_scale}}


def mini_view(spec: SweepSpec) -> tuple[SweepSpec, dict[str, PlannedRun]]:
    """A especificação cujos treinos (``expand`` sem miniatura) são os da miniatura de ``spec``.

    Devolve também ``{run_id da miniatura: treino correspondente da especificação inteira}``.
    O ``refine`` e as ``predictions`` continuam (as previsões v2 escolhem os treinos pela semente).
    """
    if spec.grid:
        raise ValueError(f"mini_view: a especificação {spec.name!r} tem 'grid'; só as com 'runs' explícitos servem.")
    mini = expand(spec, mini=True)
    indices = list(spec.mini_runs) if spec.mini_runs is not None else list(range(len(spec.runs)))
    full = {}
    for idx, p in zip(indices, mini):
        full[p.run_id] = expand(dataclasses.replace(spec, runs=(spec.runs[idx],), mini_runs=None))[0]
    if len(full) != len(mini):  # dois treinos de miniatura iguais: o mapeamento por índice não vale
        raise ValueError(f"mini_view: a miniatura de {spec.name!r} repete treinos; confira mini_runs.")
    d = spec.to_dict()
    d.update(runs=[p.overrides for p in mini], mini={}, mini_scale={})
    d.pop("mini_runs", None)
    return parse_spec(d, f"{spec.name} (miniatura)"), full


# --- custo -------------------------------------------------------------------------------

#: Modelo de custo de um treino na CPU (segundos), ajustado (mínimos quadrados em log, perda
#: robusta) aos 207 treinos de results/*.jsonl (1 thread por treino; mediana do erro 8%):
#: ``per_layer_step·passos·n + per_token·D + per_head_token·D·n·h + per_flop·D·F +
#: per_eval_token·E + per_eval_flop·E·F``, com ``F`` os FLOPs medidos por token, ``h`` as cabeças
#: e ``E`` os tokens avaliados (inicial, intermediárias e a final).
COST = {"per_layer_step": 3.27e-3, "per_token": 2.22e-6, "per_head_token": 9.39e-7, "per_flop": 3.57e-12,
        "per_eval_token": 2.28e-6, "per_eval_flop": 3.31e-12}


def run_seconds(p: PlannedRun) -> float:
    """Segundos de CPU estimados (1 thread) para o treino ``p`` (ver :data:`COST`)."""
    mc, tc = p.model, p.train
    steps = planned_steps(mc, tc)
    tokens = steps * tc.batch_size_tokens
    f = flops_per_token(mc, tc.seq_len, "measured")
    evals = tc.eval_points * tc.eval_tokens + (tc.final_eval_tokens or tc.eval_tokens)
    n, h = mc.num_hidden_layers, mc.num_attention_heads
    return (COST["per_layer_step"] * steps * n + tokens * (COST["per_token"] + COST["per_head_token"] * n * h
                                                           + COST["per_flop"] * f)
            + evals * (COST["per_eval_token"] + COST["per_eval_flop"] * f))


def cpu_estimate(planned: list[PlannedRun], workers: int = 2) -> dict:
    """``{"runs", "tokens", "cpu_s", "wall_s", "longest_s"}``: soma dos custos e o tempo de relógio com
    ``workers`` processos (escalonamento do mais longo primeiro)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers deve ser um inteiro ≥ 1; recebi {workers!r}.")
    costs = sorted((run_seconds(p) for p in planned), reverse=True)
    loads = [0.0] * workers
    for c in costs:
        loads[loads.index(min(loads))] += c
    tokens = sum(planned_steps(p.model, p.train) * p.train.batch_size_tokens for p in planned)
    return {"runs": len(costs), "tokens": int(tokens), "cpu_s": float(sum(costs)),
            "wall_s": float(max(loads, default=0)), "longest_s": float(costs[0]) if costs else 0.0}


def _duration(s: float) -> str:
    return f"{s / 3600:.1f} h".replace(".", ",") if s >= 5400 else f"{s / 60:.0f} min"


def describe_estimate(est: dict, what: str, workers: int = 2) -> str:
    """Uma linha em português com o custo estimado (ver :func:`cpu_estimate`); ``what``: "da grade", "das sementes"…"""
    return (f"tempo estimado {what}: {est['runs']} treinos, {_fmt(est['tokens'], '.3g')} tokens, "
            f"{_duration(est['cpu_s'])} de CPU (1 thread por treino), ~{_duration(est['wall_s'])} de relógio com "
            f"{workers} workers num computador de 2 núcleos (o mais longo: {_duration(est['longest_s'])}); modelo de "
            "custo ajustado aos treinos de results/*.jsonl (erro típico de 10%, até 2× com a máquina disputada)")
