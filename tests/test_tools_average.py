"""tools/average_weights.py: the weight average of two checkpoints of one network."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from automatte.registry import create_model
from automatte.train.checkpoint import FORMAT, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
FMT = {"format": FORMAT}
spec = importlib.util.spec_from_file_location("average_weights", ROOT / "tools" / "average_weights.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_average_of_two_checkpoints_is_exact_and_keeps_the_first_ones_metadata(tmp_path):
    torch.manual_seed(0)
    a, b = create_model("dim_test").state_dict(), create_model("dim_test").state_dict()
    save_checkpoint(tmp_path / "a.pt", {"model": a, "model_name": "dim_test", "step": 7, "optimizer": {"x": 1}, **FMT})
    save_checkpoint(tmp_path / "b.pt", {"model": b, "model_name": "dim_test", "step": 3, **FMT})
    assert (
        tool.main([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--weight", "0.25", "--out", str(tmp_path / "s.pt")])
        == 0
    )
    soup = load_checkpoint(tmp_path / "s.pt")
    assert soup["step"] == 7 and soup["model_name"] == "dim_test" and "optimizer" not in soup
    for key, t in a.items():
        if t.is_floating_point():
            torch.testing.assert_close(soup["model"][key], 0.25 * t + 0.75 * b[key])
        else:
            assert soup["model"][key].equal(t)
    create_model("dim_test").load_state_dict(soup["model"])  # loads strictly
    bad = tmp_path / "s.safetensors"  # a checkpoint under a weights file's name: refused, nothing written
    assert tool.main([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--out", str(bad)]) == 2 and not bad.exists()


def test_different_networks_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not the same architecture"):
        tool.average_states({"w": torch.ones(2)}, {"v": torch.ones(2)})
    with pytest.raises(ValueError, match="shape"):
        tool.average_states({"w": torch.ones(2)}, {"w": torch.ones(3)})
    with pytest.raises(ValueError, match="weight"):
        tool.average_states({"w": torch.ones(2)}, {"w": torch.ones(2)}, 1.5)


def test_average_of_two_safetensors_files_is_a_safetensors_file_with_the_first_ones_metadata(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    a = {"w": torch.tensor([1.0, 3.0], dtype=torch.float16), "n": torch.tensor(7)}
    b = {"w": torch.tensor([3.0, 5.0], dtype=torch.float16), "n": torch.tensor(2)}
    save_file(a, str(tmp_path / "a.safetensors"), metadata={"arch": "deeplabv3plus_mnv2"})
    save_file(b, str(tmp_path / "b.safetensors"))
    out = tmp_path / "s.safetensors"
    assert tool.main([str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"), "--out", str(out)]) == 0
    with safe_open(str(out), "pt") as f:
        assert f.metadata() == {"arch": "deeplabv3plus_mnv2"}
        assert f.get_tensor("w").tolist() == [2.0, 4.0] and f.get_tensor("w").dtype == torch.float16
        assert int(f.get_tensor("n")) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "b.safetensors", "s.safetensors"]
    # a .pt output from a .safetensors A would lose the arch: refused
    assert tool.main([str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"), "--out", "x.pt"]) == 2


def test_grown_network_keeps_its_new_part_and_averages_the_rest():
    a = {"body": torch.tensor([1.0, 3.0]), "head": torch.tensor([5.0])}
    b = {"body": torch.tensor([3.0, 5.0])}
    out = tool.average_states(a, b, 0.25, grown=True)
    assert out["body"].tolist() == [2.5, 4.5] and out["head"].tolist() == [5.0]
    with pytest.raises(ValueError, match="not the same architecture"):
        tool.average_states(a, b, 0.25)  # without --grown a missing tensor is refused
    with pytest.raises(ValueError, match="not the same architecture"):
        tool.average_states(b, a, 0.25, grown=True)  # B may not have parts that A lacks
    net = create_model("deeplabv3plus_mnv2_fine_test")
    base = create_model("deeplabv3plus_mnv2_test")
    soup = tool.average_states(net.state_dict(), base.state_dict(), 0.4, grown=True)
    assert net.load_state_dict(soup) is not None


def test_kept_candidate_soups_with_the_shipped_segmenter_into_a_network_that_runs(tmp_path):
    """candidates/segmenter-round30.safetensors (docs/experiments.md, round 30): its 0.3 soup with v12 loads
    strictly into the shipped architecture and segments (the README's command in candidates/)."""
    from safetensors.torch import load_file

    shipped = ROOT / "src" / "automatte" / "weights" / "salient-segmenter.safetensors"
    out = tmp_path / "soup30.safetensors"
    args = [str(shipped), str(ROOT / "candidates" / "segmenter-round30.safetensors"), "--weight", "0.7"]
    assert tool.main([*args, "--out", str(out)]) == 0
    net = create_model("deeplabv3plus_mnv2").eval()
    net.load_state_dict(load_file(out))  # strict: every tensor of the architecture, nothing else
    v12, r30 = load_file(shipped), load_file(ROOT / "candidates" / "segmenter-round30.safetensors")
    key = next(k for k, t in v12.items() if t.is_floating_point() and t.numel() > 1000)
    torch.testing.assert_close(net.state_dict()[key], 0.7 * v12[key].float() + 0.3 * r30[key], atol=2e-3, rtol=0)
    with torch.no_grad():
        alpha = net(torch.rand(1, 3, 64, 64)).alpha
    assert alpha.shape == (1, 1, 64, 64) and bool(((alpha >= 0) & (alpha <= 1)).all())
