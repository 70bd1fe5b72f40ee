#!/usr/bin/env python3
"""Reference fixtures for tests/gguf-quant.test.ts, computed with llama.cpp's gguf-py.

    pip install gguf==0.19.0 numpy
    python3 scripts/gguf-reference.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]

Writes tests/fixtures/gguf/reference.json:
  - "model": header facts and dequantized samples (first 64, 64 from the middle, last 16, and a
    float64 sum of every element) of a few real SmolLM2 tensors, read with gguf.GGUFReader and
    dequantized with gguf.quants.dequantize;
  - "blocks": seeded random blocks of every type our dequantizer supports (K-quant scales and
    bits are arbitrary bytes, so every bit of the layout is exercised) with gguf-py's
    dequantization;
  - "quantize": a seeded float32 input and gguf-py's encoding of it for the types whose gguf-py
    quantizer reproduces ggml's reference quantizer (Q8_0, Q4_0, Q4_1, F16, BF16).
Float arrays are base64 of little-endian float32, bytes are base64, so the fixture is exact.
"""
import base64
import importlib.metadata
import json
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "STEERLAB_MODEL_GGUF", os.path.join(ROOT, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
OUT = os.path.join(ROOT, "tests/fixtures/gguf/reference.json")


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def f32list(a: np.ndarray) -> list:
    # float32 -> Python float is exact, and JSON keeps it exact.
    return [float(x) for x in np.asarray(a, dtype=np.float32)]


def model_section() -> dict:
    r = GGUFReader(MODEL)
    names = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
             "blk.29.ffn_down.weight", "output_norm.weight"]
    by_name = {t.name: t for t in r.tensors}
    tensors = []
    for name in names:
        t = by_name[name]
        ne = int(np.prod(t.shape))
        flat = dequantize(t.data, t.tensor_type).reshape(-1).astype(np.float32)
        assert flat.size == ne
        mid = ne // 2
        tensors.append({
            "name": name,
            "type": int(t.tensor_type),
            "dims": [int(d) for d in t.shape],  # gguf-py lists ne0 first, like the file
            "offset": int(t.data_offset),        # absolute
            "nbytes": int(t.n_bytes),
            "first": f32list(flat[:64]),
            "mid_start": mid,
            "mid": f32list(flat[mid:mid + 64]),
            "last": f32list(flat[-16:]),
            "sum": float(flat.astype(np.float64).sum()),
            "abs_sum": float(np.abs(flat.astype(np.float64)).sum()),
        })
    return {
        "file": os.path.basename(MODEL),
        "byte_length": os.path.getsize(MODEL),
        "tensor_count": len(r.tensors),
        "kv_count": len([k for k in r.fields if not k.startswith("GGUF.")]),
        "tensors": tensors,
    }


def random_blocks(rng: np.random.Generator, qtype: T, n_blocks: int) -> np.ndarray:
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)

    def put_f16(col: int, lo: float, hi: float) -> None:
        v = rng.uniform(lo, hi, size=n_blocks).astype(np.float16)
        raw[:, col:col + 2] = v.view(np.uint8).reshape(n_blocks, 2)

    # Random bytes are valid blocks except where they form fp16 scales: keep those finite.
    if qtype in (T.Q8_0, T.Q4_0):
        put_f16(0, -0.05, 0.05)
    elif qtype == T.Q4_1:
        put_f16(0, 0.0, 0.02)
        put_f16(2, -0.2, 0.2)
        raw[0, 0:2] = 0  # one block with d == 0: must dequantize to its constant m
    elif qtype == T.Q4_K:
        put_f16(0, 0.0, 0.003)
        put_f16(2, 0.0, 0.003)
    elif qtype == T.Q6_K:
        put_f16(208, -0.002, 0.002)
    elif qtype == T.F16:
        raw = rng.standard_normal(n_blocks).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    elif qtype == T.BF16:
        f = rng.standard_normal(n_blocks).astype(np.float32)
        raw = (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(n_blocks, 2)
    return raw


def blocks_section() -> list:
    rng = np.random.default_rng(20240607)
    out = []
    for qtype, n_blocks in [(T.Q8_0, 8), (T.Q4_0, 8), (T.Q4_1, 8), (T.Q4_K, 4), (T.Q6_K, 4),
                            (T.F16, 256), (T.BF16, 256)]:
        raw = random_blocks(rng, qtype, n_blocks)
        block_size, _ = GGML_QUANT_SIZES[qtype]
        values = dequantize(raw.reshape(-1), qtype).reshape(-1).astype(np.float32)
        assert values.size == n_blocks * block_size
        out.append({"type": int(qtype), "name": qtype.name, "n_elements": int(values.size),
                    "bytes_b64": b64(raw), "values_f32_b64": b64(values)})
    return out


def quantize_section() -> list:
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(512) * 0.05).astype(np.float32)
    x[32:64] = np.abs(x[32:64])          # an all-positive block (Q4_1 min > 0)
    x[64:96] = 0.0                        # an all-zero block (d == 0 paths)
    x[96] = 1.5                           # an outlier
    out = []
    for qtype in (T.Q8_0, T.Q4_0, T.Q4_1, T.F16, T.BF16):
        q = quantize(x.reshape(1, -1), qtype)
        out.append({"type": int(qtype), "name": qtype.name, "bytes_b64": b64(q)})
    return [{"input_f32_b64": b64(x), "encodings": out}]


def main() -> None:
    data = {
        "generator": "scripts/gguf-reference.py with gguf-py " + importlib.metadata.version("gguf"),
        "model": model_section(),
        "blocks": blocks_section(),
        "quantize": quantize_section(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
