"""A shape-true Llama-3-8B model directory with no weights, for `--load-format dummy` on a GPU box.

    python3 scripts/gpu/shape_model.py OUT_DIR

Writes config.json (Llama-3-8B: hidden 4096, 32 layers, 32 query / 8 KV heads, intermediate 14336,
vocab 128256, rope theta 500000, bf16), a tokenizer of 128,256 single-character tokens, and the
shipped tiny model's parity prompts. No safetensors: vLLM's dummy loader draws the weights
(seeded, so two servers draw the same ones), and the served numbers are the real shape's.

Why a character tokenizer of the full vocabulary: the LM head (128256 x 4096) and the sampler
over 128k logits are part of every decode step, so the vocabulary must be the real size, and
every id the random weights generate must decode and re-encode to itself (vLLM's random dataset
decodes sampled ids and re-tokenizes the text). One code point per id does that: the tiny
model's 20 tokens first (its arithmetic prompts tokenize as they do there), then characters from
U+4E00 up, skipping surrogates and noncharacters.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny-arith"
VOCAB = 128256

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "hidden_act": "silu",
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "vocab_size": VOCAB,
    "tie_word_embeddings": False,
    "attention_bias": False,
    "mlp_bias": False,
    "torch_dtype": "bfloat16",
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "initializer_range": 0.02,
    "use_cache": True,
}


def _chars(n: int, start: int = 0x4E00):
    """n distinct code points from ``start`` up that a tokenizer can hold and a JSON file can carry."""
    cp = start
    while n:
        if 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFF) >= 0xFFFE or 0xFFF0 <= cp <= 0xFFFF:
            cp += 1
            continue
        yield chr(cp)
        cp += 1
        n -= 1


def tokenizer(tiny: dict) -> dict:
    vocab = dict(tiny["model"]["vocab"])
    taken = set(vocab)
    for ch in _chars(VOCAB - len(vocab) + 64):
        if len(vocab) == VOCAB:
            break
        if ch not in taken:
            vocab[ch] = len(vocab)
    assert len(vocab) == VOCAB and sorted(vocab.values()) == list(range(VOCAB))
    out = dict(tiny)
    out["model"] = {**tiny["model"], "vocab": vocab}
    return out


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer(json.loads((TINY / "tokenizer.json").read_text()))
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    tc = json.loads((TINY / "tokenizer_config.json").read_text())
    (out / "tokenizer_config.json").write_text(
        json.dumps({**tc, "model_max_length": CONFIG["max_position_embeddings"]}, indent=2)
    )
    for name in ("generation_config.json", "parity.jsonl"):
        if (TINY / name).exists():
            shutil.copy(TINY / name, out / name)
    if (TINY / "chat_template.jinja").exists():
        shutil.copy(TINY / "chat_template.jinja", out / "chat_template.jinja")
    (out / "config.json").write_text(json.dumps(CONFIG, indent=2))
    (out / "geak_model.json").write_text(
        json.dumps(
            {
                "shape": "Llama-3-8B",
                "weights": "none: serve with --load-format dummy",
                "vocab_size": VOCAB,
                "tokenizer": "one code point per id",
            },
            indent=2,
        )
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    write(Path(argv[0]))
    print(f"{argv[0]}: Llama-3-8B shape, vocab {VOCAB}, no weights (serve with --load-format dummy)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
