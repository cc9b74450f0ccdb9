"""O modelo: RMSNorm, RoPE, causalidade, GQA, contagens exatas e equivalência com o Hugging Face."""

import math

import pytest
import torch
import torch.nn.functional as F

from helpers.model import config as cfg
from helpers.model.flops import count_params
from helpers.model.transformer import RMSNorm, RotaryEmbedding, Transformer, apply_rotary, from_hf_state_dict, rotate_half, to_hf_state_dict


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


# --- RMSNorm -----------------------------------------------------------------

def test_rmsnorm_matches_torch_rms_norm():
    norm = RMSNorm(48, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(48))
    x = torch.randn(4, 7, 48)
    expected = F.rms_norm(x, (48,), weight=norm.weight, eps=1e-6)
    torch.testing.assert_close(norm(x), expected)


def test_rmsnorm_output_has_unit_rms_before_gain():
    x = torch.randn(10, 32) * 5 + 3
    y = RMSNorm(32, eps=0.0)(x)
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(10))


# --- RoPE --------------------------------------------------------------------

def test_rope_preserves_norm_and_is_identity_at_position_zero():
    rope = RotaryEmbedding(16)
    cos, sin = rope(torch.arange(10))
    x = torch.randn(2, 3, 10, 16)
    y = apply_rotary(x, cos, sin)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[:, :, 0], x[:, :, 0])


def test_rope_scores_depend_only_on_relative_position():
    rope = RotaryEmbedding(32, theta=10000.0)
    positions = torch.arange(40)
    cos, sin = rope(positions)
    q, k = torch.randn(32, dtype=torch.float64), torch.randn(32, dtype=torch.float64)
    qr = apply_rotary(q.expand(40, 32).float(), cos, sin)
    kr = apply_rotary(k.expand(40, 32).float(), cos, sin)
    scores = qr @ kr.T
    for offset in (-20, -3, 0, 5, 17):
        diag = torch.diagonal(scores, offset=offset)
        assert diag.std() < 1e-4 * diag.abs().max().clamp(min=1)


def test_rope_uses_rotate_half_layout():
    # Com ângulo de 90° no primeiro par: (x₀, x_{D/2}) -> (−x_{D/2}, x₀).
    x = torch.arange(1.0, 9.0)  # D = 8
    assert rotate_half(x).tolist() == [-5.0, -6.0, -7.0, -8.0, 1.0, 2.0, 3.0, 4.0]
    rope = RotaryEmbedding(8, theta=10000.0)
    assert rope.inv_freq[0].item() == 1.0
    position = torch.tensor([math.pi / 2])
    cos, sin = rope(position)
    y = apply_rotary(x.view(1, 1, 1, 8), cos, sin).flatten()
    assert y[0].item() == pytest.approx(-5.0, abs=1e-5)
    assert y[4].item() == pytest.approx(1.0, abs=1e-5)


def test_rope_matches_hugging_face_when_installed():
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    q, k = torch.randn(2, 4, 9, 16), torch.randn(2, 4, 9, 16)
    cos, sin = RotaryEmbedding(16)(torch.arange(9))
    ours_q, ours_k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    hf_q, hf_k = llama.apply_rotary_pos_emb(q, k, cos[None], sin[None])
    torch.testing.assert_close(ours_q, hf_q)
    torch.testing.assert_close(ours_k, hf_k)


# --- o modelo ----------------------------------------------------------------

@pytest.mark.parametrize("kv_heads", [None, 2, 1])
def test_model_is_causal(kv_heads):
    model = Transformer(cfg.tiny(2, head_dim=8, num_key_value_heads=kv_heads)).eval()
    ids = torch.randint(0, 256, (2, 16))
    changed = ids.clone()
    changed[:, 10:] = torch.randint(0, 256, (2, 6))
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert a.shape == (2, 16, 256)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert (a[:, 10:] - b[:, 10:]).abs().max() > 1e-3


def test_gqa_with_all_kv_heads_is_plain_multi_head_attention():
    """Com num_key_value_heads == num_attention_heads, a atenção do modelo é a MHA de livro."""
    c = cfg.ModelConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=4, intermediate_size=64)
    model = Transformer(c).eval()
    layer = model.layers[0].self_attn
    x = torch.randn(2, 11, 32)
    cos, sin = model.rotary(torch.arange(11))
    out = layer(x, cos, sin)

    heads, hd = 4, 8
    q = apply_rotary(layer.q_proj(x).view(2, 11, heads, hd).transpose(1, 2), cos, sin)
    k = apply_rotary(layer.k_proj(x).view(2, 11, heads, hd).transpose(1, 2), cos, sin)
    v = layer.v_proj(x).view(2, 11, heads, hd).transpose(1, 2)
    mask = torch.ones(11, 11, dtype=torch.bool).tril()
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    attn = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
    expected = layer.o_proj(attn.transpose(1, 2).reshape(2, 11, 32))
    torch.testing.assert_close(out, expected)


def test_forward_rejects_bad_inputs():
    model = Transformer(cfg.tiny(1))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.zeros(1, 129, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[batch, seq\]"):
        model(torch.zeros(5, dtype=torch.long))


def test_no_biases_and_untied_head():
    model = Transformer(cfg.tiny(2))
    assert all(not name.endswith(".bias") for name, _ in model.named_parameters())
    assert model.lm_head.weight.data_ptr() != model.embed_tokens.weight.data_ptr()
    tied = Transformer(cfg.tiny(2).replace(tie_word_embeddings=True))
    assert tied.lm_head.weight is tied.embed_tokens.weight
    assert tied.num_parameters() == count_params(tied.config).total


# --- contagens exatas das predefinições --------------------------------------

def _hand_count(layers, d, heads, kv_heads, ff, vocab):
    head_dim = d // heads
    per_layer = d * d + 2 * d * kv_heads * head_dim + d * d + 3 * d * ff + 2 * d
    return layers * per_layer + 2 * vocab * d + d


def test_deepseek_7b_exact_parameter_count_on_meta():
    with torch.device("meta"):
        model = Transformer(cfg.deepseek_7b())
    # 30·(4·4096² + 3·4096·11008 + 2·4096) + 2·102400·4096 + 4096
    assert model.num_parameters() == 6_910_365_696 == _hand_count(30, 4096, 32, 32, 11008, 102400)
    # Sem as duas matrizes de vocabulário; as normas (inclusive a final) ficam.
    assert model.num_parameters(non_embedding=True) == 6_071_500_800 + 4096


def test_deepseek_67b_exact_parameter_count_on_meta():
    with torch.device("meta"):
        model = Transformer(cfg.deepseek_67b())
    assert next(model.parameters()).device.type == "meta"
    # 95·(2·8192² + 2·8192·1024 + 3·8192·22016 + 2·8192) + 2·102400·8192 + 8192
    assert model.num_parameters() == 67_425_001_472 == _hand_count(95, 8192, 64, 8, 22016, 102400)
    assert model.num_parameters(non_embedding=True) == 65_747_271_680 + 8192


# --- equivalência com o LlamaForCausalLM -------------------------------------

@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_logits_match_hugging_face_llama(kv_heads):
    transformers = pytest.importorskip("transformers")
    c = cfg.ModelConfig(
        vocab_size=97, hidden_size=64, intermediate_size=176, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=64,
        rope_theta=500.0,
    )
    ours = Transformer(c).eval()
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**c.hf_config_kwargs())).eval()
    result = hf.load_state_dict(to_hf_state_dict(ours.state_dict()), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    ids = torch.randint(0, 97, (2, 33))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=1e-5)


def test_hugging_face_weights_load_back():
    transformers = pytest.importorskip("transformers")
    c = cfg.tiny(2, num_key_value_heads=1)
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**c.hf_config_kwargs())).eval()
    ours = Transformer(c).eval()
    ours.load_state_dict(from_hf_state_dict(hf.state_dict()), strict=True)
    ids = torch.randint(0, 256, (1, 20))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=1e-5)


def test_from_hf_state_dict_rejects_foreign_keys():
    with pytest.raises(ValueError, match="chave inesperada"):
        from_hf_state_dict({"transformer.h.0.attn.weight": torch.zeros(1)})


# --- cache KV e geração ------------------------------------------------------

@pytest.mark.parametrize("kv_heads", [4, 2, 1], ids=["MHA", "GQA", "MQA"])
def test_incremental_decoding_with_cache_matches_full_forward(kv_heads):
    from helpers.model.transformer import KVCache

    c = cfg.ModelConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=40)
    model = Transformer(c).eval()
    ids = torch.randint(0, 50, (2, 20))
    with torch.no_grad():
        full = model(ids)
        cache = KVCache(c, batch_size=2, max_len=20)
        pieces = [model(ids[:, :12], cache=cache)]  # pré-preenchimento
        pieces += [model(ids[:, t:t + 1], cache=cache) for t in range(12, 20)]  # um token por vez
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 20
    # O cache guarda só as heads K/V: 2 (K e V) × camadas × B × H_kv × T × D × 4 bytes.
    assert cache.nbytes == 2 * 2 * 2 * kv_heads * 20 * 8 * 4
    with pytest.raises(ValueError, match="o cache comporta 20 posições"):
        model(ids[:, :1], cache=cache)


@pytest.mark.parametrize("temperature, top_k", [(0.0, None), (0.9, 10)], ids=["gulosa", "amostrada"])
def test_generation_with_and_without_cache_agree(temperature, top_k):
    from helpers.model.transformer import generate

    model = Transformer(cfg.tiny(2, num_key_value_heads=1)).eval()
    prompt = torch.randint(0, 256, (2, 7))
    a = generate(model, prompt, 15, temperature=temperature, top_k=top_k,
                 generator=torch.Generator().manual_seed(1), use_cache=True)
    b = generate(model, prompt, 15, temperature=temperature, top_k=top_k,
                 generator=torch.Generator().manual_seed(1), use_cache=False)
    assert a.shape == (2, 22) and torch.equal(a[:, :7], prompt)
    assert torch.equal(a, b)


def test_generate_rejects_bad_arguments():
    from helpers.model.transformer import generate

    model = Transformer(cfg.tiny(1))
    with pytest.raises(ValueError, match="top_k deve estar entre 1 e 256"):
        generate(model, torch.zeros(1, 3, dtype=torch.long), 2, top_k=0)
    with pytest.raises(ValueError, match="não podem passar de max_position_embeddings"):
        generate(model, torch.zeros(1, 120, dtype=torch.long), 20)


def test_convert_to_gqa_mean_pools_key_value_heads():
    from helpers.model.transformer import convert_to_gqa

    mha = Transformer(cfg.ModelConfig(hidden_size=32, num_attention_heads=4, intermediate_size=64)).eval()
    gqa = convert_to_gqa(mha, 2)
    assert gqa.config.num_key_value_heads == 2 and mha.config.num_key_value_heads == 4
    k_old = mha.layers[0].self_attn.k_proj.weight.view(4, 8, 32)
    k_new = gqa.layers[0].self_attn.k_proj.weight.view(2, 8, 32)
    torch.testing.assert_close(k_new[0], (k_old[0] + k_old[1]) / 2)
    torch.testing.assert_close(k_new[1], (k_old[2] + k_old[3]) / 2)
    torch.testing.assert_close(gqa.layers[1].mlp.up_proj.weight, mha.layers[1].mlp.up_proj.weight)
    # Se as heads de um grupo já são iguais, a conversão não muda a saída.
    with torch.no_grad():
        for layer in mha.layers:
            for proj in (layer.self_attn.k_proj, layer.self_attn.v_proj):
                w = proj.weight.view(2, 2, 8, 32)
                w[:, 1] = w[:, 0]
    ids = torch.randint(0, 256, (1, 10))
    with torch.no_grad():
        torch.testing.assert_close(convert_to_gqa(mha, 2)(ids), mha(ids), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="deve dividir as 4 heads K/V"):
        convert_to_gqa(mha, 3)


@pytest.mark.parametrize("dtype, nbytes", [(torch.float32, 4), (torch.bfloat16, 2)])
def test_kv_cache_formula_matches_allocated_tensors(dtype, nbytes):
    from helpers.model.attention import kv_cache_bytes
    from helpers.model.transformer import KVCache

    for c in (cfg.tiny(2), cfg.tiny(3, num_key_value_heads=1), cfg.deepseek_67b().replace(num_hidden_layers=2)):
        cache = KVCache(c, batch_size=3, max_len=64, device="meta", dtype=dtype)
        assert cache.nbytes == kv_cache_bytes(c, 64, batch_size=3, bytes_per_value=nbytes)


def test_kv_cache_of_the_published_models():
    from helpers.model.attention import kv_cache_bytes

    # facts.md §5 [D]: 67B (95 camadas, 8 heads K/V, d_h 128, 4096 tokens, bf16) = 1,48 GiB; 7B MHA = 1,875 GiB.
    assert kv_cache_bytes(cfg.deepseek_67b(), 4096) / 2**30 == pytest.approx(1.484, abs=1e-3)
    assert kv_cache_bytes(cfg.deepseek_7b(), 4096) / 2**30 == pytest.approx(1.875)
    mha = cfg.deepseek_67b().replace(num_key_value_heads=64)
    assert kv_cache_bytes(mha, 4096) / 2**30 == pytest.approx(11.875)
    with pytest.raises(ValueError, match="tokens deve ser um inteiro ≥ 1"):
        kv_cache_bytes(mha, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="sem GPU CUDA nesta máquina")
@pytest.mark.parametrize("kv_heads", [4, 2, 1], ids=["MHA", "GQA", "MQA"])
def test_gpu_decoding_with_cache_matches_full_forward(kv_heads):
    from helpers.model.transformer import KVCache, generate

    c = cfg.ModelConfig(vocab_size=50, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=64)
    torch.manual_seed(0)
    model = Transformer(c).to("cuda").eval()
    ids = torch.randint(0, 50, (3, 40), device="cuda")
    with torch.no_grad():
        full = model(ids)
        cache = KVCache(c, batch_size=3, max_len=40, device="cuda")
        pieces = [model(ids[:, :25], cache=cache)] + [model(ids[:, t:t + 1], cache=cache) for t in range(25, 40)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-4, rtol=1e-4)
    assert cache.keys[0].device.type == "cuda"
    a = generate(model, ids[:, :10], 20, temperature=0.0, use_cache=True)
    b = generate(model, ids[:, :10], 20, temperature=0.0, use_cache=False)
    assert torch.equal(a, b)


# --- o passo rápido: projeções fundidas na conta, pesos separados com os nomes do HF ----------

def _reference_layer_output(layer, x, cos, sin):
    """A camada escrita com as projeções separadas e repeat_kv (o caminho do HF)."""
    from helpers.model.attention import reference_attention

    b, s, _ = x.shape
    a, m = layer.self_attn, layer.mlp
    hd = a.head_dim
    n = layer.input_layernorm(x)
    q = apply_rotary(a.q_proj(n).view(b, s, a.num_heads, hd).transpose(1, 2), cos, sin)
    k = apply_rotary(a.k_proj(n).view(b, s, a.num_kv_heads, hd).transpose(1, 2), cos, sin)
    v = a.v_proj(n).view(b, s, a.num_kv_heads, hd).transpose(1, 2)
    h = x + a.o_proj(reference_attention(q, k, v).transpose(1, 2).reshape(b, s, -1))
    n = layer.post_attention_layernorm(h)
    return h + m.down_proj(F.silu(m.gate_proj(n)) * m.up_proj(n))


@pytest.mark.parametrize("kv_heads", [4, 2, 1], ids=["MHA", "GQA", "MQA"])
def test_fused_projections_match_the_separate_reference_in_values_and_gradients(kv_heads):
    c = cfg.ModelConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=kv_heads, intermediate_size=88)
    layer = Transformer(c).layers[0]
    with torch.no_grad():  # ganhos da RMSNorm diferentes de 1, para que entrem na conta
        for norm in (layer.input_layernorm, layer.post_attention_layernorm):
            norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 13, 32)
    cos, sin = RotaryEmbedding(8)(torch.arange(13))
    params = list(layer.parameters())
    ours = layer(x, cos, sin)
    ref = _reference_layer_output(layer, x, cos, sin)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    g_ours = torch.autograd.grad(ours.square().sum(), params)
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kv_heads", [4, 1])
def test_gradients_match_hugging_face_llama(kv_heads):
    transformers = pytest.importorskip("transformers")
    c = cfg.ModelConfig(vocab_size=97, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=64)
    ours = Transformer(c)
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**c.hf_config_kwargs()))
    hf.load_state_dict(to_hf_state_dict(ours.state_dict()), strict=True)
    ids = torch.randint(0, 97, (2, 25))
    F.cross_entropy(ours(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten()).backward()
    F.cross_entropy(hf(ids[:, :-1]).logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
    hf_params = dict(hf.named_parameters())
    for name, p in ours.named_parameters():
        key = name if name.startswith("lm_head.") else f"model.{name}"
        torch.testing.assert_close(p.grad, hf_params[key].grad, atol=1e-5, rtol=1e-4, msg=name)


def test_state_dict_keeps_hugging_face_names_and_round_trips():
    c = cfg.tiny(2, head_dim=8, num_key_value_heads=2)
    model = Transformer(c).eval()
    state = model.state_dict()
    layer_keys = {k.split(".", 2)[2] for k in state if k.startswith("layers.0.")}
    assert layer_keys == {
        "input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
        "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"}
    assert not any("rope" in k or "rotary" in k for k in state)  # as tabelas do RoPE ficam fora
    other = Transformer(c).eval()
    other.load_state_dict(from_hf_state_dict(to_hf_state_dict(state)), strict=True)
    ids = torch.randint(0, 256, (2, 30))
    with torch.no_grad():
        assert torch.equal(other(ids), model(ids))


def test_cached_rope_tables_equal_the_rotary_embedding():
    model = Transformer(cfg.tiny(1, max_position_embeddings=96))
    cos, sin = model.rotary(torch.arange(96))
    assert torch.equal(model.rope_cos, cos) and torch.equal(model.rope_sin, sin)
