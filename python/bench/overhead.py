"""Overhead of a Python energy: seconds per MWG sweep (GWG on y, then Langevin on x) of
joint_ebm's JointSampler over a torch energy, against the pure-PyTorch chains of
scripts/pytorch_reference.py (the authors' pass structure and the best fused PyTorch), on the
same networks, batches and step counts (the paper's: MNIST MLP 100 x 40, the dSprites CNN
100 x 40; and the MNIST default's CNN on 28 x 28 inputs, 100 x 40). The native Rust figure for the same benchmark comes from
`cargo bench --bench main -- mwg_sweep/<energy>` (criterion; this script reads its estimate
when present). One thread, the Rust benches' allocator settings (joint_ebm.keep_freed_memory); run it on a
quiet machine.

    PYTHONPATH=target/pysite python python/bench/overhead.py [--repeats 5] [--energies mnist mnist_cnn dsprites]

Prints one JSON line per (implementation, energy) and a Markdown table.
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

import torch

root = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "scripts"))
import pytorch_reference as ref  # noqa: E402

import joint_ebm as je  # noqa: E402


def time_joint_ebm(name, model, x0, y0, repeats, split):
    cfg = ref.EXPERIMENTS[name]
    layout = je.YLayout(groups=[cfg["K"]] * cfg["groups"])
    ref.set_requires_grad(model, False)
    if split:
        energy = je.Energy(model.head, layout, features=model.features)
    else:
        energy = je.Energy(model, layout)
    sampler = je.JointSampler(je.Gwg(), je.Langevin(epsilon=cfg["eps"], temperature=cfg["lam"]))
    sampler.run(energy, x0, y0, sweeps=2)  # warm-up
    times, rates = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, _, d = sampler.run(energy, x0, y0, sweeps=cfg["steps"])
        times.append(time.perf_counter() - t0)
        rates.append(d["accept_rate_y"])
    ref.set_requires_grad(model, True)
    return times, statistics.mean(rates)


def criterion_median(name):
    est = root / "target" / "criterion" / "mwg_sweep" / name / "new" / "estimates.json"
    if not est.exists():
        return None
    return json.loads(est.read_text())["median"]["point_estimate"] / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--energies", nargs="+", default=["mnist", "mnist_cnn", "dsprites"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    # The allocator settings the Rust benches use (ebm_core::keep_freed_memory), for every
    # implementation timed here: without them each large tensor's pages are faulted in again.
    print(json.dumps({"keep_freed_memory": je.keep_freed_memory()}), flush=True)
    rows = []
    for name in args.energies:
        cfg = ref.EXPERIMENTS[name]
        torch.manual_seed(0)
        model = ref.build(name)
        x0, y0 = ref.synthetic_data(name, cfg["batch"], torch.device("cpu"), torch.float32)
        results = {}
        for impl, fn in [
            ("joint_ebm, Python energy with feature stage", lambda: time_joint_ebm(name, model, x0, y0, args.repeats, True)),
            ("joint_ebm, Python energy, whole f", lambda: time_joint_ebm(name, model, x0, y0, args.repeats, False)),
            ("PyTorch fused", lambda: ref.bench_sampler("mwg_sweep", "fused", name, torch.device("cpu"), args.repeats, model, x0, y0)),
            ("PyTorch, authors' structure", lambda: ref.bench_sampler("mwg_sweep", "authors", name, torch.device("cpu"), args.repeats, model, x0, y0)),
        ]:
            times, rate = fn()
            med = statistics.median(times)
            results[impl] = med
            print(json.dumps({"impl": impl, "energy": name, "median_s": med, "per_sweep_ms": 1e3 * med / cfg["steps"],
                              "accept_rate_y": rate}), flush=True)
        native = criterion_median(name)
        if native is not None:
            results["Rust, native network (criterion)"] = native
        rows.append((name, cfg, results))
    print()
    print("| energy | chains × sweeps | implementation | ms per sweep | Python energy (feature stage) / this |")
    print("| --- | --- | --- | ---: | ---: |")
    for name, cfg, results in rows:
        mine = results["joint_ebm, Python energy with feature stage"]
        for impl, med in results.items():
            print(f"| {name} | {cfg['batch']} × {cfg['steps']} | {impl} | {1e3 * med / cfg['steps']:.1f} | {mine / med:.2f} |")


if __name__ == "__main__":
    main()
