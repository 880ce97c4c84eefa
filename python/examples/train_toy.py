"""A joint EBM of the paper's toy data trained in Python over the Rust samplers.

Eight Gaussians on a circle, each point labelled by three binary attributes that together name
its mode. One MLP ``f(x, y)`` on ``concat(x, y)`` (higher = more probable) is trained by
persistent contrastive divergence with a replay buffer, as the paper does: the positive phase on
data, the negative phase on joint samples of the model from ``JointSampler(Gwg, Langevin)``
(the paper's toy kernels, Table 1), 5 % of the chains restarted from noise at each draw.

Departures from the paper's Table 1, as in the Rust example's ``default`` preset: batch 200
instead of 1 000, learning rate 1e-3 with a 50-iteration warm-up, an L2 penalty 0.1 on the
energies, 600 iterations.

Run: ``python examples/train_toy.py`` (prints energy- and sample-based accuracy on 2 000 test
points; about two to three minutes on 2 CPU cores).
"""

import argparse
import math
import time

import torch

import joint_ebm as je

CENTERS = torch.tensor(
    [[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0],
     [math.sqrt(0.5), -math.sqrt(0.5)], [math.sqrt(0.5), math.sqrt(0.5)],
     [-math.sqrt(0.5), math.sqrt(0.5)], [-math.sqrt(0.5), -math.sqrt(0.5)]],
    dtype=torch.float64,
)


def eight_gaussians(n: int):
    """``x [n, 2]`` and attribute values ``[n, 3]``: mode m, a1 = [m < 4], a2 = m mod 2,
    a3 = floor(m / 2) mod 2."""
    m = torch.randint(8, (n,))
    x = (CENTERS[m] * 4.0 + torch.randn(n, 2, dtype=torch.float64) * 0.5) / 1.414
    values = torch.stack([(m < 4).long(), m % 2, (m // 2) % 2], 1)
    return x, values


class Mlp(torch.nn.Module):
    """``f(x, y)``: three ELU layers of 256 on ``concat(x, y)``, one output per row."""

    def __init__(self, x_dim: int, y_dim: int, width: int = 256):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(x_dim + y_dim, width), torch.nn.ELU(),
            torch.nn.Linear(width, width), torch.nn.ELU(),
            torch.nn.Linear(width, width), torch.nn.ELU(),
            torch.nn.Linear(width, 1),
        )

    def forward(self, x, y):
        return self.net(torch.cat([x, y], 1)).squeeze(1)


def train(iterations=600, batch=200, sweeps=20, lr=1e-3, warmup=50, l2=0.1,
          buffer_size=10_000, reinit=0.05, seed=0, log_every=100):
    torch.manual_seed(seed)
    layout = je.YLayout(groups=[2, 2, 2])
    model = Mlp(2, layout.dim).double()
    energy = je.Energy(model, layout)
    sampler = je.JointSampler(je.Gwg(), je.Langevin(epsilon=0.1, temperature=0.5))
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def noise(n):  # the start of a fresh chain: x from N(0, I), labels uniform
        return torch.randn(n, 2, dtype=torch.float64), layout.uniform(n, dtype=torch.float64)

    buf_x, buf_y = noise(buffer_size)
    start = time.time()
    for it in range(iterations):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (it + 1) / warmup)
        x_pos, v_pos = eight_gaussians(batch)
        y_pos = layout.encode(v_pos, dtype=torch.float64)
        # Negative phase: draw chains from the buffer, restart some from noise, run the
        # sampler with the parameters frozen, write the chains back.
        idx = torch.randint(buffer_size, (batch,))
        x0, y0 = buf_x[idx], buf_y[idx]
        fresh = torch.rand(batch) < reinit
        nx, ny = noise(batch)
        x0 = torch.where(fresh[:, None], nx, x0)
        y0 = torch.where(fresh[:, None], ny, y0)
        model.requires_grad_(False)
        x_neg, y_neg, diag = sampler.run(energy, x0, y0, sweeps=sweeps)
        model.requires_grad_(True)
        buf_x[idx], buf_y[idx] = x_neg, y_neg
        # Maximum likelihood: raise f on data, lower it on the model's samples.
        f_pos, f_neg = model(x_pos, y_pos), model(x_neg.detach(), y_neg.detach())
        loss = f_neg.mean() - f_pos.mean() + l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log_every and (it + 1) % log_every == 0:
            print(f"it {it + 1}: f+ {f_pos.mean():.2f} f- {f_neg.mean():.2f} "
                  f"y-accept {diag['accept_prob_y']:.2f} ({time.time() - start:.0f} s)", flush=True)
    return model, energy


def evaluate(energy, n=2_000, seed=1):
    """Energy-based (exact argmax over the 8 label configurations) and sample-based (10 GWG
    chains of 200 steps per point, majority vote) accuracy, averaged over the attributes."""
    torch.manual_seed(seed)
    x, values = eight_gaussians(n)
    with torch.no_grad():
        by_energy, _ = je.predict_by_energy(energy, x)
    by_sampling, _ = je.predict_by_sampling(energy, je.Gwg(), x, chains_per_input=10, steps=200)
    acc = lambda p: (p == values).double().mean().item()  # noqa: E731
    return acc(by_energy), acc(by_sampling)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model, energy = train(iterations=args.iterations, seed=args.seed)
    model.requires_grad_(False)
    e, s = evaluate(energy)
    print(f"energy-based accuracy {e:.4f}, sample-based accuracy {s:.4f}")
