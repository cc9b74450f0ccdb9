"""Capítulo 4 — onde a GQA importa: o passo de decodificação de uma camada do 7B e do 67B.

Lê ``results/bench_decodificacao_<cpu|gpu>.json`` (escrito por ``benchmarks/decodificacao.py``) e
devolve a :class:`~helpers.chapters.cap04_bench.Section` do capítulo: a tabela de tempos por passo,
os números e as frases de comparação (geradas dos tempos medidos) e os dados da figura.

A pergunta é se o passo fica limitado pela leitura de memória: se sim, o tempo cresce com os bytes
lidos, e cortar as *heads* K/V de ``H`` para ``H_kv`` corta o tempo da atenção perto de ``H/H_kv``.
O passo da camada inteira lê também os pesos das projeções, que não encolhem com a GQA; a razão
de bytes lidos diz quanto da aceleração da atenção sobra na camada.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..presentation.plots import COLORS, fmt, format_bytes, markdown_table, new_figure
from .cap04_bench import SAME_SPEED_TOLERANCE, Section, load_benchmarks

__all__ = ["DECODE_FILES", "VARIANTS", "attention_gflops", "regime", "load_decode_benchmarks", "decode_layer_section", "plot_decode_layer"]

DECODE_FILES = {"cpu": "bench_decodificacao_cpu.json", "gpu": "bench_decodificacao_gpu.json"}
VARIANTS = ("MHA", "GQA-8", "MQA")
_COLORS = {"MHA": COLORS["laranja"], "GQA-8": COLORS["azul"], "MQA": COLORS["verde"]}
_MARKERS = {"7B": "o", "67B": "s"}


def load_decode_benchmarks(results_dir: str | Path | None = None) -> dict[str, dict]:
    """``{"cpu": ..., "gpu": ...}`` com os arquivos que existem (ver :func:`cap04_bench.load_benchmarks`)."""
    return load_benchmarks(DECODE_FILES, ("meta", "rows"), "benchmarks/decodificacao.py", results_dir)


def attention_gflops(row: dict) -> float:
    """GFLOP/s da atenção de uma linha: ``Q·Kᵀ`` e ``A·V``, 2 FLOPs por MAC, ``B·H·T·d_head`` MACs cada."""
    return 4 * row["batch"] * row["heads"] * row["cache_len"] * row["d_head"] / (row["ms"] / 1e3) / 1e9


def regime(memory_share: float, compute_share: float, *, near: float = 0.7) -> str:
    """Em palavras, qual teto limita um passo: a fração da maior vazão de memória medida
    (``memory_share``) e a da maior vazão de contas (``compute_share``); perto (≥ ``near``) de um
    deles, é ele; longe dos dois, o passo está entre os dois limites."""
    if memory_share >= near and memory_share >= compute_share:
        return "limitada pela leitura de memória"
    if compute_share >= near:
        return "limitada pelas contas, não pela memória"
    return "entre os dois limites"


def _pick(rows, **match) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    if len(found) != 1:
        raise ValueError(f"esperava uma linha com {match}; achei {len(found)}.")
    return found[0]


def _speed_words(speedup: float, ideal: float) -> str:
    """Quão perto a aceleração medida chega da razão de bytes (o limite de um passo que só lê memória)."""
    share = speedup / ideal
    if speedup <= 1 + SAME_SPEED_TOLERANCE:
        return "nenhuma aceleração que passe do ruído"
    return (f"{fmt(speedup, '.2g')} vezes mais rápida, {fmt(100 * share, '.0f')}% da razão de bytes "
            f"({fmt(ideal, '.3g')}×)")


def decode_layer_section(bench: dict[str, dict] | None = None, *, device: str = "cpu") -> Section:
    """A tabela, os números e os dados da figura do passo de decodificação de uma camada."""
    bench = load_decode_benchmarks() if bench is None else bench
    if device not in bench:
        return Section(tables={"decode_camada": f"Não há medição de decodificação em `results/{DECODE_FILES[device]}`."},
                       numbers={"dl_disponivel": "não"}, data={})
    payload = bench[device]
    rows = payload["rows"]
    t_max = max(r["cache_len"] for r in rows)
    batch = rows[0]["batch"]
    table = []
    n: dict[str, object] = {"dl_disponivel": "sim", "dl_T": fmt(t_max, ",d"), "dl_B": batch,
                            "dl_dtype": payload["meta"].get("dtype", "float32"),
                            "dl_maquina": payload["meta"].get("device_name", device)}
    shares = []  # aceleração da atenção ÷ razão de bytes, por forma e variante
    for shape in ("7B", "67B"):
        base = {k: _pick(rows, shape=shape, variant="MHA", cache_len=t_max, kind=k) for k in ("atencao", "camada")}
        for v in VARIANTS:
            att, lay = (_pick(rows, shape=shape, variant=v, cache_len=t_max, kind=k) for k in ("atencao", "camada"))
            table.append([shape, v, str(att["kv_heads"]), format_bytes(att["kv_bytes"]), fmt(att["ms"], ".3g"),
                          fmt(base["atencao"]["ms"] / att["ms"], ".3g"), fmt(attention_gflops(att), ".2g"),
                          format_bytes(lay["bytes_read"]), fmt(lay["ms"], ".3g"),
                          fmt(base["camada"]["ms"] / lay["ms"], ".3g")])
            if v == "MHA":
                continue
            key = f"dl_{shape.lower()}_{v.replace('-', '').lower()}"
            att_speed, lay_speed = base["atencao"]["ms"] / att["ms"], base["camada"]["ms"] / lay["ms"]
            att_ideal = base["atencao"]["kv_bytes"] / att["kv_bytes"]
            lay_ideal = base["camada"]["bytes_read"] / lay["bytes_read"]
            shares.append(att_speed / att_ideal)
            n[f"{key}_atencao"] = _speed_words(att_speed, att_ideal)
            n[f"{key}_camada"] = _speed_words(lay_speed, lay_ideal)
            n[f"{key}_acel_camada"] = fmt(lay_speed, ".2g")
            n[f"{key}_bytes_camada"] = fmt(lay_ideal, ".2g")
        mha = base["camada"]
        n[f"dl_{shape.lower()}_kv_parte"] = fmt(100 * mha["kv_bytes"] / mha["bytes_read"], ".0f")
    n["dl_acompanha_frase"] = ("Por isso a aceleração não acompanha a queda dos bytes" if max(shares) < 0.7 else
                               "A aceleração acompanha a queda dos bytes" if min(shares) >= 0.7 else
                               "A aceleração acompanha a queda dos bytes só em parte dos casos")
    # Limitado pela memória ou pelas contas? A atenção faz 4·B·H·T·d_head FLOPs qualquer que seja H_kv
    # (a GQA corta os bytes, não as contas): uma MAC por valor lido na MHA, G = H/H_kv na GQA.
    att_max = [r for r in rows if r["kind"] == "atencao" and r["cache_len"] == t_max]
    peak_gbs, peak_gflops = max(r["gb_per_s"] for r in att_max), max(attention_gflops(r) for r in att_max)
    n["dl_gbs_pico"], n["dl_gflops_pico"] = fmt(peak_gbs, ".3g"), fmt(peak_gflops, ".3g")
    for r in att_max:
        key = f"dl_{r['shape'].lower()}_{r['variant'].replace('-', '').lower()}"
        n[f"{key}_gbs"], n[f"{key}_gflops"] = fmt(r["gb_per_s"], ".2g"), fmt(attention_gflops(r), ".2g")
        n[f"{key}_regime"] = regime(r["gb_per_s"] / peak_gbs, attention_gflops(r) / peak_gflops)
        n[f"{key}_macs_por_valor"] = r["heads"] // r["kv_heads"]
    bw = [r["gb_per_s"] for r in rows if r["kind"] == "camada" and r["cache_len"] == t_max]
    n["dl_gbs_min"], n["dl_gbs_max"] = fmt(min(bw), ".2g"), fmt(max(bw), ".2g")
    headers = ["forma", "variante", "*heads* K/V", f"K/V lidos (T = {fmt(t_max, ',d')})", "atenção (ms)",
               "MHA ÷ esta", "GFLOP/s da atenção", "lidos pela camada", "camada (ms)", "MHA ÷ esta"]
    return Section(tables={"decode_camada": markdown_table(headers, table)}, numbers=n,
                   data={"rows": rows, "meta": payload["meta"]})


def plot_decode_layer(section: Section):
    """Tempo por passo × bytes lidos (log-log): a atenção (cheio, linha contínua) e a camada inteira (vazado,
    pontilhada); a reta tracejada é o tempo de só ler os bytes à maior vazão medida na atenção."""
    fig, ax = new_figure(width=7.0, height=4.4)
    rows = section.data.get("rows", [])
    for v in VARIANTS:
        for shape, marker in _MARKERS.items():
            for kind, face in (("atencao", _COLORS[v]), ("camada", "none")):
                pts = sorted((r["bytes_read"], r["ms"]) for r in rows
                             if r["variant"] == v and r["shape"] == shape and r["kind"] == kind)
                if not pts:
                    continue
                bx, ms = zip(*pts)
                ax.plot(np.array(bx) / 1e6, ms, marker=marker, color=_COLORS[v], markerfacecolor=face,
                        linestyle="-" if kind == "atencao" else ":", linewidth=1,
                        label=f"{v}, {shape}" if kind == "atencao" else None)
    if rows:  # o "teto" da memória: ler tudo à maior vazão que a atenção alcançou
        lo = min(r["bytes_read"] for r in rows) / 1e6
        hi = max(r["bytes_read"] for r in rows) / 1e6
        peak = max(r["gb_per_s"] for r in rows if r["kind"] == "atencao")
        xs = np.geomspace(lo, hi, 20)
        ax.plot(xs, xs / peak, color=COLORS["cinza"], linewidth=0.8, linestyle="--",  # MB ÷ (GB/s) = ms
                label=f"ler a {fmt(peak, '.3g')} GB/s")
    ax.set(xscale="log", yscale="log", xlabel="bytes lidos por passo (MB)", ylabel="tempo por passo (ms)")
    ax.legend(fontsize=9.5, ncol=2)
    return fig
