"""The referral state machine (landscape.md §6.1), as one table: which action moves a referral from
which states to which, who may take it, and which reasons it requires."""

from dataclasses import dataclass

from portal.models import OPEN_STATES as OPEN_STATES  # defined with the table: its unique index reads it
from portal.models import ReferralStatus as S

HOLDS_A_PLACE = frozenset({S.ACCEPTED, S.IN_PROGRESS})
# A provider has these referrals to answer: accept, decline, or (when sent) put on the waiting list.
AWAITING_ANSWER = (S.SENT, S.WAITLISTED)

DECLINE_REASONS = ("no_capacity", "not_eligible", "out_of_area", "missing_documents", "client_declined", "other")
OUTCOMES = (
    "got_help",
    "partially_helped",
    "couldnt_get_help",
    "client_unreachable",
    "no_longer_interested",
    "referred_elsewhere",
)
WITHDRAW_REASONS = ("client_request", "needs_changed", "found_elsewhere", "lost_contact", "other")
# Why the portal itself withdraws a referral: the person's record was anonymised or erased.
RECORD_CLOSED = "record_closed"
# How the provider may reach the person once the referral is accepted.
CONTACT_METHODS = ("via_caseworker", "phone", "visit")
DISMISS_REASONS = ("not_suitable", "person_declined", "already_tried", "too_far_in_practice", "other")


@dataclass(frozen=True)
class Move:
    sources: frozenset[S]
    target: S
    side: str  # "case" (caseworker, supervisor), "provider", or "system"
    reasons: tuple[str, ...] = ()


MOVES: dict[str, Move] = {
    "approve": Move(frozenset({S.PROPOSED}), S.APPROVED, "case"),
    "send": Move(frozenset({S.APPROVED}), S.SENT, "case"),
    "accept": Move(frozenset({S.SENT, S.WAITLISTED}), S.ACCEPTED, "provider"),
    "decline": Move(frozenset({S.SENT, S.WAITLISTED}), S.DECLINED, "provider", DECLINE_REASONS),
    "waitlist": Move(frozenset({S.SENT}), S.WAITLISTED, "provider"),
    "start": Move(frozenset({S.ACCEPTED}), S.IN_PROGRESS, "provider"),
    "complete": Move(frozenset({S.IN_PROGRESS}), S.COMPLETED, "provider", OUTCOMES),
    "withdraw": Move(OPEN_STATES, S.WITHDRAWN, "case", WITHDRAW_REASONS),
    "expire": Move(frozenset({S.PROPOSED, S.APPROVED, S.SENT, S.WAITLISTED}), S.EXPIRED, "system"),
}


def actions_from(status: str, side: str) -> list[str]:
    """The actions this side may take on a referral in this state."""
    return [name for name, move in MOVES.items() if move.side == side and status in move.sources]
