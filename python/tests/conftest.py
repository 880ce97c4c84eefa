import itertools

import pytest
import torch

import joint_ebm as je


def configurations(layout):
    """Every label row of ``layout`` ``[C, D]`` (float64) and its values ``[C, V]``."""
    ranges = [range(k) for k in layout.groups] + [range(2)] * layout.bits
    values = torch.tensor(list(itertools.product(*ranges)), dtype=torch.long)
    return layout.encode(values, dtype=torch.float64), values


def tv_threshold(p, n, quantile=0.999, reps=4_000, seed=123):
    """The `quantile` of the total variation between ``p`` and the empirical distribution of
    ``n`` independent exact draws: what a perfect sampler exceeds one time in a thousand."""
    g = torch.Generator().manual_seed(seed)
    draws = torch.multinomial(p.expand(reps, -1), n, replacement=True, generator=g)
    counts = torch.zeros(reps, p.numel(), dtype=torch.float64).scatter_add_(
        1, draws, torch.ones_like(draws, dtype=torch.float64))
    tv = 0.5 * (counts / n - p).abs().sum(1)
    return torch.quantile(tv, quantile).item()


def empirical(values, all_values):
    """Frequencies of each configuration of ``all_values`` among the rows of ``values``."""
    match = (values[:, None, :] == all_values[None, :, :]).all(2)
    assert match.any(1).all(), "a chain left the label space"
    return match.double().mean(0)


class SmallMlp(torch.nn.Module):
    """A fixed random MLP energy on ``concat(x, y)`` whose labels interact."""

    def __init__(self, x_dim, y_dim, seed=0, scale=1.5):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w1 = torch.nn.Parameter(torch.randn(x_dim + y_dim, 16, generator=g, dtype=torch.float64) * scale,
                                     requires_grad=False)
        self.w2 = torch.nn.Parameter(torch.randn(16, generator=g, dtype=torch.float64), requires_grad=False)

    def forward(self, x, y):
        return torch.tanh(torch.cat([x, y], 1) @ self.w1) @ self.w2


@pytest.fixture
def mlp_energy():
    layout = je.YLayout(groups=[3, 2], bits=2)
    return je.Energy(SmallMlp(2, layout.dim), layout), layout
