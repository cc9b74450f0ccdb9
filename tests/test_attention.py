"""O kernel GQA contra o oráculo do PyTorch: scaled_dot_product_attention(enable_gqa=True)."""

import pytest
import torch
import torch.nn.functional as F

from helpers.model.attention import attention_backend, causal_mask, grouped_query_attention, reference_attention, repeat_kv


def _qkv(heads, kv_heads, seq=13, kv_seq=None, dim=8, batch=2, requires_grad=False):
    g = torch.Generator().manual_seed(heads * 100 + kv_heads)
    kv_seq = kv_seq or seq
    q = torch.randn(batch, heads, seq, dim, generator=g, requires_grad=requires_grad)
    k = torch.randn(batch, kv_heads, kv_seq, dim, generator=g, requires_grad=requires_grad)
    v = torch.randn(batch, kv_heads, kv_seq, dim, generator=g, requires_grad=requires_grad)
    return q, k, v


@pytest.mark.parametrize("backend", ["fused", "math"])
@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (8, 2), (6, 3), (8, 1)], ids=["MHA", "GQA-2", "GQA-3", "MQA"])
@pytest.mark.parametrize("causal", [True, False])
def test_forward_matches_sdpa(heads, kv_heads, causal, backend):
    q, k, v = _qkv(heads, kv_heads)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    with attention_backend(backend):
        torch.testing.assert_close(grouped_query_attention(q, k, v, causal=causal), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reference_attention(q, k, v, causal=causal), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["fused", "math"])
@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (8, 2), (8, 1)], ids=["MHA", "GQA", "MQA"])
def test_gradients_match_sdpa(heads, kv_heads, backend):
    q, k, v = _qkv(heads, kv_heads, requires_grad=True)
    upstream = torch.randn(2, heads, 13, 8, generator=torch.Generator().manual_seed(0))
    with attention_backend(backend):
        ours = torch.autograd.grad((grouped_query_attention(q, k, v) * upstream).sum(), (q, k, v))
    ref = torch.autograd.grad(
        (F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True) * upstream).sum(), (q, k, v)
    )
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["fused", "math"])
def test_padding_mask_matches_sdpa_with_boolean_mask(backend):
    q, k, v = _qkv(8, 2, seq=10)
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[0, :3] = False  # três posições de enchimento à esquerda na primeira sequência
    with attention_backend(backend):
        ours = grouped_query_attention(q, k, v, causal=True, padding_mask=valid)
    mask = causal_mask(10, 10)[None, None] & valid[:, None, None, :]
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
    # Linhas sem nenhuma posição válida: o SDPA devolve NaN, o kernel devolve zero.
    rows_ok = mask.any(-1, keepdim=True).expand_as(expected)
    torch.testing.assert_close(ours[rows_ok], expected[rows_ok], atol=1e-5, rtol=1e-5)
    assert torch.all(ours[~rows_ok] == 0)


def test_incremental_queries_see_the_whole_prefix():
    # Duas consultas novas contra 9 chaves: a máscara causal tem de deslocar a diagonal.
    q, k, v = _qkv(4, 2, seq=2, kv_seq=9)
    full_q, _, _ = _qkv(4, 2, seq=9)
    full_q = torch.cat([full_q[:, :, :7], q], dim=2)
    expected = F.scaled_dot_product_attention(full_q, k, v, is_causal=True, enable_gqa=True)[:, :, 7:]
    torch.testing.assert_close(grouped_query_attention(q, k, v, causal=True), expected, atol=1e-5, rtol=1e-5)


def test_repeat_kv_layout_matches_group_convention():
    x = torch.arange(2.0).view(1, 2, 1, 1)  # duas heads K/V: valores 0 e 1
    assert repeat_kv(x, 3).flatten().tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert repeat_kv(x, 1) is x


@pytest.mark.parametrize(
    "shapes, fragment",
    [
        (((2, 6, 5, 8), (2, 4, 5, 8), (2, 4, 5, 8)), "deve ser múltiplo do número de heads K/V"),
        (((2, 4, 5, 8), (2, 2, 5, 4), (2, 2, 5, 4)), "head_dim"),
        (((2, 4, 5, 8), (2, 2, 5, 8), (2, 2, 6, 8)), "mesma forma"),
        (((4, 5, 8), (2, 2, 5, 8), (2, 2, 5, 8)), "4 dimensões"),
    ],
)
def test_incompatible_shapes_raise_clear_errors(shapes, fragment):
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=fragment):
        grouped_query_attention(q, k, v)


def test_bad_padding_mask_shape():
    q, k, v = _qkv(4, 2)
    with pytest.raises(ValueError, match="padding_mask deve ter forma"):
        grouped_query_attention(q, k, v, padding_mask=torch.ones(2, 5, dtype=torch.bool))


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend de atenção desconhecido 'flash'"):
        with attention_backend("flash"):
            pass


# --- GPU: os mesmos oráculos no dispositivo em que o kernel roda no treino com GPU -------------
# Só rodam onde há CUDA (a máquina de GPU do projeto); a CI, sem GPU, os pula.
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="sem GPU CUDA nesta máquina")


@needs_cuda
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-4), (torch.bfloat16, 2e-2)], ids=["fp32", "bf16"])
@pytest.mark.parametrize("heads, kv_heads", [(8, 8), (8, 2), (8, 1)], ids=["MHA", "GQA", "MQA"])
def test_gpu_forward_and_gradients_match_sdpa(heads, kv_heads, dtype, tol):
    q, k, v = (t.to("cuda", dtype).requires_grad_() for t in _qkv(heads, kv_heads, seq=300, dim=64))
    upstream = torch.randn(q.shape, generator=torch.Generator().manual_seed(1)).to("cuda", dtype)
    ours = grouped_query_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    torch.testing.assert_close(ours, ref, atol=tol, rtol=tol)
    g_ours = torch.autograd.grad((ours * upstream).sum(), (q, k, v))
    g_ref = torch.autograd.grad((ref * upstream).sum(), (q, k, v))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, atol=tol * 10, rtol=tol * 10)


# --- os dois backends, em todos os tamanhos de grupo, no treino e na decodificação ---------------

@pytest.mark.parametrize("backend", ["fused", "math"])
@pytest.mark.parametrize("groups", [1, 2, 4, 8])
def test_every_group_size_matches_sdpa_forward_and_backward(groups, backend):
    q, k, v = _qkv(8, 8 // groups, seq=17, requires_grad=True)
    upstream = torch.randn(2, 8, 17, 8, generator=torch.Generator().manual_seed(groups))
    with attention_backend(backend):
        ours = grouped_query_attention(q, k, v, causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad((ours * upstream).sum(), (q, k, v)),
                    torch.autograd.grad((ref * upstream).sum(), (q, k, v))):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["fused", "math"])
@pytest.mark.parametrize("groups", [1, 2, 4, 8])
@pytest.mark.parametrize("new", [1, 3], ids=["um-token", "pedaço"])
def test_decoding_against_a_cache_matches_sdpa_on_the_whole_sequence(groups, new, backend):
    """As ``new`` últimas consultas contra 11 posições de cache: a diagonal causal desloca."""
    q_all, k, v = _qkv(8, 8 // groups, seq=11)
    expected = F.scaled_dot_product_attention(q_all, k, v, is_causal=True, enable_gqa=True)[:, :, -new:]
    with attention_backend(backend):
        ours = grouped_query_attention(q_all[:, :, -new:], k, v, causal=True)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_readable_and_fused_backends_agree():
    q, k, v = _qkv(8, 2, seq=40, dim=16)
    with attention_backend("math"):
        readable = grouped_query_attention(q, k, v)
    torch.testing.assert_close(grouped_query_attention(q, k, v), readable, atol=1e-5, rtol=1e-5)


class _Shapes(torch.utils._python_dispatch.TorchDispatchMode):
    """Anota a forma de todo tensor que cada operação do PyTorch devolve."""

    def __init__(self):
        super().__init__()
        self.shapes = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.shapes.add(tuple(t.shape))
        return out


@pytest.mark.parametrize("backend", ["fused", "math"])
@pytest.mark.parametrize("new", [5, 1], ids=["pedaço", "um-token"])
def test_repeated_keys_and_values_are_never_materialised(backend, new):
    """Nenhuma operação da ida ou da volta cria um tensor com a forma de K/V repetidos,
    ``[B, H, T, D]`` (nem ``[B, H_kv, G, T, D]``); ``repeat_kv`` cria. Com menos consultas
    que chaves (``S < T``), essa forma não se confunde com a de Q, da saída ou dos gradientes."""
    q_all, k, v = _qkv(8, 2, seq=12, dim=4, requires_grad=True)
    q = q_all[:, :, -new:].detach().requires_grad_()
    repeated = {(2, 8, 12, 4), (2, 2, 4, 12, 4)}
    seen = _Shapes()
    with seen, attention_backend(backend):
        grouped_query_attention(q, k, v, causal=True).sum().backward()
    assert not repeated & seen.shapes, sorted(seen.shapes)
    probe = _Shapes()
    with probe:
        repeat_kv(k, 4)
    assert (2, 8, 12, 4) in probe.shapes  # a sonda enxerga a cópia quando ela existe


def test_causal_attention_needs_queries_at_the_end_of_the_keys():
    q, k, v = _qkv(4, 2, seq=6, kv_seq=4)
    with pytest.raises(ValueError, match="mais consultas"):
        grouped_query_attention(q, k, v, causal=True)
