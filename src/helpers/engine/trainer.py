"""O treinador: ``train(model_config, train_config) -> RunResult``.

Um treino é definido por um orçamento — em FLOPs (na convenção ``M`` do DeepSeek por
padrão), em *tokens* ou em passos — e por um lote em *tokens* por passo. O resto segue
o DeepSeek LLM (§2.3): AdamW com β = (0,9; 0,95) e decaimento de pesos 0,1, recorte do
gradiente em 1,0, aquecimento linear e a taxa em degraus (ou cosseno, ou constante).

O que o treinador garante:

- **honestidade**: o resultado traz a configuração completa, a perda de validação em
  *nats*/token e em bits por byte, a curva de perda, os FLOPs em todas as convenções, o
  tempo, o dispositivo e as versões;
- **divergência é resultado**: perda não finita, ou média móvel muito acima da inicial, encerra o
  treino com ``status="diverged"`` em vez de levantar uma exceção;
- **retomada exata**: com ``checkpoint_path``, o estado completo (pesos, otimizador,
  posição da agenda, gerador de lotes) é salvo de forma atômica; retomar dá a mesma
  curva de um treino sem interrupção;
- **reprodutibilidade**: na CPU, mesma configuração e semente ⇒ mesmos números;
- **avaliação descrita**: o registro diz quais janelas de validação foram lidas
  (``eval_sampling``), quantos documentos da validação a avaliação final tocou e os bits por
  byte das suas duas metades (janelas pares e ímpares) — o ruído da própria medida;
- **paralelismo de dados**: sob ``torchrun``, cada processo treina uma fatia do mesmo
  lote global (gloo na CPU, NCCL na GPU) e o resultado coincide com um processo só.
"""

from __future__ import annotations

import json
import math
import os
import time
import weakref
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..model.config import ModelConfig
from .data import (PreparedData, bits_per_byte, cache_dir, describe_validation_sample, prepare_data, sample_batch,
                   separator_ids, validation_batches, validation_starts)
from ..model.transformer import Transformer, convert_to_gqa
from .runs import (FLOP_CONVENTIONS, RunResult, TrainConfig, _versions, flops_per_token, planned_steps,  # noqa: F401
                   run_id)
from . import noise_scale
from .optim import FUSED_DEVICES, FusedAdamW, clip_grad_norm
from .schedules import ScheduleConfig, lr_multiplier

__all__ = ["TrainConfig", "RunResult", "train", "train_step", "make_optimizer", "planned_steps", "flops_per_token", "FLOP_CONVENTIONS", "run_id",
           "weights_path"]

# --- utilidades ----------------------------------------------------------------

DIVERGENCE_WINDOW = 16
#: Na GPU, a perda de cada passo fica no dispositivo e vem para o processador a cada tantos
#: passos (e em toda avaliação, ponto de controle e no fim): ler um número da GPU espera o
#: passo acabar e esvazia a fila de *kernels*. Na CPU essa leitura é de graça e a perda vem
#: a cada passo. O critério de divergência olha cada passo do mesmo jeito nos dois casos.
HOST_SYNC_EVERY = {"cpu": 1, "cuda": 16}
#: Sequências por lote nas avaliações intermediárias (e na final sem ``final_eval_tokens``) —
#: o valor de sempre, para que os números dos treinos antigos se reproduzam bit a bit.
EVAL_BATCH = 16
#: Sequências por lote na avaliação final com ``final_eval_tokens``: menos chamadas ao modelo
#: para a amostra grande. Essa avaliação soma as perdas janela a janela, em float64, e por isso
#: não depende do tamanho do lote (na CPU, bit a bit; ver ``_evaluate``).
FINAL_EVAL_BATCH = 64


def _pick_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' pedido, mas nenhuma GPU CUDA está disponível; use 'auto' ou 'cpu'.")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def _dist_info() -> tuple[int, int, bool]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), True
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        return dist.get_rank(), dist.get_world_size(), True
    return 0, 1, False


def _save_atomic(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def make_optimizer(model: torch.nn.Module, tc: TrainConfig, device: torch.device):
    """O AdamW do DeepSeek com o *kernel* fundido do PyTorch (um para todos os parâmetros).

    Na CPU e na GPU é o :class:`~helpers.engine.optim.FusedAdamW` — a conta do
    ``torch.optim.AdamW(fused=True)``, bit a bit, sem o custo fixo de ``torch.optim``; em
    outros dispositivos, o ``torch.optim.AdamW`` de sempre."""
    groups = _param_groups(model, tc.weight_decay)
    if torch.device(device).type in FUSED_DEVICES:
        return FusedAdamW(groups, lr=tc.lr, betas=(tc.beta1, tc.beta2), eps=1e-8)
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(tc.beta1, tc.beta2), eps=1e-8)


def train_step(model: torch.nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, *,
               micro_batch_size: int | None = None, grad_clip: float = 1.0, device=None, autocast=nullcontext):
    """Um passo de otimização: ida e volta em cada micro-lote, recorte do gradiente, AdamW.

    ``model`` pode ser o ``DistributedDataParallel`` que embrulha o modelo (os gradientes
    só são somados entre processos no último micro-lote). Devolve a perda média do lote
    como tensor no dispositivo — ler o número é decisão de quem chama.
    """
    micro = micro_batch_size or x.shape[0]
    n_micro = x.shape[0] // micro
    if n_micro < 1 or n_micro * micro != x.shape[0]:
        raise ValueError(f"micro_batch_size = {micro} deve dividir o lote de {x.shape[0]} sequências "
                         f"(um divisor entre 1 e {x.shape[0]}).")
    distributed = isinstance(model, torch.nn.parallel.DistributedDataParallel)
    loss_sum = None
    for i in range(n_micro):
        xb, yb = (x, y) if n_micro == 1 else (x[i * micro:(i + 1) * micro], y[i * micro:(i + 1) * micro])
        xb, yb = xb.to(device), yb.to(device)
        ctx = model.no_sync() if distributed and i < n_micro - 1 else nullcontext()
        with ctx:
            with autocast():
                logits = model(xb)
            loss = F.cross_entropy(logits.float().flatten(0, 1), yb.flatten())
            if n_micro > 1:
                loss = loss / n_micro
            loss.backward()
        loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
    clip_grad_norm(_parameters(model.module if distributed else model), grad_clip)  # as normas numa chamada só
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum


_PARAMETERS: "weakref.WeakKeyDictionary[torch.nn.Module, list]" = weakref.WeakKeyDictionary()


def _parameters(model: torch.nn.Module) -> list:
    """``list(model.parameters())``, guardada por modelo: percorrer os módulos a cada passo
    custava ~0,15 ms, 5% de um passo dos modelos minúsculos."""
    params = _PARAMETERS.get(model)
    if params is None:
        params = _PARAMETERS[model] = list(model.parameters())
    return params


def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def _evaluate(model, data: PreparedData, seq_len: int, max_tokens: int, device, autocast, *,
              sampling: str = "start", batch_size: int = EVAL_BATCH, halves: bool = False,
              batch_invariant: bool = False, tokens: np.ndarray | None = None
              ) -> tuple[float, float, list[float | None] | None]:
    """Perda média (nats/token) e bits por byte na amostra de validação, em modo de avaliação.

    Com ``halves=True``, devolve também os bits por byte das janelas de índice par e das de
    índice ímpar (``None`` numa metade vazia); senão, ``None`` no lugar deles. O total é a
    soma, em float64, das perdas somadas de cada lote em float32 (a conta de sempre, que
    depende um pouco do tamanho do lote); com ``batch_invariant=True``, é a soma em float64
    das perdas de cada janela — as metades já são somadas assim —, e o resultado não depende
    de ``batch_size`` (as perdas de cada janela não dependem, na CPU: ver os testes).
    ``tokens``: outro texto de validação no lugar de ``data.val`` (a validação própria de uma faixa).
    """
    model.eval()
    nats, n_tokens, n_bytes, seen = 0.0, 0, 0, 0
    half_nats = torch.zeros(2, dtype=torch.float64)
    half_bytes = torch.zeros(2, dtype=torch.float64)
    token_bytes = torch.from_numpy(data.token_bytes)
    for x, y in validation_batches(data.val if tokens is None else tokens, seq_len, max_tokens, batch_size,
                                   sampling=sampling):
        with autocast():
            logits = model(x.to(device))
        logp = F.log_softmax(logits.float().flatten(0, 1), dim=-1)
        target = y.to(device).flatten()
        # log_softmax + nll_loss é a conta do cross_entropy: os mesmos bits de antes no total
        if not batch_invariant:
            nats += F.nll_loss(logp, target, reduction="sum").item()
        window_bytes = token_bytes[y].sum(1)
        n_tokens += y.numel()
        n_bytes += int(window_bytes.sum())
        if halves or batch_invariant:
            per_window = F.nll_loss(logp, target, reduction="none").view(y.shape).double().sum(1).cpu()
            parity = torch.arange(seen, seen + y.shape[0]) % 2
            half_nats.index_add_(0, parity, per_window)
            half_bytes.index_add_(0, parity, window_bytes.double())
        seen += y.shape[0]
    model.train()
    if batch_invariant:
        nats = float(half_nats.sum())
    half_bpb = None
    if halves:
        half_bpb = [bits_per_byte(float(n), float(b)) if b > 0 else None for n, b in zip(half_nats, half_bytes)]
    return nats / n_tokens, bits_per_byte(nats, n_bytes), half_bpb


def _final_evaluation(model, data: PreparedData, tc: TrainConfig, device, autocast, *, own: bool = False) -> dict:
    """A avaliação do fim do treino, com a descrição da amostra (o ``evaluation["final"]``; com
    ``own=True``, na validação própria da faixa: o ``evaluation["in_distribution"]``)."""
    large = tc.final_eval_tokens is not None
    tokens = tc.final_eval_tokens if large else tc.eval_tokens
    text = data.val_own if own else data.val
    t0 = time.perf_counter()
    loss, bpb, halves = _evaluate(model, data, tc.seq_len, tokens, device, autocast, sampling=tc.eval_sampling,
                                  batch_size=FINAL_EVAL_BATCH if large else EVAL_BATCH, halves=True,
                                  batch_invariant=large, tokens=text)
    seconds = time.perf_counter() - t0
    sample = describe_validation_sample(text, tc.seq_len, tokens, sampling=tc.eval_sampling,
                                        separators=separator_ids(data))
    return {**sample, "loss": loss, "bpb": bpb, "halves_bpb": halves, "seconds": seconds}


def _noise_scale(model, data: PreparedData, tc: TrainConfig, generator, device, autocast) -> dict:
    """A escala de ruído do gradiente agora, em ``noise_scale_batches`` micro-lotes de ``noise_scale_micro``
    sequências (:mod:`helpers.engine.noise_scale`); ``B_simple`` e ``tr Σ`` em *tokens*."""
    micro, k = tc.noise_scale_micro, tc.noise_scale_batches
    x, y = sample_batch(data.train, micro * k, tc.seq_len, generator)
    grads = noise_scale.micro_gradients(model, x, y, micro, device=device, autocast=autocast)
    est = noise_scale.estimate(grads, micro * tc.seq_len, seed=tc.seed)
    clean = lambda v: v if math.isfinite(v) else None  # o JSON dos resultados não tem nan nem inf
    return {**est, "b_simple": clean(est["b_simple"]), "ci": [clean(v) for v in est["ci"]]}


def weights_path(rid: str) -> Path:
    """Onde ficam os pesos finais de um treino que outro usa como ponto de partida."""
    return cache_dir() / "pesos" / f"{rid}.pt"


def _initial_weights(init_from: dict, model_config: ModelConfig, data: PreparedData) -> dict[str, torch.Tensor]:
    """Pesos de partida de ``init_from``: os do treino de origem (do cache, ou treinando-o
    de novo — na CPU dá os mesmos pesos), convertidos para ``num_key_value_heads``."""
    parent_mc = ModelConfig.from_dict(init_from["model"])
    parent_tc = TrainConfig.from_dict(init_from["train"])
    target = parent_mc.replace(num_key_value_heads=init_from["num_key_value_heads"]) \
        if parent_mc.num_attention_heads % init_from["num_key_value_heads"] == 0 else None
    if target != model_config:
        raise ValueError(
            "init_from incompatível: o modelo de origem convertido para "
            f"num_key_value_heads = {init_from['num_key_value_heads']} deve ser igual ao modelo deste treino "
            f"(origem: {parent_mc.to_dict()}; este: {model_config.to_dict()})."
        )
    path = weights_path(run_id(parent_mc, parent_tc))
    parent = Transformer(parent_mc)
    if path.exists():
        parent.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        if parent_tc.corpus != data.corpus or parent_tc.tokenizer != data.tokenizer:
            data = prepare_data(parent_tc.corpus, parent_tc.tokenizer)
        result, parent = train(parent_mc, parent_tc, data=data, quiet=True, return_model=True, save_weights=True)
        if result.status != "ok":
            raise ValueError(f"o treino de origem de init_from terminou com status {result.status!r}: {result.message}")
    return convert_to_gqa(parent.cpu(), init_from["num_key_value_heads"]).state_dict()


# --- o treino -------------------------------------------------------------------

def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    data: PreparedData | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    quiet: bool = False,
    stop_after_steps: int | None = None,
    keep_checkpoint: bool = False,
    return_model: bool = False,
    save_weights: bool = False,
) -> RunResult | tuple[RunResult, Transformer]:
    """Treina um modelo e devolve o registro completo do treino.

    ``data`` permite reutilizar dados já preparados (senão, :func:`prepare_data`).
    ``checkpoint_path`` + ``checkpoint_every`` (passos) salvam o estado; se o arquivo
    já existe e é do mesmo treino, o treino continua de onde parou.
    ``stop_after_steps`` interrompe depois de tantos passos (status ``"interrupted"``),
    para simular uma queda; o ponto de controle é salvo antes de sair. Ao terminar, o
    ponto de controle é apagado, a menos que ``keep_checkpoint=True`` (as varreduras o
    apagam só depois de gravar o resultado). Com ``return_model=True`` devolve
    ``(resultado, modelo)``, para gerar texto ou inspecionar os pesos. Com
    ``save_weights=True`` os pesos finais de um treino ``ok`` ficam em
    :func:`weights_path` — é de lá que um treino com ``init_from`` parte.
    """
    tc, mc = train_config, model_config
    versions = _versions()  # o código que roda é o do início do treino
    rank, world, distributed = _dist_info()
    device = _pick_device(tc.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    if data is None:
        data = prepare_data(tc.corpus, tc.tokenizer)
    if mc.vocab_size < data.vocab_size:
        raise ValueError(
            f"o modelo tem vocab_size = {mc.vocab_size}, menor que o do tokenizador ({data.vocab_size}); "
            f"use vocab_size ≥ {data.vocab_size}."
        )
    if tc.seq_len > mc.max_position_embeddings:
        raise ValueError(
            f"seq_len ({tc.seq_len}) excede max_position_embeddings do modelo ({mc.max_position_embeddings})."
        )

    conventions = {c: flops_per_token(mc, tc.seq_len, c) for c in FLOP_CONVENTIONS}
    steps = planned_steps(mc, tc)
    seqs = tc.batch_size_sequences
    if seqs % world:
        raise ValueError(f"o lote de {seqs} sequências não se divide entre {world} processos.")
    local_seqs = seqs // world
    micro = tc.micro_batch_size or local_seqs
    if local_seqs % micro:
        raise ValueError(f"micro_batch_size ({micro}) deve dividir as {local_seqs} sequências de cada processo.")
    warmup = tc.warmup_steps if tc.warmup_steps is not None else round(tc.warmup_fraction * steps)
    schedule = ScheduleConfig(tc.schedule, min(warmup, steps), tc.boundaries, tc.factors, tc.final_fraction)
    eval_steps = sorted({min(steps, max(1, round(steps * (i + 1) / tc.eval_points))) for i in range(tc.eval_points)})

    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else torch.autocast("cpu", enabled=False)

    torch.manual_seed(tc.seed)
    model = Transformer(mc)
    resuming = checkpoint_path is not None and Path(checkpoint_path).exists()
    if tc.init_from is not None and not resuming:  # ao retomar, os pesos vêm do ponto de controle
        model.load_state_dict(_initial_weights(tc.init_from, mc, data))
    model = model.to(device)
    n_params = model.num_parameters()
    n_params_ne = model.num_parameters(non_embedding=True)
    optimizer = make_optimizer(model, tc, device)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    generator = torch.Generator().manual_seed(tc.seed + 1)
    noise_generator = torch.Generator().manual_seed(tc.seed + 2)  # os lotes da medida do ruído, à parte
    rid = run_id(mc, tc)

    state = {"step": 0, "trace": [], "initial_loss": None, "train_time": 0.0, "status": "ok", "message": "",
             "running": 0.0, "running_n": 0}
    ckpt = Path(checkpoint_path) if checkpoint_path else None
    if ckpt is not None and ckpt.exists():
        saved = torch.load(ckpt, map_location=device, weights_only=True)
        if saved.get("run_id") != rid:
            raise ValueError(
                f"o ponto de controle {str(ckpt)!r} é de outro treino (run_id {saved.get('run_id')} ≠ {rid}); "
                "apague-o ou use outro caminho."
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        if "noise_generator" in saved:
            noise_generator.set_state(saved["noise_generator"])
        state.update(json.loads(saved["state"]))
        state["status"], state["message"] = "ok", ""  # o ponto salvo numa interrupção continua

    def checkpoint() -> None:
        if ckpt is None or rank != 0:
            return
        _save_atomic({
            "run_id": rid,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "noise_generator": noise_generator.get_state(),
            "state": json.dumps(state),
        }, ckpt)

    if state["initial_loss"] is None:
        loss0, bpb0, _ = _evaluate(model, data, tc.seq_len, tc.eval_tokens, device, autocast,
                                   sampling=tc.eval_sampling)
        state["initial_loss"] = loss0
        state["trace"].append({"step": 0, "tokens": 0, "train_loss": None, "val_loss": loss0, "val_bpb": bpb0, "lr": 0.0})

    progress = None
    if not quiet and rank == 0:
        from tqdm.auto import tqdm

        progress = tqdm(total=steps, initial=state["step"], desc=f"treino {rid[:8]}", unit="passo", leave=False)

    t_start = time.perf_counter()
    model.train()
    step = state["step"]
    sync_every = HOST_SYNC_EVERY.get(device.type, 1)
    pending: list[tuple[int, float, torch.Tensor]] = []  # (passo, taxa, perda ainda no dispositivo)
    final_eval = None  # a avaliação do último passo (com a descrição da amostra)
    own_eval = None  # a mesma avaliação na validação própria de uma faixa de compressibilidade

    def flush() -> bool:
        """Traz as perdas pendentes e aplica, passo a passo, o critério de divergência."""
        if not pending:
            return False
        values = torch.stack([loss for _, _, loss in pending]).tolist()
        done = [(i, lr_i, v) for (i, lr_i, _), v in zip(pending, values)]
        pending.clear()
        for i, lr_i, train_loss in done:
            state["running"] += train_loss
            state["running_n"] += 1
            # Um único lote estranho (poucas sequências de um trecho atípico do corpus) pode passar
            # da perda inicial sem que o treino tenha divergido; por isso o critério "alta demais"
            # olha a média móvel dos últimos DIVERGENCE_WINDOW passos. Perda não finita é imediata.
            recent = state.setdefault("recent", [])
            recent.append(train_loss)
            del recent[:-DIVERGENCE_WINDOW]
            too_high = (len(recent) == DIVERGENCE_WINDOW
                        and sum(recent) / DIVERGENCE_WINDOW > tc.divergence_factor * state["initial_loss"])
            if not math.isfinite(train_loss) or too_high:
                state["step"] = i
                state["status"] = "diverged"
                state["message"] = (
                    f"perda de treino {train_loss:.4g} no passo {i} (média dos últimos {len(recent)}: "
                    f"{sum(recent) / len(recent):.4g}; inicial {state['initial_loss']:.4g}); critério: não finita "
                    f"ou média de {DIVERGENCE_WINDOW} passos > {tc.divergence_factor} × inicial"
                )
                state["trace"].append({"step": i, "tokens": i * tc.batch_size_tokens, "train_loss": train_loss,
                                       "val_loss": None, "val_bpb": None, "lr": lr_i})
                return True
        if progress is not None:
            progress.update(len(done))
            elapsed = state["train_time"] + time.perf_counter() - t_start
            progress.set_postfix(perda=f"{done[-1][2]:.3f}",
                                 tok_s=f"{(done[-1][0] * tc.batch_size_tokens) / max(elapsed, 1e-9):,.0f}")
        return False

    while step < steps:
        lr = tc.lr * lr_multiplier(step, steps, schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # O lote global é sorteado igual em todos os processos; cada um fica com a sua fatia.
        x, y = sample_batch(data.train, seqs, tc.seq_len, generator)
        x, y = x[rank * local_seqs:(rank + 1) * local_seqs], y[rank * local_seqs:(rank + 1) * local_seqs]
        loss_sum = train_step(ddp_model, optimizer, x, y, micro_batch_size=micro, grad_clip=tc.grad_clip,
                              device=device, autocast=autocast)
        if distributed:
            dist.all_reduce(loss_sum)
            loss_sum /= world
        step += 1
        state["step"] = step
        pending.append((step, lr, loss_sum))
        evaluate_now = step in eval_steps
        save_now = bool(checkpoint_every) and step % checkpoint_every == 0 and step < steps
        stop_now = stop_after_steps is not None and step >= stop_after_steps and step < steps
        if (len(pending) >= sync_every or evaluate_now or save_now or stop_now or step == steps) and flush():
            break
        if evaluate_now and step == steps:
            t_final = time.perf_counter()
            final_eval = _final_evaluation(model, data, tc, device, autocast)
            if data.val_own is not None:
                own_eval = _final_evaluation(model, data, tc, device, autocast, own=True)
            if tc.final_eval_tokens is not None:  # a avaliação grande fica fora do tempo de treino
                t_start += time.perf_counter() - t_final
            val_loss, val_bpb = final_eval["loss"], final_eval["bpb"]
        elif evaluate_now:
            val_loss, val_bpb, _ = _evaluate(model, data, tc.seq_len, tc.eval_tokens, device, autocast,
                                             sampling=tc.eval_sampling)
        if evaluate_now:
            state["trace"].append({"step": step, "tokens": step * tc.batch_size_tokens,
                                   "train_loss": state["running"] / state["running_n"], "val_loss": val_loss,
                                   "val_bpb": val_bpb, "lr": lr})
            state["running"], state["running_n"] = 0.0, 0
            if tc.noise_scale_micro is not None and rank == 0:  # fora do tempo de treino, como a avaliação
                t_noise = time.perf_counter()
                state["trace"][-1]["noise"] = _noise_scale(model, data, tc, noise_generator, device, autocast)
                t_start += time.perf_counter() - t_noise
        if save_now:
            state["train_time"] += time.perf_counter() - t_start
            t_start = time.perf_counter()
            checkpoint()
        if stop_now:
            state["train_time"] += time.perf_counter() - t_start
            state["status"] = "interrupted"
            checkpoint()
            break
    else:
        state["train_time"] += time.perf_counter() - t_start
    if state["status"] == "diverged":
        state["train_time"] += time.perf_counter() - t_start
    if progress is not None:
        progress.close()

    final = state["trace"][-1]
    tokens_done = state["step"] * tc.batch_size_tokens
    train_time = max(state["train_time"], 1e-9)
    result = RunResult(
        run_id=rid,
        status=state["status"],
        model=mc.to_dict(),
        train=tc.to_dict(),
        steps=state["step"],
        tokens=tokens_done,
        final_val_loss=final["val_loss"],
        final_val_bpb=final["val_bpb"],
        final_train_loss=final["train_loss"],
        trace=state["trace"],
        flops_per_token=conventions,
        compute={c: v * tokens_done for c, v in conventions.items()},
        parameters={"total": n_params, "non_embedding": n_params_ne},
        wall_time_s=train_time,
        tokens_per_s=tokens_done / train_time,
        achieved_flops_per_s=conventions["measured"] * tokens_done / train_time,
        device=str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        world_size=world,
        data=data.describe(),
        versions=versions,
        message=state["message"],
        evaluation={
            "intermediate": {"sampling": tc.eval_sampling,
                             "tokens": int(validation_starts(data.val.size, tc.seq_len, tc.eval_tokens,
                                                             tc.eval_sampling).size) * tc.seq_len},
            "final": final_eval,
            **({"in_distribution": own_eval} if own_eval is not None else {}),
        },
    )
    if save_weights and rank == 0 and state["status"] == "ok":
        _save_atomic(model.state_dict(), weights_path(rid))
    if ckpt is not None and rank == 0 and state["status"] != "interrupted" and not keep_checkpoint and ckpt.exists():
        ckpt.unlink()
    return (result, model) if return_model else result
