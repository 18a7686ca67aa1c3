"""TFLite flatbuffer -> safetensors state dict of our torch modules (``automatte convert-tflite``).

Supported ``arch``:

* ``"mobilenet_v2"``: ImageNet MobileNetV2 1.0 classifiers, into :class:`MobileNetV2Classifier` (folded):
  the int8 per-channel TF2 file (``tf2_mobilenet_v2_1.0_224_ptq.tflite``) and the uint8 per-tensor TF1
  file (``mobilenet_v2_1.0_224_quant.tflite``).
* ``"deeplabv3_mnv2_voc"``: DeepLabv3-MobileNetV2 PASCAL VOC (``deeplabv3_mnv2_pascal_quant.tflite``), into
  :class:`automatte.models.deeplab.DeepLabV3` (folded).

How:

1. The flatbuffer is parsed with the ``tflite`` package; constant tensors are dequantised as
   ``scale * (q - zero_point)`` (per channel along ``quantized_dimension`` when there are several scales;
   weights produced by a ``DEQUANTIZE`` op of a constant, as in float16 files, are followed).
2. Kernels are reordered: ``CONV_2D`` OHWI -> OIHW, ``DEPTHWISE_CONV_2D`` ``[1, kh, kw, C]`` ->
   ``[C, 1, kh, kw]``, 1x1 convs / ``FULLY_CONNECTED`` feeding a ``Linear`` -> ``[O, I]``.
3. The operators are walked in graph order and matched to the torch model's convolutions by op type
   (conv / depthwise), reordered weight shape, stride, dilation, 'SAME' padding and fused activation
   (ReLU6 after expand / depthwise / stem, none after the linear projections, ReLU in the DeepLab head).
   The DeepLab head's convolutions are told apart by where their input comes from (a pooling op: image
   pooling; a concatenation: projection; the last conv: logits; else the 1x1 branch), tensor names only
   confirming; the concatenation order is read from the graph. Any disagreement raises a ValueError naming
   the op (index, type, weight tensor) and what the torch side expected. The number of ``ADD`` ops must equal
   the number of residual blocks, and the output stride is read from the strided convolutions.
4. Batch norm is folded in TFLite, so the tensors go into the folded build (conv with bias, no BN); the
   resulting state dict must load into it with ``strict=True``. The input quantisation (e.g. uint8, scale
   1/128, zero point 128) becomes the model's ``input_mul``/``input_add`` (``255 * scale``,
   ``-scale * zero_point``) so the torch model takes [0, 1] images.
5. The file is written atomically with metadata: ``arch``, ``source``, ``source_sha256``, ``tflite_ops``,
   ``input_scale``, ``input_zero_point``, ``output_stride``, ``num_classes``, ``format="folded"``.

Converted files are build products of the shared weights: never commit them.

Example:
    >>> report = convert_tflite("mobilenet_v2_1.0_224_quant.tflite", "/tmp/mnv2.safetensors", "mobilenet_v2")  # doctest: +SKIP
    >>> report["convs"], report["num_classes"]  # doctest: +SKIP
    (53, 1001)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from automatte.io import atomic_write

__all__ = ["ARCHS", "convert_tflite", "TFLiteGraph", "reorder_kernel", "dequantize"]

ARCHS = ("mobilenet_v2", "deeplabv3_mnv2_voc")
_ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def dequantize(raw: np.ndarray, scales, zero_points, axis: int = 0) -> np.ndarray:
    """``scale * (q - zero_point)``, per tensor (one scale) or per channel along ``axis``.

    Example:
        >>> dequantize(np.array([[0, 2], [4, 6]], np.int8), [0.5, 1.0], [0, 2], axis=0).tolist()
        [[0.0, 1.0], [2.0, 4.0]]
    """
    values = raw.astype(np.float64)
    if scales is None or len(scales) == 0:
        return values.astype(np.float32)
    scales, zero_points = (
        np.asarray(scales, np.float64),
        np.asarray(zero_points if zero_points is not None else [0], np.float64),
    )
    if scales.size > 1:
        shape = [1] * values.ndim
        shape[axis] = -1
        scales = scales.reshape(shape)
        zero_points = zero_points.reshape(shape) if zero_points.size > 1 else zero_points.reshape(())
    return ((values - zero_points) * scales).astype(np.float32)


def reorder_kernel(array: np.ndarray, op_type: str) -> np.ndarray:
    """TFLite kernel layout -> PyTorch: conv OHWI -> OIHW; depthwise [1, kh, kw, C] -> [C, 1, kh, kw]; FC as is.

    Example:
        >>> reorder_kernel(np.zeros((8, 3, 3, 4)), "CONV_2D").shape
        (8, 4, 3, 3)
        >>> reorder_kernel(np.zeros((1, 3, 3, 8)), "DEPTHWISE_CONV_2D").shape
        (8, 1, 3, 3)
    """
    if op_type == "CONV_2D":
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    if op_type == "DEPTHWISE_CONV_2D":
        return np.ascontiguousarray(array.transpose(3, 0, 1, 2))
    if op_type == "FULLY_CONNECTED":
        return np.ascontiguousarray(array)
    raise ValueError(f"reorder_kernel: no kernel layout for op {op_type!r}")


@dataclass
class Op:
    """One operator of the graph: its position, type, tensor indices and parsed options."""

    index: int
    type: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


class TFLiteGraph:
    """The first subgraph of a ``.tflite`` file: operators in order, tensors, dequantised constants."""

    def __init__(self, path: str | Path):
        import tflite
        from tflite.BuiltinOperator import BuiltinOperator
        from tflite.TensorType import TensorType

        self.path = Path(path)
        self.data = self.path.read_bytes()
        if self.data[4:8] != b"TFL3":  # the flatbuffer file identifier of TFLite models
            raise ValueError(f"{self.path}: not a TFLite model (no 'TFL3' identifier)")
        try:
            self.model = tflite.Model.GetRootAsModel(self.data, 0)
            self.graph = self.model.Subgraphs(0)
        except Exception as exc:  # flatbuffers raises assorted errors on a damaged file
            raise ValueError(f"{self.path}: not a readable TFLite flatbuffer ({exc})") from exc
        if self.graph is None:
            raise ValueError(f"{self.path}: a TFLite model without a subgraph")
        op_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
        self._types = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}
        self.ops: list[Op] = []
        for k in range(self.graph.OperatorsLength()):
            raw = self.graph.Operators(k)
            code = self.model.OperatorCodes(raw.OpcodeIndex())
            name = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            op = Op(k, name, [int(i) for i in raw.InputsAsNumpy()], [int(i) for i in raw.OutputsAsNumpy()])
            op.options = self._options(raw, name)
            self.ops.append(op)
        self.producer = {t: op for op in self.ops for t in op.outputs}

    @staticmethod
    def _options(raw, name: str) -> dict:
        table = raw.BuiltinOptions()
        if table is None:
            return {}
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            from tflite.Conv2DOptions import Conv2DOptions
            from tflite.DepthwiseConv2DOptions import DepthwiseConv2DOptions

            o = (Conv2DOptions if name == "CONV_2D" else DepthwiseConv2DOptions)()
            o.Init(table.Bytes, table.Pos)
            return {
                "stride": (o.StrideH(), o.StrideW()),
                "dilation": (o.DilationHFactor(), o.DilationWFactor()),
                "padding": "SAME" if o.Padding() == 0 else "VALID",
                "act": _ACT.get(o.FusedActivationFunction(), "?"),
            }
        if name == "FULLY_CONNECTED":
            from tflite.FullyConnectedOptions import FullyConnectedOptions

            o = FullyConnectedOptions()
            o.Init(table.Bytes, table.Pos)
            return {"act": _ACT.get(o.FusedActivationFunction(), "?")}
        if name in ("RESIZE_BILINEAR",):
            from tflite.ResizeBilinearOptions import ResizeBilinearOptions

            o = ResizeBilinearOptions()
            o.Init(table.Bytes, table.Pos)
            return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
        return {}

    def name(self, t: int) -> str:
        return self.graph.Tensors(t).Name().decode("utf-8", "replace").split(";")[0]

    def shape(self, t: int) -> tuple[int, ...]:
        tensor = self.graph.Tensors(t)
        return tuple(int(s) for s in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()

    def dtype(self, t: int) -> str:
        return self._types.get(self.graph.Tensors(t).Type(), "?")

    def quantization(self, t: int) -> tuple[np.ndarray | None, np.ndarray | None, int]:
        q = self.graph.Tensors(t).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None, None, 0
        zero = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(1, np.int64)
        return q.ScaleAsNumpy(), zero, q.QuantizedDimension()

    def constant(self, t: int) -> np.ndarray:
        """The dequantised float32 value of a constant tensor (following a DEQUANTIZE op if there is one)."""
        tensor = self.graph.Tensors(t)
        buffer = self.model.Buffers(tensor.Buffer())
        raw = buffer.DataAsNumpy() if buffer.DataLength() else None
        offset = getattr(buffer, "Offset", lambda: 0)()
        if raw is None and offset > 1:
            raw = np.frombuffer(self.data, np.uint8, buffer.Size(), offset)
        if raw is None or isinstance(raw, int):
            op = self.producer.get(t)
            if op is not None and op.type == "DEQUANTIZE":
                return self.constant(op.inputs[0])
            raise ValueError(f"{self.path}: tensor {t} ({self.name(t)!r}) is not a constant")
        np_dtype = {
            "FLOAT32": np.float32,
            "FLOAT16": np.float16,
            "INT32": np.int32,
            "UINT8": np.uint8,
            "INT8": np.int8,
            "INT16": np.int16,
            "INT64": np.int64,
        }.get(self.dtype(t))
        if np_dtype is None:
            raise ValueError(f"{self.path}: tensor {t} ({self.name(t)!r}) has unsupported type {self.dtype(t)}")
        values = np.frombuffer(np.asarray(raw, np.uint8).tobytes(), np_dtype).reshape(self.shape(t))
        scales, zero, axis = self.quantization(t)
        return dequantize(values, scales, zero, axis) if values.dtype != np.float32 else values.copy()

    def describe(self, op: Op) -> str:
        weight = f", weights {self.name(op.inputs[1])!r} {self.shape(op.inputs[1])}" if len(op.inputs) > 1 else ""
        return f"TFLite op #{op.index} {op.type}{weight}"


# ------------------------------------------------------------------------------------------ matching
@dataclass
class _Slot:
    """A torch convolution (or Linear) waiting for its TFLite op."""

    key: str
    module: nn.Module
    act: str

    def expect(self) -> dict:
        m = self.module
        if isinstance(m, nn.Linear):
            return {"type": ("FULLY_CONNECTED", "CONV_2D"), "shape": tuple(m.weight.shape)}
        depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
        return {
            "type": ("DEPTHWISE_CONV_2D",) if depthwise else ("CONV_2D",),
            "shape": tuple(m.weight.shape),
            "stride": tuple(m.stride),
            "dilation": tuple(m.dilation),
        }


def _slots(module: nn.Module, prefix: str) -> list[_Slot]:
    """Convolutions of ``module`` in registration (= forward) order, with the activation that follows each."""
    out = []
    for name, seq in module.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq.children())
        for i, child in enumerate(children):
            if isinstance(child, nn.Conv2d):
                rest = children[i + 1 : i + 3]
                act = next(
                    (
                        name
                        for kind, name in ((nn.ReLU6, "RELU6"), (nn.ReLU, "RELU"))
                        if any(isinstance(c, kind) for c in rest)
                    ),
                    "NONE",
                )
                out.append(_Slot(f"{prefix}{name}.{i}" if name else f"{prefix}{i}", child, act))
    order = {id(m): k for k, m in enumerate(module.modules())}  # depth-first = forward order in MobileNetV2
    return sorted(out, key=lambda s: order[id(s.module)])


def _take(graph: TFLiteGraph, op: Op, slot: _Slot) -> dict[str, torch.Tensor]:
    """Check ``op`` against ``slot`` and return the slot's weight (and bias) tensors."""
    want = slot.expect()
    problem = None
    weight = graph.constant(op.inputs[1])
    if op.type not in want["type"]:
        problem = f"op type {op.type}, expected {' or '.join(want['type'])}"
    else:
        weight = reorder_kernel(weight, op.type)
        if len(want["shape"]) == 2:
            weight = weight.reshape(weight.shape[0], -1)
        if tuple(weight.shape) != want["shape"]:
            problem = f"weight shape {tuple(weight.shape)} after reordering, expected {want['shape']}"
        elif "stride" in want and op.options.get("stride") != want["stride"]:
            problem = f"stride {op.options.get('stride')}, expected {want['stride']}"
        elif "dilation" in want and op.options.get("dilation") != want["dilation"]:
            problem = f"dilation {op.options.get('dilation')}, expected {want['dilation']}"
        elif op.options.get("padding", "SAME") != "SAME" and len(want["shape"]) == 4 and want["shape"][-1] > 1:
            problem = f"padding {op.options.get('padding')}, expected SAME"
        elif op.options.get("act", "NONE") != slot.act:
            problem = f"fused activation {op.options.get('act')}, expected {slot.act}"
    if problem:
        raise ValueError(f"{graph.path}: {graph.describe(op)} does not match {slot.key}: {problem}")
    out = {f"{slot.key}.weight": torch.from_numpy(weight)}
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = graph.constant(op.inputs[2])
        out[f"{slot.key}.bias"] = torch.from_numpy(bias.reshape(-1))
    elif getattr(slot.module, "bias", None) is not None:
        out[f"{slot.key}.bias"] = torch.zeros(want["shape"][0])
    return out


def _backbone(graph: TFLiteGraph, convs: list[Op], backbone: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    slots = _slots(backbone.features, f"{prefix}features.")
    if len(convs) < len(slots):
        raise ValueError(f"{graph.path}: {len(convs)} convolutions, the MobileNetV2 backbone alone has {len(slots)}")
    for op, slot in zip(convs, slots):
        state.update(_take(graph, op, slot))
    return state


def _input_affine(graph: TFLiteGraph) -> tuple[float, float, str]:
    """(scale, zero_point, dtype) of the graph input; torch mul = 255 * scale, add = -scale * zero (uint8)."""
    t = graph.graph.Inputs(0)
    scales, zero, _ = graph.quantization(t)
    dtype = graph.dtype(t)
    if scales is None or dtype not in ("UINT8", "INT8"):
        return 1 / 127.5, 127.5, dtype  # float input: the MobileNet convention [-1, 1]
    zero_point = float(zero[0]) + (128 if dtype == "INT8" else 0)  # int8 pixels are uint8 - 128
    return float(scales[0]), zero_point, dtype


def _output_stride(graph: TFLiteGraph, convs: list[Op]) -> int:
    return int(np.prod([op.options["stride"][0] for op in convs if op.options.get("stride", (1, 1))[0] > 1]))


def _classifier_state(graph, convs: list, n_backbone: int, os_: int, in_path: Path):
    """The ImageNet classifier's folded model and state: the backbone, the 1280-channel conv and the logits."""
    from automatte.models.backbones.mobilenetv2 import MobileNetV2Classifier

    head = convs[n_backbone:]
    if len(head) != 2:
        raise ValueError(
            f"{in_path}: expected 2 convolutions after the backbone (1280-channel conv, logits), found "
            f"{len(head)}: {', '.join(graph.describe(op) for op in head) or 'none'}"
        )
    num_classes = graph.shape(head[1].inputs[1])[0]
    if os_ not in (8, 16, 32):
        raise ValueError(f"{in_path}: the strided convolutions give an output stride of {os_}, expected 8, 16 or 32")
    model = MobileNetV2Classifier(num_classes, folded=True, tf_same_padding=True, output_stride=os_)
    state = _backbone(graph, convs, model, "")
    state.update(_take(graph, head[0], _Slot("features.18.0", model.features[18][0], "RELU6")))
    state.update(_take(graph, head[1], _Slot("classifier.1", model.classifier[1], "NONE")))
    return model, state, num_classes


def _deeplab_roles(graph, head: list, in_path: Path) -> dict:
    """The DeepLab head's convolutions by role (aspp0, image_pooling, concat_projection, logits), told apart by
    the op that feeds each."""
    roles: dict[str, Op] = {"logits": head[-1]}
    for op in head[:-1]:
        source = graph.producer.get(op.inputs[0])
        kind = source.type if source is not None else ""
        role = {"AVERAGE_POOL_2D": "image_pooling", "MEAN": "image_pooling", "CONCATENATION": "concat_projection"}.get(
            kind, "aspp0"
        )
        if role in roles:
            raise ValueError(f"{in_path}: {graph.describe(op)} and {graph.describe(roles[role])} both look like {role}")
        roles[role] = op
    return roles


def _deeplab_state(graph, convs: list, n_backbone: int, os_: int, in_path: Path):
    """DeepLabv3's folded model and state: the backbone, ASPP (its concatenation order matched) and the logits."""
    from automatte.models.deeplab import DeepLabV3

    head = convs[n_backbone:]
    if len(head) != 4:
        raise ValueError(
            f"{in_path}: expected 4 convolutions in the DeepLab head (aspp0, image_pooling, "
            f"concat_projection, logits), found {len(head)}"
        )
    num_classes = graph.shape(head[-1].inputs[1])[0]
    head_ch = graph.shape(head[-1].inputs[1])[-1]
    model = DeepLabV3(num_classes, output_stride=os_, head_channels=head_ch, folded=True, tf_same_padding=True)
    state = _backbone(graph, convs, model.backbone, "backbone.")
    roles = _deeplab_roles(graph, head, in_path)
    slots = {
        "image_pooling": _Slot("aspp.image_pooling.0", model.aspp.image_pooling[0], "RELU"),
        "aspp0": _Slot("aspp.aspp0.0", model.aspp.aspp0[0], "RELU"),
        "concat_projection": _Slot("aspp.concat_projection.0", model.aspp.concat_projection[0], "RELU"),
        "logits": _Slot("classifier", model.classifier, "NONE"),
    }
    for role, slot in slots.items():
        state.update(_take(graph, roles[role], slot))
    # concatenation order: ours is [image pooling, aspp0]; swap the projection's input halves if TF's differs
    concat = graph.producer[roles["concat_projection"].inputs[0]]
    first = concat.inputs[0]
    passthrough = ("RESIZE_BILINEAR", "QUANTIZE", "DEQUANTIZE")
    while graph.producer.get(first) is not None and graph.producer[first].type in passthrough:
        first = graph.producer[first].inputs[0]
    if first == roles["aspp0"].outputs[0]:
        w = state["aspp.concat_projection.0.weight"]
        state["aspp.concat_projection.0.weight"] = torch.cat([w[:, head_ch:], w[:, :head_ch]], dim=1)
    elif first != roles["image_pooling"].outputs[0]:
        raise ValueError(
            f"{in_path}: {graph.describe(concat)} concatenates neither the image pooling nor the 1x1 branch first"
        )
    return model, state, num_classes


def convert_tflite(in_path: str | Path, out_path: str | Path, arch: str) -> dict:
    """Convert a TFLite model to a safetensors state dict of the matching folded torch model.

    Args:
        in_path: the ``.tflite`` file.
        out_path: the ``.safetensors`` to write (atomically).
        arch: ``"mobilenet_v2"`` or ``"deeplabv3_mnv2_voc"``.

    Returns:
        A report: ``arch``, ``tflite_ops``, ``convs`` (mapped), ``params``, ``output_stride``, ``num_classes``,
        ``input_scale``, ``input_zero_point``, ``source_sha256``, ``output`` and ``op_types`` (a Counter dict).

    Raises:
        FileNotFoundError: ``in_path`` missing. ValueError: unknown arch, or a graph that does not match it
        (the message names the TFLite op).
    """
    from automatte.models.backbones.mobilenetv2 import MobileNetV2

    in_path, out_path = Path(in_path), Path(out_path)
    if arch not in ARCHS:
        raise ValueError(f"convert_tflite: arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if not in_path.is_file():
        raise FileNotFoundError(f"{in_path}: no such TFLite file")
    graph = TFLiteGraph(in_path)
    convs = [op for op in graph.ops if op.type in _CONV_OPS]
    counts = Counter(op.type for op in graph.ops)
    scale, zero, in_dtype = _input_affine(graph)
    n_backbone = len(_slots(MobileNetV2(folded=True).features, ""))  # 52 convs in MobileNetV2 1.0
    os_ = _output_stride(graph, convs[:n_backbone])

    if arch == "mobilenet_v2":
        model, state, num_classes = _classifier_state(graph, convs, n_backbone, os_, in_path)
        prefix = ""
    else:
        model, state, num_classes = _deeplab_state(graph, convs, n_backbone, os_, in_path)
        prefix = "backbone."

    residuals = sum(1 for m in model.modules() if getattr(m, "use_res_connect", False))
    if counts.get("ADD", 0) != residuals:
        raise ValueError(f"{in_path}: {counts.get('ADD', 0)} ADD ops, the {arch} model has {residuals} residual blocks")
    mul, add = 255.0 * scale, -scale * zero
    state[f"{prefix}input_mul"] = torch.full((3,), mul)
    state[f"{prefix}input_add"] = torch.full((3,), add)
    state = {k: v.float().contiguous() for k, v in state.items()}
    model.load_state_dict(state, strict=True)  # every key of the folded build, and nothing else

    sha = hashlib.sha256(graph.data).hexdigest()
    metadata = {
        "arch": arch,
        "format": "folded",
        "source": in_path.name,
        "source_sha256": sha,
        "tflite_ops": str(len(graph.ops)),
        "input_scale": repr(scale),
        "input_zero_point": repr(zero),
        "input_dtype": in_dtype,
        "output_stride": str(os_),
        "num_classes": str(num_classes),
    }
    from safetensors.torch import save_file

    with atomic_write(out_path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return {
        "arch": arch,
        "tflite_ops": len(graph.ops),
        "convs": len(convs),
        "params": sum(v.numel() for v in state.values()),
        "output_stride": os_,
        "num_classes": num_classes,
        "input_scale": scale,
        "input_zero_point": zero,
        "source_sha256": sha,
        "output": str(out_path),
        "op_types": dict(counts),
    }
