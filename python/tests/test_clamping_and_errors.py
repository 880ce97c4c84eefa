"""Clamping of y and x, and errors a user can act on (never a crash)."""

import os
import subprocess
import sys

import pytest
import torch

import joint_ebm as je


def quadratic(layout):
    return je.Energy(lambda x, y: -(x ** 2).sum(1) + y.sum(1) * 0.1, layout)


def test_clamped_labels_and_pixels_stay():
    layout = je.YLayout(groups=[3, 3], bits=4)
    energy = quadratic(layout)
    x0 = torch.randn(64, 5, dtype=torch.float64)
    y0 = layout.uniform(64, dtype=torch.float64)
    fixed_y = torch.tensor([True, False, False, True, False, False])
    fixed_x = torch.tensor([True, False, True, False, False])
    sampler = je.JointSampler(je.Dmala(step_size=1.0), je.Langevin(0.05, 0.1))
    x, y, _ = sampler.run(energy, x0, y0, sweeps=20, fixed_y=fixed_y, fixed_x=fixed_x, seed=1)
    v0, v = layout.decode(y0), layout.decode(y)
    assert torch.equal(v[:, fixed_y], v0[:, fixed_y])
    assert not torch.equal(v[:, ~fixed_y], v0[:, ~fixed_y])
    assert torch.equal(x[:, fixed_x], x0[:, fixed_x])
    assert not torch.equal(x[:, ~fixed_x], x0[:, ~fixed_x])


def test_inputs_are_not_modified_and_outputs_share_autograd_free_storage():
    layout = je.YLayout(groups=[2])
    energy = quadratic(layout)
    x0 = torch.randn(8, 3, dtype=torch.float64)
    y0 = layout.uniform(8, dtype=torch.float64)
    keep = x0.clone()
    x, y, _ = je.JointSampler(je.Gwg(), je.Mala()).run(energy, x0, y0, sweeps=3)
    assert torch.equal(x0, keep)
    assert not x.requires_grad and x.dtype == torch.float64 and y.dtype == torch.float64


def test_an_energy_of_the_wrong_shape_is_an_error_naming_the_shapes():
    layout = je.YLayout(groups=[2])
    bad = je.Energy(lambda x, y: x.sum(1, keepdim=True), layout)  # [B, 1], not [B]
    x, y = torch.randn(4, 3, dtype=torch.float64), layout.uniform(4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"shape \[4, 1\].*expected \[4\]"):
        je.Gwg().run(bad, x, y, steps=2)


def test_an_energy_of_the_wrong_dtype_is_an_error():
    layout = je.YLayout(groups=[2])
    bad = je.Energy(lambda x, y: x.sum(1).float(), layout)
    x, y = torch.randn(4, 3, dtype=torch.float64), layout.uniform(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="dtype"):
        je.JointSampler(je.Gwg(), je.Langevin()).run(bad, x, y, sweeps=2)


def test_an_energy_that_returns_no_tensor_is_a_type_error():
    layout = je.YLayout(groups=[2])
    bad = je.Energy(lambda x, y: 3.0, layout)
    x, y = torch.randn(4, 3, dtype=torch.float64), layout.uniform(4, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"torch.Tensor of shape \[4\]"):
        je.Mala().run(bad, x, y, steps=2)


def test_an_exception_in_the_energy_reaches_the_caller():
    class Boom(RuntimeError):
        pass

    def f(x, y):
        raise Boom("from the energy")

    layout = je.YLayout(groups=[2])
    x, y = torch.randn(4, 3, dtype=torch.float64), layout.uniform(4, dtype=torch.float64)
    with pytest.raises(Boom, match="from the energy"):
        je.Dmala().run(je.Energy(f, layout), x, y, steps=2)


def test_bad_labels_and_bad_arguments_are_value_errors():
    layout = je.YLayout(groups=[3])
    energy = quadratic(layout)
    x = torch.randn(4, 2, dtype=torch.float64)
    not_one_hot = torch.ones(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="y"):
        je.Gwg().run(energy, x, not_one_hot)
    with pytest.raises(ValueError, match="fixed"):
        je.Gwg().run(energy, x, layout.uniform(4, dtype=torch.float64), fixed_y=torch.ones(7, dtype=torch.bool))
    with pytest.raises(ValueError, match="step_size"):
        je.Dmala(step_size=-1.0)
    with pytest.raises(TypeError, match="callable"):
        je.Energy(3, layout)
    with pytest.raises(TypeError, match="discrete kernel"):
        je.JointSampler(je.Mala(), je.Mala())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is absent")
def test_cuda_absent_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        je.YLayout(groups=[2]).uniform(4, device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        je.load_model("nowhere", device="cuda")


def test_import_refuses_another_torch():
    code = "import torch; torch.__version__ = '2.12.1'; import joint_ebm"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert r.returncode != 0
    assert "built for torch 2.13.0" in r.stderr and "2.12.1" in r.stderr


def test_the_package_docstring_example_runs():
    import doctest

    failures, tried = doctest.testmod(je, verbose=False)
    assert tried > 0 and failures == 0


def test_the_readme_python_example_runs():
    import pathlib
    import re

    readme = pathlib.Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "README.md", "exec"), {})


def test_keep_freed_memory_is_accepted_on_glibc():
    import platform

    ok = je.keep_freed_memory()
    assert isinstance(ok, bool)
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert ok
