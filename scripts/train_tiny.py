"""Train geak's shipped tiny model: a 2-layer Llama that adds two-digit numbers.

    python scripts/train_tiny.py [--out models/tiny-arith] [--steps 3000] [--seed 0]

Why a model of our own: the parity and accuracy gates need a model whose greedy output is
*coherent* (so byte parity means something) and whose correctness can be *probed* (an
answer key), small enough to train and serve on a 2-core CPU. Random ("dummy") weights
give the opposite case: gibberish, where byte parity proves nothing.

Shape: hidden 128, 2 layers, 2 heads of 64 (vLLM's CPU attention rejects head_dim 16),
a character-level tokenizer of 20 symbols, ~0.53 M parameters, ~2 MB of fp32 safetensors.
Task: "a+b=" -> "c</s>" for 0 <= a, b <= 99. 500 pairs are held out (seeded) as the
accuracy probe and written to <out>/probe.jsonl; training never sees them.
Seeded and single-process: the same seed and thread count give the same weights.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARS = list("0123456789+=-* ") + ["\n"]
VOCAB = SPECIALS + CHARS


def build_tokenizer(out: Path):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.model_max_length = 64
    # a minimal chat template, so /v1/chat/completions answers instead of HTTP 400
    fast.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    fast.save_pretrained(out)
    return fast


def split_pairs(seed: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    pairs = [(a, b) for a in range(100) for b in range(100)]
    random.Random(seed).shuffle(pairs)
    return pairs[500:], pairs[:500]


def encode(a: int, b: int) -> tuple[list[int], int]:
    """Token ids of '<s>a+b=c</s>' and the index where the answer starts."""
    ids = {t: i for i, t in enumerate(VOCAB)}
    prompt = [ids["<s>"]] + [ids[c] for c in f"{a}+{b}="]
    answer = [ids[c] for c in str(a + b)] + [ids["</s>"]]
    return prompt + answer, len(prompt)


def batchify(pairs: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    seqs = [encode(a, b) for a, b in pairs]
    n = max(len(s) for s, _ in seqs)
    x = torch.zeros(len(seqs), n, dtype=torch.long)
    y = torch.full((len(seqs), n), -100, dtype=torch.long)
    for i, (s, start) in enumerate(seqs):
        x[i, : len(s)] = torch.tensor(s)
        # loss only on the answer (and </s>), predicted from the previous position
        y[i, start - 1 : len(s) - 1] = torch.tensor(s[start:])
    return x, y


@torch.no_grad()
def greedy_accuracy(model, pairs: list[tuple[int, int]]) -> float:
    ids = {t: i for i, t in enumerate(VOCAB)}
    inv = {i: t for t, i in ids.items()}
    correct = 0
    model.eval()
    for a, b in pairs:
        seq = [ids["<s>"]] + [ids[c] for c in f"{a}+{b}="]
        out = ""
        for _ in range(4):
            logits = model(torch.tensor([seq])).logits[0, -1]
            nxt = int(logits.argmax())
            if nxt == ids["</s>"]:
                break
            out += inv.get(nxt, "?")
            seq.append(nxt)
        correct += out == str(a + b)
    model.train()
    return correct / len(pairs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("models/tiny-arith"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    a = ap.parse_args()

    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(a.seed)
    torch.set_num_threads(2)
    a.out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(a.out)
    cfg = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    train, probe = split_pairs(a.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.1)
    rng = random.Random(a.seed)
    t0 = time.time()
    for step in range(1, a.steps + 1):
        x, y = batchify(rng.sample(train, a.batch))
        loss = model(input_ids=x, labels=None).logits
        loss = torch.nn.functional.cross_entropy(loss.reshape(-1, loss.size(-1)), y.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 500 == 0 or step == a.steps:
            acc = greedy_accuracy(model, probe[:100])
            print(f"step {step} loss {loss.item():.4f} probe@100 {acc:.2%} ({time.time() - t0:.0f} s)", flush=True)
    acc = greedy_accuracy(model, probe)
    model.generation_config.do_sample = False
    model.save_pretrained(a.out, safe_serialization=True)
    with open(a.out / "probe.jsonl", "w") as f:
        for x_, y_ in probe:
            f.write(json.dumps({"prompt": f"{x_}+{y_}=", "expected": str(x_ + y_)}) + "\n")
    with open(a.out / "parity.jsonl", "w") as f:
        for i, (x_, y_) in enumerate(probe[:12]):
            f.write(json.dumps({"id": f"p{i:02d}", "prompt": f"{x_}+{y_}=", "expected": str(x_ + y_)}) + "\n")
    meta = {
        "params": n_params,
        "train_pairs": len(train),
        "probe_pairs": len(probe),
        "steps": a.steps,
        "seed": a.seed,
        "train_seconds": round(time.time() - t0, 1),
        "probe_greedy_exact_match_transformers": acc,
    }
    (a.out / "geak_model.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
