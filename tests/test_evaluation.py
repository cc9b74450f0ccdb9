"""O protocolo de avaliação v2: janelas espalhadas pela validação, avaliação final maior e o
ruído da medida (as duas metades), sem mudar o ``run_id`` nem os números dos treinos antigos."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.engine import data as D
from helpers.engine.runs import RunResult, TrainConfig, run_id
from helpers.engine.trainer import _evaluate, train
from helpers.model.config import ModelConfig, tiny
from helpers.model.transformer import Transformer

RESULTS = Path(__file__).resolve().parents[1] / "results"
MODEL = tiny(1)  # d = 16, uma camada
TIMINGS = ("wall_time_s", "tokens_per_s", "achieved_flops_per_s")


@pytest.fixture(scope="module")
def corpus(tiny_corpus):
    return D.corpus_spec(tiny_corpus, validation_fraction=0.2)


@pytest.fixture(scope="module")
def data(corpus):
    return D.prepare_data(corpus)


def _cfg(corpus, **kw):
    base = dict(steps=8, batch_size_tokens=256, seq_len=16, lr=3e-3, eval_points=2, eval_tokens=512,
                warmup_steps=2, corpus=corpus)
    base.update(kw)
    return TrainConfig(**base)


def _without_timings(record: dict) -> dict:
    record = {k: v for k, v in record.items() if k not in TIMINGS}
    if record.get("evaluation") and record["evaluation"]["final"]:
        record["evaluation"] = {**record["evaluation"],
                                "final": {k: v for k, v in record["evaluation"]["final"].items() if k != "seconds"}}
    return record


# --- as janelas ------------------------------------------------------------------------------

def test_start_sampling_is_the_original_consecutive_windows():
    tokens = np.arange(1000, dtype=np.int64)
    starts = D.validation_starts(tokens.size, 10, 95, "start")
    assert starts.tolist() == list(range(0, 90, 10))
    default = torch.cat([x for x, _ in D.validation_batches(tokens, 10, 95, 4)])
    start = torch.cat([x for x, _ in D.validation_batches(tokens, 10, 95, 4, sampling="start")])
    assert torch.equal(default, start) and default[:, 0].tolist() == starts.tolist()


def test_spread_windows_span_the_whole_text_without_overlap():
    tokens = np.arange(1000, dtype=np.int64)
    starts = D.validation_starts(tokens.size, 10, 95, "spread")
    assert starts.size == 9 and starts[0] == 0
    assert starts[-1] + 10 == tokens.size - 1  # o último alvo é o último token do texto
    assert np.all(np.diff(starts) >= 10)  # janelas disjuntas
    assert np.array_equal(starts, D.validation_starts(tokens.size, 10, 95, "spread"))  # determinístico
    batches = list(D.validation_batches(tokens, 10, 95, 4, sampling="spread"))
    xs, ys = torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])
    assert [len(x) for x, _ in batches] == [4, 4, 1]
    assert xs[:, 0].tolist() == starts.tolist() and torch.equal(xs[:, 1:], ys[:, :-1])
    # uma amostra do tamanho do texto (ou maior) é o texto inteiro, em janelas consecutivas
    whole = D.validation_starts(tokens.size, 10, 10**6, "spread")
    assert np.array_equal(whole, D.validation_starts(tokens.size, 10, 10**6, "start"))
    assert whole.tolist() == list(range(0, 990, 10))
    assert D.validation_starts(tokens.size, 10, 15, "spread").tolist() == [0]


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((1000, 10, 95, "random"), "amostragem de validação desconhecida 'random'"),
        ((1000, 0, 95, "spread"), "seq_len deve ser um inteiro ≥ 1; recebi 0"),
        ((1000, 10, 0, "spread"), "max_tokens deve ser um inteiro ≥ 1; recebi 0"),
        ((1000, 10, 5, "spread"), "não comporta uma janela de 11"),
        ((10, 10, 95, "start"), "o texto de validação \\(10 tokens\\)"),
    ],
)
def test_bad_sampling_arguments(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        D.validation_starts(*args)


def test_describe_counts_windows_documents_and_fraction():
    # 10 documentos de 100 tokens, cada um terminado pelo separador (token 0)
    doc = np.concatenate([np.arange(1, 100), [0]])
    tokens = np.tile(doc, 10)
    head = D.describe_validation_sample(tokens, 10, 95)
    assert head == {"sampling": "start", "windows": 9, "tokens": 90, "documents_touched": 1,
                    "documents_total": 10, "fraction_of_split": 90 / 1000}
    spread = D.describe_validation_sample(tokens, 10, 95, sampling="spread")
    assert spread["windows"] == 9 and spread["documents_touched"] == 10  # a janela em 494 cruza uma fronteira
    # 3 janelas de 5 alvos, em 0, 497 e 994: alvos 1–5, 498–502 (fim do 5.º documento, começo do 6.º) e 995–999
    few = D.describe_validation_sample(tokens, 5, 15, sampling="spread")
    assert (few["windows"], few["documents_touched"]) == (3, 4)
    whole = D.describe_validation_sample(tokens, 10, 10**6, sampling="spread")
    assert whole["documents_touched"] == whole["documents_total"] == 10
    assert whole["fraction_of_split"] == pytest.approx(990 / 1000)
    # uma janela cujo último alvo é o separador toca só o documento que ele encerra
    one = D.describe_validation_sample(tokens, 99, 99)
    assert one["documents_touched"] == 1
    assert D.describe_validation_sample(tokens, 100, 100)["documents_touched"] == 2
    # texto sem separador no fim: o pedaço final também é um documento
    assert D.describe_validation_sample(tokens[:-50], 10, 10**6)["documents_total"] == 10


def test_documents_are_the_validation_documents_of_the_split(data, corpus):
    whole = D.describe_validation_sample(data.val, 16, 10**9, sampling="spread", separators=D.separator_ids(data))
    assert whole["documents_total"] == data.stats["validation_documents"] == whole["documents_touched"]
    bpe = D.prepare_data(corpus, D.TokenizerSpec("bpe", 300))
    seps = D.separator_ids(bpe)
    assert seps and D.describe_validation_sample(bpe.val, 16, 10**9, separators=seps)["documents_total"] == \
        bpe.stats["validation_documents"]


# --- a configuração: campos novos fora do run_id quando estão no padrão ---------------------------

def test_new_fields_are_omitted_at_their_defaults(corpus):
    legacy = _cfg(corpus)
    d = legacy.to_dict()
    assert "eval_sampling" not in d and "final_eval_tokens" not in d
    assert TrainConfig.from_dict(d) == legacy
    v2 = _cfg(corpus, eval_sampling="spread", final_eval_tokens=4096)
    d2 = v2.to_dict()
    assert d2["eval_sampling"] == "spread" and d2["final_eval_tokens"] == 4096
    assert TrainConfig.from_dict(d2) == v2 and run_id(MODEL, v2) != run_id(MODEL, legacy)
    # cada campo sai do dicionário sozinho, quando está no padrão
    assert "eval_sampling" not in _cfg(corpus, final_eval_tokens=4096).to_dict()
    assert "final_eval_tokens" not in _cfg(corpus, eval_sampling="spread").to_dict()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"eval_sampling": "random"}, "eval_sampling 'random' desconhecida; as válidas são \\['start', 'spread'\\]"),
        ({"final_eval_tokens": 0}, "final_eval_tokens"),
        ({"final_eval_tokens": 8}, "final_eval_tokens \\(8\\) deve ser ≥ seq_len \\(16\\)"),
    ],
)
def test_bad_evaluation_configs(corpus, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        _cfg(corpus, **kwargs)


def test_committed_results_keep_their_run_ids():
    files = sorted(RESULTS.glob("*.jsonl"))
    assert any(f.name == "cap05_agendas.jsonl" for f in files)
    checked = 0
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            tc = TrainConfig.from_dict(record["train"])
            assert run_id(ModelConfig.from_dict(record["model"]), tc) == record["run_id"], f.name
            assert tc.to_dict() == record["train"], f.name
            checked += 1
    assert checked > 0


def test_old_records_load_without_evaluation():
    line = (RESULTS / "cap05_agendas.jsonl").read_text(encoding="utf-8").splitlines()[0]
    record = json.loads(line)
    assert "evaluation" not in record
    fields = {f.name for f in dataclasses.fields(RunResult)}
    old = RunResult.from_dict({k: v for k, v in record.items() if k in fields})
    assert old.evaluation is None and old.run_id == record["run_id"]


# --- o treino: avaliação final, metades e determinismo ---------------------------------------------

def test_spread_final_evaluation_covers_the_split_and_is_deterministic(corpus, data):
    cfg = _cfg(corpus, eval_sampling="spread", final_eval_tokens=8192)  # 512 janelas por toda a validação
    a = train(MODEL, cfg, data=data, quiet=True)
    b = train(MODEL, cfg, data=data, quiet=True)
    assert a.status == "ok"
    assert _without_timings(a.to_dict()) == _without_timings(b.to_dict())  # bit a bit, fora os tempos
    ev = a.evaluation
    assert ev["intermediate"] == {"sampling": "spread", "tokens": 512}
    final = ev["final"]
    val = data.stats["val_tokens"]
    assert (final["sampling"], final["windows"], final["tokens"]) == ("spread", 512, 8192)
    assert final["fraction_of_split"] == 8192 / val
    assert final["documents_touched"] == final["documents_total"] == data.stats["validation_documents"]
    # o último ponto da curva e os números finais do treino são a avaliação final
    assert a.final_val_bpb == final["bpb"] == a.trace[-1]["val_bpb"]
    assert a.final_val_loss == final["loss"] == a.trace[-1]["val_loss"]
    assert final["bpb"] == pytest.approx(final["loss"] / math.log(2))  # bytes: 1 token = 1 byte
    ha, hb = final["halves_bpb"]
    assert math.isfinite(ha) and math.isfinite(hb) and ha != hb
    n_a, n_b = (final["windows"] + 1) // 2, final["windows"] // 2  # janelas pares e ímpares
    assert (n_a * ha + n_b * hb) / (n_a + n_b) == pytest.approx(final["bpb"], rel=1e-9)
    assert abs(ha - hb) / 2 < 0.05  # o ruído da medida é pequeno perto do bpb
    assert final["seconds"] > 0
    # os pontos intermediários usam a amostra pequena: o mesmo treino com a final "como as outras"
    small = train(MODEL, _cfg(corpus, eval_sampling="spread"), data=data, quiet=True)
    assert small.trace[:-1] == a.trace[:-1] and small.final_train_loss == a.final_train_loss
    assert small.evaluation["final"]["tokens"] == 512 and small.final_val_bpb != a.final_val_bpb
    json.dumps(a.to_dict())


def test_legacy_config_evaluates_as_before(corpus, data):
    cfg = _cfg(corpus)
    r = train(MODEL, cfg, data=data, quiet=True)
    assert "eval_sampling" not in r.train and "final_eval_tokens" not in r.train
    assert r.run_id == run_id(MODEL, cfg)
    final = r.evaluation["final"]
    assert r.evaluation["intermediate"] == {"sampling": "start", "tokens": 512}
    assert (final["sampling"], final["tokens"], final["windows"]) == ("start", 512, 32)
    assert final["documents_touched"] == 1 and final["documents_total"] == data.stats["validation_documents"]
    assert final["bpb"] == r.final_val_bpb == r.trace[-1]["val_bpb"]
    # a conta do total é, bit a bit, a de antes (cross_entropy somada por lote de 16)
    torch.manual_seed(0)
    model = Transformer(MODEL).eval()
    nats, n_bytes = 0.0, 0
    with torch.no_grad():
        for x, y in D.validation_batches(data.val, 16, 512):
            nats += F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="sum").item()
            n_bytes += y.numel()
    loss, bpb, halves = _evaluate(model, data, 16, 512, "cpu", lambda: torch.autocast("cpu", enabled=False),
                                  halves=True)
    assert (loss, bpb) == (nats / n_bytes, D.bits_per_byte(nats, n_bytes)) and len(halves) == 2


def test_final_batch_size_does_not_change_the_numbers(data):
    torch.manual_seed(0)
    model = Transformer(tiny(2, head_dim=8))
    off = lambda: torch.autocast("cpu", enabled=False)  # noqa: E731
    kw = dict(sampling="spread", halves=True)
    small = _evaluate(model, data, 32, 8000, "cpu", off, batch_size=16, batch_invariant=True, **kw)
    large = _evaluate(model, data, 32, 8000, "cpu", off, batch_size=64, batch_invariant=True, **kw)
    assert small == large  # somas por janela em float64: independem do lote
    legacy = _evaluate(model, data, 32, 8000, "cpu", off, batch_size=16, **kw)
    assert legacy[1] == pytest.approx(large[1], rel=1e-6) and legacy[2] == large[2]


def test_interrupted_and_diverged_runs_have_no_final_evaluation(corpus, data, tmp_path):
    cfg = _cfg(corpus, eval_sampling="spread", final_eval_tokens=4096)
    full = train(MODEL, cfg, data=data, quiet=True)
    ckpt = tmp_path / "ponto.pt"
    part = train(MODEL, cfg, data=data, quiet=True, checkpoint_path=ckpt, checkpoint_every=2, stop_after_steps=4)
    assert part.status == "interrupted" and part.evaluation["final"] is None
    resumed = train(MODEL, cfg, data=data, quiet=True, checkpoint_path=ckpt)
    assert _without_timings(resumed.to_dict())["evaluation"] == _without_timings(full.to_dict())["evaluation"]
    assert resumed.trace == full.trace
    bad = train(MODEL, _cfg(corpus, steps=60, lr=50.0, warmup_steps=0, grad_clip=1e6, eval_sampling="spread",
                            final_eval_tokens=4096), data=data, quiet=True)
    assert bad.status == "diverged" and bad.evaluation["final"] is None


def test_large_final_evaluation_is_left_out_of_the_training_time(corpus, data, monkeypatch):
    import time

    import helpers.engine.trainer as trainer_mod

    real = trainer_mod._final_evaluation

    def slow(*args, **kwargs):
        time.sleep(2.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_mod, "_final_evaluation", slow)
    legacy = train(MODEL, _cfg(corpus), data=data, quiet=True)
    large = train(MODEL, _cfg(corpus, final_eval_tokens=1024), data=data, quiet=True)
    assert legacy.wall_time_s >= 2.0  # o protocolo antigo: a avaliação final conta, como antes
    assert large.wall_time_s < 2.0 and large.evaluation["final"]["seconds"] > 0
