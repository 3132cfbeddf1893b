"""The small CNNs that are trained and looked into: PulseNet (conv -> ReLU -> 2x max-pool per layer, then a dense
head) for the synthetic waveforms, and FCN (conv -> batch norm -> ReLU blocks, global average pooling, a linear
head) for a user's data set of any length or size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import DataConfig, ModelConfig, features


class PulseNet(nn.Module):
    """Conv layers are `features.0`, `features.3`, ... so their names match the state_dict keys users see. Each
    conv layer's ReLU comes after its pooling: the same values and gradients as ReLU then pooling (ReLU keeps the
    order of values, and its gradient is 0 wherever a window's maximum is not positive), on a quarter of the
    values (a small saving beside this machine's noise: bench/bench_pool.py)."""

    def __init__(self, cfg: ModelConfig, data: DataConfig) -> None:
        super().__init__()
        conv: type[nn.Conv1d] | type[nn.Conv2d] = nn.Conv2d if data.dims == 2 else nn.Conv1d
        layers: list[nn.Module] = []
        c_in = 1
        for c, k in zip(cfg.channels, cfg.kernel_size, strict=True):
            layers += [conv(c_in, c, k, padding=k // 2), MaxPool2x(data.dims), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        flat = features(cfg, data)  # a UserError where the layers shrink the input to nothing
        n_classes = len(data.classes)
        head: list[nn.Module] = [nn.Flatten()]
        if cfg.hidden > 0:
            head += [nn.Linear(flat, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, n_classes)]
        else:
            head += [nn.Linear(flat, n_classes)]
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) or (B, 1, L) -> (B, classes)
        return self.head(self.features(x))


class FCN(nn.Module):
    """The fully convolutional network of Wang, Yan and Oates (2017), for series (Conv1d) or images (Conv2d): conv
    blocks of convolution ('same' padding, so that every layer sees the whole input), batch norm and ReLU, then
    global average pooling over time or space and a linear head (with a hidden dense layer where `hidden` > 0). Conv
    layers are `features.0`, `features.3`, ...; the batch norms between them are not conv weights, and are neither
    snapshotted nor analysed."""

    def __init__(self, cfg: ModelConfig, data: DataConfig) -> None:
        super().__init__()
        conv: type[nn.Conv1d] | type[nn.Conv2d] = nn.Conv2d if data.dims == 2 else nn.Conv1d
        norm: type[nn.BatchNorm1d] | type[nn.BatchNorm2d] = nn.BatchNorm2d if data.dims == 2 else nn.BatchNorm1d
        layers: list[nn.Module] = []
        c_in = data.channels
        for c, k in zip(cfg.channels, cfg.kernel_size, strict=True):
            layers += [conv(c_in, c, k, padding="same"), norm(c), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        n_classes = len(data.classes)
        head: list[nn.Module] = [GlobalAveragePool()]
        if cfg.hidden > 0:
            head += [nn.Linear(c_in, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, n_classes)]
        else:
            head += [nn.Linear(c_in, n_classes)]
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L) or (B, C, H, W) -> (B, classes)
        return self.head(self.features(x))


class GlobalAveragePool(nn.Module):
    """The mean over every dimension after the channels: (B, C, ...) -> (B, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).mean(dim=2)


def make_model(cfg: ModelConfig, data: DataConfig) -> nn.Module:
    """The network that `cfg.arch` names, for inputs as `data` describes them."""
    return FCN(cfg, data) if cfg.arch == "fcn" else PulseNet(cfg, data)


class MaxPool2x(nn.Module):
    """2x max-pooling (stride 2, the remainder dropped) over the last dimension (1-D) or the last two (2-D): the
    values and gradients of nn.MaxPool1d(2) / nn.MaxPool2d(2), ties included (the first maximum in row-major order
    wins), faster on a CPU than torch's pooling, whose forward pass finds the argmax slowly even when no gradient
    is wanted (bench/bench_pool.py: a training step about a fifth faster, a test-set pass of 32x32 images about
    three times)."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting() or torch.jit.is_tracing():  # exported (TorchScript, ONNX): torch's own op
            return F.max_pool2d(x, 2) if self.dims == 2 else F.max_pool1d(x, 2)
        return self._fast(x)

    @torch.jit.unused
    def _fast(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return _MaxPool2x.apply(x, self.dims)
        return _pool_values(x, self.dims)[0]


def _windows(x: torch.Tensor, dims: int) -> list[torch.Tensor]:
    """The members of each pooling window as strided views, in row-major order."""
    if dims == 1:
        n = x.shape[-1] // 2 * 2
        return [x[..., 0:n:2], x[..., 1:n:2]]
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    return [x[..., i:h:2, j:w:2] for i in (0, 1) for j in (0, 1)]


def _pool_values(x: torch.Tensor, dims: int) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """The window maxima (NaN-propagating, as torch's pooling), the windows and the pairwise maxima."""
    v = _windows(x, dims)
    if dims == 1:
        return torch.maximum(v[0], v[1]), v, []
    pairs = [torch.maximum(v[0], v[1]), torch.maximum(v[2], v[3])]
    return torch.maximum(pairs[0], pairs[1]), v, pairs


class _MaxPool2x(torch.autograd.Function):
    """Forward: the maxima and the flat index of each window's first maximum (torch's index format); backward:
    torch's own max_pool2d_with_indices_backward (1-D as a height-1 image)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, dims: int) -> torch.Tensor:
        out, v, pairs = _pool_values(x, dims)
        width = x.shape[-1]
        cols = torch.arange(0, width // 2 * 2, 2, device=x.device)
        if dims == 1:
            index = torch.add(cols, v[1] > v[0])
        else:
            top = torch.arange(0, x.shape[-2] // 2 * 2, 2, device=x.device)[:, None] * width + cols  # each window's
            # first member; a later row wins only if strictly larger, as does a later column: the first maximum
            lower = pairs[1] > pairs[0]
            right = v[1] > v[0]
            right ^= lower & (right ^ (v[3] > v[2]))  # the lower row's comparison where it wins (no torch.where:
            # several times slower on booleans)
            index = torch.add(top, lower, alpha=width).add_(right)
        ctx.save_for_backward(x, index)
        ctx.dims = dims
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, index = ctx.saved_tensors
        if ctx.dims == 1:
            g = torch.ops.aten.max_pool2d_with_indices_backward(
                grad.unsqueeze(-2), x.unsqueeze(-2), [1, 2], [1, 2], [0, 0], [1, 1], False, index.unsqueeze(-2)
            )
            return g.squeeze(-2), None
        g = torch.ops.aten.max_pool2d_with_indices_backward(grad, x, [2, 2], [2, 2], [0, 0], [1, 1], False, index)
        return g, None


def conv_layers(model: nn.Module) -> dict[str, nn.Conv1d | nn.Conv2d]:
    """Every Conv1d/Conv2d of a model, by its qualified name, in definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))}
