"""The variant catalogue: named presets of the one composable classifier.

A variant is a function returning its configuration, with overrides applied by `parse`; it
needs no torch, so `ablate list variants` and study loading stay fast. The encoders' own
knobs are in `suite.models.encoders`, the nn.Module code in the modules it names.
"""

from __future__ import annotations

from suite.models import register_variant
from suite.models.config import ModelConfig, parse


@register_variant("bow_mlp")
def bow_mlp(**overrides) -> ModelConfig:
    """Multi-hot bag of words → one hidden layer of 16 with dropout 0.5 (the lecture's IMDB MLP with one hidden layer; lecture_bow_mlp has its two)."""
    return parse({"encoder": "bow", "hidden": 16, "dropout": 0.5}, **overrides)


@register_variant("lecture_bow_mlp")
def lecture_bow_mlp(**overrides) -> ModelConfig:
    """The lecture's IMDB bag-of-words MLP exactly: multi-hot 10,000 → 16 → ReLU → dropout 0.5 → 16 → ReLU → dropout 0.5 → 1."""
    return bow_mlp(**{"depth": 2, **overrides})


@register_variant("mean")
def mean(**overrides) -> ModelConfig:
    """The self-attention page's MeanClassifier: embedding → residual MLP block → mean over time → linear."""
    return parse({"encoder": "mlp", "positional": "none"}, **overrides)


@register_variant("positional")
def positional(**overrides) -> ModelConfig:
    """The self-attention page's ClassifierWithPositionEncoding: `mean` with learned positions added to the embeddings."""
    return mean(**{"positional": "learned", **overrides})


@register_variant("attention")
def attention(**overrides) -> ModelConfig:
    """The self-attention page's ClassifierWithMHAPositionEncoding: learned positions → one-head self-attention with a skip → residual MLP → mean."""
    return parse({"encoder": "attention", "positional": "learned", "heads": 1}, **overrides)


@register_variant("multihead")
def multihead(**overrides) -> ModelConfig:
    """The self-attention page's practice question: `attention` with several heads (default 2)."""
    return attention(**{"heads": 2, **overrides})


@register_variant("transformer")
def transformer(**overrides) -> ModelConfig:
    """Post-norm transformer blocks with FFN 2·dim and sinusoidal positions, after the Neuromatch TransformerBlock (see neuromatch_transformer for the exact model)."""
    return parse(
        {"encoder": "transformer", "positional": "sinusoidal", "heads": 2, "norm": True, "dropout": 0.1},
        **overrides,
    )


@register_variant("fasttext")
def fasttext(**overrides) -> ModelConfig:
    """The lecture's fastText-like IMDB model: Embedding(dim 20) → average over all positions, padding included → linear."""
    return parse({"encoder": "identity", "dim": 20, "pooling": "mean", "mask_padding": False}, **overrides)


@register_variant("embedding_mean")
def embedding_mean(**overrides) -> ModelConfig:
    """Embedding → average over the real tokens (padding masked out) → linear, with no MLP in between."""
    return parse({"encoder": "identity", "pooling": "mean"}, **overrides)


@register_variant("glove_frozen")
def glove_frozen(**overrides) -> ModelConfig:
    """The lecture's frozen GloVe model: Embedding.from_pretrained(glove.6B.300d, freeze=True) → average → linear."""
    return parse(
        {
            "encoder": "identity",
            "dim": 300,
            "pooling": "mean",
            "mask_padding": False,
            "pretrained": "glove.6B.300d",
            "freeze_embedding": True,
        },
        **overrides,
    )


@register_variant("plain_self_attention")
def plain_self_attention(**overrides) -> ModelConfig:
    """Parameter-free self-attention softmax(XXᵀ)·X on the embeddings → average → linear (the lecture's and slides' simple self-attention)."""
    return parse({"encoder": "plain_attention", "scale": "none", "pooling": "mean"}, **overrides)


@register_variant("causal_attention")
def causal_attention(**overrides) -> ModelConfig:
    """`attention` with a causal mask: each token attends only to itself and earlier tokens (the lecture's masked self-attention)."""
    return attention(**{"causal": True, **overrides})


@register_variant("prenorm_transformer")
def prenorm_transformer(**overrides) -> ModelConfig:
    """`transformer` with pre-norm blocks, x + attention(LayerNorm(x)), and a final LayerNorm (GPT-2's order)."""
    return transformer(**{"norm_position": "pre", **overrides})


@register_variant("neuromatch_transformer")
def neuromatch_transformer(**overrides) -> ModelConfig:
    """The Neuromatch W2D5 Transformer exactly: √k-scaled embeddings, sinusoidal positions + dropout 0.1, 3 post-norm blocks of 8 full-width bias-free heads (k = 128) with dropout 0.1 on the attention weights, mean → linear, log-softmax + NLL."""
    return parse(
        {
            "encoder": "transformer",
            "dim": 128,
            "heads": 8,
            "depth": 3,
            "head_dim": 128,
            "qkv_bias": False,
            "positional": "sinusoidal",
            "scale_embedding": True,
            "norm": True,
            "ffn_mult": 2,
            "dropout": 0.0,
            "embedding_dropout": 0.1,
            "attn_dropout": 0.1,
            "mask_padding": False,
            "pooling": "mean",
            "kernel": "folded_heads",
        },
        **overrides,
    )


@register_variant("conv1d")
def conv1d(**overrides) -> ModelConfig:
    """A Conv1d text classifier: `depth` same-padded Conv1d → ReLU layers with max-pooling between them → global average → linear."""
    return parse({"encoder": "conv1d", "depth": 2, "pooling": "mean"}, **overrides)


@register_variant("lecture_conv1d")
def lecture_conv1d(**overrides) -> ModelConfig:
    """The lecture's IMDB Conv1d: Emb(20) → Conv(32, k7, valid) → ReLU → MaxPool(5) → Conv(32, k7) → ReLU → global average → linear."""
    return parse(
        {
            "encoder": "conv1d",
            "dim": 20,
            "hidden": 32,
            "depth": 2,
            "kernel_size": 7,
            "pool_size": 5,
            "conv_padding": "valid",
            "pooling": "mean",
            "mask_padding": False,
        },
        **overrides,
    )


@register_variant("ngram_linear")
def ngram_linear(**overrides) -> ModelConfig:
    """Linear model over multi-hot unigrams + hashed bigrams (2^18 buckets), averaged per review: the NBSVM/fastText-style baseline."""
    return parse({"encoder": "ngram"}, **overrides)


@register_variant("fasttext_bigram")
def fasttext_bigram(**overrides) -> ModelConfig:
    """fastText with bigrams (Joulin et al. 2017): 10-wide embeddings of the unigrams and hashed bigrams, averaged over a review's distinct n-grams → linear."""
    return parse({"encoder": "ngram", "ngram_dim": 10}, **overrides)


@register_variant("lstm")
def lstm(**overrides) -> ModelConfig:
    """LSTM encoder (layers = depth, optional bidirectional and proj_size), read out at the last token (the lecture's LSTM)."""
    return parse({"encoder": "lstm", "pooling": "last"}, **overrides)


@register_variant("gru")
def gru(**overrides) -> ModelConfig:
    """GRU encoder (layers = depth, optional bidirectional), read out at the last token (the lecture's gated RNNs)."""
    return parse({"encoder": "gru", "pooling": "last"}, **overrides)


@register_variant("rnn")
def rnn(**overrides) -> ModelConfig:
    """Plain tanh RNN, h_t = tanh(W[x_t; h_t-1] + b), read out at the last token (the lecture's RNN)."""
    return parse({"encoder": "rnn", "pooling": "last"}, **overrides)


@register_variant("decoder_lm")
def decoder_lm(**overrides) -> ModelConfig:
    """nanoGPT's character-level Shakespeare model at its CPU size: 4 pre-norm causal attention blocks of 4 heads, 128 wide, MLP 4·dim, learned positions, tied embeddings, no biases or dropout."""
    return parse(
        {
            "encoder": "decoder",
            "dim": 128,
            "depth": 4,
            "heads": 4,
            "ffn_mult": 4,
            "positional": "learned",
            "tie_embeddings": True,
        },
        **overrides,
    )


@register_variant("decoder_conv")
def decoder_conv(**overrides) -> ModelConfig:
    """`decoder_lm` with each block's attention replaced by a causal convolution (kernel 4, dilated 2^i in block i) and no positions: a cheap mixer without attention."""
    return decoder_lm(
        **{"mixer": "conv", "kernel_size": 4, "dilate": True, "positional": "none", **overrides}
    )


@register_variant("char_rnn")
def char_rnn(**overrides) -> ModelConfig:
    """The course's character model: embedding 64 → one LSTM layer of 128 → a linear to the vocabulary at every step (teacher forcing)."""
    return parse({"encoder": "char_rnn", "dim": 64, "hidden": 128, "cell": "lstm"}, **overrides)


@register_variant("char_gru")
def char_gru(**overrides) -> ModelConfig:
    """`char_rnn` with a GRU cell."""
    return char_rnn(**{"cell": "gru", **overrides})
