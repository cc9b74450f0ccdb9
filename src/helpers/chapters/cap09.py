"""Capítulo 9 — prevendo o desempenho de um treino maior (DeepSeek LLM §3.2, Fig. 5).

:func:`prediction_spec` escreve, antes do treino, a especificação do treino de verificação: o
degrau da escada do capítulo 8 mais perto do ``M_opt`` previsto para :data:`PREDICTION_BUDGET`.

Linha de comando::

    python -m helpers.chapters.cap09 spec --out experiments/cap09_previsao.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..laws import fit
from .cap07 import HYPER_RESULTS, chapter7_laws
from .cap08 import ISOFLOP_BUDGETS, ISOFLOP_RESULTS, SIZE_LADDER, isoflop_fit, ladder_m
from .common import records, round_batch, runs_table, train_base, write_spec

__all__ = ["PREDICTION_BUDGET", "prediction_spec", "main"]

#: O orçamento da previsão: 10× o maior orçamento IsoFLOP.
PREDICTION_BUDGET = 10 * ISOFLOP_BUDGETS[-1]


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
        f"Gerada por 'python -m helpers.chapters.cap09 spec'{(' a partir de ' + source) if source else ''}."
    )
    return {"name": name, "description": desc,
            "base": {"model": {"preset": "tiny", "num_hidden_layers": n, "hidden_size": d},
                     "train": {"budget_flops": float(budget), "batch_size_tokens": batch, "lr": lr, **train_base(24)}},
            "runs": [{}],
            "mini": {"train.eval_tokens": 8192, "train.eval_points": 4},
            "mini_scale": {"train.budget_flops": 0.003}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.chapters.cap09", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("spec", help="escreve a especificação do treino de verificação do capítulo 9")
    p.add_argument("--hyper", default=str(HYPER_RESULTS))
    p.add_argument("--isoflop", default=str(ISOFLOP_RESULTS))
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    laws, _ = chapter7_laws(records(Path(args.hyper)), n_boot=200)
    iso = isoflop_fit(runs_table(records(Path(args.isoflop))), n_boot=200)
    spec = prediction_spec(laws, iso, PREDICTION_BUDGET, source=f"{Path(args.hyper).name} e {Path(args.isoflop).name}")
    write_spec(spec, args.out)
    print(f"escrevi {args.out}: {len(spec['runs'])} treinos")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
