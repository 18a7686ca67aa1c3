"""The authors' released checkpoints -> automatte safetensors files, and loading any weights file into its network.

One table, :data:`FAMILIES`, says for each ``--from`` name how the authors' key layout maps onto the registry's
network (the mapping functions live next to each model: :func:`automatte.models.aimnet.map_official_aim_keys`,
:func:`automatte.models.ppmatting.map_paddle_ppmatting_keys`, :meth:`automatte.models.vitmatte.ViTMatte.load_pretrained`,
:func:`automatte.models.gca.map_official_gca_keys`), which architecture a checkpoint is, the constructor keywords
that reproduce the authors' network (PP-Matting's normalisation and padding) and the inference settings of the
authors' test. :func:`convert_checkpoint` writes them all into one safetensors file (metadata ``arch``, ``kwargs``,
``inference``); :func:`network_from_file` loads that file, an ``automatte train`` checkpoint or a plain state dict
in the project's or the authors' names, so ``automatte predict --model FILE`` and ``load_model(FILE)`` take either.

Files read (no code runs on load): PyTorch ``.pth`` / ``.pt`` / ``.tar`` (``weights_only``; ``state_dict`` /
``model`` / ``net`` wrappers and ``module.`` prefixes removed), detectron2 / PaddlePaddle pickles (``.pkl``,
``.pdparams``: name -> NumPy array, read by :func:`read_array_pickle`, a restricted unpickler that builds NumPy
arrays and nothing else; PaddlePaddle itself is not needed) and ``.safetensors``.

Example (the command line: ``automatte convert aimnet.pth aimnet.safetensors --from aim``):
    >>> sorted(FAMILIES)
    ['aim', 'gca', 'ppmatting', 'vitmatte']
    >>> FAMILIES["aim"].inference("aimnet")
    {'strategy': 'hybrid'}
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "FAMILIES",
    "CheckpointFamily",
    "CONVERT_FORMAT",
    "read_array_pickle",
    "read_checkpoint",
    "to_project_state",
    "convert_checkpoint",
    "network_from_file",
]

CONVERT_FORMAT = "automatte-convert/1"
PICKLE_SUFFIXES = (".pkl", ".pdparams")
_WRAPPERS = ("state_dict", "model", "net", "model_state")
_PADDLE_META = ("StructuredToParameterName@@", "UnpackBigParamInfor@@")
_DETECTRON2_CONV = re.compile(r"decoder\.(convstream\.convs\.\d+|fusion_blks\.\d+\.conv)\.conv\.weight$")


# --------------------------------------------------------------------------------------------- reading
class _ArrayUnpickler(pickle.Unpickler):
    """Builds dicts, lists, numbers, strings and NumPy arrays; any other global is refused."""

    _ALLOWED = {
        ("collections", "OrderedDict"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # protocol 2 / 3 pickles keep array bytes as latin-1 strings
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name} (only NumPy arrays are read)")


def _pack_paddle_slices(obj: dict) -> dict:
    """Undo paddle.save's split of arrays over 4 GB into ``name@@.0``, ``name@@.1``... slices."""
    info = obj.get("UnpackBigParamInfor@@")
    if not isinstance(info, dict):
        return obj
    obj = dict(obj)
    for key, part in info.items():
        slices = [obj.pop(name) for name in part["slices"]]
        obj[key] = np.concatenate(slices).reshape(part["OriginShape"])
    return obj


def read_array_pickle(path: str | Path) -> dict:
    """The object of a pickle of NumPy arrays (a detectron2 ``.pkl``, a PaddlePaddle ``.pdparams``), read by a
    restricted unpickler: NumPy arrays, dicts, lists, numbers and strings only; no code runs.

    Raises:
        FileNotFoundError: no such file. ValueError: not such a pickle (the refused global is named).

    Example:
        >>> import tempfile, pathlib, pickle, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pdparams"
        >>> _ = p.write_bytes(pickle.dumps({"conv.weight": np.ones((2, 1), np.float32)}, protocol=4))
        >>> read_array_pickle(p)["conv.weight"].shape
        (2, 1)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        with path.open("rb") as f:
            return _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a pickle of NumPy arrays ({err})") from None


def _unwrap(obj, path: Path) -> dict[str, Tensor]:
    """name -> tensor from a (possibly wrapped) state dict of tensors or NumPy arrays; other entries dropped."""
    for _ in range(3):  # {'model': {'state_dict': ...}} and the like
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj, dict) and isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}")
    obj = _pack_paddle_slices(obj)
    state: dict[str, Tensor] = {}
    for key, value in obj.items():
        if key in _PADDLE_META or not isinstance(key, str):
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
            value = torch.from_numpy(value.copy(order="C"))  # (ascontiguousarray makes 0-d arrays 1-d)
        if isinstance(value, Tensor):
            state[key.removeprefix("module.")] = value
    if not state:
        raise ValueError(f"{path}: no tensors found (expected a state dict, possibly under 'state_dict' / 'model')")
    return state


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """``(state, info)`` from any weights file: ``info`` holds what the file says of itself (``arch``, ``kwargs``,
    ``inference``; empty for the authors' files). See the module docstring for the formats.

    Raises:
        FileNotFoundError: no such file. ValueError: no state dict in it.
    """
    from automatte.models.weights import TRAIN_FORMAT

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                state = {k: f.get_tensor(k) for k in f.keys()}
                meta = dict(f.metadata() or {})
        except SafetensorError as err:
            raise ValueError(f"{path}: not a safetensors file ({err})") from None
        info = {k: meta[k] for k in ("arch",) if meta.get(k)}
        for k in ("kwargs", "inference"):
            if meta.get(k):
                info[k] = json.loads(meta[k])
        return state, info
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return _unwrap(read_array_pickle(path), path), {}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as err:  # a plain pickle (detectron2) under another name?
        try:
            obj = read_array_pickle(path)
        except ValueError:
            raise ValueError(f"{path}: not a PyTorch state dict nor a pickle of NumPy arrays ({err})") from None
    if isinstance(obj, dict) and obj.get("format") == TRAIN_FORMAT:
        info = {"arch": obj["model_name"]} if obj.get("model_name") else {}
        return _unwrap(obj["model"], path), info
    return _unwrap(obj, path), {}


# --------------------------------------------------------------------------------------------- families
def _aim_arch(state: dict) -> str:
    return "aimnet"


def _aim_to_project(net: nn.Module, state: dict) -> dict:
    from automatte.models.aimnet import map_official_aim_keys

    return map_official_aim_keys(state)


def _vitmatte_arch(state: dict) -> str:
    w = state.get("backbone.patch_embed.proj.weight")
    if w is None:
        raise ValueError("ViTMatte: no 'backbone.patch_embed.proj.weight' (not a ViTMatte checkpoint)")
    if w.shape[0] != 384:
        raise ValueError(f"ViTMatte: embedding width {w.shape[0]}; the registry has ViTMatte-S only (384)")
    return "vitmatte_s" if w.shape[1] == 4 else "vitmatte_s_free"


def _vitmatte_to_project(net: nn.Module, state: dict) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.load_pretrained(state)  # detectron2 'conv' / 'bn' sub-names, position tables resized
    if caught:
        raise ValueError(f"ViTMatte: the checkpoint does not fit: {caught[0].message}")
    return net.state_dict()


def _ppmatting_arch(state: dict) -> str:
    key = "backbone.st2.stage_st2_1.branches_func.bb_st2_1_branch_layer_1_1.conv1._conv.weight"
    if key not in state:
        raise ValueError(f"PP-Matting: no {key!r} (not a PaddleSeg PP-Matting checkpoint with an HRNet)")
    width = state[key].shape[0]
    arch = {18: "ppmatting_hrnet18", 48: "ppmatting_hrnet48"}.get(width)
    if arch is None:
        raise ValueError(f"PP-Matting: HRNet width {width}; the registry has W18 and W48")
    return arch


def _ppmatting_to_project(net: nn.Module, state: dict) -> dict:
    from automatte.models.ppmatting import map_paddle_ppmatting_keys

    return map_paddle_ppmatting_keys(state)


def _gca_to_project(net: nn.Module, state: dict) -> dict:
    from automatte.models.gca import map_official_gca_keys

    return map_official_gca_keys(state)


@dataclass(frozen=True)
class CheckpointFamily:
    """How one group of authors' checkpoints becomes a registry network.

    Attributes:
        name: the ``--from`` name.
        registry_family: the registry family of its architectures.
        detect: True for a state dict in the authors' key layout.
        arch: the registry architecture of an authors' state dict.
        to_project: (network, authors' state) -> state dict in the network's names.
        kwargs: constructor keywords that reproduce the authors' network (stored in the converted file).
        inference: pipeline settings of the authors' test (stored in the converted file), by architecture.
        published: where the official checkpoints are (the README's table).
    """

    name: str
    registry_family: str
    detect: Callable[[dict], bool]
    arch: Callable[[dict], str]
    to_project: Callable[[nn.Module, dict], dict]
    kwargs: dict = field(default_factory=dict)
    inference: Callable[[str], dict] = lambda arch: {}
    published: str = ""


FAMILIES: dict[str, CheckpointFamily] = {
    f.name: f
    for f in (
        CheckpointFamily(
            "aim",
            "aimnet",
            lambda s: any(k.startswith("decoder4_g.") for k in s),
            _aim_arch,
            _aim_to_project,
            inference=lambda arch: {"strategy": "hybrid"},  # AIM sec. 4.2: the hybrid test at 1/3 and 1/4
            published="https://github.com/JizhiziLi/AIM (README, 'Inference Code': Google Drive)",
        ),
        CheckpointFamily(
            "vitmatte",
            "vitmatte",
            lambda s: any(_DETECTRON2_CONV.match(k) for k in s),
            _vitmatte_arch,
            _vitmatte_to_project,
            published="https://github.com/hustvl/ViTMatte (README, 'Results': ViTMatte-S, Google Drive)",
        ),
        CheckpointFamily(
            "ppmatting",
            "ppmatting",
            lambda s: any(k.startswith("scb.scb_stages.") for k in s),
            _ppmatting_arch,
            _ppmatting_to_project,
            kwargs={"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "same_padding": True},  # PaddleSeg's
            # PaddleSeg's test: the short side limited (512 / 1024 human, 1536 Composition-1k), whole image
            inference=lambda arch: {"strategy": "whole", "global_long_side": 1024 if "18" in arch else 2048},
            published="https://github.com/PaddlePaddle/PaddleSeg/tree/release/2.8/Matting (model zoo; "
            "https://paddleseg.bj.bcebos.com/matting/models/ppmatting-hrnet_w48-composition.pdparams)",
        ),
        CheckpointFamily(
            "gca",
            "gca",
            lambda s: any(k.endswith(".module.weight_bar") for k in s),
            lambda s: "gca",
            _gca_to_project,
            published="https://github.com/Yaoyi-Li/GCA-Matting (README, 'Models': gca-dist-all-data, Google Drive)",
        ),
    )
}


def _family_of(arch: str) -> CheckpointFamily | None:
    from automatte.models.registry import model_info

    fam = model_info(arch).family
    return next((f for f in FAMILIES.values() if f.registry_family == fam), None)


def _load_strict(net: nn.Module, state: dict[str, Tensor], what: str) -> None:
    """Load ``state`` into ``net`` (floats cast to the network's dtype; BatchNorm counters filled in) or raise
    a ValueError naming ``what`` and the first missing / unexpected / mis-shaped keys."""
    own = net.state_dict()
    state = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() else v for k, v in state.items()}
    for k, v in own.items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = v
    bad = [
        f"{k} {tuple(v.shape)} != {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and own[k].shape != v.shape
    ]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if bad or missing or unexpected:
        raise ValueError(
            f"{what}: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
            f"{'...' if len(unexpected) > 3 else ''}, shape mismatch {bad[:2]}"
        )
    net.load_state_dict(state, strict=True)


def to_project_state(state: dict[str, Tensor], family: str, arch: str | None = None) -> tuple[nn.Module, str, dict]:
    """Build the network of an authors' checkpoint and load it: ``(network, arch, kwargs)``.

    Args:
        state: the authors' state dict (wrappers and ``module.`` prefixes removed: :func:`read_checkpoint`).
        family: a key of :data:`FAMILIES`.
        arch: the registry architecture (default: the family's guess from the tensors' shapes).

    Raises:
        ValueError: an unknown family, or tensors that do not fit the architecture (named).
    """
    from automatte.models.registry import create_model

    if family not in FAMILIES:
        raise ValueError(f"--from {family!r}: expected one of {', '.join(FAMILIES)}")
    fam = FAMILIES[family]
    arch = arch or fam.arch(state)
    target = _family_of(arch)
    if target is None or target.name != family:
        raise ValueError(f"--arch {arch!r} is not a {family} architecture")
    net = create_model(arch, **fam.kwargs)
    _load_strict(net, fam.to_project(net, state), f"{family} checkpoint -> {arch}")
    return net.eval(), arch, dict(fam.kwargs)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert_checkpoint(
    src: str | Path, dst: str | Path, family: str, *, arch: str | None = None, overwrite: bool = False
) -> dict:
    """Convert an authors' checkpoint into a safetensors file that ``load_model`` / ``predict --model`` run.

    The file's metadata: ``format`` (``automatte-convert/1``), ``arch``, ``kwargs`` and ``inference`` (JSON),
    ``source_family``, ``source_file`` and ``source_sha256``. Written atomically.

    Args:
        src: the authors' file (see the module docstring for the formats).
        dst: the ``.safetensors`` file to write.
        family: ``aim``, ``vitmatte``, ``ppmatting`` or ``gca`` (:data:`FAMILIES`).
        arch: the registry architecture when the guess from the shapes is not wanted (tiny test variants).
        overwrite: replace an existing ``dst``.

    Returns:
        A report: ``arch``, ``tensors``, ``parameters``, ``kwargs``, ``inference``.

    Raises:
        FileNotFoundError: no ``src``. FileExistsError: ``dst`` exists. ValueError: not this family's layout.
    """
    from safetensors.torch import save_file

    from automatte.io import atomic_write

    src, dst = Path(src), Path(dst)
    if dst.suffix.lower() != ".safetensors":
        raise ValueError(f"{dst}: the output must be a .safetensors file")
    if not overwrite and dst.exists():
        raise FileExistsError(f"{dst}: exists (--overwrite to replace it)")
    state, _ = read_checkpoint(src)
    if family in FAMILIES and not FAMILIES[family].detect(state):
        raise ValueError(f"{src}: not in the {family} authors' key layout (first keys: {list(state)[:3]})")
    try:
        net, arch, kwargs = to_project_state(state, family, arch)
    except ValueError as err:
        raise ValueError(f"{src}: {err}") from None
    inference = FAMILIES[family].inference(arch)
    out = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    metadata = {
        "format": CONVERT_FORMAT,
        "arch": arch,
        "kwargs": json.dumps(kwargs),
        "inference": json.dumps(inference),
        "source_family": family,
        "source_file": src.name,
        "source_sha256": _sha256(src),
    }
    with atomic_write(dst, overwrite=overwrite) as tmp:
        save_file(out, str(tmp), metadata=metadata)
    n_params = sum(p.numel() for p in net.parameters())
    return {"arch": arch, "tensors": len(out), "parameters": n_params, "kwargs": kwargs, "inference": inference}


def _detect_family(state: dict) -> CheckpointFamily | None:
    return next((f for f in FAMILIES.values() if f.detect(state)), None)


def network_from_file(path: str | Path, arch: str | None = None) -> tuple[nn.Module, dict]:
    """``(network, inference settings)`` from a weights file: a converted or shipped ``.safetensors``, an
    ``automatte train`` checkpoint, or a plain state dict in the project's or the authors' key names (then the
    architecture is ``arch``, or guessed for an authors' layout of :data:`FAMILIES`).

    Raises:
        FileNotFoundError: no such file. ValueError: the architecture is unknown or the weights do not fit it.

    Example:
        >>> import tempfile, pathlib, torch
        >>> from automatte.registry import create_model
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save(create_model("aimnet_test").state_dict(), p)
        >>> net, inference = network_from_file(p, arch="aimnet_test")
        >>> type(net).__name__, inference
        ('AimNet', {})
    """
    from automatte.models.registry import create_model

    path = Path(path)
    state, info = read_checkpoint(path)
    authors = _detect_family(state)
    arch = arch or info.get("arch")
    if arch is None and authors is not None:
        arch = authors.arch(state)
    if arch is None:
        raise ValueError(f"{path}: the file does not name its architecture; pass arch= (--arch)")
    kwargs = info.get("kwargs", {})
    inference = info.get("inference", {})
    if authors is not None and "kwargs" not in info:  # the authors' file itself: as converting it would
        try:
            net, arch, kwargs = to_project_state(state, authors.name, arch)
        except ValueError as err:
            raise ValueError(f"{path}: weights do not fit {arch} ({err})") from None
        return net, authors.inference(arch)
    net = create_model(arch, **kwargs)
    _load_strict(net, state, f"{path}: weights do not fit {arch}")
    return net.eval(), inference
