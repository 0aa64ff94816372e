"""The planogram denoiser: diffusers' ``UNet2DModel`` with attention, conditioned on geometry.

The paper's reverse process "employs U-Net architecture with attention mechanisms". We use
diffusers' well-tested ``UNet2DModel`` rather than writing one: the noisy planogram and the
condition channels (display geometry, subcategory mix) are concatenated on the channel axis,
and the class label (store cluster x display kind, with a null label for classifier-free
guidance) goes through the model's class embedding, added to the time embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from diffusers import UNet2DModel
from torch import nn

from shelfwise.exceptions import InvalidParameterError


@dataclass(frozen=True, slots=True)
class UNetConfig:
    """Size of a :class:`PlanogramUNet`; saved with every checkpoint.

    Parameters
    ----------
    n_channels : int
        Planogram channels (input and output).
    n_conditions : int
        Condition channels concatenated to the input.
    n_classes : int
        Class labels, not counting the null label (which is ``n_classes``).
    n_shelves, n_slots : int
        Grid size; both multiples of 4 (two down-samplings).
    block_out_channels : tuple of int
        Width of the three resolution levels.
    layers_per_block : int
        ResNet layers per level.
    """

    n_channels: int
    n_conditions: int
    n_classes: int
    n_shelves: int = 8
    n_slots: int = 24
    block_out_channels: tuple[int, int, int] = (32, 64, 64)
    layers_per_block: int = 1

    def __post_init__(self) -> None:
        for name in ("n_channels", "n_conditions", "n_classes", "layers_per_block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{name} must be an integer >= 1; got {value!r}")
        for name in ("n_shelves", "n_slots"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 4 or value % 4:
                raise InvalidParameterError(
                    f"{name} must be a positive multiple of 4; got {value!r}"
                )
        if len(self.block_out_channels) != 3 or any(
            (not isinstance(c, int)) or c < 8 or c % 8 for c in self.block_out_channels
        ):
            raise InvalidParameterError(
                "block_out_channels must be three multiples of 8 (>= 8); got "
                f"{self.block_out_channels!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        out = asdict(self)
        out["block_out_channels"] = list(self.block_out_channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["block_out_channels"] = tuple(values["block_out_channels"])
        return cls(**values)


class PlanogramUNet(nn.Module):
    """Predict the noise of a noisy planogram given its display's conditions and class.

    Parameters
    ----------
    config : UNetConfig
        Sizes.
    """

    config: UNetConfig
    unet: UNet2DModel

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet2DModel(  # type: ignore[no-untyped-call]
            sample_size=(config.n_shelves, config.n_slots),
            in_channels=config.n_channels + config.n_conditions,
            out_channels=config.n_channels,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
            num_class_embeds=config.n_classes + 1,
            norm_num_groups=8,
            attention_head_dim=min(32, min(config.block_out_channels)),
        )

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        conditions: torch.Tensor,
        class_labels: torch.Tensor,
    ) -> torch.Tensor:
        """Noise prediction, shape of ``sample``.

        Parameters
        ----------
        sample : Tensor, shape (B, n_channels, n_shelves, n_slots)
        timestep : Tensor of int64, shape (B,)
        conditions : Tensor, shape (B, n_conditions, n_shelves, n_slots)
        class_labels : Tensor of int64, shape (B,)
        """
        x = torch.cat([sample, conditions], dim=1)
        out: torch.Tensor = self.unet(  # type: ignore[operator]
            x, timestep, class_labels=class_labels
        ).sample
        return out

    @property
    def n_parameters(self) -> int:
        """Number of weights."""
        return sum(p.numel() for p in self.parameters())
