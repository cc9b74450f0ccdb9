"""As figuras do capítulo 4, desenhadas a partir das :class:`~helpers.chapters.cap04_bench.Section`.

- :func:`plot_kernels` — tempo e memória dos três caminhos da atenção num dispositivo;
- :func:`plot_decode` — milissegundos por *token* gerado, com e sem cache;
- :func:`plot_uptraining` — a continuação depois da conversão MHA → GQA/MQA e cada etapa;
- :func:`plot_depth` — perda e vazão das formas de profundidade × largura.

Cada função devolve a figura (``matplotlib.figure.Figure``); o notebook a cola com
:func:`helpers.presentation.plots.glue_figure`, que lhe dá número e legenda.
"""

from __future__ import annotations

import math

import matplotlib as mpl
import numpy as np

from ..presentation.plots import COLORS, comma_axis, format_si, new_figure, plain_log_axis
from .cap04_bench import BENCH_VARIANTS, DEVICE_LABEL, VARIANT_LABEL, attention_kind

__all__ = ["plot_kernels", "plot_decode", "plot_uptraining", "plot_depth"]

VARIANT_COLOR = {"gqa": COLORS["vermelho"], "sdpa_gqa": COLORS["azul"], "repeat_sdpa": COLORS["laranja"]}
KIND_COLOR = {"MHA": COLORS["azul"], "GQA-2": COLORS["verde"], "MQA": COLORS["vermelho"]}


def plot_kernels(key: str, rows: list[dict], meta: dict):
    """Tempo da ida e pico de memória contra o comprimento ``S``, uma cor por caminho e um
    traço por tamanho de grupo ``G`` (linhas de :func:`helpers.chapters.cap04_bench.kernel_table`)."""
    fig, (ax_t, ax_m) = new_figure(ncols=2, height=4.2)
    groups = sorted({r["group"] for r in rows})
    styles = dict(zip(groups, [":", "--", "-"][-len(groups):] if len(groups) <= 3 else ["-"] * len(groups)))
    seqs = sorted({r["seq_len"] for r in rows})
    for v in BENCH_VARIANTS:
        for g in groups:
            sel = sorted((r for r in rows if r["group"] == g), key=lambda r: r["seq_len"])
            s = [r["seq_len"] for r in sel]
            ax_t.plot(s, [1e3 * r["time_s"][v] for r in sel], styles[g], marker="o", ms=4, color=VARIANT_COLOR[v])
            ax_m.plot(s, [r["peak_bytes"][v] / 2**20 for r in sel], styles[g], marker="o", ms=4, color=VARIANT_COLOR[v])
    for ax, ylabel in ((ax_t, "tempo da ida (ms)"), (ax_m, "pico de memória (MiB)")):
        ax.set(xscale="log", yscale="log", xlabel="comprimento $S$ (tokens)", ylabel=ylabel)
        plain_log_axis(ax)
        ax.set_xticks(seqs, [str(s) for s in seqs])
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    dtype = meta["dtype"].replace("torch.", "")
    ax_t.set_title(f"{DEVICE_LABEL[key]}: tempo ({dtype})")
    ax_m.set_title(f"{DEVICE_LABEL[key]}: memória além das entradas")
    handles = [ax_t.plot([], [], color=VARIANT_COLOR[v], label=VARIANT_LABEL[v])[0] for v in BENCH_VARIANTS]
    handles += [ax_t.plot([], [], styles[g], color=COLORS["cinza"], label=f"$G = {g}$")[0] for g in groups]
    fig.legend(handles=handles, loc="outside lower center", ncol=(len(handles) + 1) // 2, fontsize=10.5, handlelength=2.2,
               columnspacing=1.2)
    return fig


def plot_decode(bench: dict[str, dict]):
    """Milissegundos por *token* gerado com e sem cache, por atenção, um painel por dispositivo."""
    fig, axes = new_figure(ncols=max(1, len(bench)), height=3.8)
    for (key, payload), ax in zip(bench.items(), np.atleast_1d(axes)):
        kinds = [attention_kind(d["kv_heads"], d["heads"]) for d in payload["decode"]]
        x = np.arange(len(kinds))
        ax.bar(x - 0.2, [d["ms_per_token_cache"] for d in payload["decode"]], 0.4, color=COLORS["azul"], label="com cache")
        ax.bar(x + 0.2, [d["ms_per_token_no_cache"] for d in payload["decode"]], 0.4, color=COLORS["laranja"],
               label="sem cache")
        ax.set_xticks(x, kinds)
        ax.set(ylabel="ms por token gerado", title=f"{DEVICE_LABEL[key]}: lote {payload['decode'][0]['batch']}")
        values = [d[f] for d in payload["decode"] for f in ("ms_per_token_cache", "ms_per_token_no_cache")]
        if max(values) / min(values) > 10:  # escala log só quando as barras diferem em ordens de grandeza
            ax.set_yscale("log")
            plain_log_axis(ax)
            ax.set_ylim(top=max(values) * 4)
        else:
            comma_axis(ax)
            ax.set_ylim(0, max(values) * 1.3)
        ax.legend(loc="upper center", ncol=2)
    return fig


def plot_uptraining(data: dict):
    """À esquerda, as curvas da continuação mais longa de cada conversão (média das sementes;
    pontilhado: o mesmo modelo do zero); à direita, cada etapa, média ± desvio entre sementes.
    ``data`` é o de :func:`helpers.chapters.cap04.uptraining_section`."""
    summary, curves, stages, origin, heads = (data[k] for k in ("summary", "curves", "stages", "origin", "heads"))

    def find(stage, kind, frac=None):
        return next((r for r in summary if r["stage"] == stage and r["kind"] == kind
                     and (frac is None or r["fraction"] == frac)), None)

    fig, (ax_c, ax_s) = new_figure(ncols=2, height=4.4)
    for (kv, frac), runs in sorted(curves.items(), key=lambda t: -t[0][0]):
        if frac != max(f for k, f in curves if k == kv):
            continue  # a continuação mais longa de cada conversão contém a curta
        kind = attention_kind(kv, heads)
        n = min(len(c) for c in runs)
        tokens = np.array([p[0] for p in runs[0][:n]])
        losses = np.array([[p[1] for p in c[:n]] for c in runs])
        label = "MHA (controle)" if kind == "MHA" else f"{kind} convertido"
        ax_c.plot(tokens, losses.mean(axis=0), marker="o", ms=3, color=KIND_COLOR.get(kind), label=label)
        z = find("do_zero", kind)
        if z:
            ax_c.axhline(z["mean"], color=KIND_COLOR.get(kind), ls=":", lw=1.2)
    if origin:
        ax_c.axhline(origin["mean"], color=COLORS["cinza"], ls="--", lw=1, label="origem MHA")
    ax_c.set(yscale="log", xlabel="tokens da continuação", ylabel="perda de validação (bits por byte)",
             title="Continuação após a conversão")
    ax_c.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: format_si(v) if v else "0"))
    ax_c.legend()
    for i, kind in enumerate(("MHA", "GQA-2", "MQA")):
        pts = [(j, find(st, kind, fr)) for j, (st, fr, _) in enumerate(stages)]
        pts = [(j, r) for j, r in pts if r]
        if not pts:
            continue
        x = np.array([j for j, _ in pts]) + (i - 1) * 0.08
        ax_s.errorbar(x, [r["mean"] for _, r in pts], yerr=[0 if math.isnan(r["std"]) else r["std"] for _, r in pts],
                      marker="o", capsize=3, color=KIND_COLOR[kind], label=kind)
    if origin:
        ax_s.axhline(origin["mean"], color=COLORS["cinza"], ls="--", lw=1, label="origem MHA")
    ax_s.set_xticks(range(len(stages)), [s[2] for s in stages])
    ax_s.set(yscale="log", ylabel="perda de validação (bits por byte)", title="Cada etapa (média ± desvio)")
    for ax in (ax_c, ax_s):  # escala log com marcas lineares legíveis, qualquer que seja a faixa
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(6))
        comma_axis(ax)
        ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax_s.legend()
    return fig


def plot_depth(data: dict):
    """Perda final (média ± desvio entre sementes) e GFLOP/s medidos contra o número de camadas,
    nas duas famílias de :func:`helpers.chapters.cap04.depth_section`."""
    fam_a, fam_b, depth = data["fam_a"], data["fam_b"], data["depth"]
    fig, (ax_l, ax_v) = new_figure(ncols=2, height=4.4)
    for fam, color, label, note in ((fam_a, COLORS["azul"], "A: profundidade × largura", "d"),
                                    (fam_b, COLORS["laranja"], "B: profundidade × FFN ($d = 32$)", "ffn")):
        if not fam:
            continue
        n = [r["n_layer"] for r in fam]
        ax_l.errorbar(n, [r["loss_mean"] for r in fam], yerr=[r["loss_std"] for r in fam], marker="o", capsize=3,
                      color=color, label=label)
        for r in fam:
            text = f"$d = {r['d_model']}$" if note == "d" else f"$d_\\mathrm{{ff}} = {r['ffn']}$"
            ax_l.annotate(text, (r["n_layer"], r["loss_mean"]), textcoords="offset points", ha="right",
                          xytext=(-4, 6) if note == "d" else (10, -15), fontsize=10.5, color=color)
        ax_v.plot(n, [r["flops_per_s"] / 1e9 for r in fam], marker="o", color=color, label=label)
    ticks = sorted({r["n_layer"] for r in depth})
    for ax in (ax_l, ax_v):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
        ax.set_xlabel("camadas ($n_\\mathrm{layer}$)")
        comma_axis(ax)
    ax_l.set(ylabel="perda de validação final (bits por byte)", title="Mesmos parâmetros, mesmos FLOPs")
    ax_v.set(ylabel="GFLOP/s medidos (mediana)", title="Vazão na CPU")
    ax_v.legend()
    return fig
