"""Joint energy-based models on mixed continuous and discrete data, from PyTorch.

The samplers of the Rust library ``joint-ebm`` over any torch energy ``f(x, y) -> Tensor[B]``
(higher = more probable: ``p(x, y) ∝ exp f``), in the same process and on the same libtorch as
``torch``: tensors cross without copies and autograd graphs are shared.

>>> import torch, joint_ebm as je
>>> layout = je.YLayout(groups=[3])
>>> w = torch.randn(3, dtype=torch.float64)
>>> energy = je.Energy(lambda x, y: -(x ** 2).sum(1) / 2 + y @ w, layout)
>>> x = torch.zeros(8, 2, dtype=torch.float64)
>>> y = layout.uniform(8, dtype=torch.float64)
>>> sampler = je.JointSampler(je.Gwg(), je.Mala(noise_scale=0.5))
>>> x, y, diagnostics = sampler.run(energy, x, y, sweeps=10, seed=0)
>>> sorted(diagnostics)
['accept_prob_x', 'accept_prob_y', 'accept_rate_y', 'sweeps']
"""

import torch as _torch

_BUILT_FOR = "2.13.0"
_found = _torch.__version__.split("+")[0]
if _found != _BUILT_FOR:
    raise ImportError(
        f"joint_ebm was built for torch {_BUILT_FOR} (its native module links that libtorch), "
        f"but torch {_torch.__version__} is installed: install torch=={_BUILT_FOR} or rebuild "
        "joint_ebm against this torch"
    )

from ._native import (  # noqa: E402
    TORCH_VERSION,
    Dmala,
    Energy,
    ExactGibbs,
    Gwg,
    JointSampler,
    Langevin,
    Mala,
    Model,
    YLayout,
    keep_freed_memory,
    load_model,
    predict_by_energy,
    predict_by_sampling,
)

assert TORCH_VERSION == _BUILT_FOR, (TORCH_VERSION, _BUILT_FOR)

__all__ = [
    "Dmala",
    "Energy",
    "ExactGibbs",
    "Gwg",
    "JointSampler",
    "Langevin",
    "Mala",
    "Model",
    "YLayout",
    "keep_freed_memory",
    "load_model",
    "predict_by_energy",
    "predict_by_sampling",
]
