"""Benchmark do treinador: *tokens*/s da família minúscula com 1 e 2 *threads*, e o pico de matmul.

Uso::

    python benchmarks/treino.py                                   # imprime as tabelas
    python benchmarks/treino.py --out results/bench_treino_cpu.json
    python benchmarks/treino.py --old 67ae944                     # e o modelo/AdamW daquele commit
    python benchmarks/treino.py --compile                         # e o custo e o ganho do torch.compile

Para cada modelo da família ``tiny(n)`` (d = 16·n, de 16 a 96, *heads* de 16) e cada lote
(1 024 e 8 192 *tokens*, contexto 128), mede os *tokens*/s do passo do treinador
(:func:`helpers.engine.trainer.train_step`: ida, volta, recorte, AdamW fundido) com 1 e com
2 *threads* do PyTorch. As medições são intercaladas: cada rodada passa por todas as
combinações, e o número é a mediana das rodadas. Com ``--old``, o mesmo passo com o modelo e
o AdamW (laço por parâmetro) de um *commit* antigo, na mesma rodada, e a razão entre os dois.
Não rode junto com outro processo pesado: os números caem pela metade.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from comum import load_old_transformer, median, metadata, write_json
from helpers.presentation.plots import fmt
from helpers.engine.data import prepare_data, sample_batch
from helpers.engine.trainer import TrainConfig, _param_groups, make_optimizer, train_step
from helpers.model.config import tiny
from helpers.model.transformer import Transformer

CONTEXT = 128


def matmul_peak(n: int = 1024, repeats: int = 10) -> float:
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


class Runner:
    """Um modelo, o seu otimizador e o gerador de lotes, prontos para dar passos."""

    def __init__(self, tokens, n_layer: int, batch_tokens: int, *, transformer=Transformer, old: bool = False,
                 compile_model: bool = False) -> None:
        self.config = tiny(n_layer)
        torch.manual_seed(0)
        self.model = transformer(self.config).train()
        tc = TrainConfig(steps=1, batch_size_tokens=batch_tokens, seq_len=CONTEXT, lr=1e-3)
        if old:
            self.optimizer = torch.optim.AdamW(_param_groups(self.model, tc.weight_decay), lr=tc.lr,
                                               betas=(tc.beta1, tc.beta2), eps=1e-8)
        else:
            self.optimizer = make_optimizer(self.model, tc, torch.device("cpu"))
        self.step_model = torch.compile(self.model) if compile_model else self.model
        self.tokens, self.seqs = tokens, batch_tokens // CONTEXT
        self.generator = torch.Generator().manual_seed(1)

    def steps(self, n: int) -> float:
        """*Tokens*/s de ``n`` passos."""
        t = time.perf_counter()
        for _ in range(n):
            x, y = sample_batch(self.tokens, self.seqs, CONTEXT, self.generator)
            train_step(self.step_model, self.optimizer, x, y, grad_clip=1.0, device="cpu")
        return n * self.seqs * CONTEXT / (time.perf_counter() - t)


def steps_for(runner: Runner, seconds: float) -> int:
    """Quantos passos duram cerca de ``seconds`` (medido com um passo, já aquecido)."""
    runner.steps(1)
    t = time.perf_counter()
    runner.steps(1)
    return max(2, min(50, round(seconds / max(time.perf_counter() - t, 1e-6))))


def bench_family(tokens, *, layers, batches, threads, rounds: int, seconds: float, old: str | None) -> list[dict]:
    old_cls = load_old_transformer(old) if old else None
    cells = []
    for n in layers:
        for b in batches:
            for th in threads:
                torch.set_num_threads(th)
                cell = {"n_layer": n, "hidden_size": 16 * n, "batch_tokens": b, "threads": th,
                        "runner": Runner(tokens, n, b)}
                cell["steps"] = steps_for(cell["runner"], seconds)
                if old_cls is not None:
                    cell["old_runner"] = Runner(tokens, n, b, transformer=old_cls, old=True)
                    cell["old_runner"].steps(2)
                cells.append(cell)
    for c in cells:
        c["tokens_per_s"], c["old_tokens_per_s"] = [], []
    for r in range(rounds):
        for c in (cells if r % 2 == 0 else cells[::-1]):
            torch.set_num_threads(c["threads"])
            pair = [("tokens_per_s", c["runner"])] + ([("old_tokens_per_s", c["old_runner"])] if old_cls else [])
            for key, runner in (pair if r % 2 == 0 else pair[::-1]):
                c[key].append(runner.steps(c["steps"]))
    rows = []
    for c in cells:
        row = {k: c[k] for k in ("n_layer", "hidden_size", "batch_tokens", "threads", "steps")}
        row["tokens_per_s"] = median(c["tokens_per_s"])
        row["rounds"] = c["tokens_per_s"]
        if old_cls is not None:
            row["old_commit"] = old
            row["old_tokens_per_s"] = median(c["old_tokens_per_s"])
            row["speedup_vs_old"] = median(a / b for a, b in zip(c["tokens_per_s"], c["old_tokens_per_s"]))
        rows.append(row)
    return rows


def bench_compile(tokens, *, n_layer: int, batch_tokens: int, threads: int, steps: int) -> dict:
    """O que o ``torch.compile`` custa (compilação a frio) e rende (*tokens*/s) num modelo da família."""
    torch.set_num_threads(threads)
    eager = Runner(tokens, n_layer, batch_tokens)
    eager.steps(2)
    t = time.perf_counter()
    compiled = Runner(tokens, n_layer, batch_tokens, compile_model=True)
    compiled.steps(1)
    cold = time.perf_counter() - t
    compiled.steps(2)
    e, c = [], []
    for _ in range(3):
        e.append(eager.steps(steps))
        c.append(compiled.steps(steps))
    out = {"n_layer": n_layer, "hidden_size": 16 * n_layer, "batch_tokens": batch_tokens, "threads": threads,
           "cold_compile_s": cold, "eager_tokens_per_s": median(e), "compiled_tokens_per_s": median(c)}
    gain = 1 / out["eager_tokens_per_s"] - 1 / out["compiled_tokens_per_s"]  # segundos poupados por token
    out["break_even_tokens"] = cold / gain if gain > 0 else None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="1,2,3,4,5,6", help="n de tiny(n), d = 16·n (padrão: d de 16 a 96)")
    parser.add_argument("--batches", default="1024,8192", help="lotes em tokens")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.6, help="duração aproximada de cada medição")
    parser.add_argument("--old", default=None, metavar="COMMIT", help="compara com o modelo e o AdamW de um commit")
    parser.add_argument("--compile", action="store_true", help="mede também o torch.compile (tiny(2), 8 192 tokens)")
    parser.add_argument("--out", default=None, help="grava as medições (JSON com metadados)")
    args = parser.parse_args(argv)
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    tokens = np.asarray(prepare_data().train)
    default_threads = torch.get_num_threads()
    meta = metadata("cpu")
    peak = {th: (torch.set_num_threads(th), matmul_peak())[1] for th in ints(args.threads)}
    print(f"máquina: {meta['device_name']} ({meta['cpu_count']} núcleos), torch {meta['torch']}")
    for th, p in peak.items():
        print(f"pico de matmul float32 (1024×1024), {th} thread(s): {p / 1e9:7.1f} GFLOP/s")
    rows = bench_family(tokens, layers=ints(args.layers), batches=ints(args.batches), threads=ints(args.threads),
                        rounds=args.rounds, seconds=args.seconds, old=args.old)
    print("tokens/s do passo do treinador (mediana de rodadas intercaladas):")
    for r in rows:
        extra = (f"   {args.old}: {fmt(r['old_tokens_per_s'], ',.0f').rjust(9)}  ({fmt(r['speedup_vs_old'], '.2f')}×)" if args.old else "")
        print(f"  d = {r['hidden_size']:3d} ({r['n_layer']} camadas), lote {r['batch_tokens']:5d}, "
              f"{r['threads']} thread(s): {fmt(r['tokens_per_s'], ',.0f').rjust(9)}{extra}")
    compiled = None
    if args.compile:
        compiled = bench_compile(tokens, n_layer=2, batch_tokens=8192, threads=1, steps=10)
        be = compiled["break_even_tokens"]
        print(f"torch.compile, d = 32, lote 8192, 1 thread: compilação a frio {compiled['cold_compile_s']:.1f} s; "
              f"{fmt(compiled['eager_tokens_per_s'], ',.0f').rjust(0)} → {fmt(compiled['compiled_tokens_per_s'], ',.0f').rjust(0)} tokens/s; "
              + (f"paga-se depois de {fmt(be / 1e6, ',.1f').rjust(0)} mi tokens" if be else "não se paga"))
    torch.set_num_threads(default_threads)
    if args.out:
        write_json({"metadata": {**meta, "dtype": "torch.float32", "context": CONTEXT, "rounds": args.rounds,
                                 "matmul_peak_flops": {str(k): v for k, v in peak.items()},
                                 "command": "python benchmarks/treino.py " + " ".join(argv or sys.argv[1:])},
                    "family": rows, "compile": compiled}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
