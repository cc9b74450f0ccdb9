"""O AdamW do treinador e o recorte do gradiente, sem a maquinaria de ``torch.optim``.

A conta é a do ``torch.optim.AdamW(fused=True)`` — o mesmo *kernel* fundido do PyTorch
(``torch._fused_adamw_``), chamado uma vez por grupo de parâmetros —, e os pesos saem bit a
bit iguais (ver ``tests/test_optim.py``). O que muda é o custo fixo:

- construir um ``torch.optim.Optimizer`` importa o ``torch._dynamo`` (~1,4 s nesta CPU, em
  cada processo de uma varredura), porque os seus métodos vêm protegidos contra o compilador;
- cada ``step()`` passa por ganchos, perfis e verificações que, nos modelos minúsculos dos
  experimentos (passos de 3 ms), custam ~0,4 ms.

O ``state_dict`` tem o formato do ``torch.optim.AdamW``: um ponto de controle gravado por
um carrega no outro, nos dois sentidos.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

__all__ = ["FusedAdamW", "clip_grad_norm", "FUSED_DEVICES"]

#: Dispositivos em que o PyTorch tem o ``_fused_adamw_``.
FUSED_DEVICES = ("cpu", "cuda")

# As chaves de um grupo do torch.optim.AdamW, para que o state_dict seja o mesmo.
_GROUP_DEFAULTS = {"amsgrad": False, "foreach": None, "maximize": False, "capturable": False,
                   "differentiable": False, "fused": True, "decoupled_weight_decay": True}


def _check(name: str, value: Any, low: float, high: float | None = None, *, closed_low: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value >= low if closed_low else value > low) and (high is None or value < high)
    if not ok:
        interval = f"{'[' if closed_low else '('}{low}, {high if high is not None else '∞'})"
        raise ValueError(f"{name} deve ser um número em {interval}; recebi {value!r}.")
    return float(value)


class FusedAdamW:
    """AdamW (Loshchilov & Hutter) com o *kernel* fundido do PyTorch, em grupos de parâmetros.

    ``groups`` é uma lista de dicionários com ``params`` e, opcionalmente, ``weight_decay``
    (como em ``torch.optim``). Os hiperparâmetros ficam em ``param_groups`` — o agendamento
    muda ``group["lr"]`` a cada passo, como faria com um otimizador do PyTorch.
    """

    def __init__(self, groups: Iterable[dict], *, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        _check("lr", lr, 0.0)
        _check("betas[0]", betas[0], 0.0, 1.0)
        _check("betas[1]", betas[1], 0.0, 1.0)
        _check("eps", eps, 0.0)
        _check("weight_decay", weight_decay, 0.0)
        self.param_groups: list[dict] = []
        for g in groups:
            params = list(g["params"])
            for p in params:
                if p.device.type not in FUSED_DEVICES or not p.is_floating_point():
                    raise ValueError(f"o AdamW fundido só aceita parâmetros de ponto flutuante em {FUSED_DEVICES}; "
                                     f"recebi um {p.dtype} em {p.device}.")
            self.param_groups.append({**g, "params": params, "lr": lr, "betas": tuple(betas), "eps": eps,
                                      "weight_decay": g.get("weight_decay", weight_decay), **_GROUP_DEFAULTS})
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def _slots(self, group: dict):
        """Os parâmetros com gradiente do grupo e o estado deles (criado no primeiro passo)."""
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state.get(p)
            if state is None:  # como no PyTorch: contador em float32 no dispositivo do parâmetro
                state = self.state[p] = {"step": torch.zeros((), dtype=torch.float32, device=p.device),
                                         "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                                         "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return params, grads, exp_avgs, exp_avg_sqs, steps

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = self._slots(group)
            if not params:
                continue
            torch._foreach_add_(steps, 1)
            beta1, beta2 = group["betas"]
            torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=group["lr"], beta1=beta1,
                                beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"], amsgrad=False,
                                maximize=False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    # --- pontos de controle, no formato do torch.optim ---------------------------------

    def state_dict(self) -> dict:
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: dict(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(mine["params"]) for g, mine in zip(groups, self.param_groups)):
            raise ValueError("o estado do otimizador não corresponde a estes parâmetros "
                             f"(grupos com {[len(g['params']) for g in groups]} parâmetros; "
                             f"estes têm {[len(g['params']) for g in self.param_groups]}).")
        by_index = {}
        for g, mine in zip(groups, self.param_groups):
            for i, p in zip(g["params"], mine["params"]):
                by_index[i] = p
            mine.update({k: v for k, v in g.items() if k in ("lr", "betas", "eps", "weight_decay")})
            mine["betas"] = tuple(mine["betas"])
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {
                "step": s["step"].to(device=p.device, dtype=torch.float32).clone()
                if torch.is_tensor(s["step"]) else torch.tensor(float(s["step"]), device=p.device),
                "exp_avg": s["exp_avg"].to(device=p.device, dtype=p.dtype).clone(),
                "exp_avg_sq": s["exp_avg_sq"].to(device=p.device, dtype=p.dtype).clone(),
            }


@torch.no_grad()
def clip_grad_norm(params: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Recorta os gradientes para norma L2 total ≤ ``max_norm``; devolve a norma de antes.

    A conta do ``torch.nn.utils.clip_grad_norm_(..., foreach=True)`` (os mesmos bits): as
    normas de todos os tensores numa chamada só, a norma das normas, e um fator
    ``min(1, max_norm / (norma + 10⁻⁶))`` aplicado a todos de uma vez.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    by_device: dict[tuple, list[torch.Tensor]] = {}
    for g in grads:
        by_device.setdefault((g.device, g.dtype), []).append(g)
    norms = [n for group in by_device.values() for n in torch._foreach_norm(group, 2.0)]
    first = grads[0].device
    total = torch.linalg.vector_norm(torch.stack([n.to(first) for n in norms]), 2.0)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for (device, _), group in by_device.items():
        torch._foreach_mul_(group, coef.to(device))
    return total
