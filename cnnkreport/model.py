"""The small CNN that is trained and looked into: conv -> ReLU -> 2x max-pool per layer, then a dense head."""

from __future__ import annotations

import torch
from torch import nn

from .config import DataConfig, ModelConfig, features


class PulseNet(nn.Module):
    """Conv layers are `features.0`, `features.3`, ... so their names match the state_dict keys users see."""

    def __init__(self, cfg: ModelConfig, data: DataConfig) -> None:
        super().__init__()
        conv: type[nn.Conv1d] | type[nn.Conv2d] = nn.Conv2d if data.kind == "image" else nn.Conv1d
        pool: type[nn.MaxPool1d] | type[nn.MaxPool2d] = nn.MaxPool2d if data.kind == "image" else nn.MaxPool1d
        layers: list[nn.Module] = []
        c_in = 1
        for c, k in zip(cfg.channels, cfg.kernel_size, strict=True):
            layers += [conv(c_in, c, k, padding=k // 2), nn.ReLU(), pool(2)]
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


def conv_layers(model: nn.Module) -> dict[str, nn.Conv1d | nn.Conv2d]:
    """Every Conv1d/Conv2d of a model, by its qualified name, in definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))}
