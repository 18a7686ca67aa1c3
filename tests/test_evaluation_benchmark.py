"""`automatte benchmark --paper aim` on a tiny folder in AIM-500's own layout: AIM Table 2's rows and columns, the
published figures beside ours, and ours equal to `automatte eval` on the same predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from automatte.cli import main
from automatte.evaluation import PAPERS, our_row, parse_scales, predict_alpha
from automatte.io import write_alpha, write_image
from automatte.metrics.report import Report
from automatte.ops.trimap import trimap_from_alpha

TYPES = {"SO": "animal", "STM": "transparent", "NS": "plant"}


def make_aim500(root, per_type: int = 2, size: int = 64, json_name: str = "aim_category_type.json"):
    """A tiny AIM-500: original/*.jpg, mask/*.png, trimap/*.png, usr/*.png and aim_category_type.json."""
    rng = np.random.default_rng(0)
    table = {}
    for t, (kind, category) in enumerate(TYPES.items()):
        for i in range(per_type):
            name = f"o_{kind.lower()}{i}"
            alpha = np.zeros((size, size), np.float32)
            alpha[16 + 4 * i : 48, 12 + 6 * t : 52] = 1.0
            alpha[15 + 4 * i, 12 + 6 * t : 52] = 0.5 if kind != "SO" else 1.0
            image = rng.random((size, size, 3)) * 0.3 + 0.6 * alpha[..., None]
            write_image(root / "original" / f"{name}.jpg", image)
            write_alpha(root / "mask" / f"{name}.png", alpha)
            write_alpha(root / "trimap" / f"{name}.png", trimap_from_alpha(alpha, 5))
            write_alpha(root / "usr" / f"{name}.png", trimap_from_alpha(alpha, 5))
            table[name] = {"type": kind, "category": category}
    (root / json_name).write_text(json.dumps(table))
    return table


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A weights file of the tiny AIM-Net (random weights) naming its architecture, as `automatte train` writes."""
    import torch
    from safetensors.torch import save_file

    from automatte.registry import create_model

    torch.manual_seed(0)
    net = create_model("aimnet_test")
    path = tmp_path_factory.mktemp("model") / "aimnet_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata={"arch": "aimnet_test"})
    return path


def test_published_aim_table2_is_consistent():
    table = PAPERS["aim"]
    assert table.table == "Table 2" and table.benchmark == "aim500" and table.protocol == "aim"
    assert table.scales == pytest.approx((1 / 3, 1 / 4))
    assert len(table.rows) == 7 and len(table.columns) == 18
    for method, row in table.rows.items():  # the paper's Avg. columns are the means of their groups
        types = [row[f"type/{t}/SAD"] for t in ("SO", "STM", "NS")]
        assert row["type/avg/SAD"] == pytest.approx(sum(types) / 3, abs=0.006), method
        cats = [row[c.key] for c in table.columns if c.key.startswith("category/") and "avg" not in c.key]
        assert len(cats) == 7
        assert row["category/avg/SAD"] == pytest.approx(sum(cats) / 7, abs=0.006), method
    assert table.rows["AIM-Net (paper)"]["unknown/SAD"] == 30.74
    assert table.rows["GFM"]["whole/SAD"] == 52.66


def test_our_row_groups_and_averages():
    r = Report()
    r.add("a", {"whole/SAD": 2.0, "unknown/SAD": 1.0}, type="SO", category="animal")
    r.add("b", {"whole/SAD": 4.0, "unknown/SAD": 3.0}, type="SO", category="portrait")
    r.add("c", {"whole/SAD": 12.0, "unknown/SAD": 5.0}, type="NS", category="plant")
    values, counts = our_row(r, PAPERS["aim"])
    assert values["whole/SAD"] == pytest.approx(6.0) and values["unknown/SAD"] == pytest.approx(3.0)
    assert values["type/SO/SAD"] == 3.0 and values["type/NS/SAD"] == 12.0 and values["type/STM/SAD"] is None
    assert values["type/avg/SAD"] == pytest.approx(7.5)  # mean of the type means, not of the images
    assert values["category/portrait/SAD"] == 4.0 and counts["category/fruit/SAD"] == 0
    assert values["category/avg/SAD"] == pytest.approx((2 + 4 + 12) / 3)


def test_parse_scales():
    assert parse_scales("1/3,1/4") == pytest.approx((1 / 3, 1 / 4))
    assert parse_scales("0.5, 0.25") == (0.5, 0.25)
    for bad in ("1/3", "1/0,1/4", "2,1/4", "a,b"):
        with pytest.raises(ValueError, match="scales"):
            parse_scales(bad)


def test_predict_alpha_hybrid_scales_reach_the_network():
    from automatte.infer.pipeline import Pipeline
    from automatte.models.output import MattingOutput

    sizes = []

    def net(image, trimap=None, mask=None):
        sizes.append(tuple(image.shape[-2:]))
        return MattingOutput(alpha=image[:, :1])

    pipe = Pipeline("probe", matting=net, foreground="none")
    img = np.zeros((384, 512, 3), np.float32)
    predict_alpha(pipe, img, strategy="hybrid", scales=(1 / 2, 1 / 4))
    assert sizes == [(192, 256), (96, 128)]
    sizes.clear()
    predict_alpha(pipe, img, strategy="hybrid", scales=(1 / 3, 1 / 4))
    assert sizes == [(128, 160), (96, 128)]  # each side floored to a multiple of 32, as the AIM / GFM code


def test_benchmark_aim_prints_table2_beside_ours_and_equals_eval(tmp_path, tiny_model, capsys):
    data = tmp_path / "AIM-500"
    make_aim500(data)
    out = tmp_path / "bench"
    rc = main(["benchmark", "--model", str(tiny_model), "--data", str(data), "--paper", "aim", "-o", str(out), "-q"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    # AIM Table 2's layout: whole image, transition, SO / STM / NS, categories, every method of the paper
    header = next(line for line in printed.splitlines() if line.startswith("| method"))
    for cell in ("Whole Image SAD", "Whole Image MSE", "Whole Image MAD", "Whole Image Conn.", "Whole Image Grad.",
                 "Tran. SAD", "SAD-Type SO", "SAD-Type STM", "SAD-Type NS", "SAD-Type Avg.", "Human", "Transp."):  # fmt: skip
        assert f"| {cell} |" in header, cell
    assert "Table 2" in printed
    rows = {line.split(" | ")[0].lstrip("| "): line for line in printed.splitlines() if line.startswith("| ")}
    for method in ("U2NET", "SHM", "LF", "HATT", "GFM", "DIM* (GT trimap)", "AIM-Net (paper)"):
        assert method in rows, method
    assert rows["AIM-Net (paper)"].startswith("| AIM-Net (paper) | 43.92 | 0.0161 | 0.0262 | 43.18 | 33.05 | 30.74 |")
    ours = next(k for k in rows if k.startswith("ours: aimnet_tiny.safetensors (hybrid 0.333 & 0.25, aim"))
    assert rows["images"].startswith("| images | 6 | 6 | 6 | 6 | 6 | 6 | 2 | 2 | 2 | 6 | 2 |")

    result = json.loads((out / "table.json").read_text())
    assert (out / "table.md").read_text() in printed
    assert result["table"] == "Table 2" and result["strategy"] == "hybrid" and result["protocol"] == "aim"
    assert result["published"]["GFM"]["whole/SAD"] == 52.66
    assert sorted(p.name for p in (out / "pred").iterdir()) == sorted(f"{n}.png" for n in make_aim500(tmp_path / "x"))

    # ours equal `automatte eval` on the same predictions (the AIM-500 folder read in its own layout)
    assert main(["eval", "--pred", str(out / "pred"), "--data", str(data), "--protocol", "aim",
                 "--format", "json", "-o", str(tmp_path / "eval.json"), "-q"]) == 0  # fmt: skip
    capsys.readouterr()
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    overall = next(s for s in evaluated["summary"] if s["group"] == "overall")["metrics"]
    by_type = {s["name"]: s["metrics"] for s in evaluated["summary"] if s["group"] == "type"}
    by_cat = {s["name"]: s["metrics"] for s in evaluated["summary"] if s["group"] == "category"}
    for key in ("whole/SAD", "whole/MSE", "whole/MAD", "whole/Grad", "whole/Conn", "unknown/SAD"):
        assert result["ours"][key] == pytest.approx(overall[key], rel=1e-12), key
    for kind in TYPES:
        assert result["ours"][f"type/{kind}/SAD"] == pytest.approx(by_type[kind]["whole/SAD"], rel=1e-12)
    assert result["ours"]["category/transparent/SAD"] == pytest.approx(by_cat["transparent"]["whole/SAD"], rel=1e-12)
    assert result["ours"]["type/avg/SAD"] == pytest.approx(np.mean([by_type[k]["whole/SAD"] for k in TYPES]))
    printed_sad = rows[ours].split(" | ")[1]
    assert printed_sad == f"{overall['whole/SAD']:.2f}"


def test_benchmark_refuses_to_overwrite_and_names_a_wrong_layout(tmp_path, tiny_model, capsys):
    data = tmp_path / "AIM-500"
    make_aim500(data, per_type=1)
    out = tmp_path / "bench"
    args = ["benchmark", "--model", str(tiny_model), "--data", str(data), "-o", str(out), "-q"]
    assert main([*args, "--strategy", "whole"]) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--scales", "1/2,1/4"]) == 0
    assert "hybrid 0.5 & 0.25" in capsys.readouterr().out
    (tmp_path / "flat").mkdir()
    assert main(["benchmark", "--model", str(tiny_model), "--data", str(tmp_path / "flat"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "flat: not AIM-500 in its authors' layout (expected original/" in err


def test_cli_choices_match_the_modules_and_stay_light():
    import subprocess
    import sys

    from automatte.data.benchmarks import BENCHMARKS
    from automatte.evaluation import STRATEGIES, cli

    assert cli.BENCHMARKS == BENCHMARKS and cli.STRATEGIES == STRATEGIES and cli.PAPERS == tuple(sorted(PAPERS))
    code = (
        "import sys, automatte.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('automatte.data.benchmarks', 'automatte.evaluation.folder') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
