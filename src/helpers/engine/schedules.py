"""Taxas de aprendizado ao longo do treino: aquecimento linear + degraus, cosseno ou constante.

Todas as funções devolvem o **multiplicador** da taxa de pico (entre 0 e 1) no passo
``step`` de um treino de ``total_steps`` passos. O degrau do DeepSeek LLM (§2.3):
taxa cheia até 80% dos *tokens*, 31,6% da taxa até 90% e 10% no restante — com lote
constante, *tokens* e passos são proporcionais.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["ScheduleConfig", "lr_multiplier", "SCHEDULES"]

SCHEDULES = ("multistep", "cosine", "constant")


@dataclass(frozen=True)
class ScheduleConfig:
    """Forma da taxa de aprendizado.

    - ``kind``: ``"multistep"`` (DeepSeek), ``"cosine"`` (até ``final_fraction``) ou ``"constant"``;
    - ``warmup_steps``: passos de aquecimento linear de 0 até o pico;
    - ``boundaries`` e ``factors``: onde (fração do treino) e para quanto cai a taxa no degrau;
    - ``final_fraction``: fração do pico no fim do cosseno.
    """

    kind: str = "multistep"
    warmup_steps: int = 0
    boundaries: tuple[float, ...] = (0.8, 0.9)
    factors: tuple[float, ...] = (0.316, 0.1)
    final_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"agenda desconhecida {self.kind!r}; as válidas são {list(SCHEDULES)}.")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps deve ser um inteiro ≥ 0; recebi {self.warmup_steps!r}.")
        object.__setattr__(self, "boundaries", tuple(float(b) for b in self.boundaries))
        object.__setattr__(self, "factors", tuple(float(f) for f in self.factors))
        if len(self.boundaries) != len(self.factors):
            raise ValueError(
                f"boundaries ({len(self.boundaries)}) e factors ({len(self.factors)}) devem ter o mesmo tamanho."
            )
        if any(not 0 < b < 1 for b in self.boundaries) or list(self.boundaries) != sorted(self.boundaries):
            raise ValueError(f"boundaries devem ser crescentes e estar em (0, 1); recebi {list(self.boundaries)}.")
        if any(not 0 < f <= 1 for f in self.factors):
            raise ValueError(f"factors devem estar em (0, 1]; recebi {list(self.factors)}.")
        if not 0 <= self.final_fraction <= 1:
            raise ValueError(f"final_fraction deve estar em [0, 1]; recebi {self.final_fraction}.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["boundaries"], d["factors"] = list(self.boundaries), list(self.factors)
        return d


def _check_step(step: int, total_steps: int) -> None:
    if total_steps < 1:
        raise ValueError(f"total_steps deve ser ≥ 1; recebi {total_steps}.")
    if not 0 <= step < total_steps:
        raise ValueError(f"step deve estar em [0, {total_steps}); recebi {step}.")


def lr_multiplier(step: int, total_steps: int, schedule: ScheduleConfig) -> float:
    """Multiplicador da taxa de pico no passo ``step`` (0 ≤ step < total_steps).

    O aquecimento vale para todas as formas: no passo ``s < warmup_steps`` o
    multiplicador é ``(s + 1) / warmup_steps``. Depois dele, o degrau usa a fração
    ``step / total_steps`` do treino; o cosseno vai do pico a ``final_fraction``
    entre o fim do aquecimento e o último passo.
    """
    _check_step(step, total_steps)
    if step < schedule.warmup_steps:
        return (step + 1) / schedule.warmup_steps
    if schedule.kind == "constant":
        return 1.0
    if schedule.kind == "multistep":
        progress = step / total_steps
        factor = 1.0
        for boundary, f in zip(schedule.boundaries, schedule.factors):
            if progress >= boundary:
                factor = f
        return factor
    # cosseno
    span = max(total_steps - 1 - schedule.warmup_steps, 1)
    t = min(max(step - schedule.warmup_steps, 0) / span, 1.0)
    return schedule.final_fraction + (1 - schedule.final_fraction) * 0.5 * (1 + math.cos(math.pi * t))
