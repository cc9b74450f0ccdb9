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
- :func:`load_attention_benchmarks` e :func:`kernel_table` — as medições de
  ``benchmarks/atencao.py`` (GPU e CPU) prontas para comparar os três caminhos da atenção;
- :data:`GQA_TABLE1` e :data:`KV_CACHE_REFERENCE_GIB` — os números publicados com que o
  capítulo se compara, com a origem.

Linha de comando::

    python -m helpers.chapters.cap04 depth-spec      --out experiments/cap04_profundidade.json
    python -m helpers.chapters.cap04 uptraining-spec --out experiments/cap04_uptraining.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..laws import fit
from ..model.config import ModelConfig, tiny
from .cap07 import HYPER_RESULTS, chapter7_laws
from .common import ROOT, records, round_batch, train_base, write_spec

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


def attention_kind(num_key_value_heads: int, num_attention_heads: int) -> str:
    """O nome da atenção: ``"MHA"`` (uma *head* K/V por consulta), ``"MQA"`` (uma só) ou
    ``"GQA-g"`` com ``g`` grupos (a notação de Ainslie et al.: GQA-8 tem 8 *heads* K/V)."""
    for name, value in (("num_key_value_heads", num_key_value_heads), ("num_attention_heads", num_attention_heads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} deve ser um inteiro ≥ 1; recebi {value!r}.")
    if num_attention_heads % num_key_value_heads:
        raise ValueError(f"num_key_value_heads ({num_key_value_heads}) deve dividir num_attention_heads "
                         f"({num_attention_heads}).")
    if num_key_value_heads == num_attention_heads:
        return "MHA"
    return "MQA" if num_key_value_heads == 1 else f"GQA-{num_key_value_heads}"


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


#: Tabela 1 de Ainslie et al. (2023): T5.1.1 XXL após *uptraining* com 5% da computação
#: original; tempo de inferência por amostra (s) e média das tarefas. Números de
#: transcrições secundárias concordantes (o PDF não foi lido; ver reference/facts.md §5).
GQA_TABLE1 = {
    "source": "Ainslie et al. (2023), GQA, arXiv 2305.13245, Tabela 1 (T5.1.1; variantes XXL com 5% de uptraining)",
    "uptraining_fraction": 0.05,
    "rows": (("MHA-Large", 0.37, 46.0), ("MHA-XXL", 1.51, 47.2), ("MQA-XXL", 0.24, 46.6), ("GQA-8-XXL", 0.28, 47.1)),
}

#: Cache KV por sequência de 4096 *tokens* em bf16, em GiB, calculado em reference/facts.md §5
#: a partir da Tabela 2 do DeepSeek LLM (d_h = 128) e da fórmula da Tabela 1 do DeepSeek-V2.
KV_CACHE_REFERENCE_GIB = {"7B": 1.875, "67B": 1.48, "67B-MHA": 11.9}

BENCHMARK_FILES = {"gpu": "bench_atencao_gpu.json", "cpu": "bench_atencao_cpu.json"}
#: Os caminhos medidos por ``benchmarks/atencao.py``: o *kernel* do livro, o SDPA do
#: PyTorch com ``enable_gqa`` e ``repeat_kv`` + SDPA.
BENCH_VARIANTS = ("gqa", "sdpa_gqa", "repeat_sdpa")
_DTYPE_BYTES = {"torch.float32": 4, "torch.float64": 8, "torch.bfloat16": 2, "torch.float16": 2}


def load_attention_benchmarks(results_dir: str | Path | None = None) -> dict[str, dict]:
    """Os benchmarks de atenção que existem em ``results/``: ``{"gpu": ..., "cpu": ...}``.

    Um arquivo ausente fica de fora (o dicionário pode vir vazio); um arquivo presente mas
    sem os campos esperados é um erro.
    """
    folder = Path(results_dir) if results_dir is not None else ROOT / "results"
    out = {}
    for key, name in BENCHMARK_FILES.items():
        path = folder / name
        if not path.exists():
            continue
        payload = json.loads(path.read_text(encoding="utf-8"))
        missing = [k for k in ("metadata", "kernels", "decode") if k not in payload]
        if missing:
            raise ValueError(f"{path}: faltam os campos {missing}; gere-o com benchmarks/atencao.py.")
        out[key] = payload
    return out


def kernel_table(payload: dict, *, mode: str = "fwd") -> list[dict]:
    """As medições dos *kernels* de um benchmark, uma linha por (comprimento, grupo).

    Cada linha traz o tempo e o pico de memória das três variantes e as contas que o
    capítulo discute: ``slowdown`` (tempo do *kernel* do livro ÷ SDPA com ``enable_gqa``),
    ``mask_elements`` (``G·S × T``, os elementos da máscara explícita) e
    ``mask_bytes_per_element`` (memória a mais do *kernel* sobre o SDPA, por elemento da
    máscara), ``kv_bytes`` (K e V sem repetição) e ``repeat_extra_bytes`` (memória a mais de
    ``repeat_kv`` + SDPA sobre o SDPA).
    """
    if mode not in ("fwd", "fwd+bwd"):
        raise ValueError(f"mode deve ser 'fwd' ou 'fwd+bwd'; recebi {mode!r}.")
    meta = payload["metadata"]
    if meta.get("dtype") not in _DTYPE_BYTES:
        raise ValueError(f"dtype do benchmark desconhecido {meta.get('dtype')!r}; os válidos são {sorted(_DTYPE_BYTES)}.")
    nbytes = _DTYPE_BYTES[meta["dtype"]]
    cells: dict[tuple[int, int], dict[str, dict]] = {}
    for r in payload["kernels"]:
        if r["mode"] == mode:
            cells.setdefault((r["seq_len"], r["group"]), {})[r["variant"]] = r
    if not cells:
        raise ValueError(f"o benchmark não tem medições no modo {mode!r}.")
    rows = []
    for (s, g), by_variant in sorted(cells.items()):
        missing = [v for v in BENCH_VARIANTS if v not in by_variant]
        if missing:
            raise ValueError(f"S = {s}, G = {g}: faltam as variantes {missing} (esperadas {list(BENCH_VARIANTS)}).")
        t = {v: by_variant[v]["time_s"] for v in BENCH_VARIANTS}
        m = {v: by_variant[v]["peak_bytes"] for v in BENCH_VARIANTS}
        kv = by_variant["gqa"]["kv_heads"]
        rows.append({
            "seq_len": s, "group": g, "kv_heads": kv, "time_s": t, "peak_bytes": m,
            "slowdown": t["gqa"] / t["sdpa_gqa"],
            "mask_elements": g * s * s,
            "mask_bytes_per_element": (m["gqa"] - m["sdpa_gqa"]) / (g * s * s),
            "kv_bytes": 2 * meta["batch"] * kv * s * meta["head_dim"] * nbytes,
            "repeat_extra_bytes": m["repeat_sdpa"] - m["sdpa_gqa"],
        })
    return rows


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
