"""Helpers of the trainer tests: experiment files, tiny stand-ins for the full-size models, child environments.

(Not a conftest.py: with ``--doctest-modules`` two conftest.py files in sibling folders collide.)
"""

from __future__ import annotations

from pathlib import Path

from automatte.train.config import Config, SourceConfig, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

TINY = {
    "aimnet": "aimnet_test",
    "ppmatting_hrnet48": "ppmatting_test",
    "tgn": "tgn_test",
    "spamattnet": "spamattnet_test",
    "dim": "dim_test",
    "indexnet": "indexnet_test",
    "gca": "gca_test",
    "vitmatte_s": "vitmatte_test",
    "vitmatte_s_free": "vitmatte_free_test",
    "dim_free": "dim_free_test",
    "indexnet_free": "indexnet_free_test",
    "deeplabv3_mnv2_voc": "deeplabv3_mnv2_test",
    "deeplabv3plus_mnv2": "deeplabv3plus_mnv2_test",
    "deeplabv3plus_mnv2_fine": "deeplabv3plus_mnv2_fine_test",
    "deeplabv3plus_mnv2_band": "deeplabv3plus_mnv2_band_test",
    "deeplabv3plus_mnv2_mid": "deeplabv3plus_mnv2_mid_test",
    "deeplabv3plus_effl0": "deeplabv3plus_effl0_test",
    "gca_free": "gca_free_test",
    "tgn_spamattnet": "tgn_spamattnet_test",
}
PPID_BASE = {"dim_ppid": "dim_test", "indexnet_ppid": "indexnet_test", "gca_ppid": "gca_test"}


def experiment(name: str, out: Path, *overrides: str) -> Config:
    """``configs/NAME.yaml`` with ``train.out_dir=out``, no progress bar, and ``overrides``."""
    return load_config(CONFIGS / f"{name}.yaml", [f"train.out_dir={out}", "train.progress=false", *overrides])


def shrink(cfg: Config, out: Path, steps: int = 2) -> Config:
    """A full-size experiment turned into a seconds-long CPU run: tiny model, synthetic 64-px data."""
    name = cfg.model.name
    if name in PPID_BASE:
        cfg.model.name, cfg.model.kwargs = "ppid_test", {"base": PPID_BASE[name]}
        cfg.distill.teacher, cfg.distill.teacher_checkpoint, cfg.distill.random_teacher = PPID_BASE[name], None, True
    else:
        cfg.model.name, cfg.model.kwargs, cfg.model.init_from = TINY[name], {}, None
    keep = {"augment": dict(cfg.data.train[0].kwargs.get("augment", {}))}
    keep["augment"].pop("scale_range", None)
    cfg.data.train = [SourceConfig(kind="synthetic", kwargs=keep)]
    cfg.data.val = [SourceConfig(kind="synthetic", kwargs={"n": 2, **keep})]
    cfg.data.crop_size, cfg.data.crop_sizes, cfg.data.batch_size, cfg.data.val_batch_size = 64, [64], 2, 2
    cfg.data.workers, cfg.data.epoch_length = 0, None
    if cfg.loss.recipe == "ddc":
        cfg.loss.kwargs = {**cfg.loss.kwargs, "kernel_size": 5}
    if cfg.paradigm == "adapt":
        cfg.adapt.pseudo_trimap_kernel, cfg.adapt.disc_channels, cfg.adapt.disc_layers = 3, 8, 2
    cfg.train.steps, cfg.train.val_every, cfg.train.ckpt_every, cfg.train.log_every = steps, steps, steps, 1
    cfg.train.amp, cfg.train.cpu_amp, cfg.train.device = "off", "off", "cpu"
    cfg.train.out_dir, cfg.train.progress = str(out), False
    return cfg


def subprocess_env() -> dict:
    """Environment for ``python -m automatte.train`` children: one thread each, the package importable."""
    import os

    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env
