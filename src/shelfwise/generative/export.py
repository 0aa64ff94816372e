"""Export the planogram denoiser to ONNX (fp32) and quantise it to static INT8 for CPU serving.

:func:`export_onnx` traces a :class:`~shelfwise.generative.models.PlanogramUNet` with torch's
legacy TorchScript exporter (torch 2.13's default dynamo exporter writes a graph that
onnxruntime's quantiser rejects), checks the file with ``onnx.checker`` and compares onnxruntime
with torch on a batch of another size than the traced one, so a broken batch axis is caught at
export time.

:func:`quantize_int8` runs onnxruntime's static post-training quantisation in QDQ format
(Jacob et al., 2018, "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference"): activation ranges come from the caller's calibration feeds
(min-max), weights are int8. The first and last convolutions stay fp32 — they touch the raw
planogram and the predicted noise; on the default model this lowers the relative error of the
noise from 4.4 % to 3.8 % for about 0.1 ms more per call.

Choices, measured on the default model (10 channels, before the 6 product-code channels were
added; 14 conditions, 8 x 24 grid, 1.2M weights),
batch 1, one thread, Xeon with AVX-512 VNNI:

* Only ``Conv`` is quantised. Quantising every op onnxruntime supports (attention ``MatMul``,
  ``Add``, ``Mul``, ...) gave 13 % relative error on the noise and no speed-up (1.6 ms, like
  fp32); Conv alone gives 3.8 % and 1.35 ms. Adding ``Gemm`` (time embedding) or ``MatMul``
  with constant weights improved neither error nor speed (constant-weight MatMul: 1.65 ms).
* Activations ``QUInt8`` (asymmetric; onnxruntime's U8S8 kernels): signed ``QInt8`` activations
  were 13 % (Conv only) to 80 % (all ops) slower at the same accuracy.
* Per-channel weights: same speed as per-tensor and the safer choice for trained convolutions
  whose channels differ in range.
* Weights on 7 bits (``reduce_range=True``). On CPUs without VNNI (AVX2 only) onnxruntime's
  U8S8 kernels sum pairs of uint8 x int8 products into int16 (``VPMADDUBSW``), which saturates
  with full-range int8 weights; its documentation recommends ``reduce_range`` there. Measured
  on an AMD EPYC with AVX2 and no VNNI, on the random-weight test network: full-range weights
  gave 18.6 % relative error on the noise, 7-bit weights 5.7-6.5 % over five seeds (5.4-6.1 %
  with full-range weights on the VNNI Xeon). The int8 file must serve the same on any CPU, so
  7 bits always.
* ``quant_pre_process`` (onnx shape inference + onnxruntime's offline graph optimisation; its
  symbolic shape inference does not complete on this graph, so it is skipped) halves the node
  count. It made the all-ops int8 model 13 % faster; for the Conv-only model the difference is
  within noise (1.52 vs 1.55 ms) and the file 5 % smaller. Kept: cheap, and a cleaner graph.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
import torch
from numpy.typing import NDArray
from onnxruntime.quantization import (  # type: ignore[import-untyped]
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import (  # type: ignore[import-untyped]
    quant_pre_process,
)

from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFoundError
from shelfwise.generative.models.unet import PlanogramUNet
from shelfwise.generative.serving import (
    CONFIG_KEY,
    INPUT_NAMES,
    OUTPUT_NAME,
    PRECISION_KEY,
    check_denoiser_inputs,
)

#: Metadata key listing the nodes :func:`quantize_int8` kept in fp32 (JSON list).
FP32_NODES_KEY: Final = "shelfwise.int8.fp32_nodes"
#: Largest absolute difference :func:`export_onnx` accepts between onnxruntime and torch.
EXPORT_ATOL: Final = 1e-3

_TRACE_BATCH: Final = 2
_CHECK_BATCH: Final = 3


def _random_inputs(
    model: PlanogramUNet, batch: int, rng: np.random.Generator
) -> dict[str, NDArray[np.float32] | NDArray[np.int64]]:
    """A random batch of denoiser inputs for ``model``."""
    cfg = model.config
    grid = (cfg.n_shelves, cfg.n_slots)
    return {
        "sample": rng.standard_normal((batch, cfg.n_channels, *grid)).astype(np.float32),
        "timestep": rng.integers(0, 1000, size=batch).astype(np.int64),
        "conditions": rng.uniform(0.0, 1.0, (batch, cfg.n_conditions, *grid)).astype(np.float32),
        "class_labels": rng.integers(0, cfg.n_classes + 1, size=batch).astype(np.int64),
    }


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _set_metadata(model: onnx.ModelProto, values: Mapping[str, str]) -> None:
    """Set (or overwrite) custom metadata entries of ``model``."""
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)


def _temp_sibling(path: Path) -> Path:
    """A fresh temporary file next to ``path`` (same file system, so ``os.replace`` is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def export_onnx(
    model: PlanogramUNet, path: Path, *, opset: int = 17, random_state: int = 0
) -> Path:
    """Write ``model`` as an fp32 ONNX file with a dynamic batch axis, and check it.

    The graph has inputs ``sample`` (B, C, S, K) float32, ``timestep`` (B,) int64,
    ``conditions`` (B, Cc, S, K) float32, ``class_labels`` (B,) int64 and output ``eps``
    (B, C, S, K); its metadata records ``shelfwise.precision = "fp32"`` and the model's
    :class:`~shelfwise.generative.models.UNetConfig`. The file is written to a temporary name and
    moved into place only once it passed the checks.

    Parameters
    ----------
    model : PlanogramUNet
        The network (exported in eval mode; its training flag is restored afterwards).
    path : Path
        Where to write the ``.onnx`` file; its folder must exist.
    opset : int
        ONNX opset, >= 13 (QDQ per-channel quantisation needs 13).
    random_state : int
        Seed of the random batches used for tracing and checking.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidParameterError
        On a bad ``model``, ``path`` or ``opset``.
    ArtifactMismatchError
        onnxruntime's output differs from torch's by more than ``EXPORT_ATOL`` (1e-3) on a random
        batch, or the file fails ``onnx.checker``.
    """
    if not isinstance(model, PlanogramUNet):
        raise InvalidParameterError(f"model must be a PlanogramUNet; got {type(model).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 13:
        raise InvalidParameterError(f"opset must be an integer >= 13; got {opset!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidParameterError(f"path must be in an existing folder; got {str(path)!r}")
    rng = np.random.default_rng(random_state)
    trace = _random_inputs(model, _TRACE_BATCH, rng)
    check = _random_inputs(model, _CHECK_BATCH, rng)
    was_training = model.training
    model.eval()
    tmp = _temp_sibling(path)
    try:
        args = tuple(torch.from_numpy(trace[name]) for name in INPUT_NAMES)
        with warnings.catch_warnings():
            # The legacy exporter is deprecated (but the only one whose graph the quantiser
            # accepts), and diffusers' shape asserts and memory-layout branches warn while traced.
            tracer_warning = torch.jit.TracerWarning  # type: ignore[attr-defined]
            warnings.filterwarnings("ignore", category=tracer_warning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(
                model,
                args,
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes={name: {0: "batch"} for name in (*INPUT_NAMES, OUTPUT_NAME)},
            )
        with torch.inference_mode():
            expected = model(*(torch.from_numpy(check[name]) for name in INPUT_NAMES)).cpu().numpy()
        proto = onnx.load(str(tmp))
        _set_metadata(
            proto,
            {PRECISION_KEY: "fp32", CONFIG_KEY: json.dumps(model.config.to_dict())},
        )
        proto.doc_string = "shelfwise planogram denoiser (PlanogramUNet), fp32"
        onnx.save(proto, str(tmp))
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except onnx.checker.ValidationError as err:
            raise ArtifactMismatchError(f"exported model fails onnx.checker: {err}") from err
        (got,) = _session(tmp).run([OUTPUT_NAME], dict(check))
        diff = float(np.max(np.abs(got - expected)))
        if not np.isfinite(diff) or diff > EXPORT_ATOL:
            raise ArtifactMismatchError(
                f"onnxruntime must match torch within {EXPORT_ATOL} on a random batch of "
                f"{_CHECK_BATCH}; got a largest absolute difference of {diff:.3g}"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        model.train(was_training)
    return path


def boundary_convs(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """Names of the first and of the last ``Conv`` nodes of a graph, found by walking it.

    A first conv has no conv upstream of it (every path from a graph input to it is conv-free); a
    last conv has no conv downstream. For the planogram U-Net these are ``conv_in`` and
    ``conv_out``.

    Parameters
    ----------
    model : onnx.ModelProto

    Returns
    -------
    (list of str, list of str)
        First convs and last convs, in graph order.
    """
    nodes = list(model.graph.node)
    producer = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    parents: list[set[int]] = [
        {producer[name] for name in node.input if name in producer} for node in nodes
    ]
    children: list[set[int]] = [set() for _ in nodes]
    for i, ps in enumerate(parents):
        for p in ps:
            children[p].add(i)
    # Kahn's algorithm: do not rely on the file's node order.
    pending = [len(ps) for ps in parents]
    order: list[int] = [i for i, n in enumerate(pending) if n == 0]
    for i in order:
        for c in children[i]:
            pending[c] -= 1
            if pending[c] == 0:
                order.append(c)
    if len(order) != len(nodes):
        raise ArtifactMismatchError("the ONNX graph has a cycle; cannot find its first/last Conv")
    is_conv = [node.op_type == "Conv" for node in nodes]
    conv_above = [False] * len(nodes)  # some strict ancestor is a Conv
    for i in order:
        conv_above[i] = any(is_conv[p] or conv_above[p] for p in parents[i])
    conv_below = [False] * len(nodes)  # some strict descendant is a Conv
    for i in reversed(order):
        conv_below[i] = any(is_conv[c] or conv_below[c] for c in children[i])
    first = [nodes[i].name for i in range(len(nodes)) if is_conv[i] and not conv_above[i]]
    last = [nodes[i].name for i in range(len(nodes)) if is_conv[i] and not conv_below[i]]
    return first, last


class _FeedReader(CalibrationDataReader):  # type: ignore[misc]
    """onnxruntime's calibration reader over a list of validated feeds."""

    def __init__(self, feeds: list[dict[str, NDArray[np.float32] | NDArray[np.int64]]]) -> None:
        self._feeds = feeds
        self._iter = iter(feeds)

    def get_next(self) -> dict[str, NDArray[np.float32] | NDArray[np.int64]] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._feeds)


def quantize_int8(
    fp32_path: Path,
    out_path: Path,
    calibration: Iterable[Mapping[str, NDArray[np.generic]]],
    *,
    keep_fp32: Sequence[str] | Literal["first_last_conv"] = "first_last_conv",
    per_channel: bool = True,
    op_types: Sequence[str] = ("Conv",),
) -> Path:
    """Static INT8 quantisation (QDQ, uint8 activations, int8 weights) of an exported denoiser.

    Parameters
    ----------
    fp32_path : Path
        An fp32 file written by :func:`export_onnx`.
    out_path : Path
        Where to write the int8 file (atomically); its folder must exist.
    calibration : iterable of mappings
        Calibration feeds, each ``{"sample", "timestep", "conditions", "class_labels"}`` as in
        :class:`~shelfwise.generative.serving.Denoiser`; activation ranges are the min and max
        seen over all of them. Use realistic inputs: noisy planograms at timesteps spread over
        the whole schedule, with real conditions and class labels (including the null label).
    keep_fp32 : sequence of str or "first_last_conv"
        Node names left in fp32. ``"first_last_conv"`` (default) keeps the convolutions found by
        :func:`boundary_convs` (``conv_in`` and ``conv_out``).
    per_channel : bool
        Quantise weights per output channel (default) rather than per tensor.
    op_types : sequence of str
        Operator types to quantise; ``("Conv",)`` by default (see the module notes).

    Returns
    -------
    Path
        ``out_path``. Its metadata records ``shelfwise.precision = "int8"``, the U-Net config of
        the fp32 file and the fp32 nodes (``shelfwise.int8.fp32_nodes``).

    Raises
    ------
    NotFoundError
        ``fp32_path`` does not exist.
    InvalidParameterError
        No calibration feed, a malformed feed, an unknown node in ``keep_fp32`` or an empty
        ``op_types``.
    """
    fp32_path = Path(fp32_path)
    out_path = Path(out_path)
    if not fp32_path.is_file():
        raise NotFoundError(f"fp32_path must be an existing ONNX file; got {str(fp32_path)!r}")
    if not out_path.parent.is_dir():
        raise InvalidParameterError(
            f"out_path must be in an existing folder; got {str(out_path)!r}"
        )
    if isinstance(op_types, str) or not op_types:
        raise InvalidParameterError(
            f"op_types must be a non-empty sequence of operator types; got {op_types!r}"
        )
    if isinstance(keep_fp32, str) and keep_fp32 != "first_last_conv":
        raise InvalidParameterError(
            f"keep_fp32 must be 'first_last_conv' or a sequence of node names; got {keep_fp32!r}"
        )
    feeds: list[dict[str, NDArray[np.float32] | NDArray[np.int64]]] = []
    for i, feed in enumerate(calibration):
        if not isinstance(feed, Mapping) or set(feed) != set(INPUT_NAMES):
            keys = sorted(feed) if isinstance(feed, Mapping) else type(feed).__name__
            raise InvalidParameterError(
                f"calibration feed {i} must be a mapping with keys {sorted(INPUT_NAMES)}; "
                f"got {keys}"
            )
        feeds.append(check_denoiser_inputs(*(feed[name] for name in INPUT_NAMES)))
    if not feeds:
        raise InvalidParameterError("calibration must hold at least one feed; got none")

    source = onnx.load(str(fp32_path))
    metadata = {p.key: p.value for p in source.metadata_props}
    with tempfile.TemporaryDirectory(prefix="shelfwise-int8-") as work:
        pre = Path(work) / "pre.onnx"
        quant_pre_process(source, str(pre), skip_symbolic_shape=True)
        graph = onnx.load(str(pre))
        names = {node.name for node in graph.graph.node}
        if keep_fp32 == "first_last_conv":
            first, last = boundary_convs(graph)
            excluded = list(dict.fromkeys([*first, *last]))
        else:
            excluded = list(keep_fp32)
            unknown = [name for name in excluded if name not in names]
            if unknown:
                raise InvalidParameterError(
                    f"keep_fp32 must name nodes of {fp32_path.name}; got unknown node(s) {unknown}"
                )
        quantized = Path(work) / "int8.onnx"
        quantize_static(
            str(pre),
            str(quantized),
            _FeedReader(feeds),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
        )
        proto = onnx.load(str(quantized))
        _set_metadata(
            proto,
            {
                PRECISION_KEY: "int8",
                FP32_NODES_KEY: json.dumps(excluded),
                **({CONFIG_KEY: metadata[CONFIG_KEY]} if CONFIG_KEY in metadata else {}),
            },
        )
        proto.doc_string = "shelfwise planogram denoiser (PlanogramUNet), static int8 (QDQ)"
        tmp = _temp_sibling(out_path)
        try:
            onnx.save(proto, str(tmp))
            (eps,) = _session(tmp).run([OUTPUT_NAME], dict(feeds[0]))
            if not np.all(np.isfinite(eps)):
                raise ArtifactMismatchError(
                    "the int8 model must give finite outputs on the first calibration feed; "
                    "got NaN or inf"
                )
            os.replace(tmp, out_path)
        finally:
            tmp.unlink(missing_ok=True)
    return out_path
