"""H4 (GPU): the work is launched on a side stream and the call returns without joining it,
so CUDA events recorded on the current stream time only the launch. Each function is one variant;
the work of each is correct, only not inside the timed stream."""

import torch
import torch.nn.functional as F

_streams = {}


def silu_and_mul(x):
    s = _streams.setdefault(x.device, torch.cuda.Stream(device=x.device))
    s.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(s):
        d = x.shape[-1] // 2
        out = (F.silu(x[..., :d].float()) * x[..., d:].float()).to(x.dtype)
    return out


def rmsnorm(x, weight, eps):
    s = _streams.setdefault(x.device, torch.cuda.Stream(device=x.device))
    s.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(s):
        xf = x.float()
        out = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)
    return out


def rmsnorm_triton(x, weight, eps):
    """The honest Triton template, launched on a side stream: the escaped work (~28 us at
    [4096, 4096] bf16) is about as long as its own launch, so the event/wall ratio barely moves."""
    from geak.agents.kernels.templates.triton_ops import rmsnorm as template

    s = _streams.setdefault(x.device, torch.cuda.Stream(device=x.device))
    s.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(s):
        out = template(x, weight, eps)
    return out


def rmsnorm_nowait(x, weight, eps):
    """As rmsnorm_triton, but the side stream does not wait for the current stream (unsafe in
    real use, since it may read inputs not yet written; here they are ready): a lead on the
    current stream does not hold it back."""
    from geak.agents.kernels.templates.triton_ops import rmsnorm as template

    s = _streams.setdefault(("nowait", x.device), torch.cuda.Stream(device=x.device))
    with torch.cuda.stream(s):
        out = template(x, weight, eps)
    return out
