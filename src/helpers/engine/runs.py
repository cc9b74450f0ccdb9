"""O que define um treino e o que fica registrado dele.

- :class:`TrainConfig` — tudo o que define um treino além da arquitetura (orçamento, lote,
  taxa, agenda, corpus, avaliação, semente), validado;
- :func:`planned_steps` e :func:`flops_per_token` — quantos passos o orçamento compra, em cada
  convenção de FLOPs;
- :func:`run_id` — o identificador estável de um treino (hash da configuração completa);
- :class:`RunResult` — o registro de um treino, uma linha JSON em ``results/*.jsonl``;
- ``_versions()`` — as versões, o *commit* e a impressão digital do código carregado.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..model.config import ModelConfig, _check_positive_int
from ..model.flops import analytic_flops_per_token, deepseek_m, six_n, six_n1, six_n2
from .data import EVAL_SAMPLINGS, CorpusSpec, TokenizerSpec
from .schedules import SCHEDULES, ScheduleConfig

__all__ = ["TrainConfig", "RunResult", "planned_steps", "flops_per_token", "FLOP_CONVENTIONS", "run_id"]


FLOP_CONVENTIONS = ("M", "6N", "6N1", "6N2", "measured")


def flops_per_token(model_config: ModelConfig, seq_len: int, convention: str = "M") -> float:
    """FLOPs por *token* de treino na convenção pedida (ver :mod:`helpers.model.flops`)."""
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


def _as_spec(cls, value: Any, what: str):
    """``value`` como ``cls`` (``CorpusSpec`` ou ``TokenizerSpec``), aceitando o dicionário das especificações."""
    if isinstance(value, dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"{what}: campos desconhecidos {unknown}; os válidos são {sorted(names)}.")
        value = cls.from_dict(value) if hasattr(cls, "from_dict") else cls(**value)
    if not isinstance(value, cls):
        raise ValueError(f"{what} deve ser um {cls.__name__} ou um dicionário com os campos dele; "
                         f"recebi {type(value).__name__}.")
    return value


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
    :func:`helpers.model.transformer.convert_to_gqa`). É o *uptraining* de Ainslie et al. (2023).

    Avaliação: cada ponto da curva mede a perda em ``eval_tokens`` alvos do texto de
    validação, em janelas escolhidas por ``eval_sampling`` — ``"start"`` (consecutivas, do
    início; o protocolo original, que lê só o começo da validação) ou ``"spread"``
    (espalhadas pelo texto inteiro; ver :func:`helpers.engine.data.validation_starts`).
    ``final_eval_tokens`` (opcional) faz a avaliação **final** do treino usar tantos alvos,
    com a mesma amostragem (acima do tamanho da validação, o texto inteiro); ``None`` avalia
    o ponto final como os intermediários. Nos valores padrão (``"start"`` e ``None``), os
    dois campos ficam fora de :meth:`to_dict` — e o ``run_id`` dos treinos antigos não muda.

    ``noise_scale_micro`` (opcional, sequências por micro-lote) mede, em cada ponto da curva, a
    escala de ruído do gradiente (:mod:`helpers.engine.noise_scale`) em ``noise_scale_batches``
    micro-lotes sorteados à parte (o sorteio dos lotes de treino não muda); fora de
    :meth:`to_dict` quando ``None``.
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
    eval_sampling: str = "start"
    final_eval_tokens: int | None = None
    divergence_factor: float = 1.5
    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    device: str = "auto"
    init_from: dict | None = None
    noise_scale_micro: int | None = None
    noise_scale_batches: int = 16

    def __post_init__(self) -> None:
        given = [k for k in ("budget_flops", "tokens", "steps") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"dê exatamente um orçamento entre budget_flops, tokens e steps; recebi {given or 'nenhum'}."
            )
        if self.budget_flops is not None and not (math.isfinite(self.budget_flops) and self.budget_flops > 0):
            raise ValueError(f"budget_flops deve ser finito e > 0; recebi {self.budget_flops}.")
        for name in ("tokens", "steps", "batch_size_tokens", "seq_len", "eval_points", "eval_tokens",
                     "final_eval_tokens"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        if self.flops_convention not in FLOP_CONVENTIONS:
            raise ValueError(
                f"flops_convention {self.flops_convention!r} desconhecida; as válidas são {list(FLOP_CONVENTIONS)}."
            )
        if self.eval_sampling not in EVAL_SAMPLINGS:
            raise ValueError(
                f"eval_sampling {self.eval_sampling!r} desconhecida; as válidas são {list(EVAL_SAMPLINGS)}."
            )
        if self.final_eval_tokens is not None and self.final_eval_tokens < self.seq_len:
            raise ValueError(
                f"final_eval_tokens ({self.final_eval_tokens}) deve ser ≥ seq_len ({self.seq_len}): "
                "a avaliação final precisa de ao menos uma janela."
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
        if self.noise_scale_micro is not None:
            _check_positive_int("noise_scale_micro", self.noise_scale_micro)
        if isinstance(self.noise_scale_batches, bool) or not isinstance(self.noise_scale_batches, int) \
                or self.noise_scale_batches < 2:
            raise ValueError(f"noise_scale_batches deve ser um inteiro ≥ 2 (micro-lotes por medida); "
                             f"recebi {self.noise_scale_batches!r}.")
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
        # corpus e tokenizer também podem vir como dicionários (o formato das especificações)
        object.__setattr__(self, "corpus", _as_spec(CorpusSpec, self.corpus, "corpus"))
        object.__setattr__(self, "tokenizer", _as_spec(TokenizerSpec, self.tokenizer, "tokenizer"))
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
        # O protocolo de avaliação original fica fora do dicionário (e do run_id), como antes.
        if d["eval_sampling"] == "start":
            del d["eval_sampling"]
        if d["final_eval_tokens"] is None:
            del d["final_eval_tokens"]
        if d["noise_scale_micro"] is None:  # sem a medida do ruído do gradiente (os treinos antigos)
            del d["noise_scale_micro"], d["noise_scale_batches"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"campos desconhecidos em TrainConfig: {unknown}; campos válidos: {sorted(known)}.")
        d = dict(data)  # corpus e tokenizer em dicionário: o __post_init__ converte (e confere os campos)
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

    ``wall_time_s`` é o tempo do laço de treino, incluindo as avaliações intermediárias e a
    final — menos quando ``final_eval_tokens`` é dado: o tempo dessa avaliação grande fica só em
    ``evaluation["final"]["seconds"]``, para não distorcer a vazão —;
    ``tokens_per_s`` e ``achieved_flops_per_s`` (FLOPs medidos do modelo por segundo)
    dividem por esse tempo. ``compute`` traz o orçamento gasto em cada convenção.

    ``evaluation`` descreve as avaliações (ausente nos registros antigos):
    ``{"intermediate": {"sampling", "tokens"}, "final": {...}}``. O ``final`` — ``None`` se o
    treino não chegou ao fim — traz ``sampling``, ``tokens``, ``windows``,
    ``documents_touched`` de ``documents_total``, ``fraction_of_split``, ``loss``, ``bpb``,
    ``halves_bpb`` (os bits por byte das janelas de índice par e das de índice ímpar: duas
    metades disjuntas; ``|a − b| / 2`` estima o erro padrão de ``bpb``) e ``seconds``.
    ``final_val_loss``/``final_val_bpb`` e o último ponto de ``trace`` são essa avaliação final.
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
    evaluation: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunResult":
        """Aceita registros antigos, sem ``evaluation`` (fica ``None``)."""
        return cls(**d)


# --- proveniência -----------------------------------------------------------------

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
    package = here.parent  # src/helpers
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
    # (caminhos relativos a src/helpers: no layout plano antigo, o nome do arquivo, como antes)
    for f in sorted(package.rglob("*.py"), key=lambda f: f.relative_to(package).as_posix()):
        code.update(f.relative_to(package).as_posix().encode() + b"\0" + f.read_bytes())
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
