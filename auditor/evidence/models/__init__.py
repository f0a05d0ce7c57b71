"""The evidence contract: every record a producer writes so that a claim can be re-derived.

Every record that crosses a file carries ``schema_version``. Old files keep loading:
a reader accepts every version in ``SUPPORTED_VERSIONS`` and upgrades in ``upgrade``;
an unknown version is a clear error naming the file, never a guess.

Units live in field names (``ttft_ms``, ``duration_s``). Missing data is ``None``,
never 0: a producer that did not measure something must say so by leaving it out.
"""

from __future__ import annotations

from ..layout import ACCURACY_ITEMS  # noqa: F401  (re-exported for older importers)
from .base import (  # noqa: F401
    SCHEMA_VERSION,
    SUPPORTED_VERSIONS,
    Scope,
    SCOPES,
    LegRole,
    LeverClass,
    TEARDOWN_MARKER,
    Record,
    GpuInfo,
    HostFingerprint,
    WorkloadSpec,
)
from .runs import (  # noqa: F401
    Design,
    PairedAA,
    InputFile,
    Manifest,
    KernelPlugin,
    ServerLifetime,
    RepPlan,
    LegLaunch,
    RequestArrays,
    BenchRep,
    ParityOutput,
    AccuracyProbe,
    AccuracyItem,
    TopKLogprobs,
    ParityProbe,
)
from .decisions import (  # noqa: F401
    METRICS,
    DEFAULT_METRIC,
    judged_metric,
    Claim,
    Consequence,
    Decision,
)
from .ops import (  # noqa: F401
    RoutedOp,
    SkippedOp,
    ProfileClaim,
    CorrectnessCase,
    OracleResult,
    AntiGaming,
    ShapeTimes,
    TimingRecord,
    Roofline,
    CaseTime,
    OpBenchRecord,
)
from .verdicts import (  # noqa: F401
    Outcome,
    Action,
    VerdictName,
    EvidencePointer,
    Finding,
    AuditVerdict,
)

# the contract's names, for `from .models import X` (a type checker takes only what is listed as exported)
__all__ = [
    "ACCURACY_ITEMS", "AccuracyItem", "AccuracyProbe", "Action", "AntiGaming", "AuditVerdict", "BenchRep",
    "CaseTime", "Claim", "Consequence", "CorrectnessCase", "DEFAULT_METRIC", "Decision", "Design", "EvidencePointer",
    "Finding", "GpuInfo", "HostFingerprint", "InputFile", "KernelPlugin", "LegLaunch", "LegRole", "LeverClass",
    "METRICS", "Manifest", "OpBenchRecord", "OracleResult", "Outcome", "PairedAA", "ParityOutput", "ParityProbe",
    "ProfileClaim", "Record", "RepPlan", "RequestArrays", "Roofline", "RoutedOp", "SCHEMA_VERSION", "SCOPES",
    "SUPPORTED_VERSIONS", "Scope", "ServerLifetime", "ShapeTimes", "SkippedOp", "TEARDOWN_MARKER", "TimingRecord", "TopKLogprobs",
    "VerdictName", "WorkloadSpec", "judged_metric",
]
