"""Is a reference's text coherent enough that byte parity against it means something?

Deterministic floor only: outputs with known answers are judged by exact match (in P9);
free text falls back to this heuristic. Random-weight models emit sub-word soup
("ancest.FileWriter Marshall ..."), which fails the word-shape test below. An LLM
judgment may escalate a "coherent" call; it never downgrades an incoherent one.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"^[\(\"']?([A-Za-z][a-z]*('[a-z]+)?|[A-Z]+|\d+([.,]\d+)*%?|[\d=+\-*/<>().]+)[\)\"',.;:!?]*$")


def word_shape_score(text: str) -> float:
    """Fraction of whitespace tokens shaped like words, numbers or operators."""
    toks = text.split()
    if not toks:
        return 0.0
    return sum(bool(_WORD.match(t)) for t in toks) / len(toks)


def looks_coherent(texts: list[str], threshold: float = 0.8) -> tuple[bool, float]:
    """Mean word-shape score over the outputs, and whether it reaches ``threshold``."""
    if not texts:
        return False, 0.0
    score = sum(word_shape_score(t) for t in texts) / len(texts)
    return score >= threshold, score
