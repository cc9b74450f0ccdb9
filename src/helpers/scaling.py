"""Dos resultados das varreduras às leis de escala: a cola dos capítulos 7–9.

- :data:`SIZE_LADDER` — a escada de formas ``(n_layer, d_model)`` dos perfis IsoFLOP,
  que alterna "mais uma camada" e "mais largo" para ter degraus de 1,3× a 3× em M;
- :func:`runs_table` — os registros JSON de uma varredura viram vetores (orçamento,
  taxa, lote, perda, M, 6N₁, 6N₂, tokens…), com ``NaN`` na perda dos que divergiram;
- :func:`seed_noise` — o ruído entre sementes, das configurações repetidas;
- :func:`hyperparameter_laws` e :func:`isoflop_fit` — os ajustes de :mod:`helpers.fit`
  aplicados a esses vetores;
- :func:`isoflop_spec` e :func:`prediction_spec` — escrevem as especificações das
  varreduras seguintes a partir das leis ajustadas (linha de comando abaixo), para que
  "hiperparâmetros das leis do capítulo 7" seja um comando, não uma cópia à mão.

Linha de comando::

    python -m helpers.scaling isoflop-spec  --out experiments/cap08_isoflop.json
    python -m helpers.scaling predict-spec  --out experiments/cap09_previsao.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from . import fit
from .config import ModelConfig, tiny
from .flops import deepseek_m

__all__ = [
    "SIZE_LADDER",
    "ladder_config",
    "ladder_m",
    "runs_table",
    "seed_noise",
    "near_optimal_tolerance",
    "hyperparameter_laws",
    "isoflop_fit",
    "round_batch",
    "isoflop_spec",
    "prediction_spec",
    "write_spec",
    "main",
]

#: ``(n_layer, d_model)``; cabeças de dimensão 16, SwiGLU, vocabulário de bytes, contexto 128.
SIZE_LADDER: tuple[tuple[int, int], ...] = (
    (1, 16), (1, 32), (2, 32), (2, 48), (3, 48), (3, 64), (4, 64), (4, 80), (5, 80), (5, 96), (6, 96), (6, 112),
)

SEQ_LEN = 128
LOSS_KEY = "final_val_bpb"
ROOT = Path(__file__).resolve().parents[2]


def ladder_config(index: int) -> ModelConfig:
    """O modelo do degrau ``index`` da escada."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(SIZE_LADDER):
        raise ValueError(f"degrau da escada deve ser um inteiro em [0, {len(SIZE_LADDER) - 1}]; recebi {index!r}.")
    n, d = SIZE_LADDER[index]
    return tiny(n, hidden_size=d)


def ladder_m(seq_len: int = SEQ_LEN) -> np.ndarray:
    """M (FLOPs não-embedding por token) de cada degrau."""
    return np.array([deepseek_m(ladder_config(i), seq_len) for i in range(len(SIZE_LADDER))], dtype=float)


def runs_table(records: list[dict], *, loss_key: str = LOSS_KEY) -> dict[str, np.ndarray]:
    """Vetores paralelos a partir dos registros de uma varredura (um elemento por treino)."""
    if not records:
        raise ValueError("nenhum registro: rode a varredura (ou confira o nome do arquivo de resultados).")
    rows = {k: [] for k in ("budget", "lr", "batch", "loss", "seed", "n_layer", "d_model", "M", "6N1", "6N2", "N",
                            "tokens", "steps", "diverged", "wall_time_s")}
    for r in records:
        t, m = r["train"], r["model"]
        ok = r["status"] == "ok" and r.get(loss_key) is not None
        rows["budget"].append(t.get("budget_flops") or float("nan"))
        rows["lr"].append(t["lr"])
        rows["batch"].append(t["batch_size_tokens"])
        rows["loss"].append(r[loss_key] if ok else float("nan"))
        rows["seed"].append(t["seed"])
        rows["n_layer"].append(m["num_hidden_layers"])
        rows["d_model"].append(m["hidden_size"])
        rows["M"].append(r["flops_per_token"]["M"])
        rows["6N1"].append(r["flops_per_token"]["6N1"])
        rows["6N2"].append(r["flops_per_token"]["6N2"])
        rows["N"].append(r["parameters"]["non_embedding"])
        rows["tokens"].append(r["tokens"])
        rows["steps"].append(r["steps"])
        rows["diverged"].append(r["status"] == "diverged")
        rows["wall_time_s"].append(r["wall_time_s"])
    return {k: np.asarray(v, dtype=bool if k == "diverged" else float) for k, v in rows.items()}


def seed_noise(table: dict[str, np.ndarray]) -> dict[str, float]:
    """Ruído entre sementes: desvio padrão relativo agrupado das configurações repetidas.

    Agrupa os treinos que só diferem na semente (orçamento, taxa, lote, forma) e
    combina as variâncias dentro dos grupos (com ``ddof=1``). Devolve ``rel_std``
    (desvio relativo), ``abs_std`` (na unidade da perda), ``groups`` e ``runs``.
    """
    keys = np.stack([table[k] for k in ("budget", "lr", "batch", "n_layer", "d_model")], axis=1)
    ok = np.isfinite(table["loss"])
    ss_rel = ss_abs = 0.0
    dof = groups = runs = 0
    for key in np.unique(keys[ok], axis=0):
        idx = ok & np.all(keys == key, axis=1)
        if idx.sum() < 2:
            continue
        v = table["loss"][idx]
        ss_rel += float(((v / v.mean() - 1) ** 2).sum())
        ss_abs += float(((v - v.mean()) ** 2).sum())
        dof += int(idx.sum()) - 1
        groups += 1
        runs += int(idx.sum())
    if dof == 0:
        raise ValueError("nenhuma configuração repetida com sementes diferentes: não há como medir o ruído.")
    return {"rel_std": math.sqrt(ss_rel / dof), "abs_std": math.sqrt(ss_abs / dof), "groups": groups, "runs": runs}


def near_optimal_tolerance(rel_std: float, k: float = 2.0) -> float:
    """A tolerância da região quase ótima: ``max(0,25%, k · σ_rel)``.

    Com ruído entre sementes σ_rel, a diferença entre dois treinos tem desvio
    ``√2 · σ_rel``; ``k = 2`` deixa entrar quem não se distingue do melhor com ~1,4
    desvios da diferença. O 0,25% do DeepSeek só vale quando o ruído é bem menor.
    """
    if not (math.isfinite(rel_std) and rel_std >= 0):
        raise ValueError(f"rel_std deve ser finito e ≥ 0; recebi {rel_std}.")
    return max(0.0025, k * rel_std)


def hyperparameter_laws(table: dict[str, np.ndarray], *, tolerance: float, n_boot: int = 1000,
                        seed: int = 0) -> fit.HyperparameterLaws:
    """As leis η_opt(C) e B_opt(C) da grade (só a semente 0, para não pesar as repetições)."""
    grid = table["seed"] == 0
    return fit.fit_hyperparameter_laws(table["budget"][grid], table["lr"][grid], table["batch"][grid],
                                       table["loss"][grid], tolerance=tolerance, n_boot=n_boot, seed=seed)


def isoflop_fit(table: dict[str, np.ndarray], *, representation: str = "M", predict_at=(), n_boot: int = 1000,
                seed: int = 0) -> fit.IsoFlopFit:
    """Perfis IsoFLOP com a escala do modelo em ``M``, ``6N1`` ou ``6N2`` (DeepSeek, App. A.2)."""
    if representation not in ("M", "6N1", "6N2"):
        raise ValueError(f"representação {representation!r} desconhecida; as válidas são 'M', '6N1' e '6N2'.")
    ok = np.isfinite(table["loss"])
    return fit.fit_isoflop(table["budget"][ok], table[representation][ok], table["tokens"][ok], table["loss"][ok],
                           predict_at=predict_at, n_boot=n_boot, seed=seed)


def round_batch(tokens: float, seq_len: int = SEQ_LEN) -> int:
    """Um lote em tokens arredondado (em escala log) para um múltiplo de ``seq_len``, no mínimo 1 sequência."""
    if not (math.isfinite(tokens) and tokens > 0):
        raise ValueError(f"o lote deve ser finito e > 0; recebi {tokens}.")
    seqs = tokens / seq_len
    lo = max(1, math.floor(seqs))
    hi = lo + 1
    best = lo if seqs < 1 or abs(math.log(seqs / lo)) <= abs(math.log(hi / seqs)) else hi
    return int(best * seq_len)


def _train_base(eval_points: int) -> dict:
    return {"flops_convention": "M", "seq_len": SEQ_LEN, "warmup_fraction": 0.05, "schedule": "multistep",
            "eval_points": eval_points, "eval_tokens": 65536, "seed": 0}


def isoflop_spec(laws: fit.HyperparameterLaws, budgets, windows, *, name: str = "cap08_isoflop",
                 source: str = "") -> dict:
    """Especificação IsoFLOP: em cada orçamento, os degraus ``windows[i]`` da escada,
    com taxa e lote das leis ajustadas (os mesmos para todos os tamanhos do orçamento,
    como no DeepSeek)."""
    budgets = [float(c) for c in budgets]
    if len(budgets) != len(windows):
        raise ValueError(f"um intervalo de degraus por orçamento: {len(budgets)} orçamentos e {len(windows)} intervalos.")
    counts = sorted({h - l + 1 for l, h in windows})
    sizes = str(counts[0]) if len(counts) == 1 else f"{counts[0]} a {counts[-1]}"
    runs = []
    for c, (lo, hi) in zip(budgets, windows):
        lr = float(f"{float(laws.lr_opt(c)):.4g}")
        batch = round_batch(float(laws.batch_opt(c)))
        for i in range(lo, hi + 1):
            n, d = SIZE_LADDER[i]
            runs.append({"train.budget_flops": c, "model.num_hidden_layers": n, "model.hidden_size": d,
                         "train.lr": lr, "train.batch_size_tokens": batch})
    desc = (
        f"Capítulo 8 (DeepSeek §3.2): perfis IsoFLOP em {len(budgets)} orçamentos de {budgets[0]:.4g} a "
        f"{budgets[-1]:.4g} FLOPs (convenção M), com {sizes} tamanhos consecutivos da escada "
        f"helpers.scaling.SIZE_LADDER em cada um. "
        f"Taxa e lote de cada orçamento vêm das leis do capítulo 7: η = {laws.lr.k:.4g}·C^{laws.lr.alpha:.4f}, "
        f"B = {laws.batch.k:.4g}·C^{laws.batch.alpha:.4f} tokens (tolerância {laws.tolerance:.4g}). "
        f"Gerada por 'python -m helpers.scaling isoflop-spec'{(' a partir de ' + source) if source else ''}."
    )
    # Miniatura: o primeiro, o do meio e o último orçamento, os 4 menores tamanhos de cada um, 3% do custo.
    starts = np.cumsum([0] + [h - l + 1 for l, h in windows])
    mini_runs = [int(starts[k] + j) for k in sorted({0, len(budgets) // 2, len(budgets) - 1}) for j in range(4)]
    return {"name": name, "description": desc,
            "base": {"model": {"preset": "tiny", "num_hidden_layers": 2, "hidden_size": 32},
                     "train": {"budget_flops": budgets[0], "batch_size_tokens": 1024, "lr": 0.003, **_train_base(10)}},
            "runs": runs,
            "mini": {"train.eval_tokens": 8192, "train.eval_points": 2},
            "mini_scale": {"train.budget_flops": 0.03},
            "mini_runs": mini_runs}


def prediction_spec(laws: fit.HyperparameterLaws, iso: fit.IsoFlopFit, budget: float, *,
                    name: str = "cap09_previsao", source: str = "") -> dict:
    """O treino de verificação: o degrau da escada mais perto do M ótimo previsto para ``budget``."""
    m_opt = float(iso.scale_opt(budget))
    m = ladder_m()
    i = int(np.argmin(np.abs(np.log(m / m_opt))))
    n, d = SIZE_LADDER[i]
    lr = float(f"{float(laws.lr_opt(budget)):.4g}")
    batch = round_batch(float(laws.batch_opt(budget)))
    desc = (
        f"Capítulo 9 (DeepSeek Fig. 5): o treino ótimo previsto para {budget:.3g} FLOPs, {budget / max(p.budget for p in iso.accepted):.3g}× "
        f"o maior orçamento ajustado. M_opt previsto = {m_opt:.4g} FLOPs/token (a = {iso.a:.4f}); o degrau mais próximo "
        f"da escada é (n_layer={n}, d={d}), M = {m[i]:.4g}. Taxa e lote das leis do capítulo 7. "
        f"Gerada por 'python -m helpers.scaling predict-spec'{(' a partir de ' + source) if source else ''}."
    )
    return {"name": name, "description": desc,
            "base": {"model": {"preset": "tiny", "num_hidden_layers": n, "hidden_size": d},
                     "train": {"budget_flops": float(budget), "batch_size_tokens": batch, "lr": lr, **_train_base(24)}},
            "runs": [{}],
            "mini": {"train.eval_tokens": 8192, "train.eval_points": 4},
            "mini_scale": {"train.budget_flops": 0.003}}


# --- a configuração dos capítulos (uma só fonte para a linha de comando e os notebooks) -----

#: Orçamentos IsoFLOP: 1,5 década em 5 passos iguais em escala log.
ISOFLOP_BUDGETS = tuple(float(f"{1e11 * 10 ** (1.5 * k / 4):.4g}") for k in range(5))
#: Degraus da escada (inclusive) em cada orçamento IsoFLOP.
ISOFLOP_WINDOWS = ((0, 6), (0, 6), (1, 7), (1, 7), (2, 8))
#: O orçamento da previsão: 10× o maior orçamento IsoFLOP.
PREDICTION_BUDGET = 10 * ISOFLOP_BUDGETS[-1]


def _records(path: Path) -> list[dict]:
    from .sweeps import load_results

    recs = [r for r in load_results(path) if not r.get("mini")]
    if not recs:
        raise ValueError(f"{path}: nenhum resultado; rode a varredura antes.")
    return recs


def chapter7_laws(records: list[dict], *, n_boot: int = 1000) -> tuple[fit.HyperparameterLaws, dict]:
    """As leis do capítulo 7 com a tolerância justificada pelo ruído medido (ver :func:`near_optimal_tolerance`)."""
    table = runs_table(records)
    noise = seed_noise(table)
    tol = near_optimal_tolerance(noise["rel_std"])
    return hyperparameter_laws(table, tolerance=tol, n_boot=n_boot), noise


def write_spec(spec: dict, path: str | Path) -> None:
    """Grava uma especificação gerada: um treino por linha (diferenças legíveis no git)."""
    lines = ["{", f' "name": {json.dumps(spec["name"])},',
             f' "description": {json.dumps(spec["description"], ensure_ascii=False)},',
             ' "base": {', f'  "model": {json.dumps(spec["base"]["model"])},',
             f'  "train": {json.dumps(spec["base"]["train"])}', ' },', ' "runs": [']
    lines += ["  " + json.dumps(r) + ("," if i < len(spec["runs"]) - 1 else "") for i, r in enumerate(spec["runs"])]
    lines += [" ],", f' "mini": {json.dumps(spec["mini"])},', f' "mini_scale": {json.dumps(spec["mini_scale"])}']
    if "mini_runs" in spec:
        lines[-1] += ","
        lines.append(f' "mini_runs": {json.dumps(spec["mini_runs"])}')
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.scaling", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p1 = sub.add_parser("isoflop-spec", help="escreve a especificação IsoFLOP com as leis do capítulo 7")
    p1.add_argument("--hyper", default=str(ROOT / "results" / "cap07_hiperparametros.jsonl"))
    p1.add_argument("--out", required=True)
    p2 = sub.add_parser("predict-spec", help="escreve a especificação do treino de verificação do capítulo 9")
    p2.add_argument("--hyper", default=str(ROOT / "results" / "cap07_hiperparametros.jsonl"))
    p2.add_argument("--isoflop", default=str(ROOT / "results" / "cap08_isoflop.jsonl"))
    p2.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    laws, _ = chapter7_laws(_records(Path(args.hyper)), n_boot=200)
    if args.command == "isoflop-spec":
        spec = isoflop_spec(laws, ISOFLOP_BUDGETS, ISOFLOP_WINDOWS, source=Path(args.hyper).name)
    else:
        iso = isoflop_fit(runs_table(_records(Path(args.isoflop))), n_boot=200)
        spec = prediction_spec(laws, iso, PREDICTION_BUDGET,
                               source=f"{Path(args.hyper).name} e {Path(args.isoflop).name}")
    write_spec(spec, args.out)
    print(f"escrevi {args.out}: {len(spec['runs'])} treinos")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
