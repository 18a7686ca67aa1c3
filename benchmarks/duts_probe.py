"""Quick DUTS-TE probes of a segmenter (issue 27): how a checkpoint moves between the full evaluations, and whether an
edge is biased. Not the protocol of the card (that is ``benchmarks/default_models.py``); a minute, not a quarter hour.

* ``--raw WEIGHTS``: the network alone, one pass at ``--side`` px (long side), no mirror, no pipeline: IoU (>= 0.5),
  boundary F (2 px) and MAE on the first ``--n`` photos of DUTS-TE's fixed quick subset. A training checkpoint at
  step N against the shipped segmenter, in one minute (round 24 of docs/experiments.md read its checkpoints so).
* ``--model SPEC`` (as in ``default_models.py``: ``new``, ``peer:u2netp``, ``new@segmenter=X``): the pipeline's
  alpha, with the signed edge offset per photo, (predicted area - true area) / true perimeter in pixels (positive:
  too fat), averaged over the photos the model finds (IoU > 0.85), and the boundary F with the alpha cut at 0.3 /
  0.5 / 0.7: a biased edge shows as an offset far from 0 and a best cut other than 0.5.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/duts_probe.py --raw runs/mid24/last.pt --n 150
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/duts_probe.py --model new --n 120
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from default_models import DUTS, _pipeline, duts_names  # noqa: E402


def edge_offset(alpha: np.ndarray, mask: np.ndarray) -> float:
    """(area of ``alpha >= 0.5`` - area of ``mask >= 0.5``) / the mask's perimeter (pixels of its Canny edge), px.

    Example:
        >>> m = np.zeros((40, 40), np.float32); m[10:30, 10:30] = 1
        >>> fat = np.zeros_like(m); fat[9:31, 9:31] = 1
        >>> 0.8 < edge_offset(fat, m) < 1.2, edge_offset(m, m)
        (True, 0.0)
    """
    import cv2

    truth = mask >= 0.5
    perimeter = cv2.Canny(truth.astype(np.uint8) * 255, 100, 200).astype(bool).sum()
    return float(((alpha >= 0.5).sum() - truth.sum()) / max(int(perimeter), 1))


def raw_probability(net, image: np.ndarray, side: int) -> np.ndarray:
    """The network's alpha for ``image`` resized to long side ``side`` (bilinear), back at the photo's size.

    Plain bilinear both ways, no antialiasing and no padding: round 24's figures were read so. The pipeline's own pass
    (:func:`automatte.infer.highres.predict_whole`) antialiases a shrink and pads to 32, so its figures differ a little.
    """
    import torch
    import torch.nn.functional as F

    h, w = image.shape[:2]
    s = side / max(h, w)
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, (max(1, round(h * s)), max(1, round(w * s))), mode="bilinear", align_corners=False)
    with torch.no_grad():
        alpha = net(image=x).alpha
    return F.interpolate(alpha, (h, w), mode="bilinear", align_corners=False)[0, 0].numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--raw", help="a segmenter's weights (shipped .safetensors or a training checkpoint)")
    what.add_argument("--model", help="a pipeline spec as in default_models.py")
    parser.add_argument("--n", type=int, default=150, help="the first N photos of the quick subset (150)")
    parser.add_argument("--side", type=int, default=512, help="--raw: the pass's long side (512, the pipeline's)")
    parser.add_argument("--duts", default=str(DUTS), help="DUTS-TE in the coarse layout (tools/get_data.py)")
    args = parser.parse_args(argv)
    root = Path(args.duts)
    if not (root / "image").is_dir():
        print(f"{root}: no DUTS-TE here (tools/get_data.py builds it)", file=sys.stderr)
        return 2
    from automatte.data.datasets import coarse_pairs, read_mask
    from automatte.io import read_image
    from automatte.metrics.segmentation import boundary_f, iou, mae

    pairs = coarse_pairs(root)
    if args.raw:
        from automatte.models.convert import network_from_file

        net = network_from_file(Path(args.raw))[0].eval()
        predict = lambda image: raw_probability(net, image, args.side)  # noqa: E731
    else:
        pipeline = _pipeline(args.model)
        predict = lambda image: pipeline(image).alpha  # noqa: E731
    rows = []
    for name in duts_names(root, 500)[: args.n]:
        image = read_image(pairs[name][0])
        mask = read_mask(pairs[name][1], image.shape[:2])
        alpha = predict(image)
        row = {"IoU": iou(alpha, mask), "BF": boundary_f(alpha, mask, tolerance=2), "MAE": mae(alpha, mask)}
        if args.model:
            row["offset"] = edge_offset(alpha, mask)
            for cut in (0.3, 0.7):
                row[f"BF@{cut}"] = boundary_f((alpha >= cut).astype(np.float32), mask, tolerance=2)
        rows.append(row)
    label = args.raw or args.model
    means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    if args.model:
        found = [r["offset"] for r in rows if r["IoU"] > 0.85]
        means["offset (found)"] = float(np.mean(found)) if found else float("nan")
        means["n found"] = len(found)
    print(
        f"{label}, first {len(rows)} of DUTS-TE's quick subset: " + ", ".join(f"{k} {v:.4g}" for k, v in means.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
