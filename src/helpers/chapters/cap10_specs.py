"""Capítulo 10, protocolo v2 — os corpora do estudo de qualidade e as especificações dos treinos.

A qualidade vira um eixo **medido**: a razão do gzip ``H`` (:mod:`helpers.engine.compressibility`).
Os corpora, todos derivados do corpus padrão:

- ``faixa1`` … ``faixa4`` — as quatro faixas de compressibilidade (25% dos *bytes* cada, da mais
  compressível à menos): documentos reais, sem alteração, cada faixa com a sua validação própria;
- ``diluido`` — o controle de **diluição**: o corpus inteiro com metade dos *bytes* de treino
  trocados por texto repetitivo (``boilerplate``, nível 0,5). A teoria prevê só um deslocamento do
  intercepto de ``M_opt(C)`` (``Δlog₁₀ M_opt = a·log₁₀ ρ``), não do expoente;
- ``limpo`` — o corpus inteiro: são os próprios treinos de ``cap08_isoflop_v2`` (não se repetem).

Cada corpus tem a sua especificação (``experiments/cap10_qualidade_v2_<corpus>.json``): os treinos
de ``cap08_isoflop_v2`` nos 5 orçamentos até :data:`MAX_BUDGET` — mesmos tamanhos, taxas, lotes e
sementes —, mudando só o corpus de treino. Um desenho **pareado**: em cada orçamento e tamanho,
a única diferença entre dois treinos é o texto. O campo ``refine`` de cada uma é o do capítulo 8
(a janela cresce onde o vértice de um corpus sai dela).

Linha de comando::

    python -m helpers.chapters.cap10_specs spec --corpus faixa1 --out experiments/cap10_qualidade_v2_faixa1.json
    python -m helpers.chapters.cap10_specs spec --all
    python -m helpers.chapters.cap10_specs seeds --all   # depois dos treinos: as sementes novas

A especificação do corpus diluído traz no texto a previsão escrita antes dos treinos.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path

import numpy as np

from ..engine.data import CorpusSpec, prepare_data
from ..engine.specs import format_spec, load_spec, parse_spec
from ..engine.sweeps import _Parser
from ..presentation.plots import fmt
from .common import ROOT

__all__ = ["SEED_BUDGETS", "add_seeds", "CORPORA_V2", "LABELS_V2", "BANDS", "DILUTION_LEVEL", "MAX_BUDGET", "ISOFLOP_SPEC", "ISOFLOP_RESULTS",
           "spec_path", "results_path", "corpus_of", "measure_corpus", "quality_spec_v2", "main"]

#: As faixas de compressibilidade (frações dos *bytes*, da mais compressível à menos).
BANDS = {f"faixa{i + 1}": (i / 4, (i + 1) / 4) for i in range(4)}
#: A fração dos *bytes* de treino trocada por texto repetitivo no controle de diluição.
DILUTION_LEVEL = 0.5
#: Corpus → o dicionário ``train.corpus`` dos treinos (``{}``: o corpus padrão).
CORPORA_V2: dict[str, dict] = {
    **{name: {"gzip_band": [lo, hi]} for name, (lo, hi) in BANDS.items()},
    "diluido": {"degradation": "boilerplate", "degradation_level": DILUTION_LEVEL},
    "limpo": {},
}
#: Como a prosa e as figuras escrevem cada corpus.
LABELS_V2 = {"faixa1": "faixa 1 (mais compressível)", "faixa2": "faixa 2", "faixa3": "faixa 3",
             "faixa4": "faixa 4 (menos compressível)", "diluido": "diluído (50% repetitivo)",
             "limpo": "corpus inteiro"}
#: O maior orçamento do estudo (os 5 primeiros do capítulo 8 v2: 3,16e10 … 1,26e12, 1,6 década).
MAX_BUDGET = 1.259e12
#: Os orçamentos onde cada corpus repete, com as sementes novas do protocolo, o melhor tamanho medido:
#: os dois menores (baratos), para conferir que o ruído entre sementes é o do capítulo 7 também aqui.
SEED_BUDGETS = (3.162e10, 7.943e10)
ISOFLOP_SPEC = ROOT / "experiments" / "cap08_isoflop_v2.json"
ISOFLOP_RESULTS = ROOT / "results" / "cap08_isoflop_v2.jsonl"


def _check_corpus(name: str) -> str:
    if name not in CORPORA_V2:
        raise ValueError(f"corpus desconhecido {name!r}; os válidos são {list(CORPORA_V2)}.")
    return name


def spec_path(name: str) -> Path:
    """Onde fica a especificação de um corpus (a do ``limpo`` é a do capítulo 8 v2)."""
    return ISOFLOP_SPEC if _check_corpus(name) == "limpo" else ROOT / "experiments" / f"cap10_qualidade_v2_{name}.json"


def results_path(name: str) -> Path:
    """Onde ficam os resultados de um corpus (os do ``limpo`` são os do capítulo 8 v2)."""
    return ISOFLOP_RESULTS if _check_corpus(name) == "limpo" else ROOT / "results" / f"cap10_qualidade_v2_{name}.jsonl"


def corpus_of(record: dict) -> str:
    """O nome (em :data:`CORPORA_V2`) do corpus de treino de um registro."""
    c = (record.get("train") or {}).get("corpus") or {}
    band = c.get("gzip_band")
    key = (list(band) if band is not None else None, c.get("degradation", "none"), c.get("degradation_level", 0.0))
    for name, want in CORPORA_V2.items():
        if key == (want.get("gzip_band"), want.get("degradation", "none"), want.get("degradation_level", 0.0)):
            return name
    raise ValueError(f"o registro {record.get('run_id')!r} tem um corpus fora do estudo: {json.dumps(c)}.")


def measure_corpus(name: str) -> dict:
    """As estatísticas do corpus preparado (tamanhos e razões do gzip), lidas do cache ou medidas."""
    corpus = CorpusSpec.from_dict(CORPORA_V2[_check_corpus(name)]) if CORPORA_V2[name] else CorpusSpec()
    data = prepare_data(corpus)
    stats = dict(data.stats)
    if "gzip_ratio_train" not in stats:  # o corpus limpo não guarda as razões: medidas uma vez e guardadas no cache
        from ..engine.compressibility import gzip_ratio
        from ..engine.data import cache_dir

        memo = cache_dir() / f"gzip-{data.fingerprint[:16]}.json"
        try:
            known = json.loads(memo.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {"gzip_ratio_train": gzip_ratio(np.asarray(data.train).tobytes()),
                     "gzip_ratio_val": gzip_ratio(np.asarray(data.val).tobytes())}
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(memo.name + ".tmp")
            tmp.write_text(json.dumps(known), encoding="utf-8")
            tmp.replace(memo)
        stats.update(known)
    return stats


def _mini_indices(budgets: list[float]) -> list[int]:
    """Os 4 tamanhos do meio do 1º, 3º e 5º orçamentos (a miniatura: 3 orçamentos, 12 treinos)."""
    out, start = [], 0
    uniq = sorted(set(budgets))
    for c in uniq:
        n = budgets.count(c)
        if c in (uniq[0], uniq[len(uniq) // 2], uniq[-1]):
            mid = start + max(0, (n - 4) // 2)
            out += list(range(mid, min(mid + 4, start + n)))
        start += n
    return out


def _prediction_text(a: float, interval: tuple[float, float]) -> str:
    rho = 1 - DILUTION_LEVEL
    shift = a * math.log10(rho)
    lo, hi = sorted(x * math.log10(rho) for x in interval)
    return (f" Previsão escrita antes dos treinos (teoria da diluição, com a = {fmt(a, '.3f')}, IC 90% "
            f"[{fmt(interval[0], '.3f')}; {fmt(interval[1], '.3f')}] do capítulo 8 v2 e ρ = {fmt(rho, '.2f')} de texto útil): "
            f"Δlog₁₀ M_opt = a·log₁₀ ρ = {fmt(shift, '.3f')} década em todo orçamento ([{fmt(lo, '.3f')}; {fmt(hi, '.3f')}] "
            "só pela incerteza de a), o expoente a inalterado e a perda ótima mais alta; se o texto repetitivo "
            "também custar capacidade ou contexto, ρ efetivo < 0,5 e o deslocamento fica maior.")


def quality_spec_v2(name: str, isoflop: dict, stats: dict, *, a_interval=None) -> dict:
    """A especificação do corpus ``name``: os treinos de ``isoflop`` (o dicionário da especificação do
    capítulo 8 v2) até :data:`MAX_BUDGET`, com ``train.corpus`` trocado. ``a_interval``: ``(a, (lo, hi))``
    do capítulo 8 v2, para a previsão escrita no texto do corpus diluído."""
    if _check_corpus(name) == "limpo":
        raise ValueError("o corpus 'limpo' não tem especificação própria: são os treinos de cap08_isoflop_v2.")
    runs = [dict(r) for r in isoflop["runs"] if r["train.budget_flops"] <= MAX_BUDGET * (1 + 1e-9)]
    if not runs:
        raise ValueError(f"nenhum treino de {isoflop.get('name')!r} com orçamento ≤ {MAX_BUDGET:g}.")
    for r in runs:
        r["train.corpus"] = copy.deepcopy(CORPORA_V2[name])
    budgets = [r["train.budget_flops"] for r in runs]
    h = stats.get("gzip_ratio_train")
    text = (f"Capítulo 10, protocolo v2 (DeepSeek §3.3): os {len(runs)} treinos de {isoflop['name']} nos "
            f"{len(set(budgets))} orçamentos de {fmt(min(budgets), '.3g')} a {fmt(max(budgets), '.3g')} "
            f"FLOPs (mesmos tamanhos, taxas, lotes e sementes), treinados no corpus {LABELS_V2[name]!s}: "
            + (f"gzip_band = {CORPORA_V2[name]['gzip_band']} (frações dos bytes, documentos ordenados pela razão do "
               f"gzip), {stats.get('band_documents')} documentos, {stats.get('train_bytes')} bytes de treino, "
               f"validação própria de {stats.get('own_validation_documents')} documentos "
               f"({stats.get('own_val_bytes')} bytes)" if name in BANDS else
               f"o corpus inteiro com {fmt(100 * DILUTION_LEVEL, '.0f')}% dos bytes de treino trocados por boilerplate")
            + (f"; razão do gzip do treino H = {fmt(h, '.4f')}" if h is not None else "")
            + ". Avaliação final na validação comum (a do corpus inteiro)"
            + (" e na validação própria da faixa." if name in BANDS else ".")
            + (_prediction_text(*a_interval) if name == "diluido" and a_interval is not None else "")
            + " Gerada por 'python -m helpers.chapters.cap10_specs spec'.")
    out = {"name": f"cap10_qualidade_v2_{name}", "description": text, "base": copy.deepcopy(isoflop["base"]),
           "runs": runs, "mini": copy.deepcopy(isoflop.get("mini")), "mini_scale": copy.deepcopy(isoflop.get("mini_scale")),
           "mini_runs": _mini_indices(budgets), "refine": copy.deepcopy(isoflop.get("refine"))}
    out = {k: v for k, v in out.items() if v is not None}
    parse_spec(out, out["name"])  # confere tudo antes de gravar
    return out


def _clean_a() -> tuple[float, tuple[float, float]]:
    """O ``a`` do capítulo 8 v2 e o seu IC 90% (a mesma análise do capítulo, sem a robustez)."""
    from ..engine.results_store import load_results
    from .cap07_v2 import HYPER_RESULTS_V2, HYPER_SPEC_V2
    from .cap08_v2 import allocation_fit, isoflop_rows, seed_noise_model
    from .protocol_v2 import GRID_SEED

    spec8, recs8 = load_spec(ISOFLOP_SPEC), load_results(ISOFLOP_RESULTS)
    rows = isoflop_rows(spec8, recs8)
    design = np.isfinite(rows["loss"]) & (rows["seed"] == GRID_SEED)
    noise, _ = seed_noise_model(load_spec(HYPER_SPEC_V2), load_results(HYPER_RESULTS_V2))
    f = allocation_fit(rows, design, noise, n_boot=1000)
    lo, hi = f.boot.ci("a")
    return float(f.boot.estimate["a"]), (lo, hi)


def add_seeds(spec_dict: dict, records: list[dict], seeds=(1, 2, 3)) -> tuple[dict, list[str]]:
    """A especificação com ``seeds`` repetindo, em cada orçamento de :data:`SEED_BUDGETS`, o tamanho de menor
    perda (semente 0) — e a lista do que entrou. Recusa (``ValueError``) se algum desses orçamentos ainda não
    terminou; rodar de novo não duplica nada."""
    from ..engine.specs import expand

    spec = parse_spec(spec_dict, spec_dict.get("name", "especificação"))
    done = {r["run_id"]: r for r in records if r.get("status") == "ok" and not r.get("mini")}
    planned = expand(spec)
    out = copy.deepcopy(spec_dict)
    have = {json.dumps(r, sort_keys=True) for r in out["runs"]}
    added = []
    for c in SEED_BUDGETS:
        group = [(p, o) for p, o in zip(planned, spec_dict["runs"]) if math.isclose(o["train.budget_flops"], c, rel_tol=1e-6)
                 and o.get("train.seed", 0) == 0]
        if not group:
            raise ValueError(f"{spec.name}: nenhum treino no orçamento {c:g}.")
        missing = [p for p, _ in group if p.run_id not in done]
        if missing:
            raise ValueError(f"{spec.name}: {len(missing)} treino(s) do orçamento {c:g} sem resultado; termine a "
                             "varredura antes de acrescentar as sementes.")
        best = min(group, key=lambda po: done[po[0].run_id]["final_val_bpb"])[1]
        for seed in seeds:
            run = {**best, "train.seed": seed}
            key = json.dumps(run, sort_keys=True)
            if key not in have:
                have.add(key)
                out["runs"].append(run)
                added.append(f"{c:g}: ({best['model.num_hidden_layers']}, {best['model.hidden_size']}), semente {seed}")
    parse_spec(out, out["name"])
    return out, added


def cmd_seeds(args) -> int:
    from ..engine.results_store import load_results

    for name in [n for n in CORPORA_V2 if n != "limpo"] if args.all else [args.corpus]:
        path = spec_path(name)
        spec = json.loads(path.read_text(encoding="utf-8"))
        out, added = add_seeds(spec, load_results(results_path(name)) if results_path(name).exists() else [])
        if added:
            path.write_text(format_spec(out), encoding="utf-8")
        print(f"{path.name}: {len(added)} treino(s) novo(s)" + (" — " + "; ".join(added) if added else ""))
    return 0


def cmd_spec(args) -> int:
    names = [n for n in CORPORA_V2 if n != "limpo"] if args.all else [args.corpus]
    if not args.all and args.corpus is None:
        raise ValueError("diga --corpus NOME ou --all.")
    isoflop = json.loads(ISOFLOP_SPEC.read_text(encoding="utf-8"))
    a_interval = _clean_a() if "diluido" in names else None
    for name in names:
        spec = quality_spec_v2(name, isoflop, measure_corpus(name), a_interval=a_interval)
        out = Path(args.out) if args.out and not args.all else spec_path(name)
        out.write_text(format_spec(spec), encoding="utf-8")
        print(f"{out}: {len(spec['runs'])} treinos ({LABELS_V2[name]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m helpers.chapters.cap10_specs",
                     description="Especificações do estudo de qualidade v2 (capítulo 10).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("spec", help="escreve a especificação de um corpus (ou de todos)")
    p.add_argument("--corpus", choices=[n for n in CORPORA_V2 if n != "limpo"], default=None)
    p.add_argument("--all", action="store_true", help="todos os corpora, cada um no seu arquivo")
    p.add_argument("--out", default=None, help="arquivo da especificação (padrão: experiments/…)")
    p = sub.add_parser("seeds", help="acrescenta as sementes novas no melhor tamanho dos orçamentos menores")
    p.add_argument("--corpus", choices=[n for n in CORPORA_V2 if n != "limpo"], default=None)
    p.add_argument("--all", action="store_true", help="todos os corpora")
    args = parser.parse_args(argv)
    try:
        if args.command == "seeds":
            if not args.all and args.corpus is None:
                raise ValueError("diga --corpus NOME ou --all.")
            return cmd_seeds(args)
        return cmd_spec(args)
    except ValueError as exc:
        print(f"erro: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
