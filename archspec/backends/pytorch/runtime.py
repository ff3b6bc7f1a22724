"""PyTorch modules the IR needs and torch.nn does not have.

The in-memory build uses these classes, and every emitted file that needs one carries a
copy of its source (read from this file's text, so emitting imports no torch): the two
cannot drift apart. Each class must stay self-contained (``torch``, ``F`` and ``nn`` only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def init_as_he_et_al(model: nn.Module) -> None:
    """Initialise as He et al. (2015): Kaiming normal (fan_out, ReLU) for convolutions,
    batch norm weight 1 and bias 0. Linear layers keep PyTorch's default, as in
    torchvision's ResNet."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ZeroPadShortcut(nn.Module):
    """Option A of He et al. (2015), Sec. 3.3: a shortcut with no parameters.

    Keeps every ``stride``-th pixel (the paper's subsampling) and appends zero channels,
    so the identity matches the residual branch: x[:, :, ::s, ::s], then F.pad on the
    channel dimension with (0, out_channels - in_channels).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.stride
        x = x[:, :, ::stride, ::stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class Chunk(nn.Module):
    """One of ``chunks`` equal slices of the channels (ShuffleNet's channel split)."""

    def __init__(self, chunks: int, index: int) -> None:
        super().__init__()
        self.chunks = chunks
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(self.chunks, dim=1)[self.index]

    def extra_repr(self) -> str:
        return f"{self.chunks}, {self.index}"


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each pixel of an NCHW map (torchvision's
    LayerNorm2d: to channels-last, normalise, back); tokens and flat features take
    nn.LayerNorm itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape, weight, bias = self.normalized_shape, self.weight, self.bias
        x = F.layer_norm(x.permute(0, 2, 3, 1), shape, weight, bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ChannelLinear(nn.Linear):
    """nn.Linear over the channels of each pixel of an NCHW map (ConvNeXt's MLP, which
    torchvision applies between permutes to channels-last and back)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_last = F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias)
        return channels_last.permute(0, 3, 1, 2)


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: in training, zero the input with probability
    ``p`` per sample (``mode="row"``) or for the whole batch (``"batch"``), scaling what
    is kept by 1 / (1 - p); the identity in eval."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        ones = [1] * (x.dim() - 1)
        size = [x.shape[0]] + ones if self.mode == "row" else [1] + ones
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


def scale_parameter(channels: int, init: float) -> nn.Parameter:
    """A learned scale per channel, ``init`` everywhere, shaped to multiply an NCHW map:
    a bare parameter of the module that holds it (torchvision's ConvNeXt layer_scale)."""
    return nn.Parameter(torch.full((channels, 1, 1), init))


def token_parameter(features: int) -> nn.Parameter:
    """A learned class token, (1, 1, D) zeros as torchvision's: a bare parameter of the
    module that holds it, put before the first token of every sample."""
    return nn.Parameter(torch.zeros(1, 1, features))


def position_parameter(length: int, features: int) -> nn.Parameter:
    """A learned position embedding, (1, L, D) drawn with std 0.02 as torchvision's (from
    BERT): a bare parameter of the module that holds it, added to the tokens."""
    return nn.Parameter(torch.empty(1, length, features).normal_(std=0.02))


def prepend_token(token: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``token`` (1 x 1 x D) put before the first of the N x L x D tokens of every sample
    (torchvision's class token: expanded over the batch, concatenated)."""
    return torch.cat([token.expand(x.shape[0], -1, -1), x], dim=1)


class Tokens(nn.Module):
    """An NCHW map as N x (H*W) x C tokens, one per pixel in row-major order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)


class TokenPool(nn.Module):
    """N x L x D tokens -> N x D: the first token (``"class"``), or the mean over the
    tokens after the first ``skip`` (``"mean"``)."""

    def __init__(self, mode: str = "class", skip: int = 0) -> None:
        super().__init__()
        self.mode = mode
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "class":
            return x[:, 0]
        return x[:, self.skip :].mean(dim=1)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, skip={self.skip}"


class Attention(nn.Module):
    """Multi-head self-attention on N x L x D tokens, holding timm's tensors: ``qkv``
    projects each token to queries, keys and values, split into ``heads`` heads;
    softmax(QK^T / sqrt(D / heads)) V per head; ``proj`` projects back."""

    def __init__(
        self,
        features: int,
        heads: int,
        bias: bool = True,
        attention_dropout: float = 0.0,
        projection_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(features, 3 * features, bias=bias)
        self.proj = nn.Linear(features, features)
        self.proj_drop = nn.Dropout(projection_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, features = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.heads, features // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each N x heads x L x D/heads
        dropout = self.attention_dropout if self.training else 0.0
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        x = x.transpose(1, 2).reshape(batch, length, features)
        projected: torch.Tensor = self.proj_drop(self.proj(x))
        return projected


class SelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention (its tensors) as self-attention on N x L x D tokens, batch
    first, returning the output only, as torchvision's ViT calls it. The forward is the
    module's own, F.multi_head_attention_forward, so TorchScript compiles it (it cannot
    compile a call to super())."""

    def __init__(
        self,
        features: int,
        heads: int,
        bias: bool = True,
        attention_dropout: float = 0.0,
    ) -> None:
        super().__init__(
            features,
            heads,
            dropout=attention_dropout,
            bias=bias,
            batch_first=True,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x = x.transpose(0, 1)  # L x N x D, as the function takes it
        out, _ = F.multi_head_attention_forward(
            x,
            x,
            x,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            None,
            None,
            False,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            need_weights=False,
        )
        return out.transpose(0, 1)
