"""Capítulo 2 — a arquitetura do DeepSeek LLM: as peças, os dois modelos publicados e a família
minúscula que o livro treina (nada de ``results/``).

- :func:`swiglu_table` — a largura da SwiGLU, ``8/3·d`` arredondada a múltiplos de 256;
- :func:`kv_cache_gib` e :func:`kv_cache_table` — o cache KV de uma sequência, MHA × GQA;
- :func:`meta_count` — o 7B e o 67B construídos no dispositivo ``meta`` e contados tensor a tensor;
- :func:`family_table` — a família minúscula dos experimentos ao lado do 7B e do 67B;
- :func:`depth_vs_width` — o 67B profundo contra uma alternativa larga de 80 camadas;
- :func:`rope_scores` e :func:`plot_rope` — a matriz ⟨R_m q, R_n k⟩ e a sua figura.

Cada função devolve as tabelas em Markdown e os números (já formatados) que o notebook cola
na prosa; as frases de comparação ("menos", "quase o mesmo") saem dos próprios números.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..model import config as cfg
from ..model.attention import kv_cache_bytes
from ..model.flops import analytic_flops_per_token, count_params, deepseek_m
from ..model.transformer import RotaryEmbedding, Transformer, apply_rotary
from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure
from .cap08 import SIZE_LADDER, ladder_config
from .common import ROOT, SEQ_LEN

__all__ = ["swiglu_table", "kv_cache_gib", "kv_cache_table", "MetaCount", "count_on_meta", "meta_count", "experiment_shapes", "family_rows",
           "family_table", "depth_vs_width", "rope_scores", "plot_rope"]

#: O contexto dos modelos publicados (Tabela 2 do artigo).
BIG_SEQ_LEN = 4096


def swiglu_table(widths=(4096, 8192)) -> str:
    """``8/3·d`` e o ``d_ff`` arredondado para cima a um múltiplo de 256."""
    rows = [[d, fmt(8 * d / 3, ",.1f"), fmt(cfg.swiglu_intermediate_size(d), ",d"),
             fmt(cfg.swiglu_intermediate_size(d) / d, ".4f")] for d in widths]
    return markdown_table(["d_model", "8/3 · d", "d_ff (múltiplo de 256)", "d_ff / d"], rows)


def kv_cache_gib(c: cfg.ModelConfig, tokens: int = BIG_SEQ_LEN) -> float:
    """O cache KV de uma sequência de ``tokens`` em bf16, em GiB."""
    return kv_cache_bytes(c, tokens, bytes_per_value=2) / 2**30


def kv_cache_table() -> tuple[str, dict[str, str]]:
    """O cache do 7B (MHA), do 67B (GQA-8) e do 67B se fosse MHA, com as comparações da prosa."""
    m7, m67 = cfg.deepseek_7b(), cfg.deepseek_67b()
    m67_mha = m67.replace(num_key_value_heads=m67.num_attention_heads)
    g7, g67, g67_mha = kv_cache_gib(m7), kv_cache_gib(m67), kv_cache_gib(m67_mha)
    table = markdown_table(
        ["modelo", "*heads* de consulta", "*heads* K/V", "cache KV de uma sequência de 4096 *tokens* (bf16)"],
        [["7B (MHA)", m7.num_attention_heads, m7.num_key_value_heads, f"{fmt(g7, '.3f')} GiB"],
         ["67B (GQA-8)", m67.num_attention_heads, m67.num_key_value_heads, f"{fmt(g67, '.2f')} GiB"],
         ["67B se fosse MHA", m67_mha.num_attention_heads, m67_mha.num_key_value_heads, f"{fmt(g67_mha, '.1f')} GiB"]])
    numbers = {
        "cache_67b_vs_7b": "menos" if g67 < g7 else "mais",
        "camadas_67b_7b": fmt(m67.num_hidden_layers / m7.num_hidden_layers, ".1f"),
        "cache_mha_vezes": fmt(g67_mha / g67, ".0f"),
    }
    return table, numbers


@dataclass(frozen=True)
class MetaCount:
    """O 7B e o 67B contados no dispositivo ``meta``: tabelas e números para a prosa."""

    counted: dict[str, int]
    spec_table: str = field(repr=False)
    count_table: str = field(repr=False)
    numbers: dict[str, str]


def count_on_meta(c: cfg.ModelConfig) -> int:
    """Constrói o modelo no dispositivo ``meta`` (formas sem memória) e soma ``numel()`` tensor a tensor."""
    with torch.device("meta"):
        model = Transformer(c)
    return sum(p.numel() for p in model.parameters())


def meta_count() -> MetaCount:
    """Os dois modelos publicados, contados de verdade e pela fórmula de ``count_params``."""
    spec_rows, count_rows, counted, vocab_share = [], [], {}, {}
    for name, c in (("7B", cfg.deepseek_7b()), ("67B", cfg.deepseek_67b())):
        counted[name] = n = count_on_meta(c)
        p = count_params(c)
        if n != p.total:
            raise ValueError(f"{name}: o modelo tem {n} parâmetros e count_params diz {p.total}.")
        spec_rows.append([name, c.num_hidden_layers, fmt(c.hidden_size, ",d"), c.num_attention_heads,
                          c.num_key_value_heads, c.head_dim, fmt(c.intermediate_size, ",d"),
                          fmt(c.vocab_size, ",d"), fmt(c.max_position_embeddings, ",d")])
        vocab = p.embedding + p.lm_head
        vocab_share[name] = vocab / n
        count_rows.append([name, fmt(p.attention, ",d"), fmt(p.mlp, ",d"), fmt(vocab, ",d"), fmt(n, ",d"),
                           fmt(vocab / n, ".1%")])
    spec_table = markdown_table(
        ["modelo", "camadas", "d_model", "*heads*", "*heads* K/V", "d_h", "d_ff", "vocabulário", "contexto"],
        spec_rows)
    count_table = markdown_table(
        ["modelo", "atenção", "SwiGLU", "*embedding* + cabeça", "total (contado no `meta`)", "fração do vocabulário"],
        count_rows)
    numbers = {"params_7B": format_si(counted["7B"], 4), "params_67B": format_si(counted["67B"], 4),
               "gb_67b_fp32": fmt(4 * counted["67B"] / 1e9, ".0f"),
               "vocab_7B": fmt(vocab_share["7B"], ".0%")}
    return MetaCount(counted, spec_table, count_table, numbers)


def experiment_shapes(folder=None) -> dict[tuple[int, int], set[int]]:
    """``{(n_layer, d_model): {capítulos}}`` lido das especificações em ``experiments/`` (não dos resultados).

    Cada especificação tem um modelo-base (``base.model``) e treinos que podem trocar
    ``model.num_hidden_layers`` e ``model.hidden_size``; sem ``hidden_size``, a família
    minúscula usa ``d = 16 · n_layer``.
    """
    folder = Path(folder) if folder is not None else ROOT / "experiments"
    shapes: dict[tuple[int, int], set[int]] = {}
    for path in sorted(folder.glob("cap*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        chapter = int(path.stem[3:5])
        base = spec.get("base", {}).get("model", {})
        for run in spec.get("runs") or [{}]:
            n = run.get("model.num_hidden_layers", base.get("num_hidden_layers"))
            d = run.get("model.hidden_size", base.get("hidden_size")) or 16 * n
            shapes.setdefault((int(n), int(d)), set()).add(chapter)
    return shapes


def _chapters(numbers: set[int]) -> str:
    items = [str(n) for n in sorted(numbers)]
    return "—" if not items else items[0] if len(items) == 1 else ", ".join(items[:-1]) + " e " + items[-1]


def family_rows() -> list[tuple[str, str, cfg.ModelConfig, int]]:
    """``(nome, capítulos que o treinam, configuração, contexto)``: a escada de tamanhos, o 7B e o 67B."""
    used = experiment_shapes()
    tiny3 = (cfg.tiny(3).num_hidden_layers, cfg.tiny(3).hidden_size)
    rows = []
    for i, shape in enumerate(SIZE_LADDER):
        name = f"degrau {i}" + (" = `tiny(3)`" if shape == tiny3 else "")
        rows.append((name, _chapters(used.get(shape, set())), ladder_config(i), SEQ_LEN))
    rows += [("DeepSeek 7B", "publicado", cfg.deepseek_7b(), BIG_SEQ_LEN),
             ("DeepSeek 67B", "publicado", cfg.deepseek_67b(), BIG_SEQ_LEN)]
    return rows


def family_table() -> tuple[str, dict[str, str]]:
    """A tabela da família do livro ao lado dos modelos publicados e as razões de tamanho da prosa."""
    rows, params, ms = [], {}, {}
    for name, used, c, seq in family_rows():
        params[name], ms[name] = count_params(c).total, deepseek_m(c, seq)
        rows.append([name, used, c.num_hidden_layers, fmt(c.hidden_size, ",d"), c.num_attention_heads,
                     c.num_key_value_heads, format_si(params[name], 3), format_si(ms[name], 3)])
    table = markdown_table(
        ["modelo", "capítulos", "camadas", "d_model", "*heads*", "*heads* K/V", "parâmetros", "M (FLOPs/*token*)"],
        rows, align="llrrrrrr")
    trained = {name for name, used, _, _ in family_rows() if used not in ("—", "publicado")}
    small = [k for k in params if k in trained]
    largest, smallest = max(small, key=params.get), min(small, key=params.get)
    numbers = {
        "familia_min": format_si(params[smallest], 3),
        "familia_max": format_si(params[largest], 3),
        "familia_vezes_7b": format_si(params["DeepSeek 7B"] / params[largest], 2),
        "familia_m_vezes_7b": format_si(ms["DeepSeek 7B"] / ms[largest], 2),
        "familia_degraus": str(len(SIZE_LADDER)),
        "familia_treinados": str(len(trained)),
    }
    return table, numbers


def depth_vs_width() -> tuple[str, dict[str, str]]:
    """O 67B (95 camadas, d_ff = 22 016) contra 80 camadas com a FFN de 3,5·d do LLaMA-2 70B."""
    deep = cfg.deepseek_67b()
    wide = deep.replace(num_hidden_layers=80, intermediate_size=28672)
    rows = []
    for name, c in (("67B: profundo (95 camadas, d_ff = 22 016)", deep),
                    ("alternativa larga (80 camadas, d_ff = 28 672)", wide)):
        p = count_params(c)
        rows.append([name, format_si(p.total, 4), format_si(p.non_embedding, 4),
                     format_si(p.non_embedding / c.num_hidden_layers, 3),
                     format_si(analytic_flops_per_token(c, BIG_SEQ_LEN).non_vocab, 4),
                     format_si(deepseek_m(c, BIG_SEQ_LEN), 4), f"{fmt(kv_cache_gib(c), '.2f')} GiB",
                     c.num_hidden_layers])
    table = markdown_table(
        ["forma", "parâmetros", "sem *embedding*", "por camada", "FLOPs/*token* reais (sem vocabulário)",
         "M da Eq. 2", "cache KV (4096 *tokens*)", "passos sequenciais"], rows, align="lrrrrrrr")
    real = analytic_flops_per_token(wide, BIG_SEQ_LEN).non_vocab / analytic_flops_per_token(deep, BIG_SEQ_LEN).non_vocab - 1
    total = count_params(wide).total / count_params(deep).total - 1
    per_layer_real = count_params(deep).non_embedding / deep.num_hidden_layers
    cache_ratio = kv_cache_gib(deep) / kv_cache_gib(wide)
    steps_ratio = deep.num_hidden_layers / wide.num_hidden_layers
    numbers = {
        "custo_real": fmt(real, "+.0%"),
        "custo_params": fmt(total, "+.0%"),
        "custo_m": fmt(deepseek_m(wide, BIG_SEQ_LEN) / deepseek_m(deep, BIG_SEQ_LEN) - 1, "+.0%"),
        "custo_frase": "quase o mesmo" if max(abs(real), abs(total)) < 0.05 else "custos diferentes",
        "excesso_12d2": fmt(12 * deep.hidden_size**2 / per_layer_real - 1, ".0%"),
        "mais_passos": fmt(steps_ratio - 1, ".0%"),
        "cache_frase": ("proporcionalmente maior" if abs(cache_ratio - steps_ratio) < 1e-12
                        else f"{fmt(cache_ratio - 1, '.0%')} maior"),
    }
    return table, numbers


def rope_scores(head_dim: int = 32, length: int = 64, *, theta: float = 10000.0, seed: int = 0):
    """O mesmo par (q, k) girado em todas as posições: a matriz ``⟨R_m q, R_n k⟩`` e duas medidas.

    Devolve ``(scores, norm_change, diag_spread)``: a matriz ``[m, n]``, a maior variação de norma
    causada pela rotação e o maior desvio padrão ao longo de uma diagonal ``n − m`` (≈ 0 se a
    pontuação só depende da distância).
    """
    g = torch.Generator().manual_seed(seed)
    rope = RotaryEmbedding(head_dim, theta=theta)
    cos, sin = rope(torch.arange(length))
    q = torch.randn(head_dim, generator=g).expand(length, head_dim)
    k = torch.randn(head_dim, generator=g).expand(length, head_dim)
    q_rot, k_rot = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    scores = q_rot @ k_rot.T
    norm_change = (q_rot.norm(dim=-1) - q.norm(dim=-1)).abs().max().item()
    diag_spread = max(torch.diagonal(scores, offset=o).std().item() for o in range(-length + 2, length - 1))
    return scores, norm_change, diag_spread


def plot_rope(scores):
    """À esquerda, o mapa ``⟨R_m q, R_n k⟩``; à direita, a primeira linha (a pontuação contra a distância)."""
    fig, (ax_map, ax_dist) = new_figure(ncols=2, width=8.0, height=3.8)
    im = ax_map.imshow(scores.numpy(), cmap="RdBu_r", origin="upper")
    ax_map.set(xlabel="posição $n$ da chave", ylabel="posição $m$ da consulta",
               title=r"$\langle R_m q,\, R_n k\rangle$")
    ax_map.grid(False)
    fig.colorbar(im, ax=ax_map, shrink=0.85)
    ax_dist.plot(range(scores.shape[1]), scores[0].numpy(), color=COLORS["azul"])
    ax_dist.set(xlabel="distância $n - m$", ylabel="produto escalar", title="depende só da distância")
    return fig
