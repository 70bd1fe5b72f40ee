#!/usr/bin/env python3
"""Writes tests/fixtures/optimum-tiny-llama/: a tiny randomly initialised LlamaForCausalLM exported
to ONNX by Hugging Face optimum (the exporter behind the hub's ONNX models), in transformers.js
layout, with torch float32 reference outputs for tests/optimum-fixture.test.ts.

    python3 -m venv /tmp/optimum-venv
    /tmp/optimum-venv/bin/pip install 'optimum[onnxruntime]==2.1.0' optimum-onnx==0.1.0 \
        torch==2.15.0 transformers==4.57.6 tokenizers==0.22.2 numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0
    /tmp/optimum-venv/bin/python scripts/make-optimum-fixture.py

These are the versions the committed fixture was made with (Python 3.11.7, CPU), from the default
package index; an unpinned `pip install 'optimum[onnxruntime]' torch transformers tokenizers numpy`
resolved to exactly them. (torch from the default index is the CUDA build, a few GB with its
nvidia wheels; it runs on CPU.) With them a re-run writes byte-identical files. optimum 2.x keeps
the exporter in optimum-onnx, which runs torch.onnx.export with dynamo=False: the TorchScript
exporter, whose node names are /model/layers.L/... . expected.json records the versions too.

The folder holds config.json, generation_config.json, tokenizer.json (a WordLevel tokenizer over
"t0".."t99", built with the tokenizers library; t0 is eos, unknown words map to t1),
tokenizer_config.json, special_tokens_map.json, chat_template.jinja, onnx/model.onnx (one file, no
external data) and expected.json:
  - prompt_ids / prompt_text: 9 fixed ids and the text that tokenizes to them;
  - logits: last-position logits of the prompt, unsteered;
  - resid_post: the residual stream after block L (hidden_states[L + 1], the output of decoder
    layer L) at the last prompt position;
  - steered_logits: last-position logits with scale * v added to the output of decoder layer L at
    every position (a forward hook on model.model.layers[L]), v[i] = 0.3 * cos(0.7 * i);
  - decode_ids / decode_logits: 3 more ids, and the logits of the last 4 positions of one full
    forward over prompt + decode_ids (what prefill then 3 cached single-token steps must give);
  - steered_decode_logits: the same with the steering hook on.
All numbers are float32 values written in their shortest round-trip form.
"""
import importlib.metadata
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "optimum-tiny-llama")

VOCAB = 100
LAYER = 0
SCALE = 2.0
PROMPT = [5, 17, 42, 8, 63, 2, 91, 30, 77]
DECODE = [12, 55, 3]
SEED = 1234


def f32(a) -> list:
    """float32 values as Python floats in their shortest round-trip decimal form."""
    flat = np.asarray(a, dtype=np.float32).reshape(-1)
    return [float(np.format_float_scientific(x, unique=True)) for x in flat]


def build_model() -> LlamaForCausalLM:
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        hidden_act="silu",
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=0,
        pad_token_id=None,
        dtype="float32",
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(cfg).eval()
    # HF's default init (std 0.02) gives near-zero logits; O(1) activations make the comparison
    # mean something: linears ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norm gains 1 + N(0, 0.1^2).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif "embed_tokens" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p.shape[1]))
    return model


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {f"t{i}": i for i in range(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t1"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # Only t0 (eos) is registered as a special token: added tokens match inside words, and no
    # other token contains "t0", whereas "t1" would split t10..t19 (the WordLevel model still maps
    # unknown words to t1).
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="t0",
        chat_template="{% for m in messages %}{{ m.content }} {% endfor %}",
    )


def steering_vector(hidden: int) -> torch.Tensor:
    return torch.tensor([0.3 * math.cos(0.7 * i) for i in range(hidden)], dtype=torch.float32)


def steer_hook(vec: torch.Tensor):
    def hook(_module, _inputs, output):
        # Decoder layers return a tensor in recent transformers and a tuple (hidden, ...) in older ones.
        if isinstance(output, tuple):
            return (output[0] + vec,) + tuple(output[1:])
        return output + vec

    return hook


def reference(model: LlamaForCausalLM) -> dict:
    hidden = model.config.hidden_size
    vec = steering_vector(hidden)
    ids = torch.tensor([PROMPT])
    full = torch.tensor([PROMPT + DECODE])
    with torch.no_grad():
        out = model(ids, output_hidden_states=True, use_cache=False)
        logits = out.logits[0, -1]
        resid = out.hidden_states[LAYER + 1][0, -1]
        # hidden_states[L + 1] must be decoder layer L's own output (checked with a hook).
        seen = {}
        h = model.model.layers[LAYER].register_forward_hook(lambda _m, _i, o: seen.setdefault("o", o[0] if isinstance(o, tuple) else o))
        model(ids, use_cache=False)
        h.remove()
        assert torch.equal(seen["o"][0, -1], resid), "hidden_states[L+1] is not the output of decoder layer L"
        decode = model(full, use_cache=False).logits[0, -4:]

        h = model.model.layers[LAYER].register_forward_hook(steer_hook(SCALE * vec))
        steered = model(ids, use_cache=False).logits[0, -1]
        steered_decode = model(full, use_cache=False).logits[0, -4:]
        h.remove()
        again = model(ids, use_cache=False).logits[0, -1]
        assert torch.equal(again, logits), "the steering hook was not removed"
    print(f"max |steered - unsteered| = {float((steered - logits).abs().max()):.4f}, |logits| max = {float(logits.abs().max()):.3f}")
    return {
        "logits": f32(logits),
        "resid_post": f32(resid),
        "steered_logits": f32(steered),
        "decode_logits": f32(decode),
        "steered_decode_logits": f32(steered_decode),
        "steering_vector": f32(vec),
    }


def export(src: str, dst: str) -> None:
    from optimum.exporters.onnx import main_export

    main_export(src, output=dst, task="text-generation-with-past", device="cpu", do_validation=True)


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for p in ["torch", "transformers", "optimum", "optimum-onnx", "tokenizers", "onnx", "onnxruntime", "numpy"]:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def main() -> None:
    torch.set_grad_enabled(False)
    model = build_model()
    tok = build_tokenizer()
    assert tok(" ".join(f"t{i}" for i in PROMPT))["input_ids"] == PROMPT
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        dst = os.path.join(tmp, "onnx-out")
        model.save_pretrained(src, safe_serialization=True)
        tok.save_pretrained(src)
        GenerationConfig(eos_token_id=0, do_sample=False).save_pretrained(src)
        export(src, dst)
        print("exporter wrote:", sorted(os.listdir(dst)))
        if os.path.exists(OUT):
            shutil.rmtree(OUT)
        os.makedirs(os.path.join(OUT, "onnx"))
        for name in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"]:
            if os.path.exists(os.path.join(dst, name)):
                shutil.copy(os.path.join(dst, name), os.path.join(OUT, name))
            elif os.path.exists(os.path.join(src, name)):
                shutil.copy(os.path.join(src, name), os.path.join(OUT, name))
        graph = os.path.join(dst, "model.onnx")
        if not os.path.exists(graph):
            graph = os.path.join(dst, "onnx", "model.onnx")
        extra = [f for f in os.listdir(os.path.dirname(graph)) if f.startswith("model.onnx") and f != "model.onnx"]
        assert not extra, f"the export has external data ({extra}); the fixture must be one file"
        shutil.copy(graph, os.path.join(OUT, "onnx", "model.onnx"))

    import onnx

    g = onnx.load(os.path.join(OUT, "onnx", "model.onnx"))
    print(f"graph: producer {g.producer_name} {g.producer_version}, opset {[(o.domain, o.version) for o in g.opset_import]}, {len(g.graph.node)} nodes")
    print("inputs:", [i.name for i in g.graph.input])
    print("outputs:", [o.name for o in g.graph.output])

    expected = {
        "about": "torch float32 reference outputs for onnx/model.onnx; written by scripts/make-optimum-fixture.py",
        "versions": versions(),
        "producer": {"name": g.producer_name, "version": g.producer_version},
        "prompt_ids": PROMPT,
        "prompt_text": " ".join(f"t{i}" for i in PROMPT),
        "decode_ids": DECODE,
        "layer": LAYER,
        "hook": f"blocks.{LAYER}.hook_resid_post",
        "scale": SCALE,
        "steering": "v[i] = 0.3 * cos(0.7 * i), added as scale * v to the output of decoder layer `layer` at every position",
        **reference(model),
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
