import pytest

from suite.data.tokenize import PAD, START, UNK, TokenizerSpec, build_vocabulary, decode, encode, words


def test_words_lowercase_split_punctuation_and_drop_html_breaks():
    assert words("A <br />great film, isn't it?<br/><BR>Yes!") == [
        "a",
        "great",
        "film",
        ",",
        "isn't",
        "it",
        "?",
        "yes",
        "!",
    ]


def test_vocabulary_is_specials_then_most_frequent_with_alphabetical_ties():
    docs = [["b", "a", "c", "c"], ["a", "d"], ["b"]]
    vocab = build_vocabulary(docs, TokenizerSpec(vocab_size=5, max_len=4))
    assert vocab == ["<pad>", "<unk>", "a", "b", "c"]  # a, b, c twice each; d dropped
    with_start = build_vocabulary(docs, TokenizerSpec(vocab_size=5, max_len=4, start_token=True))
    assert with_start == ["<pad>", "<unk>", "<start>", "a", "b"]


VOCAB = ["<pad>", "<unk>", "<start>", "w1", "w2", "w3", "w4"]
DOC = ["w1", "w2", "zzz", "w3", "w4"]  # zzz is unknown


@pytest.mark.parametrize(
    "padding, truncating, start, max_len, expected",
    [
        ("pre", "pre", False, 7, [PAD, PAD, 3, 4, UNK, 5, 6]),
        ("post", "pre", False, 7, [3, 4, UNK, 5, 6, PAD, PAD]),
        ("pre", "pre", False, 3, [UNK, 5, 6]),  # pre-truncation keeps the end
        ("pre", "post", False, 3, [3, 4, UNK]),  # post-truncation keeps the start
        ("pre", "pre", True, 3, [START, 5, 6]),  # START survives truncation
        ("post", "post", True, 7, [START, 3, 4, UNK, 5, 6, PAD]),
    ],
)
def test_encode_pads_and_truncates_on_the_chosen_side(padding, truncating, start, max_len, expected):
    spec = TokenizerSpec(len(VOCAB), max_len, padding, truncating, start)
    out = encode([DOC, []], VOCAB, spec)
    assert out.shape == (2, max_len)
    assert out[0].tolist() == expected
    assert out[1].tolist() == ([START] if start and padding == "post" else []) + [PAD] * (max_len - start) + (
        [START] if start and padding == "pre" else []
    )
    assert decode(out[0], VOCAB) == [VOCAB[i] for i in expected if i != PAD]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vocab_size": 2, "max_len": 4}, "vocab_size must be an integer > 2"),
        ({"vocab_size": 3, "max_len": 4, "start_token": True}, "vocab_size must be an integer > 3"),
        ({"vocab_size": 10, "max_len": 0}, "max_len must be an integer ≥ 1"),
        ({"vocab_size": 10, "max_len": 4, "padding": "left"}, "padding must be 'pre' or 'post'"),
        ({"vocab_size": 10, "max_len": 4, "truncating": "end"}, "truncating must be 'pre' or 'post'"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TokenizerSpec(**kwargs)


def test_encoding_off_a_terminal_writes_no_progress_bar(capsys):
    """Logs and pipes must not fill with carriage-return progress (a bar shows on a terminal only)."""
    spec = TokenizerSpec(vocab_size=8, max_len=4)
    docs = [["a", "b"]] * 50
    encode(docs, build_vocabulary(docs, spec), spec, desc="encode test rows")
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "encode test rows" not in captured.err
