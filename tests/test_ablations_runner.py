"""benchmarks/ablations.py (issue 12): each paper's rows against its table, the configs of every run, the held-out
evaluation, and the table / verdict / report / chart writers on fake run results (no training here)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
PAPERS_DIR = REPO.parent / "shared" / "papers"


@pytest.fixture(scope="module")
def abl():
    spec = importlib.util.spec_from_file_location("ablations", REPO / "benchmarks" / "ablations.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


# Each table's rows in the paper's order, as the papers name them (typed from the papers, not from the runner).
PAPER_ROWS = {
    "ddc": ["L_known", "L_known + L_affinity", "L_known + L_DC", "L_known + L_DDC"],
    "ppid": ["DIM teacher (trimap-based)", "DIM trimap-free, no distillation", "DIM-PPID student (CLSD + ALD)"],
    "aim": ["trimap target (w/o UNI)", "unified representation (UNI)"],
    "ppmatting": ["w/o GF", "GF from block 5", "GF from blocks 1, 3, 5", "GF from blocks 1-5"],
    "spamattnet": ["JIS w/o RM", "JIH w/o RM", "JIS", "JIH"],
}
# One figure per row checked by hand against the table (SAD, the first column of every table).
PAPER_SAD = {
    "ddc": [45.94, 32.54, 42.24, 30.26],
    "ppid": [50.40, 103.09, 93.80],
    "aim": [81.08, 76.90],
    "ppmatting": [52.52, 51.07, 50.79, 49.55],
    "spamattnet": [43.91, 38.36, 40.51, 37.95],
}


def test_rows_match_the_papers_tables(abl):
    assert list(abl.BUILDERS) == list(PAPER_ROWS)
    for key, labels in PAPER_ROWS.items():
        paper = abl.paper_spec(key)
        assert [r.label for r in paper.rows] == labels, key
        assert [r.paper["SAD"] for r in paper.rows] == PAPER_SAD[key], key
        for row in paper.rows:
            assert set(row.paper) == set(paper.columns) and set(paper.columns) <= set(abl.OURS)
            assert row.job in {j.name for j in paper.jobs}
        labels_set = set(labels)
        for a, b, metric in paper.key_checks:
            assert a in labels_set and b in labels_set and metric in paper.columns
        assert all(a in labels_set and b in labels_set for a, b in paper.pairs)


@pytest.mark.skipif(not PAPERS_DIR.is_dir(), reason="../shared/papers not present")
def test_every_figure_is_in_the_paper_text(abl):
    for key in abl.BUILDERS:
        paper = abl.paper_spec(key)
        text = (PAPERS_DIR / paper.paper_file).read_text(encoding="utf-8")
        numbers = {float(x) for x in re.findall(r"\d+\.\d+", text)}
        for row in paper.rows:
            missing = {m: v for m, v in row.paper.items() if v not in numbers}
            assert not missing, f"{key} {row.label}: {missing} not in {paper.paper_file}"


def test_switches_and_equal_budget(abl):
    """Every run's config loads (known keys, registered models), rows differ only in their switch, and the
    budget is the same for every run of a paper."""
    from automatte.registry import model_info
    from automatte.train.config import load_config

    sources = {"backgrounds": None, "coarse": ["/data/coarse/ccp"]}
    seen = {}
    for key in abl.BUILDERS:
        paper = abl.paper_spec(key, 100)
        cfgs = {}
        for job in paper.jobs:
            out = Path("/tmp/abl_test") / key / "seed3" / job.name
            overrides = abl.job_overrides(paper, job, steps=100, seed=3, out_dir=out, sources=sources)
            cfg = load_config(REPO / job.config, overrides)
            assert (cfg.train.steps, cfg.train.seed, cfg.data.batch_size, cfg.data.crop_size) == (100, 3, 8, 64)
            assert cfg.model.name.endswith("_test") and cfg.train.out_dir == str(out)
            assert "automatte train " + job.config in abl.command_line(job, overrides)
            cfgs[job.name] = cfg
        seen[key] = cfgs
    ddc = seen["ddc"]
    assert [ddc[j].loss.kwargs["consistency"] for j in ("known", "affinity", "dc", "ddc")] == [
        None,
        "affinity",
        "dc",
        "ddc",
    ]
    assert all(model_info(c.model.name).inputs == ("image",) for c in ddc.values())  # DDC: image-only model
    assert [s.kind for s in ddc["ddc"].data.train] == ["synthetic", "coarse"]  # coarse sets when present
    assert [s.kind for s in seen["aim"]["trimap"].data.train] == ["synthetic"]
    assert ddc["ddc"].optim.milestones == [60, 90]
    ppid = seen["ppid"]
    assert ppid["student"].distill.teacher_checkpoint == "/tmp/abl_test/ppid/seed3/teacher/last.pt"
    assert ppid["baseline"].loss.recipe == "ppid" and ppid["baseline"].loss.kwargs["gamma"] == 0
    assert ppid["student"].paradigm == "distill" and ppid["baseline"].model.name == "dim_free_test"
    assert {(c.optim.name, c.optim.lr, c.optim.schedule) for c in ppid.values()} == {("sgd", 2e-3, "poly")}
    aim = seen["aim"]
    assert (
        aim["trimap"].loss.kwargs["semantic_target"] == "trimap"
        and aim["unified"].loss.kwargs["semantic_target"] == "unified"
    )
    assert aim["trimap"].model.kwargs == aim["unified"].model.kwargs == {
        "max_pool_indices": False, "se": False, "spatial_attention": False}  # fmt: skip
    guides = [c.model.kwargs["guide_blocks"] for c in seen["ppmatting"].values()]
    assert guides == [[], [4], [0, 2, 4], [0, 1, 2, 3, 4]]
    spa = seen["spamattnet"]
    assert spa["spa_no_rm"].model.kwargs["refinement"] is False and "refinement" not in spa["spa"].model.kwargs
    fusions = [r.joint["fusion"] for r in abl.paper_spec("spamattnet").rows]
    assert fusions == ["soft", "hard", "soft", "hard"]


def test_heldout_set_is_fixed_and_evaluation_wires_the_metrics(abl):
    import torch

    a, b = abl.heldout_set(3), abl.heldout_set(3)
    assert [s["type"] for s in a] == ["SO", "STM", "NS"]
    assert all(torch.equal(x["alpha"], y["alpha"]) and torch.equal(x["image"], y["image"]) for x, y in zip(a, b))
    assert all("mask" in s and s["image"].shape[-1] == abl.SIZE for s in a)

    class Zero(torch.nn.Module):  # predicts alpha = 0 everywhere: SAD = sum(gt) / 1000
        model_inputs = ("image",)

        def forward(self, image):
            from automatte.models.output import MattingOutput

            return MattingOutput(alpha=torch.zeros_like(image[:, :1]))

    got = abl.evaluate_model(Zero(), a, batch=2)
    want = np.mean([s["alpha"].double().sum().item() / 1000 for s in a])
    assert set(got) == set(abl.OURS) and got["SAD"] == pytest.approx(want, rel=1e-6)


def _fake_results(abl, better_is_claimed: bool, papers=("ddc", "ppid", "aim", "ppmatting", "spamattnet")) -> dict:
    """Fake results.json: each row's metrics are the paper's figures (scaled) when ``better_is_claimed`` (so
    every direction agrees with the paper), else reversed; seed 1 adds a small offset."""
    results = {"meta": {"command": "python benchmarks/ablations.py --paper all", "machine": "test", "threads": 2,
                        "started": "now", "data": "fake"}, "papers": {}}  # fmt: skip
    for key in papers:
        paper = abl.paper_spec(key)
        per_seed = {}
        for seed in (0, 1):
            rows = {}
            for i, row in enumerate(paper.rows):
                source = row if better_is_claimed else paper.rows[len(paper.rows) - 1 - i]
                metrics = {m: 0.1 for m in abl.OURS}
                metrics.update({m: v / 100 + 0.001 * seed for m, v in source.paper.items()})
                rows[row.label] = metrics
            per_seed[str(seed)] = rows
        results["papers"][key] = {"steps": 7, "seeds": [0, 1], "batch": 8, "size": 64, "eval_n": 4, "eval_seed": 1,
                                  "timings": {"seed0/x": {"seconds": 60.0}}, "results": per_seed}  # fmt: skip
    return results


def test_build_table_summaries_and_verdicts(abl):
    results = _fake_results(abl, True)
    for key in abl.BUILDERS:
        paper = abl.paper_spec(key)
        table = abl.build_table(paper, {int(s): v for s, v in results["papers"][key]["results"].items()})
        first = paper.rows[0]
        s = table["rows"][first.label]["SAD"]
        assert s["n"] == 2 and s["mean"] == pytest.approx(first.paper["SAD"] / 100 + 0.0005)
        assert s["std"] == pytest.approx(0.001 / np.sqrt(2)) and s["max"] - s["min"] == pytest.approx(0.001)
        assert all(c["agrees"] for c in table["pairs"] if c["agrees"] is not None), key
        assert all(c["seeds_agree"] == len(c["seed_deltas"]) == 2 for c in table["key"]), key
        assert table["verdict"].startswith("reproduced"), key
    reversed_ = _fake_results(abl, False)
    table = abl.build_table(
        abl.paper_spec("aim"), {int(s): v for s, v in reversed_["papers"]["aim"]["results"].items()}
    )
    assert table["verdict"] == "did not reproduce at this scale"
    assert not any(c["agrees"] for c in table["key"])
    # one seed only of one row missing: incomplete
    partial = {0: {k: v for k, v in reversed_["papers"]["aim"]["results"]["0"].items() if "UNI)" not in k}}
    assert abl.build_table(abl.paper_spec("aim"), partial)["verdict"].startswith("incomplete")
    assert all(c["seeds_agree"] == 0 for c in table["key"])
    # the levels of the verdict
    check = {"agrees": True, "separated": False, "seeds_agree": 2, "seed_deltas": [-1.0, -2.0]}
    assert abl.verdict([check], 1).startswith("reproduced (every check, on every seed")
    assert abl.verdict([{**check, "separated": True}], 1) == "reproduced (every check, beyond the seed spread)"
    assert abl.verdict([{**check, "seeds_agree": 1}], 1).startswith("reproduced in the mean over seeds")
    assert abl.verdict([check, {**check, "agrees": False}], 2) == "partly reproduced (1 of 2 checks)"
    assert abl.verdict([{**check, "agrees": False}], 1) == "did not reproduce at this scale"


def test_report_and_chart_from_fake_results(abl, tmp_path):
    import cv2

    results = _fake_results(abl, True, papers=("ddc", "aim", "spamattnet"))
    (tmp_path / "results.json").write_text(json.dumps(results))
    report, chart = tmp_path / "docs" / "ablations.md", tmp_path / "docs" / "ablations.png"
    text = abl.write_report(json.loads((tmp_path / "results.json").read_text()), report, chart)
    assert report.read_text() == text
    assert "python benchmarks/ablations.py --paper all" in text
    for key in ("ddc", "aim", "spamattnet"):
        paper = abl.paper_spec(key)
        assert f"## {paper.title} — {paper.table}" in text
        for row in paper.rows:
            assert f"| {row.label} |" in text
    assert "/ 32.54 |" in text and "/ 77.7 |" in text  # the paper's figures beside ours
    assert text.count("not run yet") == 2  # ppid and ppmatting
    assert "Seeds 0, 1; 7 steps per run" in text
    # a failed run: listed, and its row reported from the seeds that have it
    results["papers"]["aim"]["failures"] = {"seed1/unified": "FloatingPointError: step 3: the loss is not finite"}
    del results["papers"]["aim"]["results"]["1"]["unified representation (UNI)"]
    text = abl.write_report(results, report, chart)
    assert "**Run seed1/unified failed**: FloatingPointError" in text
    table = abl.build_table(abl.paper_spec("aim"), {int(k): v for k, v in results["papers"]["aim"]["results"].items()})
    assert table["rows"]["unified representation (UNI)"]["SAD"]["n"] == 1
    assert all(len(c["seed_deltas"]) == 1 for c in table["key"])
    img = cv2.imread(str(chart))
    assert img is not None and img.shape[1] > 3 * 300 and img.std() > 0


def test_pretrained_switch_picks_the_full_size_networks_and_their_imagenet_encoders(abl):
    """``--size 256 --pretrained``: full-size models (the table's rows otherwise unchanged), the VGG-16 file of
    ``make weights`` where an encoder has ImageNet weights offline, sizes scaled (no training here)."""
    from automatte.registry import model_info
    from automatte.train.config import load_config

    sources = {"backgrounds": None, "coarse": []}
    vgg = "build/weights/vgg16_imagenet.safetensors"  # relative to the repository root, as the data paths
    seen = {}
    for key in abl.BUILDERS:
        paper = abl.paper_spec(key, 100)
        for job in paper.jobs:
            out = Path("/tmp/abl_test") / key / "seed0" / job.name
            overrides = abl.job_overrides(paper, job, steps=100, seed=0, out_dir=out, sources=sources, size=256,
                                          pretrained=True, device="cuda")  # fmt: skip
            cfg = load_config(REPO / job.config, overrides)
            assert cfg.data.crop_size == 256 and cfg.train.device == "cuda"
            assert not cfg.model.name.endswith("_test") and model_info(cfg.model.name)
            seen[(key, job.name)] = cfg
    aim = [seen[("aim", j)] for j in ("trimap", "unified")]
    assert {c.model.name for c in aim} == {"aimnet_vgg16"} and all(c.model.kwargs["pretrained"] == vgg for c in aim)
    assert aim[0].model.kwargs["max_pool_indices"] is False  # the rows' own switches are kept
    ppid = {j: seen[("ppid", j)] for j in ("teacher", "baseline", "student")}
    assert [c.model.name for c in ppid.values()] == ["dim", "dim_free", "dim_ppid"]
    assert all(c.model.kwargs["pretrained"] == vgg for c in ppid.values()) and ppid["student"].distill.teacher == "dim"
    spa = {j: seen[("spamattnet", j)] for j in ("tgn", "spa", "spa_no_rm")}
    assert [c.model.name for c in spa.values()] == ["tgn", "spamattnet", "spamattnet"]
    assert all("pretrained" not in c.model.kwargs for c in spa.values())  # no ImageNet ResNet offline
    assert spa["tgn"].data.train[0].kwargs["augment"]["trimap_k_range"] == [8, 8]  # 15 px at 512, scaled to 256
    assert abl._job_model(abl.paper_spec("aim").jobs[0], True) == "aimnet_vgg16 (ImageNet vgg16_imagenet.safetensors)"
    assert abl._job_model(abl.paper_spec("spamattnet").jobs[1], True) == "spamattnet (random init)"
    small = abl.job_overrides(abl.paper_spec("aim"), abl.paper_spec("aim").jobs[0], steps=5, seed=0,
                              out_dir=Path("/tmp/x"), sources=sources)  # fmt: skip
    assert "model.name=aimnet_test" in small and not any("pretrained" in o for o in small)
