#!/usr/bin/env python3
"""Reference tokenizations of the SmolLM2 GGUF by llama.cpp itself, for tests/gguf-tokenizer.test.ts.

    pip install llama-cpp-python==0.3.36 jinja2   # builds llama.cpp from source
    python3 scripts/gguf-tokens.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]

Writes tests/fixtures/gguf/smollm2-tokens.json: for each corpus string, the ids llama.cpp's
tokenizer produces from the GGUF vocabulary (no BOS, special tokens parsed), and the chat
template rendered by Python's jinja2 for a few conversations. Both are independent of our
TypeScript (llama.cpp's C++ BPE and pre-tokenizer, the reference Jinja implementation).
"""
import json
import os
import sys

import jinja2
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "STEERLAB_MODEL_GGUF", os.path.join(ROOT, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
OUT = os.path.join(ROOT, "tests/fixtures/gguf/smollm2-tokens.json")

CORPUS = [
    "The capital of France is",
    "Hello, world!",
    "12345",
    "Pi is 3.14159 and 2024-06-07T12:00:00Z is a date; 1,000,000 people.",
    "日本語のテキストと中文文本，还有한국어.",
    "Emoji: 😀🎉👍🏽 and 👨‍👩‍👧‍👦 family, flags 🇫🇷🇯🇵.",
    "Café, naïve, résumé, Ångström, São Paulo, Dvořák, Łódź, İstanbul.",
    "def f(x):\n    if x > 0:\n        return x ** 2\n    return -x\n",
    "    indented\n\tTabbed\n\n\n  trailing   ",
    "a  b   c    d\n \n  \n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|><|endoftext|>",
    "no<|im_end|>space",
    "I'm sure you're right, they'll see it's done and we'd've known.",
    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html></html>",
    "   ",
    "\n",
    "x" * 300,
    "Ω≈ç√∫˜µ≤≥÷ ¡™£¢∞§¶•ªº–≠ «»“”‘’ …",
    "Arabic: مرحبا بالعالم. Hebrew: שלום. Hindi: नमस्ते दुनिया. Thai: สวัสดี.",
    "Zero-width: a\u200bb\u200dc, combining: e\u0301, NBSP:\u00a0x, BOM:\ufeffy.",
    "full-width digits １２３ and Arabic-Indic ٣٤٥ and superscript ²³.",
]

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}],
]


def main() -> None:
    llm = Llama(model_path=MODEL, vocab_only=True, verbose=False)
    cases = []
    for text in CORPUS:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        back = llm.detokenize(ids, special=True).decode("utf-8")
        cases.append({"text": text, "ids": ids, "llama_cpp_detokenized": back})
    template = llm.metadata["tokenizer.chat_template"]
    env = jinja2.Environment(trim_blocks=False, lstrip_blocks=False)
    chats = []
    for messages in CONVERSATIONS:
        for add_generation_prompt in (True, False):
            rendered = env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt)
            chats.append({"messages": messages, "add_generation_prompt": add_generation_prompt, "rendered": rendered})
    data = {
        "generator": "scripts/gguf-tokens.py with llama-cpp-python and jinja2",
        "cases": cases,
        "chats": chats,
    }
    with open(OUT, "w") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
