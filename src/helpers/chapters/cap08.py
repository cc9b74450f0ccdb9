"""Capítulo 8 — perfis IsoFLOP e a alocação ótima entre modelo e dados (DeepSeek LLM §3.2).

- :data:`SIZE_LADDER` — a escada de formas ``(n_layer, d_model)`` dos perfis IsoFLOP,
  que alterna "mais uma camada" e "mais largo" para ter degraus de 1,3× a 3× em M;
- :func:`isoflop_fit` — os perfis e as leis ``M_opt ∝ C^a``, ``D_opt ∝ C^b`` numa das três
  representações da escala (M, 6N₁, 6N₂);
- :func:`isoflop_spec` — escreve a especificação IsoFLOP com a taxa e o lote das leis do
  capítulo 7, para que "hiperparâmetros das leis do capítulo 7" seja um comando, não uma cópia.

Linha de comando::

    python -m helpers.chapters.cap08 spec --out experiments/cap08_isoflop.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..laws import fit
from ..model.config import ModelConfig, tiny
from ..model.flops import deepseek_m
from .cap07 import HYPER_RESULTS, chapter7_laws
from .common import ROOT, SEQ_LEN, records, round_batch, train_base, write_spec

__all__ = ["SIZE_LADDER", "ISOFLOP_BUDGETS", "ISOFLOP_WINDOWS", "ISOFLOP_RESULTS", "ladder_config", "ladder_m",
           "isoflop_fit", "isoflop_spec", "main"]

#: ``(n_layer, d_model)``; cabeças de dimensão 16, SwiGLU, vocabulário de bytes, contexto 128.
SIZE_LADDER: tuple[tuple[int, int], ...] = (
    (1, 16), (1, 32), (2, 32), (2, 48), (3, 48), (3, 64), (4, 64), (4, 80), (5, 80), (5, 96), (6, 96), (6, 112),
)

#: Orçamentos IsoFLOP: 1,5 década em 5 passos iguais em escala log.
ISOFLOP_BUDGETS = tuple(float(f"{1e11 * 10 ** (1.5 * k / 4):.4g}") for k in range(5))

#: Degraus da escada (inclusive) em cada orçamento IsoFLOP.
ISOFLOP_WINDOWS = ((0, 6), (0, 6), (1, 7), (1, 7), (2, 8))
#: Os resultados da varredura IsoFLOP.
ISOFLOP_RESULTS = ROOT / "results" / "cap08_isoflop.jsonl"


def ladder_config(index: int) -> ModelConfig:
    """O modelo do degrau ``index`` da escada."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(SIZE_LADDER):
        raise ValueError(f"degrau da escada deve ser um inteiro em [0, {len(SIZE_LADDER) - 1}]; recebi {index!r}.")
    n, d = SIZE_LADDER[index]
    return tiny(n, hidden_size=d)

def ladder_m(seq_len: int = SEQ_LEN) -> np.ndarray:
    """M (FLOPs não-embedding por token) de cada degrau."""
    return np.array([deepseek_m(ladder_config(i), seq_len) for i in range(len(SIZE_LADDER))], dtype=float)

def isoflop_fit(table: dict[str, np.ndarray], *, representation: str = "M", predict_at=(), n_boot: int = 1000,
                seed: int = 0) -> fit.IsoFlopFit:
    """Perfis IsoFLOP com a escala do modelo em ``M``, ``6N1`` ou ``6N2`` (DeepSeek, App. A.2)."""
    if representation not in ("M", "6N1", "6N2"):
        raise ValueError(f"representação {representation!r} desconhecida; as válidas são 'M', '6N1' e '6N2'.")
    ok = np.isfinite(table["loss"])
    return fit.fit_isoflop(table["budget"][ok], table[representation][ok], table["tokens"][ok], table["loss"][ok],
                           predict_at=predict_at, n_boot=n_boot, seed=seed)

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
        f"helpers.chapters.cap08.SIZE_LADDER em cada um. "
        f"Taxa e lote de cada orçamento vêm das leis do capítulo 7: η = {laws.lr.k:.4g}·C^{laws.lr.alpha:.4f}, "
        f"B = {laws.batch.k:.4g}·C^{laws.batch.alpha:.4f} tokens (tolerância {laws.tolerance:.4g}). "
        f"Gerada por 'python -m helpers.chapters.cap08 spec'{(' a partir de ' + source) if source else ''}."
    )
    # Miniatura: o primeiro, o do meio e o último orçamento, os 4 menores tamanhos de cada um, 3% do custo.
    starts = np.cumsum([0] + [h - l + 1 for l, h in windows])
    mini_runs = [int(starts[k] + j) for k in sorted({0, len(budgets) // 2, len(budgets) - 1}) for j in range(4)]
    return {"name": name, "description": desc,
            "base": {"model": {"preset": "tiny", "num_hidden_layers": 2, "hidden_size": 32},
                     "train": {"budget_flops": budgets[0], "batch_size_tokens": 1024, "lr": 0.003, **train_base(10)}},
            "runs": runs,
            "mini": {"train.eval_tokens": 8192, "train.eval_points": 2},
            "mini_scale": {"train.budget_flops": 0.03},
            "mini_runs": mini_runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.chapters.cap08", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("spec", help="escreve a especificação IsoFLOP com as leis do capítulo 7")
    p.add_argument("--hyper", default=str(HYPER_RESULTS))
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    laws, _ = chapter7_laws(records(Path(args.hyper)), n_boot=200)
    spec = isoflop_spec(laws, ISOFLOP_BUDGETS, ISOFLOP_WINDOWS, source=Path(args.hyper).name)
    write_spec(spec, args.out)
    print(f"escrevi {args.out}: {len(spec['runs'])} treinos")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
