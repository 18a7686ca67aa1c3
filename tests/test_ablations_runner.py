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
        parts = table["verdict"].split("; ")
        assert all(": reproduced" in v or v.startswith("reproduced") for v in parts), (key, table["verdict"])
    reversed_ = _fake_results(abl, False)
    table = abl.build_table(
        abl.paper_spec("aim"), {int(s): v for s, v in reversed_["papers"]["aim"]["results"].items()}
    )
    # SAD: 4.18 / 100 apart, seeds 0.001 apart -> against the claim; MSE and MAD differ by < 0.001 -> inside
    assert [c["status"] for c in table["key"]] == ["against", "inconclusive", "inconclusive"]
    assert (
        table["verdict"] == "did not reproduce (1 of 3 checks against the claim beyond the seed spread, 2 inconclusive)"
    )
    assert not any(c["agrees"] for c in table["key"])
    # one seed only of one row missing: incomplete
    partial = {0: {k: v for k, v in reversed_["papers"]["aim"]["results"]["0"].items() if "UNI)" not in k}}
    assert abl.build_table(abl.paper_spec("aim"), partial)["verdict"].startswith("incomplete")
    assert all(c["seeds_agree"] == 0 for c in table["key"])


def _aim_seeds(abl, trimap: dict[str, list[float]], unified: dict[str, list[float]]) -> dict:
    """``{seed: {row: metrics}}`` of AIM's two rows from per-metric lists of per-seed values (others 0.1)."""
    a, b = (r.label for r in abl.paper_spec("aim").rows)
    n = len(next(iter(trimap.values())))
    out = {}
    for s in range(n):
        out[s] = {a: {m: 0.1 for m in abl.OURS}, b: {m: 0.1 for m in abl.OURS}}
        out[s][a].update({m: v[s] for m, v in trimap.items()})
        out[s][b].update({m: v[s] for m, v in unified.items()})
    return out


def test_verdict_rule_inconclusive_inside_the_seed_spread(abl):
    """The rule of VERDICT_RULE on synthetic per-seed results: a difference inside the seed spread (the two rows'
    seed ranges overlap or touch, or a row has one seed) is inconclusive even when the mean and every seed's
    paired difference move the claimed way; outside it the check reproduces or goes against the claim."""
    aim = abl.paper_spec("aim")
    same = {"MSE": [0.5, 0.5], "MAD": [0.5, 0.5]}  # identical rows: inside the spread
    # AIM's 64-px SAD case: lower in the mean and on both seeds, but the ranges overlap -> inconclusive
    table = abl.build_table(aim, _aim_seeds(abl, {"SAD": [1.0, 1.2], **same}, {"SAD": [0.95, 1.15], **same}))
    sad = table["key"][0]
    assert sad["agrees"] and sad["seeds_agree"] == 2 and not sad["separated"] and sad["status"] == "inconclusive"
    assert table["verdict"].startswith("inconclusive (every check inside the seed spread")
    assert table["verdict"].endswith("the mean moves the claimed way in 1 of 3)")
    # touching ranges are inside the spread
    table = abl.build_table(aim, _aim_seeds(abl, {"SAD": [1.0, 1.2], **same}, {"SAD": [0.9, 1.0], **same}))
    assert table["key"][0]["status"] == "inconclusive"
    # apart: every seed of the compared row below every seed of the reference -> reproduces
    table = abl.build_table(aim, _aim_seeds(abl, {"SAD": [1.0, 1.2], **same}, {"SAD": [0.8, 0.99], **same}))
    assert [c["status"] for c in table["key"]] == ["reproduces", "inconclusive", "inconclusive"]
    assert table["verdict"] == "reproduced in 1 of 3 checks beyond the seed spread, the other 2 inconclusive"
    # apart the other way -> against the claim
    table = abl.build_table(aim, _aim_seeds(abl, {"SAD": [1.0, 1.2], **same}, {"SAD": [1.3, 1.4], **same}))
    assert table["key"][0]["status"] == "against" and table["verdict"].startswith("did not reproduce (1 of 3")
    # every check apart and lower -> reproduced; one against -> mixed
    low = {"SAD": [0.5, 0.6], "MSE": [0.1, 0.2], "MAD": [0.3, 0.4]}
    high = {"SAD": [1.0, 1.1], "MSE": [0.3, 0.4], "MAD": [0.6, 0.7]}
    table = abl.build_table(aim, _aim_seeds(abl, high, low))
    assert table["verdict"] == "reproduced (every check beyond the seed spread)"
    table = abl.build_table(aim, _aim_seeds(abl, high, {**low, "MAD": [0.9, 1.0]}))
    assert table["verdict"] == "mixed (2 of 3 checks reproduce, 1 goes against the claim beyond the seed spread)"
    # one seed: no spread, nothing is conclusive however far apart the rows are
    one = {k: v[:1] for k, v in high.items()}, {k: v[:1] for k, v in low.items()}
    table = abl.build_table(aim, _aim_seeds(abl, *one))
    assert all(c["status"] == "inconclusive" for c in table["key"]) and table["verdict"].startswith("inconclusive")
    # the statuses alone
    check = {"agrees": True, "separated": False, "seeds_agree": 2, "seed_deltas": [-1.0, -2.0]}
    assert abl.check_status(check) == "inconclusive" and abl.check_status({**check, "separated": True}) == "reproduces"
    assert abl.check_status({**check, "separated": True, "agrees": False}) == "against"
    assert abl.verdict([check], 2).startswith("incomplete")


def test_spamattnet_tests_the_refinement_module_and_ddc_claim_text(abl):
    """Table VI's refinement-module claim (RM improves SAD and Conn, with soft and hard fusion) is checked beside
    hard vs soft fusion, each part with its own verdict; DDC's claim text names what its SAD check tests."""
    spa = abl.paper_spec("spamattnet")
    checks = list(zip(spa.key_parts, spa.key_checks))
    rm = [c for part, c in checks if part == "refinement module"]
    assert sorted(rm) == sorted([("JIS w/o RM", "JIS", "SAD"), ("JIS w/o RM", "JIS", "Conn"),
                                 ("JIH w/o RM", "JIH", "SAD"), ("JIH w/o RM", "JIH", "Conn")])  # fmt: skip
    assert [c for part, c in checks if part != "refinement module"] == [("JIS", "JIH", "SAD"),
                                                                      ("JIS w/o RM", "JIH w/o RM", "SAD")]  # fmt: skip
    figures = {r.label: r.paper for r in spa.rows}
    assert all(figures[b][m] < figures[a][m] for a, b, m in rm)  # the paper's own rows support the claim
    assert "refinement module improves SAD and Conn" in spa.claim
    # RM rows apart and lower; fusion rows inside the spread
    base = {"JIS w/o RM": 1.0, "JIH w/o RM": 1.0, "JIS": 0.5, "JIH": 0.5}
    per_seed = {s: {label: {m: v + 0.01 * s for m in abl.OURS} for label, v in base.items()} for s in (0, 1)}
    table = abl.build_table(spa, per_seed)
    assert table["verdict"] == ("refinement module: reproduced (every check beyond the seed spread); hard vs soft "
                                "fusion: inconclusive (every check inside the seed spread; the mean moves the "
                                "claimed way in 0 of 2)")  # fmt: skip
    ddc = abl.paper_spec("ddc")
    assert "lowest SAD" not in ddc.claim and ("L_known", "L_known + L_DDC", "SAD") in ddc.key_checks


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


def test_report_only_rerenders_from_a_committed_results_json(abl, tmp_path):
    """``--report-only --results FILE`` renders the report from a results JSON without training, and writes the
    same results beside the report (the JSON committed next to docs/ablations256.md); rendering that copy again
    gives the same report."""
    fixture = REPO / "tests" / "fixtures" / "ablations_small.json"
    report = tmp_path / "docs" / "abl256.md"
    assert abl.main(["--report-only", "--results", str(fixture), "--report", str(report)]) == 0
    text = report.read_text(encoding="utf-8")
    saved = tmp_path / "docs" / "abl256.json"
    assert json.loads(saved.read_text(encoding="utf-8")) == json.loads(fixture.read_text(encoding="utf-8"))
    assert (tmp_path / "docs" / "abl256.png").is_file()
    assert text.startswith("# Each paper's key ablation at 256 px") and abl.VERDICT_RULE in text
    assert "trained and evaluated on cuda (fixture), amp bf16, 14 loader workers" in text
    # the fixture's AIM rows: SAD apart and lower, MSE overlapping, MAD apart and higher
    verdict = "mixed (1 of 3 checks reproduce, 1 goes against the claim beyond the seed spread, 1 inconclusive)"
    assert f"**Verdict: {verdict}.**" in text
    assert ("| trimap target (w/o UNI) | unified representation (UNI) | MSE | -0.0067 | -0.00125 | as claimed "
            "| 2 of 2 | no | **inconclusive** |") in text  # fmt: skip
    spa = ("refinement module: reproduced (every check beyond the seed spread); hard vs soft fusion: reproduced in "
           "1 of 2 checks beyond the seed spread, the other 1 inconclusive")  # fmt: skip
    assert f"**Verdict: {spa}.**" in text and f"| {spa} | 1000 | 4 min |" in text
    assert "| 10.2 ± 0.28 / 81.08 |" in text  # mean ± std over the two seeds / the paper's figure
    again = tmp_path / "again" / "abl256.md"
    assert abl.main(["--report-only", "--results", str(saved), "--report", str(again)]) == 0
    assert again.read_text(encoding="utf-8").split("\n", 4)[4] == text.split("\n", 4)[4]  # all but the paths
