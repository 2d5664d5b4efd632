"""The pieces together, as a study will use them: a tinyshakespeare-format file, random training
windows, a 1-layer decoder, the per-token loss, evaluation on val and a sample. A loop written out
here for the check only; the suite's training loop is the engine's."""

import math

import torch

from suite.data.tinyshakespeare import tinyshakespeare
from suite.lm_eval import evaluate
from suite.lm_metrics import token_loss
from suite.models.decoder import DecoderLM
from suite.models.generate import sample_text

SPEECH = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
)


def test_a_one_layer_decoder_learns_the_characters(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(SPEECH * 20)
    data = tinyshakespeare(block_size=16, data_path=str(path))
    torch.manual_seed(0)
    model = DecoderLM(data.vocab_size, data.seq_len, dim=32, depth=1, heads=2, positional="rotary")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    val = data.load()["val"]
    before = evaluate(model, *val).loss
    assert abs(before - math.log(data.vocab_size)) < 0.2  # an untrained model is about uniform
    for step in range(100):
        x, y = data.batch(step, batch_size=16, seed=0)
        loss = token_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    after = evaluate(model, *val).loss
    print(f"val loss {before:.3f} → {after:.3f} nats after 100 steps")
    assert after < before - 1.0, (before, after)
    text = sample_text(model, data, "All:\n", 20, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert text.startswith("All:\n") and len(text) == 25
