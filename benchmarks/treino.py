"""Benchmark do treinador: tokens/s e FLOP/s alcançados contra o pico de matmul desta máquina.

Uso: ``python benchmarks/treino.py`` (ou ``make benchmark``). Imprime, para uma
configuração de referência fixa, a vazão do treinador (sem avaliações no meio) e o
pico medido de multiplicação de matrizes float32, e a razão entre os dois. Não rode
junto com outro processo pesado: os números caem pela metade.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from helpers.model.config import tiny
from helpers.engine.data import prepare_data
from helpers.engine.trainer import TrainConfig, train


def matmul_peak(n: int = 1024, repeats: int = 20) -> float:
    """FLOP/s de ``n×n @ n×n`` em float32 (a melhor de 3 medições)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - t))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4, help="profundidade do tiny(n) de referência")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-tokens", type=int, default=8192)
    parser.add_argument("--json", action="store_true", help="imprime também uma linha JSON")
    args = parser.parse_args()

    data = prepare_data()
    peak = matmul_peak()
    cfg = TrainConfig(steps=args.steps, batch_size_tokens=args.batch_tokens, seq_len=128, lr=3e-3,
                      eval_points=1, eval_tokens=2048, warmup_steps=5)
    model_cfg = tiny(args.layers)
    train(model_cfg, cfg.replace(steps=5), data=data, quiet=True)  # aquecimento
    result = train(model_cfg, cfg, data=data, quiet=True)
    ratio = result.achieved_flops_per_s / peak
    print(f"máquina: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"pico de matmul float32 (1024×1024): {peak / 1e9:8.1f} GFLOP/s")
    print(f"treinador, tiny({args.layers}) d={model_cfg.hidden_size}, contexto 128, lote {args.batch_tokens} tokens:")
    print(f"  {result.tokens_per_s:10.0f} tokens/s")
    print(f"  {result.achieved_flops_per_s / 1e9:10.1f} GFLOP/s alcançados (FLOPs medidos do modelo)")
    print(f"  {100 * ratio:10.1f} % do pico de matmul")
    if args.json:
        print(json.dumps({"peak_flops": peak, "tokens_per_s": result.tokens_per_s,
                          "achieved_flops_per_s": result.achieved_flops_per_s, "ratio": ratio,
                          "layers": args.layers, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
