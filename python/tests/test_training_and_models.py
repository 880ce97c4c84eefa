"""The Python training loop of examples/train_toy.py, and a model saved by a Rust run."""

import os
import pathlib
import sys

import pytest
import torch

import joint_ebm as je

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import train_toy  # noqa: E402


def test_the_python_training_loop_learns_the_toy_labels():
    """A short run (150 of the example's 600 iterations, ~40 s): floors, not the example's
    bar (the full run's figures are in docs/PYTHON.md)."""
    model, energy = train_toy.train(iterations=150, log_every=0, seed=0)
    model.requires_grad_(False)
    e, s = train_toy.evaluate(energy, n=500)
    assert e > 0.9 and s > 0.9, (e, s)


RUN = os.environ.get("JOINT_EBM_TOY_RUN")


@pytest.mark.skipif(RUN is None, reason="set JOINT_EBM_TOY_RUN to a toy run folder (scripts/python-test does)")
def test_a_model_saved_by_a_rust_run_predicts_and_generates():
    model = je.load_model(RUN)
    assert model.layout.groups == [2, 2, 2] and model.iteration > 0
    x = torch.tensor([[2.0, 0.0], [0.0, -2.0]])
    values, log_post = model.predict_by_energy(x)
    assert values.shape == (2, 3) and log_post.shape == (2, 8)
    sampled = model.predict_by_sampling(x, chains_per_input=4, steps=10, seed=0)
    assert sampled.shape == (2, 3)
    xs, labels = model.generate(16, labels={0: 1}, sweeps=5, seed=0)
    assert xs.shape == (16, 2) and bool((labels[:, 0] == 1).all())
    f = model.log_density(x, model.layout.encode(values))
    assert f.shape == (2,)
    with pytest.raises(ValueError):
        model.generate(4, labels={7: 0}, sweeps=1)
