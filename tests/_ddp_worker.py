"""Executado por ``torchrun --nproc_per_node=2`` em test_trainer.py (não é um teste)."""

import json
import sys

import torch.distributed as dist

from helpers.model.config import tiny
from helpers.engine.data import corpus_spec
from helpers.engine.trainer import TrainConfig, train

corpus, out = sys.argv[1], sys.argv[2]
tc = TrainConfig(steps=8, batch_size_tokens=256, seq_len=16, lr=3e-3, eval_points=4, eval_tokens=512,
                 corpus=corpus_spec(corpus, validation_fraction=0.2), warmup_steps=2)
result = train(tiny(1), tc, quiet=True)
if dist.get_rank() == 0:
    with open(out, "w") as fh:
        json.dump(result.to_dict(), fh)
dist.destroy_process_group()
