"""A candidate whose numerics drift: rmsnorm with the weight applied twice over (2 * weight) and
a wrong epsilon (1e-2 instead of the model's). Its output is a smooth, plausible tensor; only
the served logits show it. The one-token parity probe must eject it (P10, cos < 0.99 or argmax
differs): tests/agents/kernels/test_integrate.py."""

import torch


def rmsnorm(x, weight, eps):
    xf = x.float()
    var = xf.pow(2).mean(dim=-1, keepdim=True)
    return (xf * torch.rsqrt(var + 1e-2) * (2.0 * weight.float())).to(x.dtype)
