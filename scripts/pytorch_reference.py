#!/usr/bin/env python3
"""PyTorch reference implementations of the joint-EBM sampler and training iteration, for timing
against the Rust crates (`benches/main.rs`) and for checking that both run the same chain.

For the paper's three energies (same architectures, PyTorch default initialisation, same label
layouts: toy 3 groups x 2, MNIST 1 x 10, dSprites 2 x 16) two implementations of the same Markov
chain (block Metropolis-within-Gibbs: one Gibbs-with-Gradients step on y given x, then one
Langevin step on x given y; docs/REFERENCE-NOTES.md sections 1-3) and of the same PCD training
iteration:

* ``authors``: the pass structure of the authors' code (docs/REFERENCE-NOTES.md section 3.1). Per
  MWG sweep: GWG gradient at (x, y) [1F+1B], reverse gradient at (x, y') [1F+1B], two extra forwards
  for the MH ratio, then a fresh Langevin forward/backward at (x, y_new) [1F+1B] = 5 forwards + 3
  backwards of the full energy; the parameters keep requires_grad=True while sampling; the
  acceptance rate is read with .item() after every GWG step; proposals are drawn with
  torch.distributions.OneHotCategorical; the first layer is nn.Linear on concat(x, y).
* ``fused``: the best plain PyTorch we could write, with the structure of the Rust design
  (docs/REFERENCE-NOTES.md section 3.2, "one evaluation, both gradients"): a cached evaluation (f,
  df/dy, df/dh and the feature graph of h(x)) is carried between the kernels; the features h(x) (the
  CNN and the x-columns of the first linear layer) are computed once per Langevin move; GWG
  evaluates only the head, once, at (x, y') (2 head passes per sweep, no recomputation); Langevin
  gets df/dx by one vector-Jacobian product through the kept feature graph and evaluates (x', y)
  once; the parameters are frozen (requires_grad_(False)) while sampling; no host synchronisation
  inside the loop (acceptance is accumulated on the device and read once); Gumbel-max proposal
  draws; for training, one batched forward of the positive and negative batches, fused (or foreach)
  Adam and a foreach EMA.

GWG exactly as docs/REFERENCE-NOTES.md section 1.1: temperature 2, current values excluded, one
softmax over all G*K cells, reverse probability from the gradient at y', MH test with the
untempered f.
Langevin: x <- x + eps^2/(2 lambda) df/dx + eps * N(0, I).

Chain check (always run unless --no-check): both implementations run from the same state and the
same torch seed in float64 on the CPU, drawing their random numbers in the same order as the Rust
kernels (GWG: uniforms [B, D] for a Gumbel-max cell choice, uniforms [B] for the MH test;
Langevin: normals like x), and must make the same accept/reject decisions and reach the same
states. With --export-check DIR the weights, the start state and both end states are written as
safetensors; `JEBM_BENCH_CHECK_DIR=DIR cargo bench --bench main` then replays the chain with the
Rust sampler from the same libtorch generator and compares (scripts/bench-compare does both).

Benchmarks (median wall time over --repeats runs, each from fresh chains after a short warm-up):
gwg_step/E, langevin_step/E, mwg_sweep/E = a run of the paper's step count on the paper's batch
(toy 1000 x 20, MNIST 100 x 40, dSprites 100 x 40); train_iter/E = one PCD iteration (buffer draw
with 5% re-initialisation, that many sweeps, write-back of x and y, loss -(mean f+ - mean f-),
Adam step with warm-up, EMA update). Output: JSON lines on stdout, e.g.
{"impl": "fused", "bench": "mwg_sweep/toy", "median_s": ..., "chain_steps_per_s": ...,
 "accept_rate": ...}; progress on stderr.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.distributions as dists
import torch.nn as nn
import torch.nn.functional as F

EXPERIMENTS = {
    "toy": dict(batch=1000, steps=20, eps=0.1, lam=0.5, groups=3, K=2, x_shape=(2,),
                lr=1e-4, warmup=1000),
    "mnist": dict(batch=100, steps=40, eps=3e-3, lam=1.5e-6, groups=1, K=10, x_shape=(784,),
                  lr=1e-4, warmup=10000),
    "dsprites": dict(batch=100, steps=40, eps=3e-3, lam=4.5e-7, groups=2, K=16,
                     x_shape=(1, 32, 32), lr=1e-5, warmup=10000),
    # The MNIST default's network (this project's, not the paper's MLP): the dSprites CNN on
    # 28 x 28 inputs, with MNIST's batch, steps and Langevin settings.
    "mnist_cnn": dict(batch=100, steps=40, eps=3e-3, lam=1.5e-6, groups=1, K=10,
                      x_shape=(1, 28, 28), lr=1e-4, warmup=10000),
}
BENCHES = ("gwg_step", "langevin_step", "mwg_sweep", "train_iter")
IMPLS = ("authors", "fused")
TEMP = 2.0
BUFFER_SIZE = 10000
REINIT_PROB = 0.05
EMA_DECAY = 0.99
CHECK_SCALE = 100.0
CHECK_Y_SCALE = 10.0


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Energies: f(x, y), higher = more probable.


class MLPEnergy(nn.Module):
    """MLP on concat(flatten(x), y) -> scalar (the authors' smooth_mlp_ebm)."""

    def __init__(self, x_dim, y_dim, hidden, act):
        super().__init__()
        self.x_dim = x_dim
        widths = [x_dim + y_dim] + list(hidden) + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.act = act

    def tail(self, z):
        h = z
        for layer in self.layers[1:]:
            h = layer(self.act(h))
        return h.squeeze(-1)

    def forward(self, x, y):  # authors: one nn.Linear on the concatenation
        return self.tail(self.layers[0](torch.cat([x.flatten(1), y], 1)))

    # Split first layer (same parameters, same function): W [x; y] + b = (W_x x + b) + W_y y.
    def features(self, x):
        w = self.layers[0].weight
        return x.flatten(1) @ w[:, : self.x_dim].t() + self.layers[0].bias

    def head(self, h, y):
        w = self.layers[0].weight
        return self.tail(h + y @ w[:, self.x_dim:].t())

    def export(self, prefix=""):
        w = self.layers[0].weight
        out = {
            prefix + "first_weight_x": w[:, : self.x_dim],
            prefix + "first_weight_y": w[:, self.x_dim:],
            prefix + "first_bias": self.layers[0].bias,
        }
        for i, layer in enumerate(self.layers[1:], start=1):
            out[f"{prefix}layer{i}.weight"] = layer.weight
            out[f"{prefix}layer{i}.bias"] = layer.bias
        return out


class CNNEnergy(nn.Module):
    """dSprites: CNN features (16 * (side // 8)^2: 256 for 32x32, 144 for 28x28) then MLP
    features+D -> 256 -> 256 -> 1 (SiLU)."""

    SPECS = [(1, 16, 3, 1, 1), (16, 32, 4, 2, 1), (32, 64, 4, 2, 1), (64, 128, 4, 2, 1),
             (128, 16, 1, 1, 0)]

    def __init__(self, y_dim, side=32):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(ci, co, k, s, p) for ci, co, k, s, p in self.SPECS)
        self.mlp = MLPEnergy(16 * (side // 8) ** 2, y_dim, [256, 256], F.silu)

    def cnn(self, x):
        # Channels-last (NHWC) was tried for both sides and measured no faster here for a
        # forward plus input-gradient at batch 100 on one thread (docs/PERFORMANCE.md).
        h = x
        last = len(self.convs) - 1
        for i, c in enumerate(self.convs):
            h = c(h)
            if i < last:
                h = F.silu(h)
        return h.flatten(1)

    def forward(self, x, y):
        return self.mlp(self.cnn(x), y)

    def features(self, x):
        return self.mlp.features(self.cnn(x))

    def head(self, h, y):
        return self.mlp.head(h, y)

    def export(self, prefix=""):
        out = {}
        for i, c in enumerate(self.convs):
            out[f"{prefix}conv{i}.weight"] = c.weight
            out[f"{prefix}conv{i}.bias"] = c.bias
        out.update(self.mlp.export(prefix + "mlp."))
        return out


def build(name):
    cfg = EXPERIMENTS[name]
    d = cfg["groups"] * cfg["K"]
    if name == "toy":
        return MLPEnergy(2, d, [256, 256, 256], F.elu)
    if name == "mnist":
        return MLPEnergy(784, d, [1000, 500, 500, 250, 250, 250], F.elu)
    if name == "mnist_cnn":
        return CNNEnergy(d, side=28)
    return CNNEnergy(d)


def synthetic_data(name, b, device, dtype):
    """A data batch of the right shape and range (toy N(0, 2^2); images: logit of uniform
    pixels, as the paper's pre-processing produces) and uniform one-hot labels."""
    cfg = EXPERIMENTS[name]
    shape = (b,) + cfg["x_shape"]
    if name == "toy":
        x = torch.randn(shape, device=device, dtype=dtype) * 2.0
    else:
        x = torch.logit(torch.rand(shape, device=device, dtype=dtype) * (1 - 2e-6) + 1e-6)
    return x, uniform_labels(name, b, device, dtype)


def uniform_labels(name, b, device, dtype):
    cfg = EXPERIMENTS[name]
    idx = torch.randint(0, cfg["K"], (b, cfg["groups"]), device=device)
    return F.one_hot(idx, cfg["K"]).to(dtype).view(b, -1)


class XInit:
    """Per-dimension uniform between the min and max of one data batch (the paper's p0(x))."""

    def __init__(self, data):
        self.low = data.min(0).values
        self.high = data.max(0).values

    def sample(self, n):
        u = torch.rand((n,) + tuple(self.low.shape), device=self.low.device, dtype=self.low.dtype)
        return self.low + (self.high - self.low) * u


def set_requires_grad(model, flag):
    for p in model.parameters():
        p.requires_grad_(flag)


# --------------------------------------------------------------------------------------------
# (a) The authors' pass structure.


def authors_diff(model, x, y, groups, k):
    """docs/REFERENCE-NOTES.md section 1.1, steps 1-2: one forward + one backward at (x, y),
    first-order scores / T."""
    y = y.detach().requires_grad_(True)
    f = model(x, y)
    g = torch.autograd.grad(f.sum(), y)[0].view(-1, groups, k)
    yv = y.detach().view(-1, groups, k)
    return (g - (g * yv).sum(-1, keepdim=True)) / TEMP


def authors_gwg(model, x, y, groups, k, check):
    b = y.shape[0]
    yv = y.view(b, groups, k)
    fwd_logits = (authors_diff(model, x, y, groups, k) - 1e9 * yv).view(b, -1)
    if check:  # Gumbel-max with the Rust kernel's uniforms (same draws as `fused`)
        logp = fwd_logits.log_softmax(1)
        cell = gumbel_cells(logp)
        changes = F.one_hot(cell, groups * k).to(y.dtype)
        lp_forward = (logp * changes).sum(1)
    else:
        cd_forward = dists.OneHotCategorical(logits=fwd_logits)
        changes = cd_forward.sample()
        lp_forward = cd_forward.log_prob(changes)
    changes_r = changes.view(b, groups, k)
    changed_ind = changes_r.sum(-1)
    y_delta = ((1.0 - changed_ind[:, :, None]) * yv + changes_r).view(b, -1)
    rev_logits = (authors_diff(model, x, y_delta, groups, k)
                  - 1e9 * y_delta.view(b, groups, k)).view(b, -1)
    reverse_changes = (yv * changed_ind[:, :, None]).view(b, -1)
    if check:
        lp_reverse = (rev_logits.log_softmax(1) * reverse_changes).sum(1)
    else:
        lp_reverse = dists.OneHotCategorical(logits=rev_logits).log_prob(reverse_changes)
    m_term = model(x, y_delta).squeeze() - model(x, y).squeeze()  # two extra forwards
    la = m_term + lp_reverse - lp_forward
    a = (la.exp() > torch.rand_like(la)).to(y.dtype)
    y_new = (y_delta * a[:, None] + y * (1.0 - a[:, None])).detach()
    return y_new, a


class AuthorsChain:
    """The authors' interleaved MWG loop; x is a leaf requiring grad throughout (updated
    through .data), the parameters keep requires_grad=True."""

    def __init__(self, model, name, check=False):
        cfg = EXPERIMENTS[name]
        self.model, self.groups, self.k, self.check = model, cfg["groups"], cfg["K"], check
        self.step_size = cfg["eps"] * cfg["eps"] / (2.0 * cfg["lam"])
        self.sigma = cfg["eps"]
        self.accepts = []  # host floats, as the authors log them
        self.accepted = []  # check mode only: per-sweep decisions

    def start(self, x, y):
        self.x = x.detach().clone().requires_grad_(True)
        self.y = y.detach().clone()

    def gwg(self):
        self.y, a = authors_gwg(self.model, self.x, self.y, self.groups, self.k, self.check)
        self.accepts.append(a.mean().item())
        if self.check:
            self.accepted.append(a.detach().clone())

    def langevin(self):
        f_prime = torch.autograd.grad(self.model(self.x, self.y).sum(), [self.x])[0]
        self.x.data += self.step_size * f_prime + self.sigma * torch.randn_like(self.x)

    def sweep(self):
        self.gwg()
        self.langevin()

    def accept_rate(self):
        return float(np.mean(self.accepts)) if self.accepts else None


# --------------------------------------------------------------------------------------------
# (b) Fused: cached evaluations carried between kernels.


class Cached:
    __slots__ = ("f", "gy", "h", "gh", "x_leaf", "h_graph")


def full_eval(model, x, y):
    """Features forward (graph kept), head forward + one head backward: f, df/dy, df/dh."""
    c = Cached()
    c.x_leaf = x.detach().requires_grad_(True)
    c.h_graph = model.features(c.x_leaf)
    h = c.h_graph.detach().requires_grad_(True)
    yl = y.detach().requires_grad_(True)
    f = model.head(h, yl)
    c.gh, c.gy = torch.autograd.grad(f.sum(), [h, yl])
    c.f, c.h = f.detach(), h.detach()
    return c


def head_eval(model, h, y):
    hl = h.detach().requires_grad_(True)
    yl = y.detach().requires_grad_(True)
    f = model.head(hl, yl)
    gh, gy = torch.autograd.grad(f.sum(), [hl, yl])
    return f.detach(), gy, gh


def fused_proposal(y, gy, groups, k):
    b = y.shape[0]
    g = gy.view(b, groups, k)
    yv = y.view(b, groups, k)
    d = (g - (g * yv).sum(-1, keepdim=True)) / TEMP
    return d.masked_fill(yv != 0, float("-inf")).view(b, -1).log_softmax(1)


def gumbel_cells(logp):
    u = torch.rand_like(logp).clamp_min(1e-30)
    return (logp + (-(-u.log()).log())).argmax(1)


class FusedChain:
    def __init__(self, model, name):
        cfg = EXPERIMENTS[name]
        self.model, self.groups, self.k = model, cfg["groups"], cfg["K"]
        self.step_size = cfg["eps"] * cfg["eps"] / (2.0 * cfg["lam"])
        self.sigma = cfg["eps"]
        self.acc_sum = None
        self.acc_n = 0
        self.accepted = None  # list when recording decisions (check mode)

    def start(self, x, y):
        self.x, self.y = x.detach(), y.detach()
        self.c = full_eval(self.model, self.x, self.y)

    def gwg(self):
        y, c, b = self.y, self.c, self.y.shape[0]
        d = y.shape[1]
        logp = fused_proposal(y, c.gy, self.groups, self.k)
        cell = gumbel_cells(logp)
        log_u = torch.rand_like(c.f).clamp_min(1e-30).log()
        e = F.one_hot(cell, d).to(y.dtype)
        grp = e.view(b, self.groups, self.k).sum(-1, keepdim=True).expand(
            b, self.groups, self.k).reshape(b, d)
        y_new = y * (1.0 - grp) + e * (1.0 - y)
        rev_cell = (y * grp).argmax(1)
        lq_fwd = logp.gather(1, cell[:, None]).squeeze(1)
        f_new, gy_new, gh_new = head_eval(self.model, c.h, y_new)
        rev = fused_proposal(y_new, gy_new, self.groups, self.k)
        lq_rev = rev.gather(1, rev_cell[:, None]).squeeze(1)
        log_alpha = f_new - c.f + lq_rev - lq_fwd
        acc = log_u < log_alpha
        a = acc[:, None]
        self.y = torch.where(a, y_new, y)
        c.f = torch.where(acc, f_new, c.f)
        c.gy = torch.where(a, gy_new, c.gy)
        c.gh = torch.where(a, gh_new, c.gh)
        s = acc.sum()
        self.acc_sum = s if self.acc_sum is None else self.acc_sum + s
        self.acc_n += b
        if self.accepted is not None:
            self.accepted.append(acc.to(y.dtype))

    def langevin(self):
        c = self.c
        gx = torch.autograd.grad(c.h_graph, c.x_leaf, grad_outputs=c.gh)[0]
        noise = torch.randn_like(self.x)
        self.x = self.x + gx * self.step_size + noise * self.sigma
        self.c = full_eval(self.model, self.x, self.y)

    def sweep(self):
        self.gwg()
        self.langevin()

    def accept_rate(self):
        return None if self.acc_sum is None else self.acc_sum.item() / self.acc_n


# --------------------------------------------------------------------------------------------
# PCD training iteration.


class Trainer:
    def __init__(self, impl, name, device, dtype):
        cfg = EXPERIMENTS[name]
        self.impl, self.name, self.cfg = impl, name, cfg
        self.model = build(name).to(device=device, dtype=dtype)
        self.ema = copy.deepcopy(self.model)
        set_requires_grad(self.ema, False)
        self.params = list(self.model.parameters())
        self.ema_params = list(self.ema.parameters())
        if impl == "fused":
            try:
                self.opt = torch.optim.Adam(self.params, lr=cfg["lr"], betas=(0.9, 0.999),
                                            fused=True)
            except (RuntimeError, TypeError, ValueError):
                self.opt = torch.optim.Adam(self.params, lr=cfg["lr"], betas=(0.9, 0.999),
                                            foreach=True)
        else:
            self.opt = torch.optim.Adam(self.params, lr=cfg["lr"], betas=(0.9, 0.999))
        data_x, data_y = synthetic_data(name, cfg["batch"], device, dtype)
        self.x_pos, self.y_pos = data_x, data_y
        self.x_init = XInit(data_x)
        self.buf_x = self.x_init.sample(BUFFER_SIZE)
        self.buf_y = uniform_labels(name, BUFFER_SIZE, device, dtype)
        self.it = 0
        self.accepts = []

    def step(self, steps):
        cfg, b = self.cfg, self.cfg["batch"]
        lr = cfg["lr"] * (self.it + 1) / cfg["warmup"] if self.it < cfg["warmup"] else cfg["lr"]
        device = self.buf_x.device
        idx = torch.randint(0, BUFFER_SIZE, (b,), device=device)
        reinit = torch.rand(b, device=device) < REINIT_PROB
        r = reinit.view((b,) + (1,) * (self.buf_x.dim() - 1))
        x0 = torch.where(r, self.x_init.sample(b), self.buf_x[idx])
        y0 = torch.where(reinit[:, None],
                         uniform_labels(self.name, b, device, self.buf_y.dtype), self.buf_y[idx])
        if self.impl == "fused":
            set_requires_grad(self.model, False)
            chain = FusedChain(self.model, self.name)
        else:
            chain = AuthorsChain(self.model, self.name)
        chain.start(x0, y0)
        for _ in range(steps):
            chain.sweep()
        if self.impl == "fused":
            set_requires_grad(self.model, True)
            self.acc_tensor = chain.acc_sum  # read after timing
            self.acc_count = chain.acc_n
        else:
            self.accepts.extend(chain.accepts)
        x_neg, y_neg = chain.x.detach(), chain.y.detach()
        self.buf_x[idx] = x_neg
        self.buf_y[idx] = y_neg
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        if self.impl == "fused":  # one batched forward of both phases
            f = self.model.head(self.model.features(torch.cat([self.x_pos, x_neg])),
                                torch.cat([self.y_pos, y_neg]))
            f_pos, f_neg = f[:b], f[b:]
        else:
            f_pos = self.model(self.x_pos, self.y_pos)
            f_neg = self.model(x_neg, y_neg)
        loss = -(f_pos.mean() - f_neg.mean())
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            if self.impl == "fused":
                torch._foreach_lerp_(self.ema_params, self.params, 1.0 - EMA_DECAY)
            else:
                for pe, p in zip(self.ema_params, self.params):
                    pe.data.mul_(EMA_DECAY).add_(p.data, alpha=1.0 - EMA_DECAY)
        self.it += 1
        return loss.item()  # the one host read per iteration (both implementations)


# --------------------------------------------------------------------------------------------
# Timing.


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_chain(impl, model, name, check=False):
    return AuthorsChain(model, name, check) if impl == "authors" else FusedChain(model, name)


def bench_sampler(bench, impl, name, device, repeats, model, x0, y0):
    cfg = EXPERIMENTS[name]
    if impl == "fused":
        set_requires_grad(model, False)
    else:
        set_requires_grad(model, True)
    kernel = {"gwg_step": "gwg", "langevin_step": "langevin", "mwg_sweep": "sweep"}[bench]

    def run(steps):
        chain = make_chain(impl, model, name)
        chain.start(x0, y0)
        sync(device)
        t0 = time.perf_counter()
        fn = getattr(chain, kernel)
        for _ in range(steps):
            fn()
        sync(device)
        return time.perf_counter() - t0, chain

    run(2)  # warm-up
    times, rates = [], []
    for _ in range(repeats):
        t, chain = run(cfg["steps"])
        times.append(t)
        rates.append(chain.accept_rate())
    set_requires_grad(model, True)
    rates = [r for r in rates if r is not None]
    return times, (float(np.mean(rates)) if rates else None)


def bench_train(impl, name, device, dtype, repeats):
    cfg = EXPERIMENTS[name]
    trainer = Trainer(impl, name, device, dtype)
    trainer.step(2)  # warm-up (short)
    trainer.accepts = []
    times, acc_sum, acc_n = [], 0.0, 0
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        trainer.step(cfg["steps"])
        sync(device)
        times.append(time.perf_counter() - t0)
        if impl == "fused":
            acc_sum += trainer.acc_tensor.item()
            acc_n += trainer.acc_count
    rate = acc_sum / acc_n if impl == "fused" else float(np.mean(trainer.accepts))
    return times, rate


# --------------------------------------------------------------------------------------------
# Chain check and export.


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    codes = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    for key, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy())
        raw = a.tobytes()
        header[key] = {"dtype": codes[a.dtype], "shape": list(a.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)))
        fh.write(h)
        for raw in blobs:
            fh.write(raw)
    os.replace(tmp, path)


def chain_check(name, sweeps, seed, export_dir, scale):
    """Authors vs fused from the same state and seed, float64, CPU: same decisions, same chain."""
    cfg = EXPERIMENTS[name]
    torch.manual_seed(seed)
    model = build(name).double()
    # A freshly initialised network barely depends on y, so GWG would accept (almost) every
    # proposal and the check would not exercise rejections: sharpen f by scaling its output layer
    # (by `scale`) and the y-columns of its first layer (by CHECK_Y_SCALE).
    with torch.no_grad():
        mlp = model if isinstance(model, MLPEnergy) else model.mlp
        mlp.layers[-1].weight.mul_(scale)
        mlp.layers[-1].bias.mul_(scale)
        mlp.layers[0].weight[:, mlp.x_dim:].mul_(CHECK_Y_SCALE)
    data, _ = synthetic_data(name, cfg["batch"], torch.device("cpu"), torch.float64)
    x0 = XInit(data).sample(cfg["batch"])
    y0 = uniform_labels(name, cfg["batch"], torch.device("cpu"), torch.float64)
    chain_seed = seed + 1
    results = {}
    for impl in IMPLS:
        set_requires_grad(model, impl == "authors")
        if impl == "authors":
            chain = AuthorsChain(model, name, check=True)
        else:
            chain = FusedChain(model, name)
            chain.accepted = []
        torch.manual_seed(chain_seed)
        chain.start(x0, y0)
        for _ in range(sweeps):
            chain.sweep()
        results[impl] = (chain.x.detach().clone(), chain.y.detach().clone(),
                         torch.stack(chain.accepted).to(torch.float64))
    set_requires_grad(model, True)
    (xa, ya, aa), (xf, yf, af) = results["authors"], results["fused"]
    decisions = int((aa != af).sum())
    y_rows = int((ya != yf).any(1).sum())
    x_scale = max(float(xa.abs().max()), 1.0)
    x_diff = float((xa - xf).abs().max())
    agree = decisions == 0 and y_rows == 0 and x_diff <= 1e-6 * x_scale
    line = {"check": "authors_vs_fused", "energy": name, "chains": cfg["batch"],
            "sweeps": sweeps, "output_scale": scale, "accept_rate_authors": float(aa.mean()),
            "accept_rate_fused": float(af.mean()), "accept_decisions_differing": decisions,
            "y_rows_differing": y_rows, "x_max_abs_diff": x_diff, "x_max_abs": x_scale,
            "agree": agree}
    if export_dir:
        os.makedirs(export_dir, exist_ok=True)
        write_safetensors(os.path.join(export_dir, f"{name}.model.safetensors"),
                          {k: v.contiguous() for k, v in model.export().items()})
        chain_t = {"seed": torch.tensor([chain_seed], dtype=torch.int64), "x0": x0, "y0": y0}
        for impl, (x, y, a) in results.items():
            chain_t[f"{impl}.x"], chain_t[f"{impl}.y"], chain_t[f"{impl}.accepted"] = x, y, a
        write_safetensors(os.path.join(export_dir, f"{name}.chain.safetensors"), chain_t)
        line["exported"] = export_dir
    return line


# --------------------------------------------------------------------------------------------


def keep_freed_memory():
    """The same glibc allocator settings as ebm_core::keep_freed_memory() on the Rust side
    (M_MMAP_THRESHOLD = 32 MiB, M_TRIM_THRESHOLD = INT_MAX): freed tensor memory stays in the
    heap, avoiding page faults on every large allocation. Returns whether glibc accepted them."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        return libc.mallopt(-3, 32 << 20) == 1 and libc.mallopt(-1, 2**31 - 1) == 1
    except (OSError, AttributeError):
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--energies", default="toy,mnist,dsprites")
    p.add_argument("--benches", default=",".join(BENCHES))
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=None, help="timed runs per benchmark "
                   "(default 5, --quick 2)")
    p.add_argument("--quick", action="store_true", help="fewer repeats, shorter chain check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-check", action="store_true", help="skip the chain check")
    p.add_argument("--check-only", action="store_true", help="only the chain check")
    p.add_argument("--check-sweeps", type=int, default=None,
                   help="sweeps of the chain check (default: the paper's steps; --quick 5)")
    p.add_argument("--check-scale", type=float, default=CHECK_SCALE,
                   help="factor on the output layer of the check's model, so that GWG also "
                   f"rejects (default {CHECK_SCALE:g})")
    p.add_argument("--export-check", metavar="DIR", default=None,
                   help="write weights and chains of the check for the Rust replay")
    args = p.parse_args()

    tuned = keep_freed_memory()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch.cuda.is_available() is False")
    repeats = args.repeats or (2 if args.quick else 5)
    energies = [e for e in args.energies.split(",") if e]
    benches = [b for b in args.benches.split(",") if b]
    impls = [i for i in args.impls.split(",") if i]
    for e in energies:
        if e not in EXPERIMENTS:
            sys.exit(f"unknown energy {e!r}; expected one of {sorted(EXPERIMENTS)}")
    for b in benches:
        if b not in BENCHES:
            sys.exit(f"unknown benchmark {b!r}; expected one of {BENCHES}")
    for i in impls:
        if i not in IMPLS:
            sys.exit(f"unknown implementation {i!r}; expected one of {IMPLS}")
    log(f"pytorch_reference: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"device {device}, {platform.processor() or platform.machine()}, repeats {repeats}, "
        f"glibc heap kept (mallopt): {tuned}")

    ok = True
    for name in energies:
        cfg = EXPERIMENTS[name]
        if not args.no_check or args.check_only:
            sweeps = args.check_sweeps or (5 if args.quick else cfg["steps"])
            log(f"[{name}] chain check: authors vs fused, {cfg['batch']} chains x {sweeps} "
                "sweeps, float64")
            line = chain_check(name, sweeps, args.seed, args.export_check, args.check_scale)
            ok &= line["agree"]
            print(json.dumps(line), flush=True)
        if args.check_only:
            continue
        torch.manual_seed(args.seed)
        dtype = torch.float32
        model = build(name).to(device=device, dtype=dtype)
        data, _ = synthetic_data(name, cfg["batch"], device, dtype)
        x0 = XInit(data).sample(cfg["batch"])
        y0 = uniform_labels(name, cfg["batch"], device, dtype)
        for bench in benches:
            for impl in impls:
                log(f"[{name}] {bench} {impl} ...")
                if bench == "train_iter":
                    times, rate = bench_train(impl, name, device, dtype, repeats)
                else:
                    times, rate = bench_sampler(bench, impl, name, device, repeats, model,
                                                x0, y0)
                med = statistics.median(times)
                line = {"impl": impl, "bench": f"{bench}/{name}", "median_s": med,
                        "chain_steps_per_s": cfg["batch"] * cfg["steps"] / med,
                        "accept_rate": rate, "repeats": len(times),
                        "min_s": min(times), "max_s": max(times),
                        "threads": torch.get_num_threads(), "device": str(device),
                        "batch": cfg["batch"], "steps": cfg["steps"]}
                print(json.dumps(line), flush=True)
    if not ok:
        log("pytorch_reference: chain check FAILED (authors and fused chains differ)")
        sys.exit(1)


if __name__ == "__main__":
    main()
