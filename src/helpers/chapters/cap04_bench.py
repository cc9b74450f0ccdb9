"""Capítulo 4, primeira metade: o *kernel* GQA, o cache KV e as medições de tempo e memória.

Cada função devolve uma :class:`Section` — as tabelas (Markdown pronto) e os números que a
prosa do notebook cola (``glue``), com as frases de comparação já escolhidas a partir dos
números:

- :func:`cache_section` — parâmetros da atenção e cache KV do 7B e do 67B (MHA, GQA-8, MQA),
  conferidos pela fórmula, pelo ``KVCache`` no dispositivo ``meta`` e pela referência;
- :func:`kernel_check` — o *kernel* do livro e ``repeat_kv`` contra o SDPA do PyTorch;
- :func:`tiny_cache_check` — gerar com e sem cache dá os mesmos *tokens* nos modelos minúsculos;
- :func:`bench_section` — as medições de ``benchmarks/atencao.py`` (GPU e CPU), lidas por
  :func:`load_attention_benchmarks` e :func:`kernel_table`, e a Tabela 1 de Ainslie et al.

As frases de comparação vêm de funções pequenas e testadas: :func:`ratio_phrase`,
:func:`decode_speed_phrase`, :func:`mask_story`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..model import attention as attn
from ..model.attention import causal_mask, kv_cache_bytes, reference_attention, repeat_kv
from ..model.config import deepseek_67b, deepseek_7b, tiny
from ..model.flops import count_params
from ..model.transformer import KVCache, Transformer, generate
from ..presentation.plots import fmt, format_bytes, format_si, markdown_table
from .common import ROOT

__all__ = [
    "Section",
    "attention_kind",
    "GQA_TABLE1",
    "KV_CACHE_REFERENCE_GIB",
    "BENCHMARK_FILES",
    "BENCH_VARIANTS",
    "DEVICE_LABEL",
    "SAME_SPEED_TOLERANCE",
    "load_benchmarks",
    "load_attention_benchmarks",
    "kernel_table",
    "ratio_phrase",
    "decode_speed_phrase",
    "mask_story",
    "device_text",
    "cache_section",
    "kernel_check",
    "tiny_cache_check",
    "cpu_flash_accepts_mask",
    "bench_section",
]


@dataclass(frozen=True)
class Section:
    """O que uma parte do capítulo mostra: ``tables`` (nome → Markdown), ``numbers`` (nome de
    ``glue`` → texto já formatado) e ``data`` (o que as figuras desenham)."""

    tables: dict[str, str]
    numbers: dict[str, object]
    data: dict = field(default_factory=dict)


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
DEVICE_LABEL = {"gpu": "GPU", "cpu": "CPU"}
#: Os caminhos medidos por ``benchmarks/atencao.py``: o *kernel* do livro, o SDPA do
#: PyTorch com ``enable_gqa`` e ``repeat_kv`` + SDPA.
BENCH_VARIANTS = ("gqa", "sdpa_gqa", "repeat_sdpa")
#: Variantes que uma medição pode trazer a mais (``gqa_math``: o *kernel* no *backend* ``"math"``).
EXTRA_VARIANTS = ("gqa_math",)
KERNEL_MODES = ("fwd", "fwd+bwd", "decode")
VARIANT_LABEL = {"gqa": "kernel do livro", "sdpa_gqa": "SDPA(enable_gqa)", "repeat_sdpa": "repeat_kv + SDPA",
                 "gqa_math": "kernel do livro (math)"}
_DTYPE_BYTES = {"torch.float32": 4, "torch.float64": 8, "torch.bfloat16": 2, "torch.float16": 2}
#: Duas medições de tempo a menos de 10% uma da outra "empatam": os benchmarks guardam uma
#: mediana por célula, sem a dispersão, e numa máquina compartilhada 10% é o ruído típico.
SAME_SPEED_TOLERANCE = 0.10


def load_benchmarks(files: dict[str, str], required: tuple[str, ...], script: str,
                    results_dir: str | Path | None = None) -> dict[str, dict]:
    """Os JSON de *benchmark* que existem em ``results/`` (``{chave: conteúdo}`` para ``files``).

    Um arquivo ausente fica de fora (o dicionário pode vir vazio); um arquivo presente sem algum
    dos campos ``required`` é um erro que diz quais faltam e qual *script* o gera.
    """
    folder = Path(results_dir) if results_dir is not None else ROOT / "results"
    out = {}
    for key, name in files.items():
        path = folder / name
        if not path.exists():
            continue
        payload = json.loads(path.read_text(encoding="utf-8"))
        missing = [k for k in required if k not in payload]
        if missing:
            raise ValueError(f"{path}: faltam os campos {missing}; gere-o com {script}.")
        out[key] = payload
    return out


def load_attention_benchmarks(results_dir: str | Path | None = None) -> dict[str, dict]:
    """Os benchmarks de atenção que existem em ``results/``: ``{"gpu": ..., "cpu": ...}`` (ver
    :func:`load_benchmarks`)."""
    return load_benchmarks(BENCHMARK_FILES, ("metadata", "kernels", "decode"), "benchmarks/atencao.py", results_dir)


def _dtype_bytes(meta: dict) -> int:
    if meta.get("dtype") not in _DTYPE_BYTES:
        raise ValueError(f"dtype do benchmark desconhecido {meta.get('dtype')!r}; os válidos são {sorted(_DTYPE_BYTES)}.")
    return _DTYPE_BYTES[meta["dtype"]]


def kernel_table(payload: dict, *, mode: str = "fwd") -> list[dict]:
    """As medições dos *kernels* de um benchmark, uma linha por (comprimento, grupo).

    Cada linha traz o tempo e o pico de memória das três variantes e as contas que o
    capítulo discute: ``slowdown`` (tempo do *kernel* do livro ÷ SDPA com ``enable_gqa``),
    ``mask_elements`` (``G·S × T``, os elementos de uma máscara explícita) e
    ``mask_bytes_per_element`` (memória a mais do *kernel* sobre o SDPA, por elemento dessa
    máscara), ``kv_bytes`` (K e V sem repetição) e ``repeat_extra_bytes`` (memória a mais de
    ``repeat_kv`` + SDPA sobre o SDPA).
    """
    if mode not in KERNEL_MODES:
        raise ValueError(f"mode deve ser um de {list(KERNEL_MODES)}; recebi {mode!r}.")
    meta = payload["metadata"]
    nbytes = _dtype_bytes(meta)
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
        t = {v: r["time_s"] for v, r in by_variant.items()}  # as três de BENCH_VARIANTS e as extras
        m = {v: r["peak_bytes"] for v, r in by_variant.items()}
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


# --- frases de comparação -------------------------------------------------------------

def ratio_phrase(lo: float, hi: float, *, slower: str = "mais lento", tol: float = SAME_SPEED_TOLERANCE) -> str:
    """Uma faixa de razões de tempo (``a ÷ b``) em palavras: ``"de 2,9 a 5,7 vezes mais lento"``
    se toda a faixa passa de ``1 + tol``; ``"de 1,0 a 2,5 vezes o tempo"`` se começa no empate;
    ``"empata (de 0,95 a 1,05 vez o tempo)"`` se a faixa toda está no empate."""
    if not (0 < lo <= hi):
        raise ValueError(f"as razões devem ser positivas e lo ≤ hi; recebi {lo!r} e {hi!r}.")
    if hi <= 1 + tol and lo >= 1 - tol:
        return f"empata (de {fmt(lo, '.2g')} a {fmt(hi, '.2g')} vez o tempo)"
    if lo > 1 + tol:
        return f"de {fmt(lo, '.2g')} a {fmt(hi, '.2g')} vezes {slower}"
    return f"de {fmt(lo, '.2g')} a {fmt(hi, '.2g')} vezes o tempo"


def decode_speed_phrase(ms_mha: float, ms_other: float, kind: str, *, tol: float = SAME_SPEED_TOLERANCE) -> str:
    """Compara o tempo por *token* de uma variante com o da MHA: ``"a MQA é 1,36 vez mais
    rápida"``, ``"a GQA-2 empata com a MHA (0,97 vez o tempo)"`` ou ``"… é 1,2 vez mais lenta"``."""
    if ms_mha <= 0 or ms_other <= 0:
        raise ValueError(f"os tempos devem ser positivos; recebi {ms_mha!r} e {ms_other!r}.")
    speedup = ms_mha / ms_other
    if abs(speedup - 1) <= tol:
        return f"a {kind} empata com a MHA ({fmt(ms_other / ms_mha, '.2f')} vez o tempo)"
    if speedup > 1:
        return f"a {kind} é {fmt(speedup, '.2f')} vez mais rápida"
    return f"a {kind} é {fmt(1 / speedup, '.2f')} vez mais lenta"


def mask_story(mask_bytes_per_element: float, dtype_bytes: int, *, rel: float = 0.1) -> str:
    """O que a memória a mais do *kernel* do livro diz sobre a máscara explícita:
    ``"materializada"`` (≈ 1 byte do booleano + ``dtype_bytes`` da sua cópia no tipo da
    entrada, por elemento), ``"ausente"`` (≈ 0) ou ``"outra"``."""
    expected = 1 + dtype_bytes
    if abs(mask_bytes_per_element - expected) <= rel * expected:
        return "materializada"
    if abs(mask_bytes_per_element) <= rel:
        return "ausente"
    return "outra"


# --- cache KV do 7B e do 67B ------------------------------------------------------------

def _deepseek_variants():
    m7, m67 = deepseek_7b(), deepseek_67b()
    return {"7B": m7, "67B-MHA": m67.replace(num_key_value_heads=m67.num_attention_heads), "67B": m67,
            "67B-MQA": m67.replace(num_key_value_heads=1)}


def cache_section(tokens: int = 4096) -> Section:
    """Parâmetros da atenção e cache KV do 7B e do 67B (publicados e nas variantes MHA e MQA).

    O cache de ``tokens`` posições em bf16 é conferido três vezes: pela fórmula
    (:func:`helpers.model.attention.kv_cache_bytes`), pelo ``KVCache`` alocado no dispositivo
    ``meta`` (forma e tipo sem memória) e pelos valores de :data:`KV_CACHE_REFERENCE_GIB`.
    """
    cfg = _deepseek_variants()
    names = {"7B": "7B (publicado)", "67B-MHA": "67B se fosse MHA", "67B": "67B (publicado)", "67B-MQA": "67B se fosse MQA"}
    params = {k: count_params(c) for k, c in cfg.items()}
    rows = [[names[k], attention_kind(c.num_key_value_heads, c.num_attention_heads),
             f"{c.num_attention_heads} / {c.num_key_value_heads}", format_si(params[k].attention / c.num_hidden_layers, 3),
             format_si(params[k].total, 4), format_bytes(kv_cache_bytes(c, 1)), format_bytes(kv_cache_bytes(c, tokens))]
            for k, c in cfg.items()]
    models = markdown_table(["modelo", "atenção", "heads consulta / K/V", "parâmetros da atenção por camada",
                             "parâmetros totais", "cache KV por token (bf16)", f"cache KV, {tokens} tokens"], rows)
    check_rows = []
    for key, label in (("7B", "7B (MHA)"), ("67B", "67B (GQA-8)"), ("67B-MHA", "67B se fosse MHA")):
        c = cfg[key]
        formula = kv_cache_bytes(c, tokens)
        allocated = KVCache(c, 1, tokens, device="meta", dtype=torch.bfloat16).nbytes
        if formula != allocated:
            raise AssertionError(f"{label}: a fórmula dá {formula} bytes e o KVCache aloca {allocated}.")
        check_rows.append([label, c.num_hidden_layers, c.num_key_value_heads, c.head_dim, fmt(formula, ",.0f"),
                           fmt(allocated, ",.0f"), fmt(formula / 2**30, ".3f"), fmt(KV_CACHE_REFERENCE_GIB[key], ".4g")])
    check = markdown_table(["modelo", "camadas", "heads K/V", "d_h", "bytes pela fórmula", "bytes do KVCache (meta)",
                            "GiB", "GiB (referência)"], check_rows)
    m7, m67, m67_mha = cfg["7B"], cfg["67B"], cfg["67B-MHA"]
    p67, p67_mha = params["67B"], params["67B-MHA"]
    per_token_7b, per_token_67b = kv_cache_bytes(m7, 1), kv_cache_bytes(m67, 1)
    numbers = {
        "attn_camada_mha": format_si(p67_mha.attention / m67.num_hidden_layers, 3),
        "attn_camada_gqa": format_si(p67.attention / m67.num_hidden_layers, 3),
        "economia_67b": format_si(p67_mha.total - p67.total, 3),
        "camadas_equiv_mha": fmt(p67.non_embedding / (p67_mha.non_embedding / m67.num_hidden_layers), ".0f"),
        "cache_token_7b": format_bytes(per_token_7b),
        "cache_token_67b": format_bytes(per_token_67b),
        "cache_token_comparacao": "menor" if per_token_67b < per_token_7b else "maior" if per_token_67b > per_token_7b
        else "igual",
        "razao_camadas_67b_7b": fmt(m67.num_hidden_layers / m7.num_hidden_layers, ".1f"),
        "razao_largura_67b_7b": fmt(m67.hidden_size / m7.hidden_size, ".2g"),
        "cache_7b": fmt(kv_cache_bytes(m7, tokens) / 2**30, ".3f"),
        "cache_67b": fmt(kv_cache_bytes(m67, tokens) / 2**30, ".2f"),
        "cache_67b_mha": fmt(kv_cache_bytes(m67_mha, tokens) / 2**30, ".1f"),
        "cache_razao": fmt(kv_cache_bytes(m67_mha, tokens) / kv_cache_bytes(m67, tokens), ".0f"),
    }
    return Section({"modelos": models, "conferencia": check}, numbers)


# --- o kernel contra o oráculo ---------------------------------------------------------

def _fmt_err(x: float) -> str:
    return "0" if x == 0 else fmt(x, ".1e")


def kernel_check(seed: int = 0, *, shape=(2, 24, 16)) -> Section:
    """O *kernel* do livro (em cada *backend* de :mod:`helpers.model.attention`) e
    ``repeat_kv`` + fórmula contra ``F.scaled_dot_product_attention(..., enable_gqa=True)``,
    em saídas e gradientes, para MHA, GQA e MQA com 8 *heads* de consulta."""
    batch, seq, head_dim = shape
    backends = tuple(getattr(attn, "BACKENDS", ("fused",)))
    gen = torch.Generator().manual_seed(seed)
    rows, worst = [], 0.0
    for heads, kv in ((8, 8), (8, 2), (8, 1)):
        q = torch.randn(batch, heads, seq, head_dim, generator=gen, requires_grad=True)
        k = torch.randn(batch, kv, seq, head_dim, generator=gen, requires_grad=True)
        v = torch.randn(batch, kv, seq, head_dim, generator=gen, requires_grad=True)
        oracle = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        grads_oracle = torch.autograd.grad(oracle.square().sum(), (q, k, v))
        errs_out, errs_grad = [], []
        for backend in backends:
            with attn.attention_backend(backend):
                ours = attn.grouped_query_attention(q, k, v, causal=True)
            grads = torch.autograd.grad(ours.square().sum(), (q, k, v))
            errs_out.append((ours - oracle).abs().max().item())
            errs_grad.append(max((a - b).abs().max().item() for a, b in zip(grads, grads_oracle)))
        err_naive = (reference_attention(q, k, v, causal=True) - oracle).abs().max().item()
        worst = max(worst, err_naive, *errs_out, *errs_grad)
        g = heads // kv
        rep = repeat_kv(k.detach(), g)
        copy = ("nada a repetir" if g == 1 else "vista de passo 0 (nenhum byte novo)" if rep.data_ptr() == k.data_ptr()
                else f"cópia: {g}× a memória de K")
        rows.append([attention_kind(kv, heads), g, *[_fmt_err(e) for e in errs_out], _fmt_err(err_naive),
                     _fmt_err(max(errs_grad)), copy])
    if worst >= 1e-4:
        raise AssertionError(f"o kernel difere do SDPA em {worst:.2e} (tolerância 1e-4).")
    headers = ["atenção", "G", *[f"kernel ({b}) − SDPA" for b in backends], "repeat_kv − SDPA",
               "kernel − SDPA (gradientes)", "repeat_kv(K)"]
    return Section({"erros": markdown_table(headers, rows)},
                   {"erro_max_kernel": fmt(worst, ".0e"), "kernel_backends": " e ".join(backends)})


def tiny_cache_check(new_tokens: int = 64) -> Section:
    """Gera ``new_tokens`` *tokens* com e sem cache (decodificação gulosa) em três modelos
    minúsculos — 2 camadas, d = 32, 4 *heads* de dimensão 8, com 4, 2 e 1 *heads* K/V — e
    confere que os *tokens* coincidem e que o ``KVCache`` aloca o que a fórmula diz."""
    prompt = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(1))
    rows, same_all, sizes = [], True, []
    for kv in (4, 2, 1):
        cfg = tiny(2, hidden_size=32, head_dim=8, num_key_value_heads=kv)
        torch.manual_seed(0)
        model = Transformer(cfg)
        cached = generate(model, prompt, new_tokens, temperature=0, use_cache=True)
        plain = generate(model, prompt, new_tokens, temperature=0, use_cache=False)
        with torch.no_grad():  # os logits da última posição pelos dois caminhos
            full = model(cached[:, :-1])[:, -1]
            cache = KVCache(cfg, prompt.shape[0], cached.shape[1])
            model(cached[:, :-2], cache=cache)
            step = model(cached[:, -2:-1], cache=cache)[:, -1]
        same = torch.equal(cached, plain)
        same_all &= same
        allocated = KVCache(cfg, 1, cfg.max_position_embeddings).nbytes
        sizes.append(allocated)
        rows.append([attention_kind(kv, cfg.num_attention_heads), kv, "sim" if same else "NÃO",
                     _fmt_err((full - step).abs().max().item()), format_bytes(allocated),
                     format_bytes(kv_cache_bytes(cfg, cfg.max_position_embeddings, bytes_per_value=4))])
    if not same_all:
        raise AssertionError("gerar com e sem cache deu tokens diferentes.")
    table = markdown_table(["atenção", "heads K/V", f"mesmos {new_tokens} tokens com e sem cache",
                            "maior diferença de logit", "KVCache (128 posições, float32)", "fórmula"], rows)
    return Section({"geracao": table}, {"tiny_cache_mha": format_bytes(sizes[0]), "tiny_cache_mqa": format_bytes(sizes[-1])})


def cpu_flash_accepts_mask() -> bool:
    """O *kernel* "flash" do SDPA na CPU aceita uma máscara booleana explícita? (Restringe o
    SDPA a esse *backend* com ``sdpa_kernel`` e compara com a fórmula.)"""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, kv = torch.randn(1, 8, 64, 16), torch.randn(1, 8, 64, 16)
    mask = causal_mask(64, 64)
    try:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            out = F.scaled_dot_product_attention(q, kv, kv, attn_mask=mask)
    except RuntimeError:
        return False
    return bool(torch.allclose(out, reference_attention(q, kv, kv), atol=1e-5, rtol=1e-5))


# --- as medições de benchmarks/atencao.py ----------------------------------------------

def _kernel_markdown(key: str, payload: dict, rows: list[dict]) -> str:
    extra = [v for v in EXTRA_VARIANTS if all(v in r["time_s"] for r in rows)]
    body = [[r["seq_len"], r["group"], r["kv_heads"],
             *[fmt(1e3 * r["time_s"][v], ".3g") for v in (*BENCH_VARIANTS, *extra)], fmt(r["slowdown"], ".1f") + "×",
             *[format_bytes(r["peak_bytes"][v]) for v in (*BENCH_VARIANTS, *extra)]] for r in rows]
    names = {"gqa": "kernel", "sdpa_gqa": "SDPA", "repeat_sdpa": "repeat", "gqa_math": "math"}
    variants = (*BENCH_VARIANTS, *extra)
    return (f"**{DEVICE_LABEL[key]}** ({payload['metadata']['device_name']}), só a ida:\n\n"
            + markdown_table(["S", "G", "H_kv", *[f"{names[v]} (ms)" for v in variants], "kernel ÷ SDPA",
                              *[f"pico {names[v]}" for v in variants]], body))


_VERSION_TEXT = {
    "materializada": "a versão anterior do kernel, que montava a máscara explícita [G·S, T] e a entregava ao SDPA",
    "ausente": "o kernel sem máscara explícita (a memória a mais sobre o SDPA é nula)",
    "outra": "uma versão do kernel cuja memória a mais não é a de uma máscara [G·S, T]",
}


def _device_numbers(key: str, payload: dict | None) -> dict[str, str]:
    """Os números do texto para um dispositivo (``"—"`` se a medição não existe)."""
    names = ("t_kernel", "t_sdpa", "razao", "pico_kernel", "pico_sdpa", "razao_min", "razao_max", "mascara_bytes",
             "S_max", "G_max", "repeat_extra", "repeat_vezes", "G_meio", "faixa", "razao_g1", "g1_veredito",
             "dup_kernel", "dup_sdpa", "mascara", "dtype_bytes", "versao", "faixa_math")
    if payload is None:
        return {f"{key}_{n}": "—" for n in names}
    rows = kernel_table(payload)
    nbytes = _dtype_bytes(payload["metadata"])
    s_max, g_max = max(r["seq_len"] for r in rows), max(r["group"] for r in rows)
    cell = {(r["seq_len"], r["group"]): r for r in rows}
    top = cell[(s_max, g_max)]
    slow = [r["slowdown"] for r in rows]
    g1 = [r["slowdown"] for r in rows if r["group"] == 1]
    mask_med = float(np.median([r["mask_bytes_per_element"] for r in rows]))
    seqs = sorted({r["seq_len"] for r in rows})
    out = {
        "S_max": str(s_max), "G_max": str(g_max),
        "t_kernel": fmt(1e3 * top["time_s"]["gqa"], ".3g"), "t_sdpa": fmt(1e3 * top["time_s"]["sdpa_gqa"], ".3g"),
        "razao": fmt(top["slowdown"], ".1f"),
        "pico_kernel": format_bytes(top["peak_bytes"]["gqa"]), "pico_sdpa": format_bytes(top["peak_bytes"]["sdpa_gqa"]),
        "razao_min": fmt(min(slow), ".1f"), "razao_max": fmt(max(slow), ".1f"),
        "faixa": ratio_phrase(min(slow), max(slow)),
        "razao_g1": f"{fmt(min(g1), '.2g')} a {fmt(max(g1), '.2g')}" if g1 else "—",
        "g1_veredito": ("—" if not g1 else "também é mais lento" if min(g1) > 1 + SAME_SPEED_TOLERANCE
                        else "empata com o SDPA" if max(g1) <= 1 + SAME_SPEED_TOLERANCE else "às vezes empata, às vezes é mais lento"),
        "mascara_bytes": fmt(mask_med, ".2g"), "mascara": mask_story(mask_med, nbytes), "dtype_bytes": str(nbytes),
        "dup_kernel": "—", "dup_sdpa": "—",
        "versao": _VERSION_TEXT[mask_story(mask_med, nbytes)],
    }
    math_ratio = [r["time_s"]["gqa_math"] / r["time_s"]["sdpa_gqa"] for r in rows if "gqa_math" in r["time_s"]]
    out["faixa_math"] = ratio_phrase(min(math_ratio), max(math_ratio)) if len(math_ratio) == len(rows) else "—"
    if len(seqs) > 1:  # quanto a memória cresce quando S dobra, no maior grupo
        prev = cell[(seqs[-2], g_max)]
        out["dup_kernel"] = fmt(top["peak_bytes"]["gqa"] / prev["peak_bytes"]["gqa"], ".2g")
        out["dup_sdpa"] = fmt(top["peak_bytes"]["sdpa_gqa"] / prev["peak_bytes"]["sdpa_gqa"], ".2g")
    mids = [g for g in sorted({r["group"] for r in rows}) if 1 < g < g_max]
    if mids:
        mid = cell[(s_max, mids[0])]
        out.update(G_meio=str(mids[0]), repeat_extra=format_bytes(mid["repeat_extra_bytes"]),
                   repeat_vezes=fmt(mid["repeat_extra_bytes"] / mid["kv_bytes"], ".2g"))
    else:
        out.update(G_meio="—", repeat_extra="—", repeat_vezes="—")
    return {f"{key}_{n}": v for n, v in out.items()}


def _decode_numbers(key: str, decode: list[dict]) -> dict[str, str]:
    names = ("dec_cache", "dec_sem", "dec_ganho", "dec_cache_mha", "dec_cache_mqa", "dec_ganho_veredito",
             "dec_variantes")
    if not decode:
        return {f"{key}_{n}": "—" for n in names}
    gains = [d["ms_per_token_no_cache"] / d["ms_per_token_cache"] for d in decode]
    by_kind = {attention_kind(d["kv_heads"], d["heads"]): d for d in decode}
    mha = by_kind.get("MHA")
    others = [k for k in by_kind if k != "MHA"]
    variants = ("; ".join(decode_speed_phrase(mha["ms_per_token_cache"], by_kind[k]["ms_per_token_cache"], k)
                          for k in others) if mha and others else "—")
    lo, hi = min(gains), max(gains)
    verdict = ("praticamente o mesmo" if hi <= 1 + SAME_SPEED_TOLERANCE and lo >= 1 - SAME_SPEED_TOLERANCE
               else "muito menos com cache" if lo >= 2 else "um pouco menos com cache" if lo > 1 else "sem padrão claro")
    out = {
        "dec_cache": f"{fmt(min(d['ms_per_token_cache'] for d in decode), '.2g')} a "
                     f"{fmt(max(d['ms_per_token_cache'] for d in decode), '.2g')}",
        "dec_sem": f"{fmt(min(d['ms_per_token_no_cache'] for d in decode), '.3g')} a "
                   f"{fmt(max(d['ms_per_token_no_cache'] for d in decode), '.3g')}",
        "dec_ganho": f"{fmt(lo, '.2g')} a {fmt(hi, '.2g')}",
        "dec_ganho_veredito": verdict,
        "dec_cache_mha": format_bytes(decode[0]["cache_bytes"]),
        "dec_cache_mqa": format_bytes(decode[-1]["cache_bytes"]),
        "dec_variantes": variants,
    }
    return {f"{key}_{n}": v for n, v in out.items()}


def _table1_numbers() -> tuple[str, dict[str, str]]:
    rows = [[name, fmt(t, ".2f"), fmt(score, ".1f")] for name, t, score in GQA_TABLE1["rows"]]
    table = (markdown_table(["modelo (T5.1.1)", "tempo de inferência por amostra (s)", "média das tarefas"], rows)
             + f"\n\nFonte: {GQA_TABLE1['source']}.")
    t1 = {name: (t, s) for name, t, s in GQA_TABLE1["rows"]}
    loss = t1["MHA-XXL"][1] - t1["GQA-8-XXL"][1]
    return table, {
        "t1_mha": fmt(t1["MHA-XXL"][1], ".1f"), "t1_gqa": fmt(t1["GQA-8-XXL"][1], ".1f"),
        "t1_mqa": fmt(t1["MQA-XXL"][1], ".1f"),
        "t1_acel_gqa": fmt(t1["MHA-XXL"][0] / t1["GQA-8-XXL"][0], ".1f"),
        "t1_acel_mqa": fmt(t1["MHA-XXL"][0] / t1["MQA-XXL"][0], ".1f"),
        "t1_perda_gqa": fmt(loss, ".1f"),
        "t1_qualidade": "quase não perde qualidade" if abs(loss) < 0.5 else "perde qualidade" if loss > 0 else
        "ganha qualidade",
    }


def bench_section(bench: dict[str, dict] | None = None, *, flash_accepts_mask: bool | None = None) -> Section:
    """As medições de ``benchmarks/atencao.py`` prontas para o capítulo.

    ``bench`` vem de :func:`load_attention_benchmarks` (lido de ``results/`` se ``None``); um
    dispositivo ausente dá ``"—"`` nos seus números. ``data["kernels"]`` tem as linhas de
    :func:`kernel_table` por dispositivo, para as figuras.
    """
    bench = load_attention_benchmarks() if bench is None else bench
    kernels = {key: kernel_table(p) for key, p in bench.items()}
    meta_rows = [[DEVICE_LABEL[k], m["device_name"], m["threads"], m["dtype"].replace("torch.", ""), m["batch"],
                  f"{m['heads']} × {m['head_dim']}", m["repeats"], m["torch"], str(m.get("commit", "—"))[:7]]
                 for k, m in ((k, p["metadata"]) for k, p in bench.items())]
    tables = {"medicoes": markdown_table(["medição", "dispositivo", "threads", "tipo", "lote", "heads × d_h",
                                          "repetições", "PyTorch", "commit"], meta_rows)}
    for key, payload in bench.items():
        tables[f"kernels_{key}"] = _kernel_markdown(key, payload, kernels[key])
    numbers: dict[str, object] = {}
    for key in BENCHMARK_FILES:
        numbers.update(_device_numbers(key, bench.get(key)))
        numbers.update(_decode_numbers(key, bench[key]["decode"] if key in bench else []))
    if "gpu" in kernels and "cpu" in kernels:
        med = {k: float(np.median([r["slowdown"] for r in kernels[k]])) for k in ("gpu", "cpu")}
        numbers["cpu_contraste"] = ("uma penalidade bem menor que a da GPU" if med["cpu"] < 0.6 * med["gpu"]
                                    else "uma penalidade comparável à da GPU")
    else:
        numbers["cpu_contraste"] = "—"
    flash = cpu_flash_accepts_mask() if flash_accepts_mask is None else flash_accepts_mask
    numbers["cpu_flash_mascara"] = "aceita máscara" if flash else "não aceita máscara nesta versão do PyTorch"
    # a geração: um modelo pequeno, o mesmo nas duas máquinas
    dec_rows = []
    for key, payload in bench.items():
        for d in payload["decode"]:
            dec_rows.append([DEVICE_LABEL[key], attention_kind(d["kv_heads"], d["heads"]), d["batch"],
                             f"{d['prompt']} + {d['new_tokens']}", fmt(d["ms_per_token_cache"], ".3g"),
                             fmt(d["ms_per_token_no_cache"], ".3g"),
                             fmt(d["ms_per_token_no_cache"] / d["ms_per_token_cache"], ".3g") + "×",
                             format_bytes(d["cache_bytes"]), "sim" if d["cache_bytes"] == d["cache_bytes_formula"] else "NÃO"])
    tables["geracao"] = markdown_table(["medição", "atenção", "lote", "prompt + novos", "ms/token com cache",
                                        "ms/token sem cache", "ganho do cache", "cache alocado", "= fórmula?"], dec_rows)
    any_d = next((d for p in bench.values() for d in p["decode"]), None)
    numbers["dec_forma"] = (f"{any_d['n_layer']} camadas, d = {any_d['hidden']}, {any_d['heads']} heads de "
                            f"{any_d['head_dim']}" if any_d else "—")
    numbers["dec_prompt"] = str(any_d["prompt"]) if any_d else "—"
    numbers["dec_novos"] = str(any_d["new_tokens"]) if any_d else "—"
    tables["tabela1"], t1 = _table1_numbers()
    numbers.update(t1)
    texts = {f"{key}_texto": device_text(key, numbers) for key in BENCHMARK_FILES}
    return Section(tables, numbers, {"kernels": kernels, "bench": bench, "texts": texts})


# --- os parágrafos que dependem do que foi medido -----------------------------------------

_GPU_MASK = (
    "Em toda a grade, o *kernel* medido é {faixa} que o SDPA. O motivo é a máscara explícita. Sem máscara "
    "(`is_causal=True`), o PyTorch usa na GPU um *kernel* no estilo do FlashAttention, que percorre $QK^\\top$ em "
    "blocos que cabem na memória rápida do chip, aplica o softmax por partes e nunca escreve a matriz $S \\times T$ "
    "na memória principal — o custo que importa numa GPU é o tráfego de memória, não os FLOPs. Esse *kernel* não "
    "aceita uma máscara arbitrária; com uma, o PyTorch cai num *kernel* \"eficiente em memória\" que recebe a "
    "máscara como um tensor de viés somado às pontuações, materializado no tipo da entrada. A memória a mais do "
    "*kernel* medido sobre o SDPA é, na mediana da tabela, {mascara_bytes} bytes por elemento da máscara "
    "$[G\\cdot S, T]$ — 1 byte do booleano mais {dtype_bytes} da sua cópia no tipo da entrada. Ela cresce com "
    "$G\\cdot S^2$: de $S/2$ para $S$ no maior grupo, a memória do *kernel* medido cresce {dup_kernel} vezes, e a "
    "do SDPA, {dup_sdpa}. Com $G = 1$ (MHA), em que não há agrupamento nenhum, o *kernel* medido {g1_veredito} "
    "({razao_g1} vezes o tempo do SDPA): o culpado é a máscara, não o agrupamento."
)
_CPU_MASK = (
    "Em toda a grade, o *kernel* medido fica {faixa} do SDPA — {contraste}. A implementação \"flash\" da CPU no "
    "PyTorch {flash} (`cap04_bench.cpu_flash_accepts_mask` confere, restringindo o SDPA a ela com `sdpa_kernel`), "
    "então os dois caminhos podem usar o mesmo algoritmo em blocos, e o *kernel* paga a criação, a conversão e a "
    "leitura da máscara: {mascara_bytes} bytes por elemento (1 do booleano, {dtype_bytes} da cópia no tipo da "
    "entrada). Esse custo cresce com $G\\cdot S^2$ — de $S/2$ para $S$ no maior grupo, a memória do *kernel* "
    "cresce {dup_kernel} vezes, e a do SDPA, {dup_sdpa} —, e a penalidade com ele."
)
_NO_MASK = (
    "Em toda a grade, o *kernel* medido {faixa} do SDPA com `enable_gqa`, e a memória a mais sobre ele é de "
    "{mascara_bytes} bytes por elemento de uma máscara $[G\\cdot S, T]$: é a mesma chamada do PyTorch, com "
    "`is_causal=True` e sem máscara explícita, e o agrupamento não custa nada."
)
_OTHER = (
    "Em toda a grade, o *kernel* medido fica {faixa} do SDPA, com {mascara_bytes} bytes a mais por elemento de uma "
    "máscara $[G\\cdot S, T]$ — nem a máscara inteira ({mask_full} bytes) nem nada."
)
_MATH = (
    " O *backend* `\"math\"`, medido à parte, fica {faixa_math} do SDPA: ele escreve as pontuações "
    "$[G\\cdot S, T]$ inteiras na memória, o que o SDPA evita."
)


def device_text(key: str, numbers: dict) -> str:
    """O parágrafo (MyST) que explica a medição de um dispositivo, escolhido pelo que a memória a
    mais do *kernel* mostra (:func:`mask_story`): máscara materializada, ausente ou outra coisa.
    ``numbers`` são os de :func:`bench_section`."""
    story = numbers.get(f"{key}_mascara", "—")
    if story == "—":
        return f"Não há medição de {DEVICE_LABEL[key]} em `results/`."
    n = {k[len(key) + 1:]: v for k, v in numbers.items() if k.startswith(f"{key}_")}
    n.update(contraste=numbers.get("cpu_contraste", "—"), flash=numbers.get("cpu_flash_mascara", "—"),
             mask_full=fmt(1 + int(n["dtype_bytes"]), "g"))
    if story == "materializada":
        text = (_GPU_MASK if key == "gpu" else _CPU_MASK).format(**n)
    elif story == "ausente":
        text = _NO_MASK.format(**n)
    else:
        text = _OTHER.format(**n)
    if n.get("faixa_math", "—") != "—":
        text += _MATH.format(**n)
    return text
