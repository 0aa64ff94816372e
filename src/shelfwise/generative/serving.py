"""Serve the planogram denoiser with onnxruntime and numpy alone (no torch).

A sampler only needs something that maps a noisy batch to its predicted noise: the
:class:`Denoiser` protocol. :class:`OnnxDenoiser` implements it over an ONNX file written by
:func:`shelfwise.generative.export.export_onnx` (fp32) or
:func:`shelfwise.generative.export.quantize_int8` (int8); the torch twin is
:class:`shelfwise.generative.models.denoiser.TorchDenoiser`. Importing this module never imports
torch, so a serving process stays small and starts fast.

The exporters record what a served file is in the ONNX metadata (``metadata_props``):

``shelfwise.precision``     ``"fp32"`` or ``"int8"``
``shelfwise.unet_config``   the :class:`~shelfwise.generative.models.UNetConfig` as JSON
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal, Protocol, cast, runtime_checkable

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray

from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFoundError

Precision = Literal["fp32", "int8"]

#: Input names of every exported denoiser, in call order.
INPUT_NAMES: Final = ("sample", "timestep", "conditions", "class_labels")
#: Output name of every exported denoiser.
OUTPUT_NAME: Final = "eps"
#: Metadata key holding the precision (``"fp32"`` or ``"int8"``).
PRECISION_KEY: Final = "shelfwise.precision"
#: Metadata key holding the U-Net configuration as JSON.
CONFIG_KEY: Final = "shelfwise.unet_config"

_PRECISIONS: Final = ("fp32", "int8")


@runtime_checkable
class Denoiser(Protocol):
    """Anything that predicts the noise of a noisy planogram batch.

    Implemented by :class:`OnnxDenoiser` and by
    :class:`~shelfwise.generative.models.denoiser.TorchDenoiser`.
    """

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
        sample : ndarray of float32, shape (B, C, S, K)
            Noisy planograms.
        timestep : ndarray of int64, shape (B,)
            Diffusion step of each planogram.
        conditions : ndarray of float32, shape (B, Cc, S, K)
            Condition channels.
        class_labels : ndarray of int64, shape (B,)
            Class labels (``n_classes`` is the null label of classifier-free guidance).

        Returns
        -------
        ndarray of float32, shape (B, C, S, K)
        """
        ...


def _fixed(value: object) -> int | None:
    """A static dimension, or ``None`` for a symbolic or unknown one."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_denoiser_inputs(
    sample: ArrayLike,
    timestep: ArrayLike,
    conditions: ArrayLike,
    class_labels: ArrayLike,
    *,
    n_channels: int | None = None,
    n_conditions: int | None = None,
    grid: tuple[int | None, int | None] = (None, None),
    n_classes: int | None = None,
) -> dict[str, NDArray[np.float32] | NDArray[np.int64]]:
    """Validate one denoiser call and return its feeds as C-contiguous float32 / int64 arrays.

    Parameters
    ----------
    sample, timestep, conditions, class_labels : array_like
        The :class:`Denoiser` arguments. Real arrays are cast to float32; integer arrays to int64.
    n_channels, n_conditions : int, optional
        Expected channel counts of ``sample`` and ``conditions`` (not checked when ``None``).
    grid : (int or None, int or None)
        Expected ``(n_shelves, n_slots)``; a ``None`` entry is not checked.
    n_classes : int, optional
        When given, class labels must lie in ``[0, n_classes]`` (``n_classes`` being the null
        label).

    Returns
    -------
    dict
        ``{"sample", "timestep", "conditions", "class_labels"}`` ready for a session.

    Raises
    ------
    InvalidParameterError
        On a wrong shape, dtype or label.
    """
    x = np.asarray(sample)
    c = np.asarray(conditions)
    t = np.asarray(timestep)
    y = np.asarray(class_labels)
    for name, arr in (("sample", x), ("conditions", c)):
        if arr.ndim != 4:
            raise InvalidParameterError(
                f"{name} must have 4 dimensions (B, C, S, K); got shape {arr.shape}"
            )
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise InvalidParameterError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    batch = x.shape[0]
    if batch < 1:
        raise InvalidParameterError(f"sample must hold at least one planogram; got shape {x.shape}")
    if c.shape[0] != batch or c.shape[2:] != x.shape[2:]:
        raise InvalidParameterError(
            "conditions must share the batch size and grid of sample "
            f"{(batch, '*', *x.shape[2:])}; got shape {c.shape}"
        )
    for name, arr, expected in (
        ("sample", x, n_channels),
        ("conditions", c, n_conditions),
    ):
        if expected is not None and arr.shape[1] != expected:
            raise InvalidParameterError(
                f"{name} must have {expected} channels (axis 1); got shape {arr.shape}"
            )
    for axis, expected in zip((2, 3), grid, strict=True):
        if expected is not None and x.shape[axis] != expected:
            raise InvalidParameterError(
                f"sample must have a {grid[0]} x {grid[1]} grid (axes 2, 3); got shape {x.shape}"
            )
    for name, arr in (("timestep", t), ("class_labels", y)):
        if arr.shape != (batch,):
            raise InvalidParameterError(
                f"{name} must have shape ({batch},), one entry per planogram; got {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.integer):
            raise InvalidParameterError(f"{name} must hold integers; got dtype {arr.dtype}")
    if t.size and t.min() < 0:
        raise InvalidParameterError(f"timestep must be >= 0; got {int(t.min())}")
    if y.size and y.min() < 0:
        raise InvalidParameterError(f"class_labels must be >= 0; got {int(y.min())}")
    if n_classes is not None and y.size and y.max() > n_classes:
        raise InvalidParameterError(
            f"class_labels must be <= {n_classes} (the null label); got {int(y.max())}"
        )
    return {
        "sample": np.ascontiguousarray(x, dtype=np.float32),
        "timestep": np.ascontiguousarray(t, dtype=np.int64),
        "conditions": np.ascontiguousarray(c, dtype=np.float32),
        "class_labels": np.ascontiguousarray(y, dtype=np.int64),
    }


class OnnxDenoiser:
    """A :class:`Denoiser` over an exported ONNX file, run by onnxruntime on the CPU.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file (fp32 from ``export_onnx`` or int8 from ``quantize_int8``).
    intra_op_threads : int, optional
        Threads onnxruntime may use inside one operator; ``None`` lets onnxruntime choose (one per
        physical core). The default 1.2M-parameter model at batch 1 gains little from more: on a
        shared 2-core machine one thread (median 1.4 ms int8, 1.9 ms fp32) beat two.
    precision : {"fp32", "int8"}, optional
        What the file holds. Read from the file's ``shelfwise.precision`` metadata when ``None``;
        when both are present they must agree.

    Attributes
    ----------
    path : Path
    precision : {"fp32", "int8"}
    metadata : Mapping of str to str
        The file's custom metadata.
    n_classes : int or None
        Number of classes (not counting the null label), when the file records its config.

    Raises
    ------
    NotFoundError
        The file does not exist.
    ArtifactMismatchError
        The file is not a denoiser (wrong inputs or output) or its precision disagrees with
        ``precision``.
    InvalidParameterError
        On a bad ``intra_op_threads`` or ``precision``, or a missing precision.
    """

    path: Path
    precision: Precision
    metadata: Mapping[str, str]
    n_classes: int | None

    def __init__(
        self,
        path: Path,
        *,
        intra_op_threads: int | None = None,
        precision: Precision | None = None,
    ) -> None:
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"path must be an existing ONNX file; got {str(path)!r}")
        if intra_op_threads is not None and (
            isinstance(intra_op_threads, bool)
            or not isinstance(intra_op_threads, int)
            or intra_op_threads < 1
        ):
            raise InvalidParameterError(
                f"intra_op_threads must be an integer >= 1 or None; got {intra_op_threads!r}"
            )
        if precision is not None and precision not in _PRECISIONS:
            raise InvalidParameterError(
                f"precision must be one of {_PRECISIONS} or None; got {precision!r}"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        names = tuple(i.name for i in self._session.get_inputs())
        outputs = tuple(o.name for o in self._session.get_outputs())
        if sorted(names) != sorted(INPUT_NAMES) or outputs != (OUTPUT_NAME,):
            raise ArtifactMismatchError(
                f"{path} is not a planogram denoiser: inputs must be {INPUT_NAMES} and the output "
                f"{OUTPUT_NAME!r}; got inputs {names} and outputs {outputs}"
            )
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        recorded = self.metadata.get(PRECISION_KEY)
        if recorded is not None and recorded not in _PRECISIONS:
            raise ArtifactMismatchError(
                f"{path} metadata {PRECISION_KEY!r} must be one of {_PRECISIONS}; got {recorded!r}"
            )
        if precision is None and recorded is None:
            raise InvalidParameterError(
                f"precision must be given for {path}: its metadata does not record "
                f"{PRECISION_KEY!r}; pass precision='fp32' or precision='int8'"
            )
        if precision is not None and recorded is not None and precision != recorded:
            raise ArtifactMismatchError(
                f"precision {precision!r} was given for {path}, but its metadata records "
                f"{recorded!r}"
            )
        self.path = path
        self.precision = cast(Precision, precision if precision is not None else recorded)
        shapes = {i.name: i.shape for i in self._session.get_inputs()}
        self._n_channels = _fixed(shapes["sample"][1]) if len(shapes["sample"]) == 4 else None
        self._n_conditions = (
            _fixed(shapes["conditions"][1]) if len(shapes["conditions"]) == 4 else None
        )
        self._grid = (
            (_fixed(shapes["sample"][2]), _fixed(shapes["sample"][3]))
            if len(shapes["sample"]) == 4
            else (None, None)
        )
        self.n_classes = None
        if CONFIG_KEY in self.metadata:
            try:
                self.n_classes = int(json.loads(self.metadata[CONFIG_KEY])["n_classes"])
            except (ValueError, KeyError, TypeError) as err:
                raise ArtifactMismatchError(
                    f"{path} metadata {CONFIG_KEY!r} must be a UNetConfig as JSON; got "
                    f"{self.metadata[CONFIG_KEY]!r}"
                ) from err

    def __call__(
        self,
        sample: NDArray[np.float32],
        timestep: NDArray[np.int64],
        conditions: NDArray[np.float32],
        class_labels: NDArray[np.int64],
    ) -> NDArray[np.float32]:
        """Predicted noise, same shape as ``sample`` (see :class:`Denoiser`)."""
        feeds = check_denoiser_inputs(
            sample,
            timestep,
            conditions,
            class_labels,
            n_channels=self._n_channels,
            n_conditions=self._n_conditions,
            grid=self._grid,
            n_classes=self.n_classes,
        )
        (eps,) = self._session.run([OUTPUT_NAME], dict(feeds))
        return np.asarray(eps, dtype=np.float32)

    def __repr__(self) -> str:
        return f"OnnxDenoiser(path={str(self.path)!r}, precision={self.precision!r})"
