"""What every engine's benchmark-client shim shares (the shims themselves live beside their
adapters: agents/engines/vllm.py, agents/engines/sglang.py). One client process runs every
repetition of a leg: ``--geak-rep-files a.json,b.json`` names the result file of each, and
``--geak-rep-barrier DIR:N`` makes paired legs start repetition k together. This is the argv
parsing and the barrier, as source text the shim runs with ``python -c``: it needs ``sys`` imported
and leaves ``argv`` (the tool's own arguments), ``files`` and ``barrier`` and ``_meet(k)`` defined.
KEEP_METRICS defines ``_keep(stem, which, body)``: one /metrics answer kept verbatim, gzipped,
written atomically beside the rep's result file (it needs gzip, os and SUFFIX)."""

from geak.auditor.evidence.metrics import SUFFIX_AFTER, SUFFIX_BEFORE

REP_ARGS = (
    "argv = sys.argv[1:]\n"
    "files = None\n"
    "if '--geak-rep-files' in argv:\n"
    "    i = argv.index('--geak-rep-files'); files = argv[i + 1].split(','); del argv[i:i + 2]\n"
    "barrier = None\n"
    "if '--geak-rep-barrier' in argv:\n"
    "    i = argv.index('--geak-rep-barrier'); barrier = argv[i + 1]; del argv[i:i + 2]\n"
    "def _meet(k):\n"
    "    # paired legs (agents/runners/paired.py): every client of the pair starts repetition k\n"
    "    # together, through geak's one barrier protocol (agents/engines/rep_barrier.py)\n"
    "    from pathlib import Path\n"
    "    from geak.agents.engines.rep_barrier import PartnerLost, RepBarrier\n"
    "    d, n = barrier.rsplit(':', 1)\n"
    "    try:\n"
    "        RepBarrier(Path(d), int(n)).meet(k)\n"
    "    except PartnerLost as e:\n"
    "        print(f'geak: {e}', flush=True); sys.exit(3)\n"
)

KEEP_METRICS = (
    f"SUFFIX = {{'before': {SUFFIX_BEFORE!r}, 'after': {SUFFIX_AFTER!r}}}  # geak.auditor.evidence.metrics names them\n"
    "def _keep(stem, which, body):\n"
    "    tmp = stem + SUFFIX[which] + '.tmp'\n"
    "    with open(tmp, 'wb') as fh:\n"
    "        fh.write(gzip.compress(body, mtime=0))\n"
    "    os.replace(tmp, stem + SUFFIX[which])\n"
)
