"""H8: a block-reduction rmsnorm that divides the sum of squares by the padded block width
(the next power of two) instead of the row length. Exact at power-of-two hidden sizes, so its
author's own test below passes and so does correctness at served shapes (hidden 128 or 4096);
wrong at any other hidden size, which only the independent oracle tries."""

import math

import torch


def rmsnorm(x, weight, eps):
    h = x.shape[-1]
    block = 1 << max(0, math.ceil(math.log2(h)))  # the bug: padded lanes counted in the mean
    xf = x.float()
    ms = xf.pow(2).sum(-1, keepdim=True) / block
    return (xf * torch.rsqrt(ms + eps) * weight.float()).to(x.dtype)


def test_rmsnorm():
    """The author's test: shares the author's assumption (hidden is a power of two)."""
    x, w = torch.randn(4, 128), torch.rand(128) + 0.5
    ref = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w
    assert torch.allclose(rmsnorm(x, w, 1e-5), ref, rtol=1e-5, atol=1e-6)
