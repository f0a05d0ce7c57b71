"""E2: which server lifetime each leg measured, held to the engine's own log.

A leg may measure on a server an earlier leg of the same launch left up (server reuse, issue
17), but only declared (launch.json ``server``), on the very server its owner started (the
engine's config and pid agree), after its owner and every earlier user finished, with the
prefix cache dropped first (the engine logs the reset: the previous leg sent the same
prompts). A candidate measured on a reused server is a cached result waiting to happen: FLAG
remeasure. One lifetime under two legs that do not say so (their logs name one pid and port)
is a hidden reuse: FAIL.
"""

from __future__ import annotations

from ..evidence.lifetime import identity, log_size, resets
from ..evidence.loader import LegData
from ..evidence.models import Finding
from .concurrency import overlapping
from .registry import GateContext, leg_ptr, rule
from ..evidence.layout import SERVER_INFO, SERVER_LOG

OVERLAP_TOLERANCE_S = 1.0  # launch.json times are taken around, not at, the leg's first and last request


def _users(ctx: GateContext, owner: str) -> list[str]:
    """The owner and every leg declaring its server."""
    return [
        lid
        for lid, lj in ctx.run.launches.items()
        if lid == owner or (lj.server is not None and lj.server.reused and lj.server.owner_leg == owner)
    ]


def _declared(ctx: GateContext, leg: LegData) -> list[Finding]:
    s = leg.launch.server  # type: ignore[union-attr]
    assert s is not None
    owner = s.owner_leg
    if owner == leg.leg_id or owner not in ctx.run.leg_ids():
        return ctx.bad(
            "E2",
            f"leg {leg.leg_id} declares it measured on the server of {owner!r}, which is no other leg of this "
            "run: no engine log backs that server",
            evidence=[leg_ptr(leg, field="server.owner_leg")],
        )
    o = ctx.run.leg(owner)
    if o.launch is None or (o.launch.server is not None and o.launch.server.reused):
        return ctx.bad(
            "E2",
            f"leg {leg.leg_id} declares the server of {owner}, but {owner} did not start one of its own",
            evidence=[leg_ptr(leg, field="server.owner_leg"), leg_ptr(o, field="server")],
        )
    if leg.server_log is None:
        return ctx.missing(
            "E2",
            f"leg {leg.leg_id}: its server's log {leg.server_log_file} is missing",
            evidence=[leg_ptr(leg, SERVER_LOG)],
        )
    out: list[Finding] = []
    ident = identity(leg.server_log)
    if s.pid is not None and ident is not None and ident.pid is not None and ident.pid != s.pid:
        out += ctx.bad(
            "E2",
            f"leg {leg.leg_id} declares server pid {s.pid}, but the engine's log {leg.server_log_file} names pid "
            f"{ident.pid}: not the server it claims",
            evidence=[leg_ptr(leg, field="server.pid"), leg_ptr(leg, SERVER_LOG)],
        )
    mine, theirs = leg.engine_config, o.engine_config
    if mine is not None and theirs is not None and mine != theirs:
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        out += ctx.bad(
            "E2",
            f"leg {leg.leg_id} declares {owner}'s server, but the engine answered it a different config "
            f"({', '.join(diff[:4])}{' ...' if len(diff) > 4 else ''} differ between {leg.engine_config_source} and "
            f"{o.engine_config_source}): not the same server",
            evidence=[leg_ptr(leg, SERVER_INFO), leg_ptr(o, SERVER_INFO)],
        )
    users = set(_users(ctx, owner)) - {leg.leg_id}
    # one notion of "ran at the same time" for the auditor: B5's (launch times, else the tool's own request times)
    for other, ov in overlapping(ctx.run, leg, OVERLAP_TOLERANCE_S):
        if other.leg_id in users:
            out += ctx.bad(
                "E2",
                f"leg {leg.leg_id} measured on {owner}'s server while {other.leg_id} was using it "
                f"({ov:.1f} s at once): two legs' requests mixed on one server",
                evidence=[leg_ptr(leg, field="started_at"), leg_ptr(other, field="ended_at")],
            )
            break
    start, end = s.log_offset_start, s.log_offset_end
    size = log_size(leg.server_log)
    if start is None or start > size or (end is not None and end < start):
        out += ctx.bad(
            "E2",
            f"leg {leg.leg_id}: its window of {leg.server_log_file} ({start}..{end}) is not in the log's {size} bytes",
            evidence=[leg_ptr(leg, field="server.log_offset_start")],
        )
    elif not resets(leg.server_log, start, end):
        out += [
            ctx.finding(
                "E2",
                "flag",
                f"leg {leg.leg_id} measured on {owner}'s server with no prefix-cache reset in the "
                f"engine's log within its window (bytes {start}..{end} of {leg.server_log_file}): the earlier leg "
                "sent the same prompts, so this one may be served from its cache; measure it on its own server",
                action="remeasure",
                evidence=[leg_ptr(leg, SERVER_LOG), leg_ptr(leg, field="server.cache_reset")],
            )
        ]
    return out


def _hidden(ctx: GateContext, legs: list[LegData]) -> list[Finding]:
    ids = ctx.run.lifetimes
    out: list[Finding] = []
    said: set[frozenset[str]] = set()
    for leg in legs:
        me = ids.get(leg.leg_id)
        if me is None or leg.reused_from is not None:
            continue
        twin = next((o for o, other in ids.items() if o != leg.leg_id and other.same(me)), None)
        if twin is not None and frozenset((leg.leg_id, twin)) not in said:
            said.add(frozenset((leg.leg_id, twin)))
            how = (
                f"pid {me.pid}, port {me.port}"
                if me.pid is not None and me.port is not None
                else "the same start-up bytes"
            )
            out += ctx.bad(
                "E2",
                f"legs {leg.leg_id} and {twin} each keep a server log of one server lifetime ({how}), and "
                "neither declares the reuse: one server counted as two launches",
                evidence=[leg_ptr(leg, SERVER_LOG), leg_ptr(ctx.run.leg(twin), SERVER_LOG)],
            )
    return out


def _own_record(ctx: GateContext, leg: LegData) -> list[Finding]:
    """A leg on its own server: the pid and port its engine's log names are the ones its server
    record holds (launch.json ``server.pid``, the command's ``--port``): a log that is another
    lifetime's, or whose identity lines were edited to hide a twin, names others."""
    s = leg.launch.server if leg.launch else None
    ident = ctx.run.lifetimes.get(leg.leg_id)
    if s is None or s.reused or ident is None or leg.launch is None:
        return []
    cmd = leg.launch.command
    port = None
    if "--port" in cmd[:-1]:
        try:
            port = int(cmd[cmd.index("--port") + 1])
        except ValueError:
            port = None
    bad = []
    if s.pid is not None and ident.pid is not None and ident.pid != s.pid:
        bad.append(f"pid {ident.pid} where its server record says {s.pid}")
    if port is not None and ident.port is not None and ident.port != port:
        bad.append(f"port {ident.port} where its launch command says {port}")
    if not bad:
        return []
    return ctx.bad(
        "E2",
        f"leg {leg.leg_id}: its engine's log names {' and '.join(bad)}: the log is not of the server this leg started",
        evidence=[leg_ptr(leg, SERVER_LOG), leg_ptr(leg, field="server.pid")],
    )


@rule("E2", ["baseline", "patch", "bundle"], "a server lifetime hidden or declared wrongly", "fail", "eject")
def e2_server_lifetime(ctx: GateContext) -> list[Finding]:
    legs = [leg for leg in ctx.all_legs if leg.launch is not None]
    if not legs:
        return ctx.na("E2", "no leg with a launch record to place on a server lifetime")
    out: list[Finding] = []
    reused = [leg for leg in legs if leg.reused_from is not None]
    for leg in reused:
        out += _declared(ctx, leg)
    cands = set(ctx.decision.candidate_legs)
    for leg in reused:
        if leg.leg_id in cands:
            out += [
                ctx.finding(
                    "E2",
                    "flag",
                    f"candidate leg {leg.leg_id} measured on a server {leg.reused_from} left up: a "
                    "candidate starts its own server (warm state is not the candidate's)",
                    action="remeasure",
                    evidence=[leg_ptr(leg, field="server.reused")],
                )
            ]
    out += _hidden(ctx, legs)
    for leg in legs:
        if leg.reused_from is None:
            out += _own_record(ctx, leg)
    if not out:
        own = len(legs) - len(reused)
        out += ctx.ok(
            "E2",
            f"{own} leg(s) on a server of their own, {len(reused)} on a declared reused one (same pid and "
            "engine config as its owner, after its owner, prefix cache reset in the engine's log)",
        )
    return out
