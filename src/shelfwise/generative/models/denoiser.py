"""The torch twin of :class:`~shelfwise.generative.serving.OnnxDenoiser`.

:class:`TorchDenoiser` lets a sampler written against the numpy
:class:`~shelfwise.generative.serving.Denoiser` protocol run a :class:`PlanogramUNet` straight
after training, without exporting it first.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.models.unet import PlanogramUNet
from shelfwise.generative.serving import check_denoiser_inputs


def _tensor(array: NDArray[np.float32] | NDArray[np.int64], device: torch.device) -> torch.Tensor:
    """A tensor on ``device`` sharing memory with ``array`` when it can (copied if read-only)."""
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).to(device)


class TorchDenoiser:
    """A :class:`~shelfwise.generative.serving.Denoiser` over a torch :class:`PlanogramUNet`.

    Parameters
    ----------
    model : PlanogramUNet
        The network. It is switched to eval mode (dropout off) and run under
        ``torch.inference_mode``, on the device its weights live on.
    n_threads : int, optional
        Intra-op threads torch uses during a call (torch's setting is process-wide, so it is set
        for the call and restored afterwards); ``None`` leaves torch's setting alone. Ask for no
        more threads than there are idle cores: on a busy 2-core machine two threads made a call
        10-100 times slower than one (OpenMP threads spin waiting for each other).

    Attributes
    ----------
    model : PlanogramUNet
    n_threads : int or None
    precision : str
        Always ``"fp32"``.
    """

    model: PlanogramUNet
    n_threads: int | None
    precision: str = "fp32"

    def __init__(self, model: PlanogramUNet, *, n_threads: int | None = None) -> None:
        if not isinstance(model, PlanogramUNet):
            raise InvalidParameterError(
                f"model must be a PlanogramUNet; got {type(model).__name__}"
            )
        if n_threads is not None and (
            isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1
        ):
            raise InvalidParameterError(
                f"n_threads must be an integer >= 1 or None; got {n_threads!r}"
            )
        self.model = model.eval()
        self.n_threads = n_threads

    def __call__(
        self,
        sample: NDArray[np.float32],
        timestep: NDArray[np.int64],
        conditions: NDArray[np.float32],
        class_labels: NDArray[np.int64],
    ) -> NDArray[np.float32]:
        """Predicted noise, same shape as ``sample``.

        Parameters
        ----------
        sample : ndarray of float32, shape (B, n_channels, n_shelves, n_slots)
        timestep : ndarray of int64, shape (B,)
        conditions : ndarray of float32, shape (B, n_conditions, n_shelves, n_slots)
        class_labels : ndarray of int64, shape (B,), values in [0, n_classes]

        Returns
        -------
        ndarray of float32, shape (B, n_channels, n_shelves, n_slots)

        Raises
        ------
        InvalidParameterError
            On a wrong shape, dtype or label.
        """
        config = self.model.config
        feeds = check_denoiser_inputs(
            sample,
            timestep,
            conditions,
            class_labels,
            n_channels=config.n_channels,
            n_conditions=config.n_conditions,
            grid=(config.n_shelves, config.n_slots),
            n_classes=config.n_classes,
        )
        device = next(self.model.parameters()).device
        previous = torch.get_num_threads()
        if self.n_threads is not None:
            torch.set_num_threads(self.n_threads)
        try:
            with torch.inference_mode():
                eps = self.model(
                    _tensor(feeds["sample"], device),
                    _tensor(feeds["timestep"], device),
                    _tensor(feeds["conditions"], device),
                    _tensor(feeds["class_labels"], device),
                )
        finally:
            if self.n_threads is not None:
                torch.set_num_threads(previous)
        out: NDArray[np.float32] = eps.detach().cpu().numpy().astype(np.float32, copy=False)
        return out

    def __repr__(self) -> str:
        return f"TorchDenoiser(n_parameters={self.model.n_parameters}, n_threads={self.n_threads})"
