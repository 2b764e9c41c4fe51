"""What the network sees: uint8 batches turned into normalised float inputs, for training and evaluation.

Training: the standard crop and flip (pad-and-crop when the network takes the stored size,
Inception-style random resized crop otherwise), then the AutoAugment policy, then normalisation.
Evaluation: normalisation only (a centre crop resized to the network's input for MobileNets).
"""

from __future__ import annotations

from automl_env.backends.training.augment import PolicyAugmenter, centre_resize, random_crop_flip, random_resized_crop
from automl_env.backends.training.deps import torch
from automl_env.modules.augment import AugmentPolicy


class InputView:
    def __init__(
        self,
        policy: AugmentPolicy | None,
        *,
        mean: torch.Tensor,
        std: torch.Tensor,
        stored_size: int,
        input_size: int,
        padding: int,
        device: torch.device,
    ) -> None:
        self.augmenter = PolicyAugmenter(policy, device) if policy is not None else None
        self.mean, self.std = mean, std
        self.stored_size, self.input_size = stored_size, input_size
        self.padding = padding
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format

    def train(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = images.float()
        if self.input_size == self.stored_size:
            x = random_crop_flip(x, self.padding, generator)
        else:
            x = random_resized_crop(x, self.input_size, generator)
        if self.augmenter is not None:
            x = self.augmenter(x, generator)
        return self._normalise(x)

    def eval(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if self.input_size != self.stored_size:
            x = centre_resize(x, self.input_size)
        return self._normalise(x)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)
