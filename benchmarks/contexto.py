"""Benchmark do contexto: que fração do tempo de um passo de treino vai para o núcleo da atenção.

Uso::

    python benchmarks/contexto.py                                   # imprime a tabela
    python benchmarks/contexto.py --out results/bench_contexto_cpu.json

É o modelo e o passo do estudo ``experiments/cap06_contexto_v2.json``: ``tiny(3)`` (d = 48,
3 *heads* de 16), lote de 4096 *tokens* por passo, contextos de 16 a 512, 1 *thread* (a de cada
*worker* das varreduras). Para cada contexto ``l`` mede, em milissegundos:

- o passo inteiro do treinador (:func:`helpers.engine.trainer.train_step`: ida, volta, recorte,
  AdamW fundido) com ``4096 / l`` sequências de ``l`` *tokens*;
- o núcleo da atenção sozinho — :func:`helpers.model.attention.grouped_query_attention` causal, ida
  e volta, nas formas de uma camada desse passo (``[4096/l, 3, l, 16]``) — vezes o número de
  camadas.

A razão entre os dois é a fração medida do tempo gasta na atenção; ao lado, a fração que a conta
de ``M`` atribui a ela, ``12·l / (72·d + 12·l) = l / (6d + l)``. O núcleo medido à parte não
inclui as projeções Q/K/V/O (que ``M`` conta como camadas, não como atenção). As medições são
intercaladas entre contextos, e cada número é a mediana das rodadas. Não rode junto com outro
processo pesado.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from comum import median, metadata, write_json
from helpers.engine.data import prepare_data, sample_batch
from helpers.engine.trainer import TrainConfig, make_optimizer, train_step
from helpers.model.attention import grouped_query_attention
from helpers.model.config import tiny
from helpers.model.transformer import Transformer
from helpers.presentation.plots import fmt

N_LAYER = 3
BATCH_TOKENS = 4096
CONTEXTS = (16, 32, 64, 128, 256, 512)


class Cell:
    """Um contexto: o modelo com o otimizador, e os tensores do núcleo da atenção."""

    def __init__(self, tokens, seq_len: int) -> None:
        self.seq_len, self.seqs = seq_len, BATCH_TOKENS // seq_len
        self.config = tiny(N_LAYER, max_position_embeddings=max(CONTEXTS))
        torch.manual_seed(0)
        self.model = Transformer(self.config).train()
        tc = TrainConfig(steps=1, batch_size_tokens=BATCH_TOKENS, seq_len=seq_len, lr=1e-3)
        self.optimizer = make_optimizer(self.model, tc, torch.device("cpu"))
        self.tokens = tokens
        self.generator = torch.Generator().manual_seed(1)
        heads, d_head = self.config.num_attention_heads, self.config.hidden_size // self.config.num_attention_heads
        shape = (self.seqs, heads, seq_len, d_head)
        self.qkv = [torch.randn(shape, requires_grad=True) for _ in range(3)]
        self.step_ms: list[float] = []
        self.attention_ms: list[float] = []

    def step(self, n: int) -> float:
        """Milissegundos por passo do treinador, média de ``n`` passos."""
        t = time.perf_counter()
        for _ in range(n):
            x, y = sample_batch(self.tokens, self.seqs, self.seq_len, self.generator)
            train_step(self.model, self.optimizer, x, y, grad_clip=1.0, device="cpu")
        return (time.perf_counter() - t) / n * 1e3

    def attention(self, n: int) -> float:
        """Milissegundos do núcleo da atenção (ida e volta) das ``N_LAYER`` camadas de um passo."""
        t = time.perf_counter()
        for _ in range(n):
            for _ in range(N_LAYER):
                out = grouped_query_attention(*self.qkv, causal=True)
                out.backward(torch.ones_like(out))
        for x in self.qkv:
            x.grad = None
        return (time.perf_counter() - t) / n * 1e3


def m_attention_share(seq_len: int, d: int) -> float:
    """A fração de ``M`` que é atenção: ``12·l / (72·d + 12·l)``."""
    return 12 * seq_len / (72 * d + 12 * seq_len)


def bench(tokens, *, contexts, rounds: int, steps: int) -> list[dict]:
    cells = [Cell(tokens, l) for l in contexts]
    for c in cells:  # aquecimento
        c.step(2)
        c.attention(2)
    for r in range(rounds):
        for c in (cells if r % 2 == 0 else cells[::-1]):
            c.step_ms.append(c.step(steps))
            c.attention_ms.append(c.attention(steps))
    rows = []
    for c in cells:
        step, attn = median(c.step_ms), median(c.attention_ms)
        rows.append({"seq_len": c.seq_len, "sequences": c.seqs, "batch_tokens": BATCH_TOKENS, "n_layer": N_LAYER,
                     "hidden_size": c.config.hidden_size, "heads": c.config.num_attention_heads,
                     "step_ms": step, "attention_ms": attn, "measured_share": attn / step,
                     "m_share": m_attention_share(c.seq_len, c.config.hidden_size),
                     "step_rounds": c.step_ms, "attention_rounds": c.attention_ms})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="passos por medição")
    parser.add_argument("--threads", type=int, default=1, help="threads do PyTorch (as varreduras usam 1)")
    parser.add_argument("--out", default=None, help="grava as medições (JSON com metadados)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1 or args.threads < 1:
        print(f"erro: --rounds, --steps e --threads devem ser inteiros ≥ 1; recebi {args.rounds}, {args.steps} "
              f"e {args.threads}.", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    tokens = np.asarray(prepare_data().train)
    meta = metadata("cpu")
    print(f"máquina: {meta['device_name']} ({meta['cpu_count']} núcleos), torch {meta['torch']}, "
          f"{args.threads} thread(s)")
    rows = bench(tokens, contexts=CONTEXTS, rounds=args.rounds, steps=args.steps)
    print(f"tiny({N_LAYER}), lote de {BATCH_TOKENS} tokens; mediana de {args.rounds} rodadas intercaladas:")
    for r in rows:
        print(f"  contexto {r['seq_len']:4d} ({r['sequences']:3d} seq.): passo {fmt(r['step_ms'], '.1f').rjust(7)} ms, "
              f"núcleo da atenção {fmt(r['attention_ms'], '.1f').rjust(7)} ms = "
              f"{fmt(100 * r['measured_share'], '.0f').rjust(3)}% (em M: {fmt(100 * r['m_share'], '.0f').rjust(3)}%)")
    if args.out:
        write_json({"metadata": {**meta, "dtype": "torch.float32", "rounds": args.rounds, "steps": args.steps,
                                 "command": "python benchmarks/contexto.py " + " ".join(argv or sys.argv[1:])},
                    "rows": rows}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
