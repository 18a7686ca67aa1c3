"""Average the weights of two fine-tuned runs of one network (a "model soup", Wortsman et al., ICML 2022).

``python tools/average_weights.py A.pt B [--weight 0.5] --out SOUP.pt`` writes a training checkpoint that is A's
(model name, config, step) with every floating-point tensor of ``model`` replaced by ``w * A + (1 - w) * B``;
integer buffers (BatchNorm's ``num_batches_tracked``) stay A's. B is a training checkpoint (``.pt``) or a shipped
weights file (``.safetensors``) of the same architecture. Both runs must share an ancestor (B fine-tuned from A,
or both from one model), else the average of unrelated minima is meaningless. ``--grown``: A is B's network with a
part added (a zero-started head); that part keeps A's values. The optimizer state is dropped:
the result is for evaluation and shipping (``tools/ship_model.py``), not for ``--resume``.

When A is a ``.safetensors`` file (weights brought back from a lent GPU by ``tools/gpu_train.py``), the average is
written as ``.safetensors`` too, in A's dtype with A's metadata (``arch``): ``load_model(...,
segmenter=SOUP.safetensors)`` reads it and ``model.kwargs.pretrained`` in a config continues it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The network weights of a training checkpoint (its ``model``) or of a ``.safetensors`` file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    from automatte.train.checkpoint import load_checkpoint

    return load_checkpoint(path)["model"]


def average_states(a: dict, b: dict, weight: float = 0.5, grown: bool = False) -> dict:
    """``weight * a + (1 - weight) * b`` for floating-point tensors (in a's dtype), a's value for the others.

    ``grown``: A is B's network with parts added (a head whose output starts at zero, e.g. the stride-2 head of
    ``deeplabv3plus_mnv2_fine`` on ``deeplabv3plus_mnv2``): the tensors B lacks keep A's values (B is that
    network with the head at its start, so averaging its untrained head in would only shrink A's). B may not
    have tensors that A lacks.

    Example:
        >>> out = average_states({"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(7)},
        ...                      {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(2)}, 0.25)
        >>> out["w"].tolist(), int(out["n"])
        ([2.5, 4.5], 7)
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    if set(a) != set(b) and not (grown and set(b) < set(a)):
        diff = sorted(set(a) ^ set(b))
        raise ValueError(f"the two networks differ in {len(diff)} tensors, e.g. {diff[:3]}: not the same architecture")
    out = {}
    for key, t in a.items():
        if key not in b:  # grown: a part that B lacks
            out[key] = t.clone()
            continue
        if tuple(t.shape) != tuple(b[key].shape):
            raise ValueError(f"{key}: shape {tuple(t.shape)} against {tuple(b[key].shape)}")
        if t.is_floating_point():
            out[key] = (weight * t.double() + (1.0 - weight) * b[key].double()).to(t.dtype)
        else:
            out[key] = t.clone()
    return out


def _average_safetensors(args) -> int:
    from safetensors import safe_open
    from safetensors.torch import save_file

    if Path(args.out).suffix != ".safetensors":
        print(f"average_weights: {args.a} is a .safetensors file, so --out must be one too", file=sys.stderr)
        return 2
    try:
        with safe_open(args.a, "pt") as f:
            metadata = f.metadata() or {}
        state = average_states(read_state(args.a), read_state(args.b), args.weight, args.grown)
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        print(f"average_weights: {e}", file=sys.stderr)
        return 2
    from automatte.io import atomic_write

    with atomic_write(args.out) as tmp:  # a reader never sees half a file
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=metadata)
    print(f"wrote {args.out}: {args.weight:g} x {args.a} + {1 - args.weight:g} x {args.b}")
    return 0


def main(argv=None) -> int:
    from automatte.train.checkpoint import load_checkpoint, save_checkpoint

    parser = argparse.ArgumentParser(prog="python tools/average_weights.py", description=__doc__.splitlines()[0])
    parser.add_argument("a", help="training checkpoint (.pt) or weights (.safetensors): its metadata is kept")
    parser.add_argument("b", help="training checkpoint (.pt) or weights (.safetensors) of the same network")
    parser.add_argument("--weight", type=float, default=0.5, help="weight of A (default 0.5)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--grown", action="store_true",
                        help="A is B's network with parts added: the tensors B lacks keep A's values")  # fmt: skip
    args = parser.parse_args(argv)
    if Path(args.a).suffix == ".safetensors":
        return _average_safetensors(args)
    if Path(args.out).suffix == ".safetensors":  # a checkpoint under that name fails to load much later
        print(f"average_weights: {args.a} is a training checkpoint, so --out must be a .pt file", file=sys.stderr)
        return 2
    try:
        ckpt = load_checkpoint(args.a)
        state = average_states(ckpt["model"], read_state(args.b), args.weight, args.grown)
    except (OSError, KeyError, ValueError) as e:
        print(f"average_weights: {e}", file=sys.stderr)
        return 2
    keep = {k: v for k, v in ckpt.items() if k not in ("optimizer", "scheduler", "scaler", "extra")}
    keep["model"] = state
    keep["soup"] = {"a": str(args.a), "b": str(args.b), "weight_a": args.weight}
    save_checkpoint(args.out, keep)
    print(f"wrote {args.out}: {args.weight:g} x {args.a} + {1 - args.weight:g} x {args.b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
