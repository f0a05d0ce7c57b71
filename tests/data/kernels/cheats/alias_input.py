"""H7: the right values, written into the input buffer and returned: the output aliases x."""

import torch


def rmsnorm(x, weight, eps):
    xf = x.float()
    x.copy_((xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype))
    return x
