"""Type stubs of the native module (the classes and functions ``joint_ebm`` re-exports)."""

from os import PathLike
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

TORCH_VERSION: str

EnergyFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Diagnostics = Dict[str, Union[float, int]]

class YLayout:
    """One-hot groups (their cardinalities) followed by independent bits: ``y`` is ``[B, D]``
    with ``D = sum(groups) + bits``; ``V = len(groups) + bits`` variables."""
    def __init__(self, groups: Sequence[int] = ..., bits: int = 0) -> None: ...
    @property
    def groups(self) -> List[int]: ...
    @property
    def bits(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def num_vars(self) -> int: ...
    def encode(self, values: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """``[B, V]`` int64 values -> ``[B, D]`` rows (default float32)."""
    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` rows -> ``[B, V]`` int64 values (ValueError for invalid rows)."""
    def uniform(self, n: int, dtype: Optional[torch.dtype] = None, device: str = "cpu") -> torch.Tensor:
        """``n`` rows with every group and bit uniform."""

class Energy:
    """``f(x, y) -> Tensor[B]``, higher = more probable; ``x [B, ...]``, ``y [B, D]``. With
    ``features`` (``h = features(x)``, independent of ``y``), ``f`` is the head ``f(h, y)`` and
    the samplers reuse ``h`` across label proposals."""
    def __init__(self, f: EnergyFn, layout: YLayout,
                 features: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> None: ...
    @property
    def layout(self) -> YLayout: ...
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...

class Gwg:
    """Gibbs-with-Gradients on ``y`` (one variable per step, MH-corrected, exact)."""
    def __init__(self, temperature: float = 2.0) -> None: ...
    def run(self, energy: Energy, x: torch.Tensor, y: torch.Tensor, steps: int = 1,
            fixed_y: Optional[torch.Tensor] = None, seed: Optional[int] = None) -> Tuple[torch.Tensor, Diagnostics]: ...

class Dmala:
    """Discrete MALA on ``y`` (every variable per step, MH-corrected unless ``adjusted=False``)."""
    def __init__(self, step_size: float = 0.2, group_step_size: Optional[float] = None,
                 adjusted: bool = True) -> None: ...
    def run(self, energy: Energy, x: torch.Tensor, y: torch.Tensor, steps: int = 1,
            fixed_y: Optional[torch.Tensor] = None, seed: Optional[int] = None) -> Tuple[torch.Tensor, Diagnostics]: ...

class ExactGibbs:
    """Exact Gibbs on ``y`` (one variable per step from its full conditional)."""
    def __init__(self) -> None: ...
    def run(self, energy: Energy, x: torch.Tensor, y: torch.Tensor, steps: int = 1,
            fixed_y: Optional[torch.Tensor] = None, seed: Optional[int] = None) -> Tuple[torch.Tensor, Diagnostics]: ...

class Langevin:
    """Unadjusted Langevin on ``x``: ``x + step_size * grad f + noise_scale * N(0, I)``, or the
    paper's ``Langevin(epsilon=..., temperature=...)``."""
    def __init__(self, step_size: Optional[float] = None, noise_scale: Optional[float] = None, *,
                 epsilon: Optional[float] = None, temperature: Optional[float] = None) -> None: ...
    def run(self, energy: Energy, x: torch.Tensor, y: torch.Tensor, steps: int = 1,
            fixed_x: Optional[torch.Tensor] = None, seed: Optional[int] = None) -> Tuple[torch.Tensor, Diagnostics]: ...

class Mala:
    """MALA on ``x`` (exact); ``step_size`` defaults to ``noise_scale ** 2 / 2``."""
    def __init__(self, step_size: Optional[float] = None, noise_scale: float = 0.1) -> None: ...
    def run(self, energy: Energy, x: torch.Tensor, y: torch.Tensor, steps: int = 1,
            fixed_x: Optional[torch.Tensor] = None, seed: Optional[int] = None) -> Tuple[torch.Tensor, Diagnostics]: ...

class JointSampler:
    """Metropolis-within-Gibbs: a discrete kernel on ``y``, then a continuous one on ``x``."""
    def __init__(self, discrete: Union[Gwg, Dmala, ExactGibbs], continuous: Union[Langevin, Mala]) -> None: ...
    @property
    def is_exact(self) -> bool: ...
    def run(self, energy: Energy, x: torch.Tensor, y: torch.Tensor, sweeps: int = 1,
            fixed_y: Optional[torch.Tensor] = None, fixed_x: Optional[torch.Tensor] = None,
            seed: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, Diagnostics]: ...

class Model:
    """A model saved by a Rust training run (EMA weights, layout, the run's samplers)."""
    @property
    def layout(self) -> YLayout: ...
    @property
    def iteration(self) -> int: ...
    def log_density(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...
    def predict_by_energy(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]: ...
    def predict_by_sampling(self, x: torch.Tensor, chains_per_input: int = 10, steps: int = 200,
                            seed: Optional[int] = None) -> torch.Tensor: ...
    def generate(self, n: int, labels: Optional[Mapping[int, Union[int, Sequence[int]]]] = None,
                 x_clamp: Optional[Tuple[torch.Tensor, torch.Tensor]] = None, start: str = "noise",
                 sweeps: int = 200, seed: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]: ...

def load_model(path: Union[str, PathLike], device: str = "cpu") -> Model: ...
def keep_freed_memory() -> bool:
    """Keeps freed memory in the heap (glibc mmap/trim thresholds), saving page faults on large
    tensors; process-wide, call once early. Returns whether the allocator accepted it."""
    ...
def predict_by_energy(energy: Energy, x: torch.Tensor, observed: Optional[torch.Tensor] = None,
                      fixed: Optional[torch.Tensor] = None,
                      max_configurations: int = 65536) -> Tuple[torch.Tensor, torch.Tensor]: ...
def predict_by_sampling(energy: Energy, kernel: Union[Gwg, Dmala, ExactGibbs], x: torch.Tensor,
                        chains_per_input: int = 10, steps: int = 200,
                        observed: Optional[torch.Tensor] = None, fixed: Optional[torch.Tensor] = None,
                        seed: Optional[int] = None) -> Tuple[torch.Tensor, List[torch.Tensor]]: ...
