"""Denoising networks (torch): the planogram U-Net and its numpy-facing wrapper."""

from shelfwise.generative.models.denoiser import TorchDenoiser
from shelfwise.generative.models.unet import PlanogramUNet, UNetConfig

__all__ = ["PlanogramUNet", "TorchDenoiser", "UNetConfig"]
