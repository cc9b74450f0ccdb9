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
- **paralelismo de dados**: sob ``torchrun``, cada processo treina uma fatia do mesmo
  lote global (gloo na CPU, NCCL na GPU) e o resultado coincide com um processo só.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import subprocess
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import __version__
from .config import ModelConfig, _check_positive_int
from .data import (CorpusSpec, PreparedData, TokenizerSpec, bits_per_byte, cache_dir, prepare_data, sample_batch,
                   validation_batches)
from .flops import analytic_flops_per_token, deepseek_m, six_n, six_n1, six_n2
from .model import Transformer, convert_to_gqa
from .schedules import SCHEDULES, ScheduleConfig, lr_multiplier

__all__ = ["TrainConfig", "RunResult", "train", "planned_steps", "flops_per_token", "FLOP_CONVENTIONS", "run_id",
           "weights_path"]

FLOP_CONVENTIONS = ("M", "6N", "6N1", "6N2", "measured")


def flops_per_token(model_config: ModelConfig, seq_len: int, convention: str = "M") -> float:
    """FLOPs por *token* de treino na convenção pedida (ver :mod:`helpers.flops`)."""
    if convention == "M":
        return float(deepseek_m(model_config, seq_len))
    if convention == "6N":
        return float(six_n(model_config))
    if convention == "6N1":
        return float(six_n1(model_config))
    if convention == "6N2":
        return float(six_n2(model_config))
    if convention == "measured":
        return float(analytic_flops_per_token(model_config, seq_len).total)
    raise ValueError(f"convenção de FLOPs desconhecida {convention!r}; as válidas são {list(FLOP_CONVENTIONS)}.")


def planned_steps(model_config: ModelConfig, train_config: TrainConfig) -> int:
    """Quantos passos o orçamento compra: ``steps``, ``tokens // B`` ou ``⌊C / (FLOPs/token · B)⌋``.

    Levanta ``ValueError`` se o orçamento não paga nem um passo.
    """
    tc = train_config
    if tc.steps is not None:
        return tc.steps
    if tc.tokens is not None:
        steps = tc.tokens // tc.batch_size_tokens
        if steps < 1:
            raise ValueError(
                f"tokens ({tc.tokens}) não completa nem um lote de {tc.batch_size_tokens} tokens; "
                "aumente tokens ou reduza batch_size_tokens."
            )
        return steps
    per_token = flops_per_token(model_config, tc.seq_len, tc.flops_convention)
    steps = int(tc.budget_flops // (per_token * tc.batch_size_tokens))
    if steps < 1:
        raise ValueError(
            f"o orçamento não paga nem um passo: um passo custa {per_token * tc.batch_size_tokens:.3g} FLOPs "
            f"({tc.batch_size_tokens} tokens × {per_token:.3g} FLOPs/token, convenção {tc.flops_convention}); "
            f"budget_flops = {tc.budget_flops:.3g}; aumente o orçamento ou reduza o lote."
        )
    return steps


@dataclass(frozen=True)
class TrainConfig:
    """Tudo o que define um treino, além da arquitetura.

    Orçamento: exatamente um de ``budget_flops`` (na convenção ``flops_convention``),
    ``tokens`` ou ``steps``. Lote: ``batch_size_tokens`` *tokens* por passo, múltiplo de
    ``seq_len``. Agenda: ``schedule`` (``multistep``, ``cosine``, ``constant``) com
    aquecimento de ``warmup_fraction`` dos passos (ou de ``warmup_steps`` passos, se dado).

    ``init_from`` (opcional) começa dos pesos de outro treino em vez de pesos aleatórios:
    ``{"model": {...}, "train": {...}, "num_key_value_heads": G}`` — a configuração
    completa do treino de origem e quantas *heads* K/V manter (média dentro dos grupos,
    :func:`helpers.model.convert_to_gqa`). É o *uptraining* de Ainslie et al. (2023).
    """

    budget_flops: float | None = None
    flops_convention: str = "M"
    tokens: int | None = None
    steps: int | None = None
    batch_size_tokens: int = 4096
    seq_len: int = 128
    micro_batch_size: int | None = None
    lr: float = 3e-3
    schedule: str = "multistep"
    warmup_fraction: float = 0.05
    warmup_steps: int | None = None
    boundaries: tuple[float, ...] = (0.8, 0.9)
    factors: tuple[float, ...] = (0.316, 0.1)
    final_fraction: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    seed: int = 0
    eval_points: int = 20
    eval_tokens: int = 65536
    divergence_factor: float = 1.5
    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    device: str = "auto"
    init_from: dict | None = None

    def __post_init__(self) -> None:
        given = [k for k in ("budget_flops", "tokens", "steps") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"dê exatamente um orçamento entre budget_flops, tokens e steps; recebi {given or 'nenhum'}."
            )
        if self.budget_flops is not None and not (math.isfinite(self.budget_flops) and self.budget_flops > 0):
            raise ValueError(f"budget_flops deve ser finito e > 0; recebi {self.budget_flops}.")
        for name in ("tokens", "steps", "batch_size_tokens", "seq_len", "eval_points", "eval_tokens"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        if self.flops_convention not in FLOP_CONVENTIONS:
            raise ValueError(
                f"flops_convention {self.flops_convention!r} desconhecida; as válidas são {list(FLOP_CONVENTIONS)}."
            )
        if self.batch_size_tokens % self.seq_len != 0:
            raise ValueError(
                f"batch_size_tokens ({self.batch_size_tokens}) deve ser múltiplo de seq_len ({self.seq_len}); "
                f"por exemplo {self.seq_len * max(1, round(self.batch_size_tokens / self.seq_len))}."
            )
        seqs = self.batch_size_tokens // self.seq_len
        if self.micro_batch_size is not None and (self.micro_batch_size < 1 or seqs % self.micro_batch_size):
            raise ValueError(
                f"micro_batch_size ({self.micro_batch_size}) deve dividir o lote de {seqs} sequências."
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"agenda desconhecida {self.schedule!r}; as válidas são {list(SCHEDULES)}.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr deve ser finito e > 0; recebi {self.lr}.")
        if self.warmup_steps is not None and (isinstance(self.warmup_steps, bool)
                                              or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0):
            raise ValueError(f"warmup_steps deve ser um inteiro ≥ 0 ou None; recebi {self.warmup_steps!r}.")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction deve estar em [0, 1); recebi {self.warmup_fraction}.")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"beta1 e beta2 devem estar em [0, 1); recebi {self.beta1} e {self.beta2}.")
        if self.weight_decay < 0 or self.grad_clip <= 0:
            raise ValueError(
                f"weight_decay deve ser ≥ 0 e grad_clip > 0; recebi {self.weight_decay} e {self.grad_clip}."
            )
        if self.divergence_factor <= 1:
            raise ValueError(f"divergence_factor deve ser > 1; recebi {self.divergence_factor}.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device deve ser 'auto', 'cpu' ou 'cuda'; recebi {self.device!r}.")
        if self.init_from is not None:
            keys = {"model", "train", "num_key_value_heads"}
            if not isinstance(self.init_from, dict) or set(self.init_from) != keys:
                got = sorted(self.init_from) if isinstance(self.init_from, dict) else type(self.init_from).__name__
                raise ValueError(f"init_from deve ser um dicionário com as chaves {sorted(keys)}; recebi {got}.")
            _check_positive_int("init_from.num_key_value_heads", self.init_from["num_key_value_heads"])
        object.__setattr__(self, "boundaries", tuple(float(b) for b in self.boundaries))
        object.__setattr__(self, "factors", tuple(float(f) for f in self.factors))
        # Valida a agenda já na construção (mesmas regras de ScheduleConfig).
        ScheduleConfig(self.schedule, 0, self.boundaries, self.factors, self.final_fraction)

    @property
    def batch_size_sequences(self) -> int:
        return self.batch_size_tokens // self.seq_len

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["boundaries"], d["factors"] = list(self.boundaries), list(self.factors)
        d["corpus"] = self.corpus.to_dict()
        d["tokenizer"] = asdict(self.tokenizer)
        if d["init_from"] is None:  # ausente = pesos aleatórios (e o run_id dos treinos antigos não muda)
            del d["init_from"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"campos desconhecidos em TrainConfig: {unknown}; campos válidos: {sorted(known)}.")
        d = dict(data)
        if isinstance(d.get("corpus"), dict):
            d["corpus"] = CorpusSpec.from_dict(d["corpus"])
        if isinstance(d.get("tokenizer"), dict):
            d["tokenizer"] = TokenizerSpec(**d["tokenizer"])
        for key in ("boundaries", "factors"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def run_id(model_config: ModelConfig, train_config: TrainConfig) -> str:
    """Identificador estável de um treino: SHA-256 da configuração completa (JSON canônico)."""
    payload = json.dumps({"model": model_config.to_dict(), "train": train_config.to_dict()}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass
class RunResult:
    """O registro de um treino (uma linha JSON em ``results/*.jsonl``).

    ``wall_time_s`` é o tempo do laço de treino, incluindo as avaliações intermediárias;
    ``tokens_per_s`` e ``achieved_flops_per_s`` (FLOPs medidos do modelo por segundo)
    dividem por esse tempo. ``compute`` traz o orçamento gasto em cada convenção.
    """

    run_id: str
    status: str
    model: dict
    train: dict
    steps: int
    tokens: int
    final_val_loss: float | None
    final_val_bpb: float | None
    final_train_loss: float | None
    trace: list[dict]
    flops_per_token: dict[str, float]
    compute: dict[str, float]
    parameters: dict[str, int]
    wall_time_s: float
    tokens_per_s: float
    achieved_flops_per_s: float
    device: str
    world_size: int
    data: dict
    versions: dict
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunResult":
        return cls(**d)


# --- utilidades ----------------------------------------------------------------

DIVERGENCE_WINDOW = 16


def _versions() -> dict[str, Any]:
    """Versões e o *commit* do código **carregado** neste processo.

    ``dirty`` diz se havia mudanças não versionadas no que define um treino — o pacote
    ``helpers``, as especificações de ``experiments/`` e as dependências fixadas —;
    nesse caso o *commit* não basta para reproduzir o treino. O retrato é tirado uma
    vez, quando o módulo é importado: uma varredura longa continua rodando o código que
    carregou, mesmo que alguém edite os arquivos no meio dela.
    """
    return dict(_VERSIONS_AT_IMPORT)


def _read_versions() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    commit, dirty = "", None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=5).stdout.strip()
        paths = [":(top)src", ":(top)experiments", ":(top)requirements.txt", ":(top)pyproject.toml"]
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *paths],
                                cwd=here, capture_output=True, text=True, timeout=5)
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    if not commit:  # cópia sem git (por exemplo, a máquina de GPU): quem lança diz de que commit veio
        commit = os.environ.get("LEIS_DE_ESCALA_COMMIT", "")
    # Impressão digital do código carregado: confere com qualquer commit, com ou sem git.
    code = hashlib.sha256()
    for f in sorted(here.glob("*.py")):
        code.update(f.name.encode() + b"\0" + f.read_bytes())
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "helpers": __version__,
        "commit": commit,
        "dirty": dirty,
        "code_sha256": code.hexdigest()[:16],
        "machine": platform.machine(),
    }


_VERSIONS_AT_IMPORT = _read_versions()


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


def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def _evaluate(model, data: PreparedData, seq_len: int, max_tokens: int, device, autocast) -> tuple[float, float]:
    model.eval()
    nats, n_tokens, n_bytes = 0.0, 0, 0
    token_bytes = torch.from_numpy(data.token_bytes)
    for x, y in validation_batches(data.val, seq_len, max_tokens):
        with autocast():
            logits = model(x.to(device))
        nats += F.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum").item()
        n_tokens += y.numel()
        n_bytes += int(token_bytes[y].sum())
    model.train()
    return nats / n_tokens, bits_per_byte(nats, n_bytes)


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
    optimizer = torch.optim.AdamW(_param_groups(model, tc.weight_decay), lr=tc.lr, betas=(tc.beta1, tc.beta2), eps=1e-8)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    generator = torch.Generator().manual_seed(tc.seed + 1)
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
            "state": json.dumps(state),
        }, ckpt)

    if state["initial_loss"] is None:
        loss0, bpb0 = _evaluate(model, data, tc.seq_len, tc.eval_tokens, device, autocast)
        state["initial_loss"] = loss0
        state["trace"].append({"step": 0, "tokens": 0, "train_loss": None, "val_loss": loss0, "val_bpb": bpb0, "lr": 0.0})

    progress = None
    if not quiet and rank == 0:
        from tqdm.auto import tqdm

        progress = tqdm(total=steps, initial=state["step"], desc=f"treino {rid[:8]}", unit="passo", leave=False)

    t_start = time.perf_counter()
    model.train()
    step = state["step"]
    while step < steps:
        lr = tc.lr * lr_multiplier(step, steps, schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # O lote global é sorteado igual em todos os processos; cada um fica com a sua fatia.
        x, y = sample_batch(data.train, seqs, tc.seq_len, generator)
        x, y = x[rank * local_seqs:(rank + 1) * local_seqs], y[rank * local_seqs:(rank + 1) * local_seqs]
        loss_sum = torch.zeros((), device=device)
        n_micro = local_seqs // micro
        for i in range(n_micro):
            xb, yb = x[i * micro:(i + 1) * micro].to(device), y[i * micro:(i + 1) * micro].to(device)
            sync = distributed and i < n_micro - 1
            ctx = ddp_model.no_sync() if sync else nullcontext()
            with ctx:
                with autocast():
                    logits = ddp_model(xb)
                loss = F.cross_entropy(logits.float().flatten(0, 1), yb.flatten()) / n_micro
                loss.backward()
            loss_sum += loss.detach()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if distributed:
            dist.all_reduce(loss_sum)
            loss_sum /= world
        train_loss = loss_sum.item()
        step += 1
        state["step"] = step
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
            state["status"] = "diverged"
            state["message"] = (
                f"perda de treino {train_loss:.4g} no passo {step} (média dos últimos {len(recent)}: "
                f"{sum(recent) / len(recent):.4g}; inicial {state['initial_loss']:.4g}); critério: não finita "
                f"ou média de {DIVERGENCE_WINDOW} passos > {tc.divergence_factor} × inicial"
            )
            state["trace"].append({"step": step, "tokens": step * tc.batch_size_tokens, "train_loss": train_loss,
                                   "val_loss": None, "val_bpb": None, "lr": lr})
            break
        if step in eval_steps:
            val_loss, val_bpb = _evaluate(model, data, tc.seq_len, tc.eval_tokens, device, autocast)
            state["trace"].append({"step": step, "tokens": step * tc.batch_size_tokens,
                                   "train_loss": state["running"] / state["running_n"], "val_loss": val_loss,
                                   "val_bpb": val_bpb, "lr": lr})
            state["running"], state["running_n"] = 0.0, 0
        if progress is not None:
            progress.update(1)
            elapsed = state["train_time"] + time.perf_counter() - t_start
            progress.set_postfix(perda=f"{train_loss:.3f}", tok_s=f"{(step * tc.batch_size_tokens) / max(elapsed, 1e-9):,.0f}")
        if checkpoint_every and step % checkpoint_every == 0 and step < steps:
            state["train_time"] += time.perf_counter() - t_start
            t_start = time.perf_counter()
            checkpoint()
        if stop_after_steps is not None and step >= stop_after_steps and step < steps:
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
    )
    if save_weights and rank == 0 and state["status"] == "ok":
        _save_atomic(model.state_dict(), weights_path(rid))
    if ckpt is not None and rank == 0 and state["status"] != "interrupted" and not keep_checkpoint and ckpt.exists():
        ckpt.unlink()
    return (result, model) if return_model else result
