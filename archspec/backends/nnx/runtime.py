"""The PyTorch semantics Flax does not ship, as small NHWC functions and two modules.

Both the in-memory build and every emitted module use exactly this code: the emitter copies
the source of the pieces a network needs, so the two cannot drift apart. Each piece must
therefore stay self-contained (only ``jax``, ``jnp``, ``nnx`` and the other pieces here).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx


class BatchNorm2d(nnx.Module):
    """torch.nn.BatchNorm2d on NHWC, running statistics included.

    Training mode normalises with the batch statistics and updates the running ones
    as torch does: ``running = (1 - momentum) * running + momentum * batch``, with
    the unbiased batch variance, and counts the batches. Eval mode (``model.eval()``)
    uses the running statistics. ``nnx.BatchNorm`` differs in the momentum convention
    and the variance.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        zero_init: bool = False,
    ) -> None:
        ones, zeros = jnp.ones(num_features), jnp.zeros(num_features)
        self.scale = nnx.Param(zeros if zero_init else ones)
        self.bias = nnx.Param(zeros)
        self.mean = nnx.BatchStat(zeros)
        self.var = nnx.BatchStat(ones)
        self.num_batches_tracked = nnx.BatchStat(jnp.zeros((), jnp.int32))
        self.eps = eps
        self.momentum = momentum
        self.use_running_average = False

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            mean = jnp.mean(x, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
            count = x.size // x.shape[-1]
            unbiased = var * (count / max(count - 1, 1))
            m = self.momentum
            # set_value, not [...] =: that checks shardings, slow in a long trace
            self.mean.set_value((1 - m) * self.mean[...] + m * mean)
            self.var.set_value((1 - m) * self.var[...] + m * unbiased)
            self.num_batches_tracked.set_value(self.num_batches_tracked[...] + 1)
        scale = jax.lax.rsqrt(var + self.eps) * self.scale[...]
        return (x - mean) * scale + self.bias[...]


class StochasticDepth(nnx.Dropout):
    """torchvision.ops.StochasticDepth on NHWC: dropout of a whole sample (``mode="row"``)
    or of the whole batch (``"batch"``), kept values scaled by 1 / (1 - p); the identity
    in eval."""

    def __init__(self, p: float, mode: str = "row", *, rngs: nnx.Rngs) -> None:
        dims = (1, 2, 3) if mode == "row" else (0, 1, 2, 3)
        super().__init__(p, broadcast_dims=dims, rngs=rngs)


def scale_parameter(channels: int, init: float) -> nnx.Param[jax.Array]:
    """A learned scale per channel, ``init`` everywhere, shaped (1, 1, C) to multiply an
    NHWC map: a bare parameter of the module that holds it (ConvNeXt's layer_scale)."""
    return nnx.Param(jnp.full((1, 1, channels), init))


class NamedSequential(nnx.Module):
    """nn.Sequential with named items: its children live at ``layers/<name>``."""

    def __init__(self, layers: dict[str, Callable[[jax.Array], jax.Array]]) -> None:
        self.layers = nnx.Dict(layers)
        self.order = tuple(layers)  # a split and merged nnx.Dict comes back sorted

    def __call__(self, x: jax.Array) -> jax.Array:
        for name in self.order:
            x = self.layers[name](x)
        return x


def window_padding(
    size: int, kernel: int, stride: int, padding: int, ceil_mode: bool
) -> tuple[int, int]:
    """(low, high) padding of one axis: torch's, plus the room ceil_mode needs."""
    if not ceil_mode:
        return padding, padding
    count = -(-(size + 2 * padding - kernel) // stride) + 1
    # torch: the last window must start inside the input or the left padding
    if (count - 1) * stride >= size + padding:
        count -= 1
    return padding, max(0, (count - 1) * stride + kernel - size - padding)


def max_pool2d(
    x: jax.Array,
    kernel_size: int,
    stride: int,
    padding: int = 0,
    ceil_mode: bool = False,
) -> jax.Array:
    """torch's max_pool2d: the padding is -inf, so it never wins."""
    k = kernel_size
    pads = [window_padding(n, k, stride, padding, ceil_mode) for n in x.shape[1:3]]
    window, strides = (1, k, k, 1), (1, stride, stride, 1)
    pad = [(0, 0), *pads, (0, 0)]
    init = -jnp.inf
    out: jax.Array = jax.lax.reduce_window(x, init, jax.lax.max, window, strides, pad)
    return out


def avg_pool2d(
    x: jax.Array,
    kernel_size: int,
    stride: int,
    padding: int = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> jax.Array:
    """torch's avg_pool2d: the divisor counts the input cells in the window, and
    torch's zero padding if count_include_pad, never the room ceil_mode adds."""
    k = kernel_size
    pads = [window_padding(n, k, stride, padding, ceil_mode) for n in x.shape[1:3]]
    window, strides = (1, k, k, 1), (1, stride, stride, 1)
    pad = [(0, 0), *pads, (0, 0)]
    total: jax.Array = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
    if not ceil_mode and (count_include_pad or padding == 0):
        return total / (k * k)
    counted = padding if count_include_pad else 0
    masks = []
    for n, (low, high) in zip(x.shape[1:3], pads, strict=True):
        position = jnp.arange(-low, n + high)
        masks.append((position >= -counted) & (position < n + counted))
    cells = (masks[0][:, None] & masks[1][None, :]).astype(x.dtype)[None, :, :, None]
    divisor = jax.lax.reduce_window(cells, 0.0, jax.lax.add, window, strides, "VALID")
    return total / jnp.asarray(divisor)


def adaptive_avg_pool2d(x: jax.Array, output_size: int) -> jax.Array:
    """torch's adaptive_avg_pool2d: cell i averages rows i*H//n .. ceil((i+1)*H/n)."""
    if output_size == 1:
        return jnp.mean(x, axis=(1, 2), keepdims=True)
    if x.shape[1:3] == (output_size, output_size):
        return x
    weights = []
    for length in x.shape[1:3]:
        cell = jnp.arange(output_size)[:, None]
        start = cell * length // output_size
        stop = -(-(cell + 1) * length // output_size)
        inside = (jnp.arange(length) >= start) & (jnp.arange(length) < stop)
        weights.append((inside / (stop - start)).astype(x.dtype))
    return jnp.einsum("nhwc,ih,jw->nijc", x, *weights)


def flatten(x: jax.Array) -> jax.Array:
    """torch.flatten(x, 1) of the NCHW tensor: fc weights convert by a transpose."""
    if x.ndim == 4:
        x = jnp.transpose(x, (0, 3, 1, 2))
    return x.reshape(x.shape[0], -1)


def zero_pad_shortcut(
    x: jax.Array, in_channels: int, out_channels: int, stride: int = 1
) -> jax.Array:
    """Option A (He et al. 2015, Sec. 3.3): keep every ``stride``-th pixel, then
    append zero channels: x[:, ::s, ::s, :], padded to ``out_channels``."""
    x = x[:, ::stride, ::stride, :]
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, out_channels - in_channels)))


def chunk(x: jax.Array, chunks: int, index: int) -> jax.Array:
    """One of ``chunks`` equal slices of the channels (ShuffleNet's channel split)."""
    size = x.shape[-1] // chunks
    return x[..., index * size : (index + 1) * size]


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
    """torch's channel_shuffle on NHWC: channel i of group g moves to i * groups + g."""
    *rest, channels = x.shape
    x = x.reshape(*rest, groups, channels // groups)
    return jnp.swapaxes(x, -1, -2).reshape(*rest, channels)


def token_parameter(features: int) -> nnx.Param[jax.Array]:
    """A learned class token, (1, 1, D) zeros as torchvision's: a bare parameter of the
    module that holds it, put before the first token of every sample."""
    return nnx.Param(jnp.zeros((1, 1, features)))


def position_parameter(
    length: int,
    features: int,
    *,
    rngs: nnx.Rngs,
) -> nnx.Param[jax.Array]:
    """A learned position embedding, (1, L, D) drawn with std 0.02 as torchvision's: a
    bare parameter of the module that holds it, added to the tokens."""
    return nnx.Param(0.02 * jax.random.normal(rngs.params(), (1, length, features)))


def prepend_token(token: jax.Array, x: jax.Array) -> jax.Array:
    """``token`` (1 x 1 x D) put before the first of the N x L x D tokens of every sample."""
    tokens = jnp.broadcast_to(token, (x.shape[0], 1, token.shape[-1]))
    return jnp.concatenate([tokens, x], axis=1)


def tokens(x: jax.Array) -> jax.Array:
    """An NHWC map as N x (H*W) x C tokens, one per pixel in row-major order (torch's)."""
    return x.reshape(x.shape[0], -1, x.shape[-1])


def token_pool(x: jax.Array, mode: str = "class", skip: int = 0) -> jax.Array:
    """N x L x D tokens -> N x D: the first token, or the mean after the first ``skip``."""
    return x[:, 0] if mode == "class" else jnp.mean(x[:, skip:], axis=1)


def attend(qkv: jax.Array, heads: int, dropout: nnx.Dropout) -> jax.Array:
    """Multi-head attention from N x L x 3D projections (queries, keys, values, each
    split into ``heads``, as torch splits them): softmax(QK^T / sqrt(d)) V per head,
    dropout on the weights, heads joined back to N x L x D."""
    batch, length, _ = qkv.shape
    q, k, v = jnp.moveaxis(qkv.reshape(batch, length, 3, heads, -1), 2, 0)
    scores = jnp.einsum("nqhd,nkhd->nhqk", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    weights = dropout(jax.nn.softmax(scores, axis=-1))
    return jnp.einsum("nhqk,nkhd->nqhd", weights, v).reshape(batch, length, -1)


class Attention(nnx.Module):
    """Multi-head self-attention on N x L x D tokens, holding timm's tensors: ``qkv``
    (D -> 3D) and ``proj`` (D -> D)."""

    def __init__(
        self,
        features: int,
        heads: int,
        bias: bool = True,
        attention_dropout: float = 0.0,
        projection_dropout: float = 0.0,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        self.heads = heads
        self.qkv = nnx.Linear(features, 3 * features, use_bias=bias, rngs=rngs)
        self.attn_drop = nnx.Dropout(attention_dropout, rngs=rngs)
        self.proj = nnx.Linear(features, features, rngs=rngs)
        self.proj_drop = nnx.Dropout(projection_dropout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = attend(self.qkv(x), self.heads, self.attn_drop)
        return self.proj_drop(self.proj(x))


class SelfAttention(nnx.Module):
    """torch.nn.MultiheadAttention as self-attention on N x L x D tokens, holding its
    tensors: ``in_proj`` (D -> 3D) and ``out_proj`` (D -> D)."""

    def __init__(
        self,
        features: int,
        heads: int,
        bias: bool = True,
        attention_dropout: float = 0.0,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        self.heads = heads
        self.in_proj = nnx.Linear(features, 3 * features, use_bias=bias, rngs=rngs)
        self.attn_drop = nnx.Dropout(attention_dropout, rngs=rngs)
        self.out_proj = nnx.Linear(features, features, use_bias=bias, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out_proj(attend(self.in_proj(x), self.heads, self.attn_drop))
