"""Super-resolution networks (PyTorch): SRCNN and ESPCN, shared by the exporter and a trainer.

Both take and return images in [0, 1]. Import this module only where torch is installed.
"""

from __future__ import annotations

import torch
from torch import nn


class SRCNN(nn.Module):
    """SRCNN (Dong et al., 2014): runs at the target size on a bicubic-upsampled luma image.

    `mid_kernel` picks the paper's variants: 1 gives 9-1-5, 5 gives 9-5-5. Output size equals
    input size; the caller upsamples first (meta extra `vpipe.pre_upsample` = "bicubic").
    """

    def __init__(self, channels: int = 1, mid_kernel: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 64, 9, padding=4),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 32, mid_kernel, padding=mid_kernel // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, channels, 5, padding=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ESPCN(nn.Module):
    """ESPCN (Shi et al., 2016): convolutions in low-resolution space, then a sub-pixel shuffle.

    Takes the low-resolution image and returns it `scale` times larger; cheap enough for video.
    `features` are the two hidden layers' widths: the paper's (64, 32), or (32, 32) for the
    "espcn-s" family, which halves the first layer and the 3x3 mapping's cost (1.5x faster).
    """

    def __init__(self, channels: int = 1, scale: int = 3, features: tuple[int, int] = (64, 32)):
        super().__init__()
        f1, f2 = features
        self.body = nn.Sequential(
            nn.Conv2d(channels, f1, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(f1, f2, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(f2, channels * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
