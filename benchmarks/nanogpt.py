"""Nosso treinador contra o nanoGPT, na forma do nanoGPT, no mesmo processo e intercalados.

Uso::

    python benchmarks/nanogpt.py --nanogpt ../shared/peers/nanogpt
    python benchmarks/nanogpt.py --nanogpt ../shared/peers/nanogpt --out results/bench_nanogpt_cpu.json

A forma é a do exemplo de CPU do nanoGPT: 4 camadas, d = 128, 4 *heads*, contexto 128,
lote de 32 × 128 *tokens*, vocabulário de bytes (256), float32, sem ``torch.compile``. O
nosso modelo usa SwiGLU com largura interna 341 ≈ 8d/3, de modo que os dois fazem os
mesmos FLOPs por *token* (o MLP do GPT-2 tem 2 matrizes de d × 4d; a SwiGLU, 3 de d × 8d/3).

Os dois recebem os mesmos *tokens* de bytes do nosso corpus (``prepare_data``). O nanoGPT
entra pelo caminho dado em ``--nanogpt``: a classe ``GPT`` do seu ``model.py`` é importada
pelo caminho (nada do nanoGPT é copiado nem modificado) e treinada como no laço do seu
``train.py``: lote por ``torch.randint`` + ``torch.stack`` das janelas, AdamW de
``configure_optimizers`` (decaimento 0,1; β = (0,9; 0,95)), ida e volta, recorte do
gradiente em 1,0, passo do otimizador e ``zero_grad(set_to_none=True)``. O nosso é o passo do
treinador (:func:`helpers.engine.trainer.train_step` com :func:`make_optimizer`).

Em cada rodada cada concorrente treina ``--steps`` passos cronometrados (a ordem alterna
de uma rodada para a outra); o resultado é a mediana de *tokens*/s de cada um e a mediana
das razões rodada a rodada. Com ``--old 67ae944``, entra também o nosso modelo e o nosso
AdamW de antes do passo fundido (o ``model.py`` daquele *commit*, lido do git).

Depois das rodadas, um perfil (``torch.profiler``) de ``--profile-steps`` passos de cada um
separa o tempo das multiplicações de matrizes (``aten::mm``/``addmm``/``bmm``) e da atenção
fundida do resto (normalizações, RoPE, ativações, otimizador): é o que diz quanto um passo
ainda pode encolher sem mexer nas matrizes. Com ``--compile``, entram também os dois
modelos compilados (``torch.compile``), com o tempo da compilação a frio medido.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

import numpy as np
import torch

from comum import load_old_transformer, median, metadata, write_json
from helpers.presentation.plots import fmt
from helpers.engine.data import prepare_data, sample_batch
from helpers.engine.trainer import TrainConfig, _param_groups, make_optimizer, train_step
from helpers.model.config import ModelConfig
from helpers.model.transformer import Transformer

LAYERS, HIDDEN, HEADS, CONTEXT, BATCH, VOCAB = 4, 128, 4, 128, 32, 256
INTERMEDIATE = 341  # ≈ 8·128/3: os mesmos FLOPs por token do MLP 4d do GPT-2
LR = 1e-3


def load_nanogpt(path: Path):
    """O módulo ``model.py`` do nanoGPT, importado pelo caminho."""
    file = path / "model.py"
    if not file.exists():
        raise SystemExit(f"não achei {file}; --nanogpt deve ser a pasta do nanoGPT (com model.py).")
    spec = importlib.util.spec_from_file_location("nanogpt_model", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Contender:
    """Um modelo com o seu otimizador e o seu jeito de montar lotes e dar um passo."""

    def __init__(self, name: str, model, optimizer, batch_fn, step_fn) -> None:
        self.name, self.model, self.optimizer, self.batch_fn, self.step_fn = name, model, optimizer, batch_fn, step_fn

    def run(self, steps: int) -> float:
        """*Tokens*/s de ``steps`` passos (o lote montado dentro do tempo, como num treino)."""
        t = time.perf_counter()
        for _ in range(steps):
            x, y = self.batch_fn()
            self.step_fn(x, y)
        return steps * BATCH * CONTEXT / (time.perf_counter() - t)


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm")
ATTENTION_OPS = ("aten::_scaled_dot_product_flash_attention_for_cpu",
                 "aten::_scaled_dot_product_flash_attention_for_cpu_backward")


def breakdown(contender: "Contender", steps: int) -> dict:
    """Milissegundos por passo (tempo próprio de CPU no perfil) das matrizes, da atenção e do resto."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        contender.run(steps)
    own = {e.key: e.self_cpu_time_total / 1e3 / steps for e in prof.key_averages()}
    total = sum(own.values())
    matmul = sum(own.get(k, 0.0) for k in MATMUL_OPS)
    attention = sum(own.get(k, 0.0) for k in ATTENTION_OPS)
    return {"ms_per_step": total, "matmul_ms": matmul, "attention_ms": attention,
            "other_ms": total - matmul - attention}


def ours(tokens: np.ndarray, *, seed: int = 0, transformer=Transformer, old_optimizer: bool = False,
         name: str = "nosso", compiled: bool = False) -> Contender:
    cfg = ModelConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, max_position_embeddings=CONTEXT)
    torch.manual_seed(seed)
    model = transformer(cfg).train()
    tc = TrainConfig(steps=1, batch_size_tokens=BATCH * CONTEXT, seq_len=CONTEXT, lr=LR)
    if old_optimizer:  # o AdamW de antes: o laço por parâmetro (padrão do PyTorch na CPU)
        optimizer = torch.optim.AdamW(_param_groups(model, tc.weight_decay), lr=LR, betas=(tc.beta1, tc.beta2), eps=1e-8)
    else:
        optimizer = make_optimizer(model, tc, torch.device("cpu"))
    generator = torch.Generator().manual_seed(seed + 1)
    forward = torch.compile(model, dynamic=False) if compiled else model  # os mesmos parâmetros

    def step(x, y):
        train_step(forward, optimizer, x, y, grad_clip=1.0, device="cpu")

    return Contender(name, model, optimizer, lambda: sample_batch(tokens, BATCH, CONTEXT, generator), step)


def nanogpt(module, tokens: np.ndarray, *, seed: int = 0, compiled: bool = False) -> Contender:
    cfg = module.GPTConfig(block_size=CONTEXT, vocab_size=VOCAB, n_layer=LAYERS, n_head=HEADS, n_embd=HIDDEN,
                           dropout=0.0, bias=False)
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(None):  # o nanoGPT imprime contagens ao construir
        model = module.GPT(cfg).train()
        optimizer = model.configure_optimizers(0.1, LR, (0.9, 0.95), "cpu")
    scaler = torch.amp.GradScaler("cpu", enabled=False)  # float32: desligado, como no train.py
    forward = torch.compile(model, dynamic=False) if compiled else model  # como o compile=True do train.py

    def batch():  # como o get_batch do train.py: janelas por torch.randint, empilhadas
        ix = torch.randint(len(tokens) - CONTEXT, (BATCH,))
        x = torch.stack([torch.from_numpy(tokens[i:i + CONTEXT].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(tokens[i + 1:i + 1 + CONTEXT].astype(np.int64)) for i in ix])
        return x, y

    def step(x, y):
        _, loss = forward(x, y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return Contender("nanoGPT compilado" if compiled else "nanoGPT", model, optimizer, batch, step)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", required=True, help="pasta do nanoGPT (a que tem model.py)")
    parser.add_argument("--rounds", type=int, default=7, help="rodadas intercaladas")
    parser.add_argument("--steps", type=int, default=8, help="passos cronometrados por concorrente e rodada")
    parser.add_argument("--warmup", type=int, default=3, help="passos de aquecimento de cada concorrente")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (padrão: o do PyTorch)")
    parser.add_argument("--old", default=None, metavar="COMMIT",
                        help="inclui o nosso modelo e AdamW de um commit antigo do leiaute plano (ex.: 67ae944)")
    parser.add_argument("--profile-steps", type=int, default=4, help="passos de cada um no perfil (0: sem perfil)")
    parser.add_argument("--compile", action="store_true",
                        help="inclui os dois modelos com torch.compile (mede também a compilação a frio)")
    parser.add_argument("--out", default=None, help="grava as medições (JSON com metadados)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cold = None
    if args.compile and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        # compilação a frio de verdade: um cache vazio (o padrão, em /tmp, guarda as de antes)
        cold = tempfile.mkdtemp(prefix="leis_inductor_")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cold
    module = load_nanogpt(Path(args.nanogpt))
    tokens = np.asarray(prepare_data().train)
    torch.manual_seed(0)
    contenders = [ours(tokens), nanogpt(module, tokens)]
    if args.old:
        contenders.append(ours(tokens, transformer=load_old_transformer(args.old), old_optimizer=True,
                               name=f"nosso em {args.old}"))
    if args.compile:
        contenders += [ours(tokens, compiled=True, name="nosso compilado"), nanogpt(module, tokens, compiled=True)]
    meta = metadata("cpu")
    print(f"máquina: {meta['device_name']} ({meta['threads']} threads), torch {meta['torch']}, float32"
          + (", com e sem torch.compile" if args.compile else ", sem compile"))
    print(f"forma: {LAYERS} camadas, d = {HIDDEN}, {HEADS} heads, contexto {CONTEXT}, lote {BATCH} × {CONTEXT} tokens")
    warm: dict[str, float] = {}
    for c in contenders:
        n = sum(p.numel() for p in c.model.parameters())
        t = time.perf_counter()
        c.run(args.warmup)
        warm[c.name] = time.perf_counter() - t
        print(f"  {c.name}: {n / 1e6:.3f} mi parâmetros; aquecimento ({args.warmup} passos"
              + (", com a compilação" if "compilado" in c.name else "") + f"): {fmt(warm[c.name], '.1f')} s", flush=True)
    rounds = []
    for r in range(args.rounds):
        order = contenders if r % 2 == 0 else contenders[::-1]
        row = {c.name: c.run(args.steps) for c in order}
        rounds.append(row)
        print(f"  rodada {r + 1}: " + ", ".join(f"{k} {fmt(v, ',.0f').rjust(0)} tokens/s" for k, v in row.items()), flush=True)
    names = [c.name for c in contenders]
    summary = {n: median(r[n] for r in rounds) for n in names}
    ratios = {n: median(r[n] / r["nanoGPT"] for r in rounds) for n in names if n != "nanoGPT"}
    if args.compile:  # compilado contra compilado, rodada a rodada
        ratios["nosso compilado / nanoGPT compilado"] = median(r["nosso compilado"] / r["nanoGPT compilado"]
                                                               for r in rounds)
    print("medianas:")
    for n in names:
        extra = f"  ({fmt(ratios[n], '.2f')}× o nanoGPT)" if n in ratios else ""
        print(f"  {n:20s} {fmt(summary[n], ',.0f').rjust(10)} tokens/s{extra}")
    if args.compile:
        print(f"  compilado contra compilado: {fmt(ratios['nosso compilado / nanoGPT compilado'], '.2f')}×")
    profiles = {}
    if args.profile_steps > 0:
        print(f"perfil ({args.profile_steps} passos; ms por passo, tempo próprio de CPU):")
        for c in contenders:
            if "compilado" in c.name:
                continue  # o perfil do compilado não separa as matrizes do resto do mesmo jeito
            profiles[c.name] = b = breakdown(c, args.profile_steps)
            print(f"  {c.name:20s} total {fmt(b['ms_per_step'], '.0f')}: matrizes {fmt(b['matmul_ms'], '.0f')}, "
                  f"atenção {fmt(b['attention_ms'], '.0f')}, resto {fmt(b['other_ms'], '.0f')}")
    if args.out:
        write_json({"metadata": {**meta, "dtype": "torch.float32", "compile": bool(args.compile),
                                 "inductor_cache": ("vazio (pasta temporária)" if cold else
                                                    os.environ.get("TORCHINDUCTOR_CACHE_DIR")) if args.compile else None,
                                 "shape": {"n_layer": LAYERS, "d_model": HIDDEN, "heads": HEADS, "context": CONTEXT,
                                           "batch_sequences": BATCH, "vocab": VOCAB, "intermediate_ours": INTERMEDIATE},
                                 "rounds": args.rounds, "steps_per_round": args.steps,
                                 "command": "python benchmarks/nanogpt.py " + " ".join(argv or sys.argv[1:])},
                    "rounds": rounds, "median_tokens_per_s": summary, "median_ratio_vs_nanogpt": ratios,
                    "warmup_s": warm, "profile_ms_per_step": profiles}, args.out)
    if cold:
        shutil.rmtree(cold, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
