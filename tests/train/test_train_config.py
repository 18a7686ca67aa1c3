"""Training config: defaults, YAML experiments, ``--set`` overrides and their type errors, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from automatte.train.config import Config, SourceConfig, apply_overrides, from_dict, load_config, to_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_valid_and_round_trip():
    cfg = load_config(None)
    assert cfg == Config()
    assert from_dict(to_dict(cfg)) == cfg


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_file_loads(path):
    cfg = load_config(path)
    assert from_dict(to_dict(cfg)) == cfg
    stem = path.stem.removesuffix("_smoke")
    assert len(stem.split("_")) >= 4, "name: {model}_{backbone}_{labels}_{data}"
    if path.stem.endswith("_smoke"):
        assert cfg.model.name.endswith("_test") and cfg.data.crop_size == 64 and cfg.data.batch_size == 2
        assert cfg.train.steps == 20 and cfg.train.device == "cpu" and cfg.data.workers == 0


def test_paradigms_are_all_covered():
    paradigms = {load_config(p).paradigm for p in CONFIGS.glob("*_smoke.yaml")}
    recipes = {load_config(p).loss.recipe for p in CONFIGS.glob("*_smoke.yaml")}
    assert paradigms == {"supervised", "distill", "adapt"}
    assert "ddc" in recipes and "tgn" in recipes


def test_yaml_overrides_defaults_and_keeps_the_rest(tmp_path):
    path = write(tmp_path, "model: {name: gca_test}\noptim: {lr: 4e-4, betas: [0.5, 0.999]}\ntrain: {steps: 7}\n")
    cfg = load_config(path)
    assert cfg.model.name == "gca_test" and cfg.train.steps == 7
    assert cfg.optim.lr == 4e-4 and isinstance(cfg.optim.lr, float)  # YAML 1.1 reads "4e-4" as a string
    assert cfg.optim.betas == (0.5, 0.999)
    assert cfg.optim.momentum == 0.9 and cfg.train.log_every == Config().train.log_every


def test_set_overrides_win_over_the_file(tmp_path):
    path = write(tmp_path, "train: {steps: 7, out_dir: a}\n")
    cfg = load_config(path, ["train.steps=9", "train.out_dir=123", "optim.lr=2", "model.init_from=null",
                             "optim.milestones=[1, 2]", "train.amp=bf16"])  # fmt: skip
    assert cfg.train.steps == 9
    assert cfg.train.out_dir == "123"  # a str field takes the text as is
    assert cfg.optim.lr == 2.0 and isinstance(cfg.optim.lr, float)
    assert cfg.model.init_from is None and cfg.optim.milestones == [1, 2] and cfg.train.amp == "bf16"


def test_set_reaches_list_entries_and_free_kwargs():
    cfg = apply_overrides(Config(), ["data.train.0.weight=3", "data.train.0.kwargs.augment.flip_prob=0",
                                     "model.kwargs.tgn.pretrained=x.pt", "loss.kwargs.levels=3"])  # fmt: skip
    assert cfg.data.train[0].weight == 3.0
    assert cfg.data.train[0].kwargs == {"augment": {"flip_prob": 0}}
    assert cfg.model.kwargs == {"tgn": {"pretrained": "x.pt"}} and cfg.loss.kwargs == {"levels": 3}


@pytest.mark.parametrize(
    "item, words",
    [
        ("train.steps=1.5", ["train.steps", "expected int", "1.5"]),
        ("train.steps=true", ["train.steps", "expected int", "True"]),
        ("optim.lr=fast", ["optim.lr", "expected float", "'fast'"]),
        ("train.freeze_bn=1", ["train.freeze_bn", "expected bool", "1"]),
        ("optim.betas=[0.5]", ["optim.betas", "expected list of 2 float"]),
        ("train.val_metrics=SAD", ["train.val_metrics", "expected list of str"]),
        ("optim.layer_decay=high", ["optim.layer_decay", "expected float or None"]),
        ("model.kwargs=3", ["model.kwargs", "expected mapping"]),
    ],
)
def test_set_type_errors_name_key_and_expected_type(item, words):
    with pytest.raises(ValueError) as err:
        load_config(None, [item])
    for word in words:
        assert word in str(err.value)


def test_unknown_keys_are_refused_with_a_suggestion(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key 'train.stpes' \(did you mean 'train.steps'\?\)"):
        load_config(None, ["train.stpes=3"])
    with pytest.raises(ValueError, match=r"exp.yaml: unknown key 'optim.learning_rate'"):
        load_config(write(tmp_path, "optim: {learning_rate: 0.1}\n"))
    with pytest.raises(ValueError, match="data.train has 1 entries; '4' is not an index"):
        load_config(None, ["data.train.4.weight=1"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        load_config(None, ["train.steps"])


def test_yaml_type_errors_name_the_file_and_key(tmp_path):
    with pytest.raises(ValueError, match=r"exp.yaml: train.steps: expected int, got 'many' \(str\)"):
        load_config(write(tmp_path, "train: {steps: many}\n"))
    with pytest.raises(ValueError, match=r"data.train: item 0: expected mapping \(SourceConfig\)"):
        load_config(write(tmp_path, "data: {train: [synthetic]}\n"))
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(write(tmp_path, "train: {steps: [\n"))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "item, match",
    [
        ("optim.name=rmsprop", "optim.name: expected one of 'sgd', 'adam', 'adamw'"),
        ("paradigm=gan", "paradigm: expected one of"),
        ("train.steps=0", "train.steps: must be > 0"),
        ("data.train.0.weight=0", "data.train.0.weight: must be > 0"),
        ("train.best_metric=Grad", "train.best_metric: 'Grad' is not in train.val_metrics"),
        ("train.val_metrics=[SAD, Foo]", "unknown metric 'Foo'"),
        ("optim.layer_decay=1.5", r"optim.layer_decay: must be in \(0, 1\]"),
        ("train.cpu_amp=fp16", "train.cpu_amp: expected one of 'off', 'bf16', 'auto'"),
    ],
)
def test_values_out_of_range(item, match):
    with pytest.raises(ValueError, match=match):
        load_config(None, [item])


def test_step_schedule_needs_matching_milestones():
    with pytest.raises(ValueError, match="milestones"):
        load_config(None, ["optim.schedule=step", "optim.milestones=[10, 5]", "optim.milestone_values=[0.1, 0.01]"])


def test_to_dict_is_plain_data():
    data = to_dict(Config(data=Config().data))
    assert isinstance(data["data"]["train"][0], dict) and data["data"]["train"][0]["kind"] == "synthetic"
    cfg = from_dict({**data, "data": {**data["data"], "train": [{"kind": "folder", "path": "x"}]}})
    assert cfg.data.train == [SourceConfig(kind="folder", path="x")]


def test_base_chain_merges_mappings_and_replaces_lists(tmp_path):
    (tmp_path / "root.yaml").write_text(
        "model: {name: dim_test}\noptim: {lr: 1.0e-3, name: adam}\n"
        "data: {train: [{kind: synthetic, weight: 1.0}], crop_size: 64, batch_size: 2}\n",
        encoding="utf-8",
    )
    (tmp_path / "mid").mkdir()
    (tmp_path / "mid" / "mid.yaml").write_text("base: ../root.yaml\noptim: {lr: 3.0e-5}\n", encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text(
        "base: mid/mid.yaml\ndata: {train: [{kind: synthetic, weight: 0.5}, {kind: synthetic, weight: 0.5}]}\n",
        encoding="utf-8",
    )
    cfg = load_config(child, ["train.steps=7"])
    assert cfg.model.name == "dim_test" and cfg.optim.lr == 3e-5 and cfg.optim.name == "adam"
    assert [s.weight for s in cfg.data.train] == [0.5, 0.5] and cfg.data.crop_size == 64 and cfg.train.steps == 7


def test_base_errors_name_the_file(tmp_path):
    write(tmp_path, "base: missing.yaml\n")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "exp.yaml")
    (tmp_path / "a.yaml").write_text("base: b.yaml\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cycle"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ValueError, match="mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
