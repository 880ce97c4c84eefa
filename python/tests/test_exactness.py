"""Exactness from Python: chains of each exact kernel against exact enumeration, with the
threshold a perfect sampler would exceed one time in a thousand (as the Rust suite)."""

import pytest
import torch

import joint_ebm as je
from conftest import configurations, empirical, tv_threshold

CHAINS = 4_000


def exact_posterior(energy, layout, x_row):
    rows, values = configurations(layout)
    f = energy(x_row.expand(rows.shape[0], -1).contiguous(), rows)
    return torch.softmax(f, 0), values


@pytest.mark.parametrize("kernel,steps", [(je.Gwg(), 60), (je.Dmala(step_size=0.5), 40), (je.ExactGibbs(), 30)])
def test_discrete_kernels_sample_the_posterior(mlp_energy, kernel, steps):
    energy, layout = mlp_energy
    x_row = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    p, values = exact_posterior(energy, layout, x_row)
    x = x_row.expand(CHAINS, -1).contiguous()
    y0 = layout.uniform(CHAINS, dtype=torch.float64)
    y, diag = kernel.run(energy, x, y0, steps=steps, seed=7)
    assert 0.0 < diag["accept_rate"] <= 1.0
    tv = 0.5 * (empirical(layout.decode(y), values) - p).abs().sum().item()
    assert tv < tv_threshold(p, CHAINS), (repr(kernel), tv)


def test_a_kernel_that_does_not_move_fails_the_check(mlp_energy):
    """The check can fail: the uniform start itself is far from the posterior."""
    energy, layout = mlp_energy
    x_row = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    p, values = exact_posterior(energy, layout, x_row)
    torch.manual_seed(7)
    y0 = layout.uniform(CHAINS, dtype=torch.float64)
    tv = 0.5 * (empirical(layout.decode(y0), values) - p).abs().sum().item()
    assert tv > tv_threshold(p, CHAINS)


def test_joint_sampler_recovers_the_label_marginal():
    """f(x, y) = -|x - M y|^2 / 2 + b.y: the Gaussian's normaliser does not depend on y, so
    the marginal of y is softmax(b.y) exactly; GWG + MALA is an exact joint chain."""
    layout = je.YLayout(groups=[3, 3])
    g = torch.Generator().manual_seed(3)
    m = torch.randn(layout.dim, 2, generator=g, dtype=torch.float64)
    b = torch.randn(layout.dim, generator=g, dtype=torch.float64)
    energy = je.Energy(lambda x, y: -((x - y @ m) ** 2).sum(1) / 2 + y @ b, layout)
    rows, values = configurations(layout)
    p = torch.softmax(rows @ b, 0)
    x0 = torch.zeros(CHAINS, 2, dtype=torch.float64)
    y0 = layout.uniform(CHAINS, dtype=torch.float64)
    sampler = je.JointSampler(je.Gwg(), je.Mala(noise_scale=0.7))
    assert sampler.is_exact
    x, y, diag = sampler.run(energy, x0, y0, sweeps=150, seed=11)
    assert diag["sweeps"] == 150 and diag["accept_prob_x"] > 0.3
    tv = 0.5 * (empirical(layout.decode(y), values) - p).abs().sum().item()
    assert tv < tv_threshold(p, CHAINS), tv
    # x given y is N(M y, I): the residual has mean 0 and variance 1 per coordinate.
    r = x - y @ m
    assert r.mean(0).abs().max() < 0.1 and (r.var(0) - 1).abs().max() < 0.15


def test_energy_based_prediction_is_the_enumerated_argmax(mlp_energy):
    energy, layout = mlp_energy
    x = torch.randn(5, 2, dtype=torch.float64)
    values, log_post = je.predict_by_energy(energy, x)
    rows, all_values = configurations(layout)
    for i in range(5):
        f = energy(x[i:i + 1].expand(rows.shape[0], -1).contiguous(), rows)
        assert torch.equal(values[i], all_values[f.argmax()])
        assert torch.allclose(log_post[i].exp().sum(), torch.tensor(1.0, dtype=torch.float64))


def test_sample_based_prediction_agrees_on_confident_inputs():
    layout = je.YLayout(groups=[4])
    w = torch.tensor([[3.0, 0.0, -3.0, 0.0], [0.0, 3.0, 0.0, -3.0]], dtype=torch.float64)
    energy = je.Energy(lambda x, y: ((x @ w) * y).sum(1), layout)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64) * 3
    values, votes = je.predict_by_sampling(energy, je.Gwg(), x, chains_per_input=10, steps=20, seed=0)
    assert values[:, 0].tolist() == [0, 1, 2, 3]
    assert len(votes) == 1 and votes[0].shape == (4, 4)


def test_a_feature_stage_gives_the_same_chain():
    """``Energy(head, layout, features=...)`` evaluates the same f: from the same seed, the
    same chain (the feature stage only saves work)."""
    layout = je.YLayout(groups=[3, 3])
    g = torch.Generator().manual_seed(5)
    w1 = torch.randn(2, 8, generator=g, dtype=torch.float64)
    w2 = torch.randn(8 + layout.dim, generator=g, dtype=torch.float64)
    feats = lambda x: torch.tanh(x @ w1)  # noqa: E731
    head = lambda h, y: torch.tanh(torch.cat([h, y], 1) * w2).sum(1)  # noqa: E731
    whole = je.Energy(lambda x, y: head(feats(x), y), layout)
    split = je.Energy(head, layout, features=feats)
    x0 = torch.randn(64, 2, dtype=torch.float64)
    y0 = layout.uniform(64, dtype=torch.float64)
    sampler = je.JointSampler(je.Gwg(), je.Mala(noise_scale=0.3))
    xa, ya, _ = sampler.run(whole, x0, y0, sweeps=20, seed=9)
    xb, yb, _ = sampler.run(split, x0, y0, sweeps=20, seed=9)
    assert torch.equal(ya, yb) and torch.allclose(xa, xb)
