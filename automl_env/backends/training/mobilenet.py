"""The inverted-residual network built from a ``MobileNetConfig``, exactly as ``automl_env.cost`` counts it.

Stem 3x3 stride-2 conv to 32 channels; 7 stages of MobileNetV2 blocks (1x1 expansion when the
ratio is not 1, kxk depthwise, linear 1x1 projection; BN after each, ReLU6 after the first two;
a residual connection where shapes allow); 1x1 conv to 1280; pool, dropout, linear. Stochastic
depth drops residual branches at a rate growing linearly with depth up to ``drop_path_prob``.
"""

from __future__ import annotations

from automl_env.backends.training.deps import torch
from automl_env.backends.training.nasnet import drop_path
from automl_env.modules.mobilenet import HEAD_CHANNELS, STAGES, STEM_CHANNELS, MobileNetConfig

nn = torch.nn
F = torch.nn.functional


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, *, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, *, expansion: int, kernel: int, stride: int, depth_fraction: float):
        super().__init__()
        hidden = c_in * expansion
        layers = [conv_bn(c_in, hidden, 1)] if expansion != 1 else []
        layers += [conv_bn(hidden, hidden, kernel, stride, groups=hidden), conv_bn(hidden, c_out, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out
        self.depth_fraction = depth_fraction
        self.drop_path_prob = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if not self.residual:
            return y
        prob = self.drop_path_prob * self.depth_fraction
        if self.training and prob > 0:
            y = drop_path(y, prob)
        return x + y


class MobileNetwork(nn.Module):
    def __init__(self, config: MobileNetConfig, *, num_classes: int, in_channels: int, dropout: float) -> None:
        super().__init__()
        self.stem = conv_bn(in_channels, STEM_CHANNELS, 3, 2)
        blocks: list[InvertedResidual] = []
        total = sum(stage.depth for stage in config.stages)
        c_in = STEM_CHANNELS
        for i, stage in enumerate(config.stages):
            c_out = stage.channels(i)
            for j in range(stage.depth):
                stride = STAGES[i][1] if j == 0 else 1
                blocks.append(
                    InvertedResidual(
                        c_in,
                        c_out,
                        expansion=stage.expansion,
                        kernel=stage.kernel,
                        stride=stride,
                        depth_fraction=(len(blocks) + 1) / total,
                    )
                )
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.residual_blocks = blocks  # typed view of the same modules (registered through self.blocks)
        self.head = conv_bn(c_in, HEAD_CHANNELS, 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    @property
    def drop_path_prob(self) -> float:
        return self.residual_blocks[0].drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        for block in self.residual_blocks:
            block.drop_path_prob = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
