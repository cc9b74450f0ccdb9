"""helpers.chapters.cap04, cap04_bench e cap04_plots: o que o notebook do capítulo 4 mostra.

Os números e as frases de comparação são conferidos contra contas independentes (à mão, nos
registros brutos ou na biblioteca), e cada frase nos dois sentidos, para que o teste possa falhar.
"""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from helpers.chapters import cap04, cap04_bench as B, cap04_plots as P  # noqa: E402
from helpers.chapters.common import ROOT, records  # noqa: E402
from helpers.model.attention import kv_cache_bytes  # noqa: E402
from helpers.model.config import deepseek_67b, deepseek_7b  # noqa: E402


# --- frases ---------------------------------------------------------------------------

def test_ratio_phrase_in_both_directions():
    assert B.ratio_phrase(2.86, 5.73) == "de 2,9 a 5,7 vezes mais lento"
    assert B.ratio_phrase(0.99, 2.53) == "de 0,99 a 2,5 vezes o tempo"
    assert B.ratio_phrase(0.95, 1.05).startswith("empata")
    with pytest.raises(ValueError):
        B.ratio_phrase(2, 1)


def test_decode_speed_phrase_reads_the_numbers():
    # os números da CPU versionada: MHA 4,75 ms, MQA 3,51 ms por token com cache
    assert B.decode_speed_phrase(4.7527, 3.5059, "MQA") == "a MQA é 1,36 vez mais rápida"
    assert B.decode_speed_phrase(3.06, 3.25, "MQA").startswith("a MQA empata com a MHA")
    assert B.decode_speed_phrase(3.0, 4.0, "MQA") == "a MQA é 1,33 vez mais lenta"


def test_mask_story():
    assert B.mask_story(3.0, 2) == "materializada"
    assert B.mask_story(5.0, 4) == "materializada"
    assert B.mask_story(0.0, 4) == "ausente"
    assert B.mask_story(2.0, 4) == "outra"


def test_closer_phrase_and_noise_verdict():
    # origem 2,388, não treinado 8,01: o meio é 5,2
    assert cap04.closer_phrase(4.73, 2.388, 8.01) == "mais perto da origem que do modelo não treinado"
    assert cap04.closer_phrase(5.51, 2.388, 8.01) == "mais perto do modelo não treinado que da origem"
    assert cap04.noise_verdict(0.003, 0.017) == "dentro do ruído"
    assert cap04.noise_verdict(0.35, 0.017) == "fora do ruído"
    with pytest.raises(ValueError):
        cap04.closer_phrase(3, 5, 4)


# --- cache KV e kernel ----------------------------------------------------------------

def test_cache_section_against_the_formula():
    n = B.cache_section().numbers
    m7, m67 = deepseek_7b(), deepseek_67b()
    # 2 × camadas × heads K/V × d_h × bytes, por token
    assert 2 * 30 * 32 * 128 * 2 == kv_cache_bytes(m7, 1) == 480 * 1024
    assert n["cache_token_7b"] == "480 KiB" and n["cache_token_67b"] == "380 KiB"
    assert n["cache_token_comparacao"] == "menor"
    assert n["cache_razao"] == "8"  # 64 heads K/V contra 8
    assert n["cache_7b"] == "1,875" and n["cache_67b"] == "1,48" and n["cache_67b_mha"] == "11,9"
    assert n["razao_camadas_67b_7b"] == "3,2"  # 95 / 30
    assert m67.num_hidden_layers / m7.num_hidden_layers == pytest.approx(3.17, abs=0.01)


def test_kernel_check_and_tiny_cache():
    check = B.kernel_check()
    assert float(check.numbers["erro_max_kernel"].replace(",", ".").replace("×10⁻", "e-")
                 .translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))) < 1e-4
    assert "MQA" in check.tables["erros"]
    tiny = B.tiny_cache_check(new_tokens=8)
    # 2 camadas × 2 (K e V) × heads K/V × 8 × 128 posições × 4 bytes
    assert tiny.numbers["tiny_cache_mha"] == "64 KiB"  # 2·2·4·8·128·4 = 65536
    assert tiny.numbers["tiny_cache_mqa"] == "16 KiB"


# --- benchmarks -----------------------------------------------------------------------

def _bench(decode_ms=(4.0, 3.0, 2.0)):
    kernels = []
    for s in (128, 256):
        for g in (1, 2, 4):
            for v in B.BENCH_VARIANTS:
                extra = 5 * g * s * s if v == "gqa" else 0
                kernels.append({"seq_len": s, "group": g, "kv_heads": 4 // g, "variant": v, "mode": "fwd",
                                "time_s": {"gqa": 3e-3, "sdpa_gqa": 1e-3, "repeat_sdpa": 1.2e-3}[v] * s / 128,
                                "peak_bytes": 1000 * s + extra})
    decode = [{"kv_heads": kv, "heads": 4, "n_layer": 2, "hidden": 32, "head_dim": 8, "batch": 2, "prompt": 16,
               "new_tokens": 4, "ms_per_token_cache": ms, "ms_per_token_no_cache": 10 * ms, "cache_bytes": 100 * kv,
               "cache_bytes_formula": 100 * kv} for kv, ms in zip((4, 2, 1), decode_ms)]
    meta = {"dtype": "torch.float32", "batch": 2, "heads": 4, "head_dim": 8, "device_name": "x", "threads": 2,
            "repeats": 3, "torch": "t"}
    return {"metadata": meta, "kernels": kernels, "decode": decode}


def test_bench_section_numbers_from_synthetic_bench():
    sec = B.bench_section({"cpu": _bench()}, flash_accepts_mask=True)
    n = sec.numbers
    assert n["cpu_razao_min"] == "3,0" and n["cpu_faixa"] == "de 3 a 3 vezes mais lento"
    assert n["cpu_mascara"] == "materializada" and n["cpu_mascara_bytes"] == "5"
    assert n["cpu_dup_sdpa"] == "2"  # 1000·256 / 1000·128
    assert n["cpu_dec_variantes"] == "a GQA-2 é 1,33 vez mais rápida; a MQA é 2,00 vez mais rápida"
    assert n["cpu_dec_ganho"] == "10 a 10" and n["cpu_dec_ganho_veredito"] == "muito menos com cache"
    assert n["gpu_razao"] == "—" and n["gpu_dec_variantes"] == "—"  # a GPU ausente não quebra nada
    assert n["cpu_contraste"] == "—"
    slower = B.bench_section({"cpu": _bench(decode_ms=(3.0, 3.1, 3.6))}, flash_accepts_mask=False).numbers
    assert slower["cpu_dec_variantes"] == ("a GQA-2 empata com a MHA (1,03 vez o tempo); "
                                           "a MQA é 1,20 vez mais lenta")
    assert slower["cpu_flash_mascara"].startswith("não aceita")


def test_committed_benchmarks_sentences_match_their_tables():
    bench = B.load_attention_benchmarks()
    if "cpu" not in bench:
        pytest.skip("results/bench_atencao_cpu.json ausente")
    n = B.bench_section(bench, flash_accepts_mask=True).numbers
    by_kind = {B.attention_kind(d["kv_heads"], d["heads"]): d["ms_per_token_cache"] for d in bench["cpu"]["decode"]}
    for kind in ("GQA-2", "MQA"):
        faster = by_kind["MHA"] / by_kind[kind] > 1 + B.SAME_SPEED_TOLERANCE
        assert (f"a {kind} é" in n["cpu_dec_variantes"] and "mais rápida" in n["cpu_dec_variantes"]) or not faster
    rows = B.kernel_table(bench["cpu"])
    assert n["cpu_razao_max"] == f"{max(r['slowdown'] for r in rows):.1f}".replace(".", ",")


# --- experimentos ---------------------------------------------------------------------

def test_uptraining_section_against_the_raw_records():
    recs = records(ROOT / "results" / "cap04_uptraining.jsonl")
    sec = cap04.uptraining_section(recs)
    n = sec.numbers
    parents = [r for r in recs if r["train"].get("init_from") is None and "model.num_key_value_heads" not in r["overrides"]]
    origin = sum(r["final_val_bpb"] for r in parents) / len(parents)
    initial = parents[0]["trace"][0]["val_bpb"]
    assert n["up_origem"] == f"{origin:.3f}".replace(".", ",")
    conv = {}
    for r in recs:
        if r["train"].get("init_from") is not None:
            conv.setdefault(r["model"]["num_key_value_heads"], set()).add(r["trace"][0]["val_bpb"])
    for kv, tag in ((2, "gqa2"), (1, "mqa")):
        c = sum(conv[kv]) / len(conv[kv])
        closer_origin = abs(c - origin) < abs(initial - c)
        assert n[f"up_conv_{tag}_perto"].startswith("mais perto da origem") == closer_origin
    assert n["up_treinos"] == len(recs)


def test_depth_section_against_the_raw_records():
    recs = records(ROOT / "results" / "cap04_profundidade.jsonl")
    sec = cap04.depth_section(recs)
    n = sec.numbers
    shapes = {}
    for r in recs:
        m = r["model"]
        if m["intermediate_size"] == cap04.depth_config(m["num_hidden_layers"], m["hidden_size"]).intermediate_size \
                and (m["num_hidden_layers"], m["hidden_size"]) in cap04.DEPTH_WIDTH_SHAPES:
            shapes.setdefault((m["num_hidden_layers"], m["hidden_size"]), []).append(r["final_val_bpb"])
    means = {k: sum(v) / len(v) for k, v in shapes.items()}
    best = min(means, key=means.get)
    worst = max(means, key=means.get)
    assert n["prof_a_melhor"] == f"({best[0]}, {best[1]})"
    assert n["prof_a_pior"] == f"({worst[0]}, {worst[1]})"
    assert n["atencao_d16"] == f"{100 * 12 * 16 * 128 / (72 * 16**2 + 12 * 16 * 128):.0f}"
    assert n["prof_treinos"] == len(recs)
    # a prosa diz "vezes mais FLOPs por segundo" e "vezes mais tokens": as razões têm de passar de 1
    for key in ("prof_a_vazao", "prof_b_vazao", "prof_a_tokens", "prof_b_tokens"):
        assert float(n[key].replace(",", ".")) > 1, key


def test_figures_are_drawn():
    bench = B.bench_section({"cpu": _bench()}, flash_accepts_mask=True)
    figs = [P.plot_kernels("cpu", bench.data["kernels"]["cpu"], _bench()["metadata"]), P.plot_decode({"cpu": _bench()}),
            P.plot_uptraining(cap04.uptraining_section(records(ROOT / "results" / "cap04_uptraining.jsonl")).data),
            P.plot_depth(cap04.depth_section(records(ROOT / "results" / "cap04_profundidade.jsonl")).data)]
    for fig in figs:
        assert len(fig.axes) >= 2 or fig is figs[1]
        assert all(ax.get_ylabel() for ax in fig.axes)
        matplotlib.pyplot.close(fig)


def test_device_text_follows_the_measured_memory():
    with_mask = B.bench_section({"cpu": _bench()}, flash_accepts_mask=True)
    assert "paga a criação, a conversão e a leitura da máscara" in with_mask.data["texts"]["cpu_texto"]
    # um benchmark do kernel sem máscara (memória igual à do SDPA, tempo igual) e com a variante math
    bench = _bench()
    for r in bench["kernels"]:
        if r["variant"] == "gqa":
            r["peak_bytes"], r["time_s"] = 1000 * r["seq_len"], 1e-3 * r["seq_len"] / 128
    bench["kernels"] += [dict(r, variant="gqa_math", time_s=4 * r["time_s"]) for r in bench["kernels"]
                         if r["variant"] == "sdpa_gqa"]
    sec = B.bench_section({"cpu": bench}, flash_accepts_mask=True)
    assert sec.numbers["cpu_mascara"] == "ausente"
    assert sec.numbers["cpu_faixa"].startswith("empata")
    assert sec.numbers["cpu_faixa_math"] == "de 4 a 4 vezes mais lento"
    text = sec.data["texts"]["cpu_texto"]
    assert "sem máscara explícita" in text and "`\"math\"`" in text and "paga a criação" not in text
    assert "math (ms)" in sec.tables["kernels_cpu"]
    assert B.device_text("gpu", sec.numbers).startswith("Não há medição")
