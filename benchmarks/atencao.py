"""Benchmark da atenção GQA: tempo e memória de pico do *kernel*, decodificação e cache KV.

Uso::

    python benchmarks/atencao.py                      # CPU, tamanhos padrão, imprime as tabelas
    python benchmarks/atencao.py --out results/bench_atencao_cpu.json
    python benchmarks/atencao.py --device cuda --out results/bench_atencao_gpu.json

Quatro caminhos para o mesmo cálculo (atenção causal, ``H`` *heads* de consulta e
``H_kv = H / G`` *heads* K/V):

- ``gqa`` — o *kernel* de :func:`helpers.model.attention.grouped_query_attention` como o
  modelo o usa (*backend* ``"fused"``);
- ``gqa_math`` — o mesmo *kernel* com o *backend* ``"math"``: o caminho legível, escrito
  por extenso (consultas agrupadas contra K/V compartilhados, nada repetido);
- ``sdpa_gqa`` — ``F.scaled_dot_product_attention(..., enable_gqa=True)`` do PyTorch;
- ``repeat_sdpa`` — :func:`helpers.model.attention.repeat_kv` + ``scaled_dot_product_attention``
  (o caminho do ``modeling_llama.py``: copia K e V ``G`` vezes).

Para cada comprimento de sequência e tamanho de grupo mede o tempo (mediana de várias
repetições, com as variantes intercaladas na mesma rodada, para que a carga da máquina
pese igual em todas) e a memória de pico alocada pela chamada, em três modos: só a ida
(``fwd``), ida e volta (``fwd+bwd``) e um passo de decodificação (``decode``: uma
consulta nova contra as ``T`` posições do cache, sem gradiente). Na CPU, a memória vem
dos eventos de alocação do ``torch.profiler``; na GPU, de ``torch.cuda.max_memory_allocated``.
Depois mede a decodificação incremental de um modelo pequeno (MHA, GQA e MQA):
milissegundos por *token* com e sem cache e os bytes que o cache aloca. Não rode junto
com outro processo pesado: os tempos dobram.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "99")  # o profiler (memória na CPU) não polui a saída
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from comum import metadata as common_metadata  # noqa: E402
from helpers.model.attention import attention_backend, grouped_query_attention, kv_cache_bytes, repeat_kv
from helpers.model.config import tiny
from helpers.model.transformer import KVCache, Transformer

VARIANTS = ("gqa", "gqa_math", "sdpa_gqa", "repeat_sdpa")
MODES = ("fwd", "fwd+bwd", "decode")


def attention_fn(variant: str):
    """A função ``(q, k, v) -> saída`` de cada caminho (causal; com uma consulta só, a
    decodificação, ela vê todas as posições)."""
    if variant == "gqa":
        return lambda q, k, v: grouped_query_attention(q, k, v, causal=True)
    if variant == "gqa_math":
        def math_fn(q, k, v):
            with attention_backend("math"):
                return grouped_query_attention(q, k, v, causal=True)
        return math_fn
    if variant == "sdpa_gqa":
        return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=q.shape[2] > 1, enable_gqa=True)
    if variant == "repeat_sdpa":
        def fn(q, k, v):
            g = q.shape[1] // k.shape[1]
            return F.scaled_dot_product_attention(q, repeat_kv(k, g), repeat_kv(v, g), is_causal=q.shape[2] > 1)
        return fn
    raise ValueError(f"variante desconhecida {variant!r}; as válidas são {list(VARIANTS)}.")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(fn, q, k, v, backward: bool):
    out = fn(q, k, v)
    if backward:
        out.sum().backward()
        q.grad = k.grad = v.grad = None
    return out


def time_calls(fns: dict, q, k, v, *, backward: bool, repeats: int, device: torch.device) -> dict[str, float]:
    """Mediana, em segundos, de ``repeats`` chamadas de cada função (depois de duas de
    aquecimento), intercaladas: a rodada ``r`` chama todas, em ordem alternada."""
    names = list(fns)
    for name in names:
        for _ in range(2):
            _step(fns[name], q, k, v, backward)
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            t = time.perf_counter()
            _step(fns[name], q, k, v, backward)
            _sync(device)
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_memory(fn, q, k, v, *, backward: bool, device: torch.device) -> int:
    """Bytes de pico alocados **durante** a chamada, além das entradas já existentes."""
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        _step(fn, q, k, v, backward)
        _sync(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _step(fn, q, k, v, backward)
    # Cada evento traz as alocações (+) e liberações (−) feitas por ele mesmo; em ordem de
    # início, a soma acumulada é a memória viva, e o máximo dela é o pico.
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    live = peak = 0
    for e in events:
        live += e.self_cpu_memory_usage
        peak = max(peak, live)
    return int(peak)


def bench_kernels(device: torch.device, *, seq_lens, groups, heads: int, head_dim: int, batch: int,
                  repeats: int, dtype: torch.dtype, math_max_seq: int) -> list[dict]:
    rows = []
    for s in seq_lens:
        for g in groups:
            h_kv = heads // g
            gen = torch.Generator().manual_seed(0)
            q = torch.randn(batch, heads, s, head_dim, generator=gen).to(device, dtype)
            k = torch.randn(batch, h_kv, s, head_dim, generator=gen).to(device, dtype)
            v = torch.randn(batch, h_kv, s, head_dim, generator=gen).to(device, dtype)
            variants = [x for x in VARIANTS if x != "gqa_math" or s <= math_max_seq]
            fns = {x: attention_fn(x) for x in variants}
            for mode in MODES:
                backward = mode == "fwd+bwd"
                if mode == "decode":  # a última posição, contra as s do cache
                    args = (q[:, :, -1:].contiguous(), k, v)
                else:  # o treino: a ida guarda o que a volta usa, como no modelo
                    args = tuple(t.detach().requires_grad_() for t in (q, k, v))
                ctx = torch.no_grad() if mode == "decode" else contextlib.nullcontext()
                with ctx:
                    times = time_calls(fns, *args, backward=backward, repeats=repeats, device=device)
                    for variant in variants:
                        m = peak_memory(fns[variant], *args, backward=backward, device=device)
                        rows.append({"seq_len": s, "q_len": args[0].shape[2], "group": g, "kv_heads": h_kv,
                                     "variant": variant, "mode": mode, "time_s": times[variant], "peak_bytes": m})
                        print(f"  S={s:5d} G={g:2d} (H_kv={h_kv:2d}) {variant:12s} {mode:8s}"
                              f" {1e3 * times[variant]:9.3f} ms  {m / 2**20:9.2f} MiB", flush=True)
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """Tempo e memória do *kernel* ``gqa`` ÷ os do SDPA com ``enable_gqa``, por forma e modo."""
    cells: dict[tuple, dict] = {}
    for r in rows:
        cells.setdefault((r["mode"], r["seq_len"], r["group"]), {})[r["variant"]] = r
    out = []
    for (mode, s, g), by in sorted(cells.items()):
        ref = by["sdpa_gqa"]
        row = {"mode": mode, "seq_len": s, "group": g,
               "time_ratio": by["gqa"]["time_s"] / ref["time_s"],
               "memory_ratio": by["gqa"]["peak_bytes"] / max(ref["peak_bytes"], 1)}
        if "gqa_math" in by:
            row["math_time_ratio"] = by["gqa_math"]["time_s"] / ref["time_s"]
            row["math_memory_ratio"] = by["gqa_math"]["peak_bytes"] / max(ref["peak_bytes"], 1)
        out.append(row)
    return out


@torch.no_grad()
def bench_decode(device: torch.device, *, kv_options, prompt: int, new_tokens: int, n_layer: int, hidden: int,
                 head_dim: int, batch: int, dtype: torch.dtype) -> list[dict]:
    """Tempo por *token* gerado, com cache (uma posição por passo) e sem (relê tudo)."""
    rows = []
    for kv in kv_options:
        cfg = tiny(n_layer, hidden_size=hidden, head_dim=head_dim, num_key_value_heads=kv,
                   max_position_embeddings=prompt + new_tokens)
        torch.manual_seed(0)
        model = Transformer(cfg).to(device, dtype).eval()
        ids = torch.randint(0, cfg.vocab_size, (batch, prompt + new_tokens), device=device)
        n_plain = max(2, new_tokens // 8)  # sem cache é caro: medimos menos passos

        def run_cached() -> tuple[float, KVCache]:
            cache = KVCache(cfg, batch, prompt + new_tokens, device=device, dtype=dtype)
            model(ids[:, :prompt], cache=cache)  # pré-preenchimento
            _sync(device)
            t = time.perf_counter()
            for i in range(new_tokens):  # um token por passo, lendo K e V do cache
                model(ids[:, prompt + i:prompt + i + 1], cache=cache)
            _sync(device)
            return (time.perf_counter() - t) / new_tokens, cache

        def run_plain() -> float:
            _sync(device)
            t = time.perf_counter()
            for i in range(n_plain):  # cada passo relê o contexto inteiro
                model(ids[:, :prompt + i + 1])
            _sync(device)
            return (time.perf_counter() - t) / n_plain

        # Cada passo tem um comprimento novo; a primeira passada paga a preparação de cada
        # forma (na GPU, planos de kernel por forma). Medimos a segunda: o regime estável.
        run_cached(), run_plain()
        with_cache, cache = run_cached()
        without = run_plain()
        rows.append({"kv_heads": kv, "heads": cfg.num_attention_heads, "n_layer": n_layer, "hidden": hidden,
                     "head_dim": head_dim, "batch": batch, "prompt": prompt, "new_tokens": new_tokens,
                     "ms_per_token_cache": 1e3 * with_cache, "ms_per_token_no_cache": 1e3 * without,
                     "cache_bytes": cache.nbytes,
                     "cache_bytes_formula": kv_cache_bytes(cfg, prompt + new_tokens, batch_size=batch,
                                                           bytes_per_value=torch.finfo(dtype).bits // 8)})
        r = rows[-1]
        print(f"  H_kv={kv:2d}: {r['ms_per_token_cache']:7.3f} ms/token com cache, {r['ms_per_token_no_cache']:8.3f} "
              f"sem; cache {r['cache_bytes'] / 2**20:7.2f} MiB", flush=True)
    return rows


def metadata(device: torch.device) -> dict:
    """As mesmas versões (commit, impressão do código) dos treinos, a máquina e a data."""
    return common_metadata(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--seq-lens", default=None, help="lista separada por vírgulas (padrão: depende do dispositivo)")
    parser.add_argument("--groups", default="1,4,16", help="consultas por head K/V (G = H / H_kv)")
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", default=None, help="grava as medições (JSON com metadados)")
    parser.add_argument("--skip-kernels", action="store_true", help="só a decodificação")
    parser.add_argument("--math-max-seq", type=int, default=1024,
                        help="maior S em que se mede o caminho legível (gqa_math), o mais lento")
    parser.add_argument("--skip-decode", action="store_true", help="só os kernels (sem o modelo decodificando)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda pedido, mas nenhuma GPU CUDA está disponível.")
    gpu = device.type == "cuda"
    seq_lens = [int(x) for x in (args.seq_lens or ("1024,2048,4096,8192" if gpu else "256,512,1024,2048")).split(",")]
    groups = [int(x) for x in args.groups.split(",")]
    bad = [g for g in groups if g < 1 or args.heads % g]
    if bad:
        parser.error(f"tamanhos de grupo {bad} não dividem as {args.heads} heads; use divisores de {args.heads}.")
    batch = args.batch or (8 if gpu else 2)
    repeats = args.repeats or (20 if gpu else 5)
    dtype = torch.bfloat16 if gpu else torch.float32
    meta = metadata(device)
    print(f"dispositivo: {meta['device_name']} ({meta['threads']} threads), torch {meta['torch']}, {dtype}")
    print(f"kernels: lote {batch}, {args.heads} heads de consulta, head_dim {args.head_dim}, causal")
    kernels = [] if args.skip_kernels else bench_kernels(device, seq_lens=seq_lens, groups=groups, heads=args.heads, head_dim=args.head_dim,
                            batch=batch, repeats=repeats, dtype=dtype, math_max_seq=args.math_max_seq)
    summary = ratios(kernels) if kernels else []
    if summary:
        print("gqa ÷ sdpa_gqa (tempo, memória); entre parênteses, o caminho legível gqa_math:")
        for r in summary:
            extra = (f"  ({r['math_time_ratio']:.2f}×, {r['math_memory_ratio']:.2f}×)" if "math_time_ratio" in r else "")
            print(f"  {r['mode']:8s} S={r['seq_len']:5d} G={r['group']:2d}: {r['time_ratio']:.3f}×, "
                  f"{r['memory_ratio']:.3f}×{extra}")
    print("decodificação (modelo tiny de 4 camadas, d = 256, 8 heads de 32):")
    decode = [] if args.skip_decode else bench_decode(device, kv_options=(8, 2, 1), prompt=448, new_tokens=64, n_layer=4, hidden=256,
                          head_dim=32, batch=4 if not gpu else 32, dtype=dtype)
    if args.out:
        payload = {"metadata": {**meta, "dtype": str(dtype), "batch": batch, "heads": args.heads,
                                "head_dim": args.head_dim, "repeats": repeats,
                                "command": "python benchmarks/atencao.py " + " ".join(argv or [])},
                   "kernels": kernels, "ratios": summary, "decode": decode}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"gravei {args.out}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
