"""The stages of a lead (contact → negotiation → signed → started → producing, or lost) and
the rules for moving between them.

Pure rules only: no database. ``crm.leads.services`` applies them.
"""

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

#: The stages in their order, ``producing`` last (the goal); ``lost`` stands outside the order.
#: Not "in progress": that is every stage but the ``CLOSED_STAGES`` (``Lead.in_progress``).
ORDERED_STAGES = ("contact", "negotiation", "signed", "started", "producing")
LOST = "lost"
STAGES = (*ORDERED_STAGES, LOST)
STAGE_RANK = {code: i for i, code in enumerate(ORDERED_STAGES)}
#: The stages a project's work is over in: producing (the goal reached) or lost. A lead in any
#: other stage is in progress (在办), tested by ``Lead.in_progress`` in Python and SQL.
CLOSED_STAGES = ("producing", LOST)

STAGE_LABELS = {
    "contact": _l("接触"),
    "negotiation": _l("洽谈"),
    "signed": _l("签约"),
    "started": _l("开工"),
    "producing": _l("投产"),
    "lost": _l("终止"),
}

LOST_REASONS = ("investor_withdrew", "relocated", "terms_failed", "policy", "other")
LOST_REASON_LABELS = {
    "investor_withdrew": _l("投资方放弃"),
    "relocated": _l("选址他处"),
    "terms_failed": _l("条件未谈拢"),
    "policy": _l("政策不符"),
    "other": _l("其他"),
}

#: The planned date that is a stage's next milestone (for the project colour).
NEXT_MILESTONE = {
    "negotiation": "planned_sign_date",
    "signed": "planned_start_date",
    "started": "planned_production_date",
}

#: Scale classes: fixed thresholds in 万元.
SCALE_CLASSES = {"100m": 10_000, "1b": 100_000, "5b": 500_000}


class StageRuleError(Exception):
    """A stage change the rules forbid; ``field`` names the input at fault."""

    def __init__(self, message, field="to"):
        super().__init__(str(message))
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Move:
    """What a requested stage change means under the rules."""

    from_stage: str
    to_stage: str
    kind: str  # forward | back | lose | reopen
    #: Stages entered by this move, in order: skipped ones first, the target last.
    entered: tuple[str, ...]

    @property
    def needs_reason(self) -> bool:
        return self.kind in {"back", "reopen"}


def stages_up_to(stage: str) -> tuple[str, ...]:
    """The active stages a lead created at ``stage`` counts as having entered."""
    return ORDERED_STAGES[: STAGE_RANK[stage] + 1]


def next_stage(stage: str) -> str:
    """The usual next step: the following active stage (a lost lead reopens at contact)."""
    if stage not in STAGE_RANK:
        return "contact"
    return ORDERED_STAGES[min(STAGE_RANK[stage] + 1, len(ORDERED_STAGES) - 1)]


def classify_move(current: str, target: str, reopen_from: str | None = None) -> Move:
    """Classify a move from ``current`` to ``target``.

    ``reopen_from`` is the furthest active stage of a lost lead, so a reopening to a stage beyond
    it enters the stages in between.
    """
    if target not in STAGES:
        raise StageRuleError(_l("未知的阶段"))
    if target == current:
        raise StageRuleError(_l("项目已处于该阶段"))
    if target == LOST:
        return Move(current, target, "lose", (LOST,))
    if current == LOST:
        start = STAGE_RANK.get(reopen_from or "contact", 0)
        entered = ORDERED_STAGES[start + 1 : STAGE_RANK[target] + 1]
        return Move(current, target, "reopen", entered or (target,))
    if STAGE_RANK[target] > STAGE_RANK[current]:
        entered = ORDERED_STAGES[STAGE_RANK[current] + 1 : STAGE_RANK[target] + 1]
        return Move(current, target, "forward", entered)
    return Move(current, target, "back", (target,))


def possible_moves(current: str, reopen_from: str | None = None) -> tuple[Move, ...]:
    """Every move the stage rules allow from ``current``, in the pipeline's order (lost last);
    who may make which kind is the permissions' business (``crm.leads.services.allowed_moves``)."""
    return tuple(classify_move(current, target, reopen_from)
                 for target in STAGES if target != current)


#: The permission (``crm.auth.permissions.RULES``) each kind of move needs on the lead.
MOVE_ACTIONS = {"forward": "lead.move", "lose": "lead.move", "back": "lead.move_back",
                "reopen": "lead.reopen"}


def check_effective_date(on: dt.date, today: dt.date, last_change: dt.date | None) -> None:
    """An effective date is never in the future nor before the lead's last stage change."""
    if on > today:
        raise StageRuleError(_l("生效日期不能晚于今天"), field="on")
    if last_change is not None and on < last_change:
        raise StageRuleError(
            _l("生效日期不能早于上次阶段变更（%(date)s）", date=last_change.isoformat()),
            field="on",
        )


@dataclass(frozen=True)
class Step:
    """One stage of the lead page's stepper: ``state`` done, current or todo (or ``lost``)."""

    code: str
    state: str
    on: dt.date | None

    @property
    def label(self) -> str:
        return str(STAGE_LABELS[self.code])


def stage_steps(stage: str, entries) -> tuple[Step, ...]:
    """The stepper 接触→洽谈→签约→开工→投产 of a lead now in ``stage``, from its stage entries
    ``(to_stage, effective_on)`` in order: each stage up to the current one is reached, with the
    date it was last entered; a lost lead shows the stages reached before it was lost, then
    终止 with its date."""
    last: dict[str, dt.date] = {}
    for code, on in entries:
        last[code] = on
    if stage == LOST:
        reached = [c for c, _on in entries if c in STAGE_RANK]
        top = max((STAGE_RANK[c] for c in reached), default=0)
    else:
        top = STAGE_RANK[stage]
    steps = []
    for code in ORDERED_STAGES:
        rank = STAGE_RANK[code]
        if rank > top:
            steps.append(Step(code, "todo", None))
        else:
            steps.append(Step(code, "current" if code == stage else "done", last.get(code)))
    if stage == LOST:
        steps.append(Step(LOST, "lost", last.get(LOST)))
    return tuple(steps)
