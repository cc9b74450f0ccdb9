"""Capítulo 10 — qualidade dos dados e expoentes de escala (DeepSeek LLM §3.3).

- :data:`QUALITY_CORPORA` — os corpora do experimento: nome → (degradação, nível), com as
  degradações de :mod:`helpers.engine.degradations`;
- :func:`quality_spec` — os treinos IsoFLOP do capítulo 8 repetidos em cada corpus;
- :func:`corpus_name` — o nome do corpus de treino de um registro.

Linha de comando::

    python -m helpers.chapters.cap10 spec --out experiments/cap10_qualidade.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import ROOT, write_spec

__all__ = ["QUALITY_CORPORA", "quality_spec", "corpus_name", "main"]

#: Os corpora do experimento: nome → (degradação, nível).
QUALITY_CORPORA: dict[str, tuple[str, float]] = {
    "limpo": ("none", 0.0),
    "boilerplate": ("boilerplate", 0.5),
    "ruido": ("ruido", 0.1),
    "embaralhado": ("embaralhado", 1.0),
}


def quality_spec(isoflop: dict, *, corpora=tuple(QUALITY_CORPORA), name: str = "cap10_qualidade") -> dict:
    """Os perfis IsoFLOP do capítulo 8 repetidos em cada corpus (mesmos orçamentos, tamanhos,
    taxas e lotes); só o corpus de treino muda."""
    runs = []
    for corpus in corpora:
        kind, level = QUALITY_CORPORA[corpus]
        for r in isoflop["runs"]:
            run = dict(r)
            if kind != "none":
                run["train.corpus"] = {"degradation": kind, "degradation_level": level}
            runs.append(run)
    n = len(isoflop["runs"])
    desc = (
        f"Capítulo 10 (DeepSeek LLM §3.3, Tabela 4): os {n} treinos IsoFLOP de cap08_isoflop repetidos em "
        f"{len(corpora)} corpora de treino — " + "; ".join(
            f"{c} ({QUALITY_CORPORA[c][0]}, nível {QUALITY_CORPORA[c][1]})" for c in corpora)
        + ". A validação é sempre o texto limpo. Gerada por 'python -m helpers.chapters.cap10 spec'."
    )
    # Miniatura: em cada corpus, os 4 tamanhos do menor orçamento (segundos; exercita o caminho todo,
    # mas um orçamento só não dá lei — o notebook então usa os resultados versionados).
    mini = [k * n + j for k in range(len(corpora)) for j in list(isoflop.get("mini_runs", range(4)))[:4]]
    return {"name": name, "description": desc, "base": isoflop["base"], "runs": runs,
            "mini": isoflop.get("mini", {}), "mini_scale": isoflop.get("mini_scale", {}), "mini_runs": mini}


def corpus_name(record: dict) -> str:
    """O nome (de :data:`QUALITY_CORPORA`) do corpus de treino de um registro."""
    c = record["train"]["corpus"]
    pair = (c.get("degradation", "none"), float(c.get("degradation_level", 0.0)))
    for name, value in QUALITY_CORPORA.items():
        if (value[0], float(value[1])) == pair:
            return name
    return f"{pair[0]}:{pair[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.chapters.cap10", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("spec", help="escreve a especificação do experimento de qualidade")
    p.add_argument("--isoflop", default=str(ROOT / "experiments" / "cap08_isoflop.json"))
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    spec = quality_spec(json.loads(Path(args.isoflop).read_text(encoding="utf-8")))
    write_spec(spec, args.out)
    print(f"escrevi {args.out}: {len(spec['runs'])} treinos")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
