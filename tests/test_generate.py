import pytest
import torch

from suite.models.char_rnn import CharRNN
from suite.models.decoder import DecoderLM
from suite.models.generate import generate, next_token, sample_text

V = 13


def model(block_size=6) -> DecoderLM:
    torch.manual_seed(0)
    return DecoderLM(V, block_size, dim=16, depth=1, heads=2, positional="learned")


def greedy_by_hand(m, idx, tokens):
    for _ in range(tokens):
        logits = m(idx[:, -m.block_size :])[:, -1]
        idx = torch.cat((idx, logits.argmax(-1, keepdim=True)), dim=1)
    return idx


def test_temperature_zero_and_top_k_one_are_greedy():
    m = model().eval()
    prompt = torch.randint(V, (2, 3))
    expected = greedy_by_hand(m, prompt, 10)  # 13 > block_size 6: the context is cropped
    assert torch.equal(generate(m, prompt, 10, temperature=0), expected)
    assert torch.equal(generate(m, prompt, 10, top_k=1, generator=torch.Generator().manual_seed(5)), expected)
    assert torch.equal(
        generate(m, prompt, 10, temperature=1e-6, generator=torch.Generator().manual_seed(5)), expected
    )


def test_a_fixed_generator_reproduces_a_sample_and_another_seed_differs():
    m = model()
    prompt = torch.zeros(1, 1, dtype=torch.long)

    def draw(seed):
        return generate(m, prompt, 40, temperature=2.0, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))
    assert draw(1).shape == (1, 41) and torch.equal(draw(1)[:, :1], prompt)
    assert m.training  # put back as it was


def test_top_k_draws_only_among_the_k_most_likely():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0]]).expand(200, 5)
    drawn = next_token(logits, 1.0, 2, torch.Generator().manual_seed(0)).flatten()
    assert set(drawn.tolist()) == {1, 3}


def test_a_recurrent_model_reads_the_whole_text():
    torch.manual_seed(0)
    rnn = CharRNN(V, dim=8, hidden=8)
    out = generate(rnn, torch.randint(V, (1, 4)), 5, temperature=0)
    assert out.shape == (1, 9)


class Chars:
    chars = "abcdefghijklm"

    def encode(self, text):
        return torch.tensor([self.chars.index(c) for c in text])

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


def test_sample_text_continues_the_prompt():
    text = sample_text(
        model(), Chars(), "abc", 7, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(0)
    )
    assert text.startswith("abc") and len(text) == 10


@pytest.mark.parametrize(
    "options, message",
    [
        ({"temperature": -1}, "temperature must be ≥ 0"),
        ({"top_k": 0}, "top_k must be"),
        ({"tokens": -1}, "tokens must"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        generate(model(), torch.zeros(1, 1, dtype=torch.long), **{"tokens": 2, **options})
