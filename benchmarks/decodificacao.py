"""Um passo de decodificação numa camada de atenção do tamanho real do 7B e do 67B: MHA, GQA-8 e MQA.

A GQA existe para baratear a geração. A cada *token* novo, a camada lê o cache K/V inteiro
(``2·B·H_kv·T·d_head`` valores) e os pesos das quatro projeções; com lotes pequenos, quase não faz
contas por byte lido, e o tempo do passo é o tempo de **ler memória**. Este *benchmark* mede isso
onde aparece: uma camada com as formas do DeepSeek LLM 7B (d = 4096, 32 *heads* de 128) e do 67B
(d = 8192, 64 *heads* de 128), com 32 (ou 64), 8 e 1 *heads* K/V, lote ``B`` e caches de até 4096
posições. Para cada caso, duas medidas (medianas, variantes intercaladas na mesma rodada):

- ``atencao``: só a atenção da consulta nova contra o cache (o *kernel*
  :func:`helpers.model.attention.grouped_query_attention`), ao lado dos bytes de K/V lidos;
- ``camada``: o passo inteiro da camada — as projeções Q, K, V (numa matriz só, como no modelo), a
  escrita da posição nova no cache, a atenção e a projeção de saída —, ao lado dos bytes de K/V e de
  pesos lidos.

Os valores são fp32 na CPU (4 bytes); ``--dtype bfloat16`` na GPU. Uso::

    python benchmarks/decodificacao.py --out results/bench_decodificacao_cpu.json   # ~2 min, 2 núcleos
    python benchmarks/decodificacao.py --lengths 512 4096 --repeats 3               # mais rápido

Não rode junto com outro processo pesado: os tempos dobram.
"""

from __future__ import annotations

import argparse
import time

import torch

from comum import median, metadata, write_json
from helpers.model.attention import grouped_query_attention

#: (nome, d_model, heads de consulta, d_head) — as formas da Tabela 2 do DeepSeek LLM.
SHAPES = (("7B", 4096, 32, 128), ("67B", 8192, 64, 128))
VARIANTS = (("MHA", None), ("GQA-8", 8), ("MQA", 1))  # None: tantas heads K/V quanto de consulta


class DecodeLayer:
    """Os pesos de uma camada de atenção e um cache K/V pré-alocado de ``t_max`` posições."""

    def __init__(self, d_model: int, heads: int, kv_heads: int, d_head: int, batch: int, t_max: int, *,
                 dtype: torch.dtype, device: torch.device, generator: torch.Generator):
        self.h, self.kv, self.dh = heads, kv_heads, d_head
        scale = d_model ** -0.5

        def weight(rows, cols):
            return (torch.randn(rows, cols, generator=generator) * scale).to(device=device, dtype=dtype)

        self.w_qkv = weight((heads + 2 * kv_heads) * d_head, d_model)
        self.w_o = weight(d_model, heads * d_head)
        shape = (batch, kv_heads, t_max, d_head)
        self.k = (torch.randn(shape, generator=generator) * 0.1).to(device=device, dtype=dtype)
        self.v = (torch.randn(shape, generator=generator) * 0.1).to(device=device, dtype=dtype)

    def weight_bytes(self) -> int:
        return (self.w_qkv.numel() + self.w_o.numel()) * self.w_qkv.element_size()

    def kv_bytes(self, t: int) -> int:
        """Os bytes de K e V que uma consulta lê com ``t`` posições no cache."""
        b = self.k.shape[0]
        return 2 * b * self.kv * t * self.dh * self.k.element_size()

    @torch.no_grad()
    def attention(self, q: torch.Tensor, t: int) -> torch.Tensor:
        return grouped_query_attention(q, self.k[:, :, :t], self.v[:, :, :t], causal=False)

    @torch.no_grad()
    def step(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """O passo de um *token* (``x``: ``[B, d]``) com ``t - 1`` posições já no cache."""
        b = x.shape[0]
        qkv = x @ self.w_qkv.T
        q, k, v = qkv.split((self.h * self.dh, self.kv * self.dh, self.kv * self.dh), dim=-1)
        self.k[:, :, t - 1] = k.view(b, self.kv, self.dh)
        self.v[:, :, t - 1] = v.view(b, self.kv, self.dh)
        out = self.attention(q.view(b, self.h, 1, self.dh), t)
        return out.reshape(b, self.h * self.dh) @ self.w_o.T


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def measure(shape, lengths, batch: int, repeats: int, dtype: torch.dtype, device: torch.device, seed: int = 0):
    """As linhas de uma forma: cada variante e comprimento, ``atencao`` e ``camada``, em milissegundos."""
    name, d_model, heads, d_head = shape
    g = torch.Generator().manual_seed(seed)
    layers = {v: DecodeLayer(d_model, heads, kv or heads, d_head, batch, max(lengths), dtype=dtype, device=device,
                             generator=g) for v, kv in VARIANTS}
    x = (torch.randn(batch, d_model, generator=g)).to(device=device, dtype=dtype)
    q = {v: torch.randn(batch, heads, 1, d_head, generator=g).to(device=device, dtype=dtype) for v, _ in VARIANTS}
    rows = []
    for t in lengths:
        times = {(v, kind): [] for v, _ in VARIANTS for kind in ("atencao", "camada")}
        for _ in range(2):  # aquecimento
            for v, _ in VARIANTS:
                layers[v].attention(q[v], t)
                layers[v].step(x, t)
        for _ in range(repeats):  # intercaladas: a carga da máquina pesa igual em todas
            for v, _ in VARIANTS:
                times[(v, "atencao")].append(_time(lambda: layers[v].attention(q[v], t), device))
                times[(v, "camada")].append(_time(lambda: layers[v].step(x, t), device))
        for v, kv in VARIANTS:
            layer = layers[v]
            for kind in ("atencao", "camada"):
                ms = 1e3 * median(times[(v, kind)])
                read = layer.kv_bytes(t) + (layer.weight_bytes() if kind == "camada" else 0)
                rows.append({"shape": name, "variant": v, "kv_heads": kv or heads, "heads": heads, "d_model": d_model,
                             "d_head": d_head, "batch": batch, "cache_len": t, "kind": kind, "ms": ms,
                             "kv_bytes": layer.kv_bytes(t), "weight_bytes": layer.weight_bytes(),
                             "bytes_read": read, "gb_per_s": read / (ms / 1e3) / 1e9})
    return rows


def _print(rows) -> None:
    print(f"{'forma':>5} {'variante':>8} {'T':>5} {'medida':>8} {'ms':>9} {'MB lidos':>10} {'GB/s':>6}")
    for r in rows:
        print(f"{r['shape']:>5} {r['variant']:>8} {r['cache_len']:>5} {r['kind']:>8} {r['ms']:9.2f} "
              f"{r['bytes_read'] / 1e6:10.1f} {r['gb_per_s']:6.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Passo de decodificação de uma camada do 7B e do 67B: MHA × GQA-8 × MQA.")
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096],
                        help="posições no cache (padrão: 512 1024 2048 4096)")
    parser.add_argument("--batch", type=int, default=4, help="sequências por passo (padrão: 4)")
    parser.add_argument("--repeats", type=int, default=7, help="medidas por caso (a mediana é relatada)")
    parser.add_argument("--device", default="cpu", help="cpu ou cuda")
    parser.add_argument("--dtype", default=None, help="float32 (padrão na CPU) ou bfloat16 (padrão na GPU)")
    parser.add_argument("--out", default=None, help="grava o JSON com os metadados neste caminho")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or min(args.lengths) < 1:
        parser.error(f"--batch, --repeats e --lengths devem ser ≥ 1 (recebi {args.batch}, {args.repeats}, "
                     f"{args.lengths})")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda pedido, mas nenhuma GPU CUDA está disponível")
    dtype_name = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    if dtype_name not in ("float32", "bfloat16"):
        parser.error(f"--dtype {dtype_name!r} inválido; use float32 ou bfloat16")
    dtype = getattr(torch, dtype_name)
    rows = []
    for shape in SHAPES:
        rows += measure(shape, sorted(args.lengths), args.batch, args.repeats, dtype, device)
    _print(rows)
    if args.out:
        write_json({"benchmark": "decodificacao", "meta": {**metadata(device), "args": vars(args), "dtype": dtype_name},
                    "rows": rows}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
