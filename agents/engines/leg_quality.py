"""What a leg answers besides the benchmark (split from leg.py): top-k rows, the kernel's parity
probe, the parity outputs (twice, for the determinism check) and the accuracy probe, each kept
verbatim for the auditor to re-derive."""

from __future__ import annotations

import urllib.error
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from geak.auditor.evidence.layout import ACCURACY, ACCURACY_ITEMS, OUTPUTS, PARITY_PROBE, TOPK
from geak.auditor.evidence.models import AccuracyItem, AccuracyProbe, ParityOutput
from geak.auditor.evidence.store import RunStore
from geak.auditor.scoring import count_correct

from .http import complete
from .leg_spec import LegHooks, LegSpec
from .process import LaunchError
from .questions import Prompt, QuestionSet


def answer_quality(store: RunStore, d: str, base_url: str, spec: LegSpec, hooks: LegHooks) -> None:
    """What the leg answers besides the benchmark: top-k, the kernel probe, parity, accuracy."""
    served = spec.cfg.model
    if hooks.topk:
        write_rows(store, f"{d}/{TOPK}", hooks.topk(base_url, served))
    if hooks.probe:
        pp, rows = hooks.probe(base_url, served)
        write_rows(store, f"{d}/{TOPK}", rows)  # the candidate's side: P10 re-derives from both
        store.write_json(f"{d}/{PARITY_PROBE}", pp)
        if pp.ejected:
            raise LaunchError(f"parity probe ejected the candidate before benchmarking: {pp.log_line}")
    if spec.parity:
        for rerun in (0, 1):  # the second pass is the determinism check (P9)
            for p in spec.parity:
                text = complete(base_url, served, p.prompt, spec.max_tokens)
                store.append_jsonl(
                    f"{d}/{OUTPUTS}",
                    ParityOutput(
                        prompt_id=p.prompt_id, prompt=p.prompt, output_text=text, expected=p.expected, rerun=rerun
                    ),
                )
    if spec.accuracy:
        accuracy_probe(store, d, base_url, served, QuestionSet.of(spec.accuracy))


def accuracy_probe(store: RunStore, d: str, base_url: str, served: str, qs: QuestionSet) -> None:
    """Ask every question (greedy, 8 at a time), keep each answer verbatim in accuracy_items.jsonl
    and the count in accuracy.json. The count is a claim: the auditor re-scores the items."""

    def ask(p: Prompt) -> tuple[str, str | None]:
        # a question the server refuses (too long for its context, say) scores wrong and says
        # why; it does not end the leg
        try:
            return complete(base_url, served, p.prompt, qs.max_tokens, qs.stop), None
        except urllib.error.HTTPError as e:
            return "", f"HTTP {e.code}: {e.read()[:300].decode(errors='replace')}"

    with ThreadPoolExecutor(8) as ex:
        answers = list(ex.map(ask, qs.prompts))
    correct = count_correct([(t, p.expected) for (t, _), p in zip(answers, qs.prompts)], qs.scoring)
    store.write_text(
        f"{d}/{ACCURACY_ITEMS}",
        "".join(
            AccuracyItem(
                prompt_id=p.prompt_id, prompt=p.prompt, expected=p.expected, output=t, error=err
            ).model_dump_json()
            + "\n"
            for p, (t, err) in zip(qs.prompts, answers)
        ),
    )
    store.write_json(
        f"{d}/{ACCURACY}",
        AccuracyProbe(
            task=qs.task,
            n=len(qs.prompts),
            correct=correct,
            items_file=ACCURACY_ITEMS,
            scoring=qs.scoring,
            max_tokens=qs.max_tokens,
        ),
    )


def write_rows(store: RunStore, rel: str, rows: list[Any]) -> None:
    store.write_text(rel, "".join(r.model_dump_json() + "\n" for r in rows))
