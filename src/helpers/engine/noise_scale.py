"""A escala de ruído do gradiente (McCandlish et al., 2018): o lote a partir do qual dobrar o lote rende pouco.

Com o gradiente verdadeiro ``G`` (o da perda média sobre a distribuição dos dados) e a covariância
``Σ`` do gradiente de **um** exemplo, o gradiente de um lote de ``B`` exemplos independentes tem
``E|G_B|² = |G|² + tr(Σ)/B``. A razão

    B_simple = tr(Σ) / |G|²

é o lote em que as duas parcelas se igualam: abaixo dele o ruído domina (dobrar o lote quase
dobra o progresso por passo), acima dele o passo já segue ``G`` e dobrar o lote quase não ajuda.
(É a ``B_noise`` do artigo quando a curvatura ``H`` é proporcional à identidade; com o AdamW,
que pré-condiciona o gradiente, é uma aproximação.)

Os dois termos saem de normas de gradiente em dois tamanhos de lote, com os estimadores sem
viés do apêndice A.1 do artigo::

    |G|²   ≈ (B_big·|G_big|² − B_small·|G_small|²) / (B_big − B_small)
    tr(Σ)  ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big)

Aqui o lote grande é formado por ``k`` micro-lotes de ``B_small``: ``|G_small|²`` é a média das
``k`` normas ao quadrado e ``G_big`` a média dos ``k`` gradientes — e os dois estimadores acima
viram a média e a covariância amostrais dos ``k`` gradientes (a mesma conta, escrita como em
:func:`estimate`). A unidade de ``B`` é a do micro-lote: em *tokens* aqui (sequências × contexto),
para comparar com os lotes do livro; como os *tokens* de uma sequência não são independentes, o
micro-lote tem várias sequências.

A razão de dois estimadores sem viés não é sem viés; o intervalo vem de um *bootstrap* dos
micro-lotes (o que captura o ruído das duas parcelas juntas), na forma "básica" em log — a cobertura
medida em gradientes sintéticos com a verdade conhecida está em ``tests/test_noise_scale.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_grads(grads) -> torch.Tensor:
    g = torch.as_tensor(grads, dtype=torch.float64)
    if g.dim() != 2 or g.shape[0] < 2:
        raise ValueError(f"são precisos os gradientes de ≥ 2 micro-lotes, um por linha; recebi a forma "
                         f"{tuple(g.shape)}.")
    if not torch.isfinite(g).all():
        raise ValueError("há gradientes não finitos entre os micro-lotes: a escala de ruído não se define.")
    return g


def _terms(g: torch.Tensor, b_small: float) -> tuple[float, float]:
    """(|G|², tr Σ) sem viés a partir das linhas de ``g`` (gradientes de micro-lotes de ``b_small``)."""
    k = g.shape[0]
    mean = g.mean(0)
    spread = ((g - mean) ** 2).sum().item() / (k - 1)  # E|g_i − ḡ|²·k/(k−1) = tr(Σ)/B_small
    trace = b_small * spread
    g2 = (mean @ mean).item() - spread / k  # |ḡ|² tem viés tr(Σ)/(k·B_small)
    return g2, trace


def estimate(grads, b_small: float, *, n_boot: int = 200, level: float = 0.9, seed: int = 0) -> dict:
    """``|G|²``, ``tr Σ`` e ``B_simple`` (na unidade de ``b_small``) dos gradientes de ``k`` micro-lotes.

    ``grads``: matriz ``k × P`` (um gradiente achatado por linha, cada um a média sobre um
    micro-lote de ``b_small`` exemplos independentes). O intervalo (nível ``level``) de
    ``B_simple`` é o percentil de ``n_boot`` reamostragens dos micro-lotes; ``B_simple`` é
    ``nan`` (e o intervalo também) quando o ``|G|²`` estimado não é positivo — o gradiente
    verdadeiro some no ruído desse lote.
    """
    g = _check_grads(grads)
    if not (isinstance(b_small, (int, float)) and math.isfinite(b_small) and b_small > 0):
        raise ValueError(f"b_small deve ser um número > 0 (exemplos por micro-lote); recebi {b_small!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level deve estar em (0, 1); recebi {level}.")
    g2, trace = _terms(g, b_small)
    b_simple = trace / g2 if g2 > 0 else math.nan
    lo = hi = math.nan
    if n_boot and math.isfinite(b_simple):
        # Bootstrap "básico" em log: no mundo reamostrado, a verdade é a da amostra (média ḡ e
        # covariância dos k gradientes), e o estimador aplicado às reamostras erra em torno dela como
        # o nosso erra em torno da verdade. O percentil simples das reamostras ficaria deslocado: lá
        # o |G|² verdadeiro é |ḡ|², maior que o nosso |G|² corrigido em tr(Σ)/(k·B_small).
        k = g.shape[0]
        mean = g.mean(0)
        world = b_small * ((g - mean) ** 2).sum().item() / k / (mean @ mean).item()
        rng = torch.Generator().manual_seed(seed)
        errors = []
        for _ in range(n_boot):
            idx = torch.randint(k, (k,), generator=rng)
            if idx.unique().numel() < 2:
                continue
            bg2, btr = _terms(g[idx], b_small)
            errors.append(math.log(btr / bg2) - math.log(world) if bg2 > 0 else math.inf)
        errors.sort()
        if errors:
            q = lambda p: errors[min(len(errors) - 1, max(0, round(p * (len(errors) - 1))))]
            lo, hi = b_simple * math.exp(-q((1 + level) / 2)), b_simple * math.exp(-q((1 - level) / 2))
    return {"g2": g2, "trace": trace, "b_simple": b_simple, "ci": [lo, hi], "level": level,
            "micro_batches": int(g.shape[0]), "b_small": float(b_small)}


def micro_gradients(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, micro: int, *,
                    device=None, autocast=None) -> torch.Tensor:
    """Os gradientes (achatados, float64, na CPU) da perda média de cada micro-lote de ``micro`` sequências.

    Não muda os pesos nem o estado do otimizador; zera os ``.grad`` do modelo ao sair.
    """
    if micro < 1 or x.shape[0] % micro or x.shape[0] // micro < 2:
        raise ValueError(f"micro = {micro} deve dividir as {x.shape[0]} sequências em ≥ 2 micro-lotes.")
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(0, x.shape[0], micro):
        xb, yb = x[i:i + micro].to(device), y[i:i + micro].to(device)
        model.zero_grad(set_to_none=True)
        if autocast is None:
            logits = model(xb)
        else:
            with autocast():
                logits = model(xb)
        F.cross_entropy(logits.float().flatten(0, 1), yb.flatten()).backward()
        rows.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                               for p in params]).double().cpu())
    model.zero_grad(set_to_none=True)
    return torch.stack(rows)
