"""The words users see for each stored code, in their language."""

from enum import StrEnum

from flask import Flask
from flask_babel import LazyString, format_decimal, get_locale, pgettext
from flask_babel import lazy_gettext as _l

from matching.vocabulary import CONCEPT_LABELS
from portal.models import (
    ActivityKind,
    ActivityStatus,
    Area,
    AreaLevel,
    Category,
    CheckKind,
    CheckResult,
    ConsentMethod,
    ConsentPurpose,
    ContactKind,
    DataCategory,
    Duty,
    EmploymentType,
    ErasureBasis,
    ErasureStatus,
    ExpiryEvent,
    Gender,
    IdType,
    NeedStatus,
    OfferStatus,
    OrganizationKind,
    OverrideBasis,
    PayPeriod,
    Programme,
    Publication,
    RecipientKind,
    Role,
    ScheduleSlot,
    SignerRole,
    VerificationStatus,
)
from portal.people.forms import ContactOutcome

LABELS: dict[StrEnum, LazyString] = {
    Category.EMPLOYMENT: _l("Employment"),
    Category.TRAINING: _l("Training"),
    Category.COUNSELLING: _l("Counselling"),
    Category.FAMILY_SUPPORT: _l("Family support"),
    Category.HEALTH: _l("Health"),
    Category.HOUSING: _l("Housing"),
    Category.LEGAL: _l("Legal aid"),
    Category.PEER_SUPPORT: _l("Peer support"),
    OfferStatus.DRAFT: _l("Draft"),
    OfferStatus.OPEN: _l("Open"),
    OfferStatus.PAUSED: _l("Paused"),
    OfferStatus.CLOSED: _l("Closed"),
    ActivityKind.MENTORING: _l("Mentoring"),
    ActivityKind.ACCOMPANIMENT: _l("Accompaniment"),
    ActivityKind.TUTORING: _l("Tutoring"),
    ActivityKind.AWARENESS: _l("Drug-prevention outreach"),
    ActivityKind.COMMUNITY: _l("Community service"),
    ActivityStatus.PENDING: _l("Waiting for confirmation"),
    ActivityStatus.CONFIRMED: _l("Confirmed"),
    ActivityStatus.RETURNED: _l("Returned"),
    IdType.RESIDENT_ID: _l("Resident identity card"),
    IdType.HK_MACAO_PERMIT: _l("Mainland travel permit for Hong Kong and Macao residents"),
    IdType.TAIWAN_PERMIT: _l("Mainland travel permit for Taiwan residents"),
    IdType.PASSPORT: _l("Passport"),
    IdType.FOREIGN_RESIDENCE: _l("Foreign permanent resident ID card"),
    Role.ADMIN: _l("Administrator"),
    Role.SUPERVISOR: _l("Supervisor"),
    Role.CASEWORKER: _l("Caseworker"),
    Role.GRID_WORKER: _l("Grid worker"),
    CheckKind.CHECK_IN: _l("Report-in (报到)"),
    CheckKind.TEST: _l("Drug test (尿检)"),
    CheckResult.ATTENDED: _l("Attended"),
    CheckResult.NEGATIVE: _l("Negative"),
    CheckResult.POSITIVE: _l("Positive"),
    CheckResult.REFUSED: _l("Refused"),
    CheckResult.MISSED: _l("Missed"),
    Duty.SOCIAL_WORK: _l("Social work"),
    Duty.GRID: _l("Grid visits"),
    Duty.PROGRAMME: _l("Programme (agreement, check-ins, tests)"),
    Role.SPECIALIST: _l("Anti-drug specialist"),
    Role.PROVIDER: _l("Provider staff"),
    Role.VOLUNTEER: _l("Volunteer"),
    OrganizationKind.NGO: _l("NGO"),
    OrganizationKind.EMPLOYER: _l("Employer"),
    OrganizationKind.GOVERNMENT: _l("Government body"),
    OrganizationKind.VOLUNTEER_GROUP: _l("Volunteer group"),
    RecipientKind.INDIVIDUAL_VOLUNTEER: _l("Individual volunteers"),
    # ConsentPurpose.EMPLOYMENT shares its code, and its word, with Category.EMPLOYMENT.
    ConsentPurpose.REFERRAL: _l("Referral to services"),
    ConsentPurpose.RESEARCH: _l("Research"),
    DataCategory.IDENTITY: _l("Identity: full name, ID number, date of birth"),
    DataCategory.CONTACT: _l("Contact: phone and address"),
    DataCategory.NEEDS: _l("Needs: what the person needs help with, in the caseworker's words"),
    DataCategory.TREATMENT: _l("Drug treatment: programme and its dates"),
    DataCategory.SKILLS: _l("Skills, languages and availability"),
    ConsentMethod.PAPER: _l("Signed on paper"),
    ConsentMethod.VERBAL: _l("Given verbally"),
    ConsentMethod.SIGNED_ON_SCREEN: _l("Signed on screen"),
    SignerRole.SELF: _l("The person themself"),
    SignerRole.REPRESENTATIVE: _l("An authorised representative"),
    ExpiryEvent.PROGRAMME_END: _l("The end of the programme"),
    ExpiryEvent.REFERRAL_END: _l("The end of the referral"),
    ExpiryEvent.OTHER: _l("Another event"),
    ErasureBasis.CONSENT_WITHDRAWN: _l("Consent withdrawn, no other legal ground"),
    ErasureBasis.NO_LONGER_NECESSARY: _l("No longer necessary for its purpose"),
    ErasureBasis.OBJECTION: _l("The person objects to the processing"),
    ErasureBasis.UNLAWFUL_PROCESSING: _l("Processed unlawfully"),
    ErasureBasis.LEGAL_OBLIGATION: _l("Erasure required by law"),
    OverrideBasis.MEDICAL_EMERGENCY: _l("Medical emergency"),
    OverrideBasis.COURT_ORDER: _l("Court order"),
    OverrideBasis.STATUTORY_DUTY: _l("Duty set by law"),
    OverrideBasis.VITAL_INTERESTS: _l("To protect someone's life"),
    VerificationStatus.PENDING: _l("Pending verification"),
    VerificationStatus.VERIFIED: _l("Verified"),
    Publication.NONE: _l("Not published"),
    Publication.PARTNERS: _l("Published to partner systems"),
    Publication.PUBLIC: _l("Published to everyone"),
    Gender.MALE: _l("Male"),
    Gender.FEMALE: _l("Female"),
    Gender.OTHER: _l("Other"),
    ScheduleSlot.WEEKDAY_DAY: _l("Weekday daytime"),
    ScheduleSlot.WEEKDAY_EVENING: _l("Weekday evenings"),
    ScheduleSlot.WEEKEND: _l("Weekends"),
    EmploymentType.FULL_TIME: _l("Full time"),
    EmploymentType.PART_TIME: _l("Part time"),
    EmploymentType.TEMPORARY: _l("Temporary"),
    EmploymentType.CONTRACTOR: _l("Contract"),
    EmploymentType.INTERN: _l("Internship"),
    PayPeriod.HOUR: _l("per hour"),
    PayPeriod.DAY: _l("per day"),
    PayPeriod.MONTH: _l("per month"),
    AreaLevel.DISTRICT: _l("District"),
    AreaLevel.STREET: _l("Street"),
    AreaLevel.GRID: _l("Community grid"),
    Programme.COMMUNITY_DETOX: _l("Community detox"),
    Programme.COMMUNITY_REHAB: _l("Community rehabilitation"),
    ContactKind.VISIT: _l("Visit"),
    ContactKind.CALL: _l("Phone call"),
    ContactKind.MESSAGE: _l("Message"),
    ContactKind.CHECK_IN: _l("Check-in"),
    ContactOutcome.REACHED: _l("Reached"),
    ContactOutcome.NOT_REACHED: _l("Not reached"),
    ContactOutcome.RESCHEDULED: _l("Rescheduled"),
}

LANGUAGE_NAMES: dict[str, LazyString] = {"zh": _l("Chinese"), "en": _l("English")}

# Referral states and the reasons of their steps (plain codes, see portal/referrals/states.py).
REFERRAL_LABELS: dict[str, LazyString] = {
    "proposed": _l("Proposed"),
    "approved": _l("Approved"),
    "sent": _l("Sent to provider"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "waitlisted": _l("Waitlisted"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "withdrawn": _l("Withdrawn"),
    "expired": _l("Expired"),
    "dismissed": _l("Set aside"),
    "record_closed": _l("The record was closed (anonymised or erased)"),
    "no_capacity": _l("No place left"),
    "not_eligible": _l("Not eligible"),
    "out_of_area": _l("Out of our area"),
    "missing_documents": _l("Documents missing"),
    "client_declined": _l("The person declined"),
    "other": _l("Other reason"),
    "got_help": _l("Got the help"),
    "partially_helped": _l("Partly helped"),
    "couldnt_get_help": _l("Could not get the help"),
    "client_unreachable": _l("Could not reach the person"),
    "no_longer_interested": _l("No longer interested"),
    "referred_elsewhere": _l("Referred elsewhere"),
    "client_request": _l("The person asked"),
    "needs_changed": _l("The need changed"),
    "found_elsewhere": _l("Found help elsewhere"),
    "lost_contact": _l("Lost contact"),
    "not_suitable": _l("Not suitable"),
    "person_declined": _l("The person does not want it"),
    "already_tried": _l("Already tried"),
    "too_far_in_practice": _l("Too hard to get to"),
    "follow_up_lost_contact": _l("No contact for too long"),
    "follow_up_contact_overdue": _l("Next contact overdue"),
    "follow_up_referral_overdue": _l("Provider has not answered in time"),
    "follow_up_employment_30": _l("Job follow-up: 30 days"),
    "follow_up_employment_90": _l("Job follow-up: 90 days"),
    "follow_up_employment_180": _l("Job follow-up: 180 days"),
    "still_employed": _l("Still employed"),
    "no_longer_employed": _l("No longer employed"),
    "action_approve": _l("Approve"),
    "action_accept": _l("Accept"),
    "action_decline": _l("Decline"),
    "action_waitlist": _l("Waitlist"),
    "action_start": _l("Start"),
    "action_complete": _l("Record outcome"),
    "action_withdraw": _l("Withdraw"),
    # How well a ranked offer fits (matching.ranker.FIT_WORDS).
    "fit_strong": _l("Strong match"),
    "fit_good": _l("Good match"),
    "fit_possible": _l("Possible match"),
    "contact_via_caseworker": _l("Contact through the caseworker"),
    "contact_phone": _l("The provider may phone the person"),
    "contact_visit": _l("Meet at a visit the caseworker arranges"),
    # The caseload's contact filter (portal/people/search.py).
    "contact_status_overdue": _l("Next contact overdue"),
    "contact_status_out_of_contact": _l("Out of contact"),
    "contact_status_ok": _l("In contact"),
    # The person's fields as a provider sees them (portal/disclosure.py).
    "field_full_name": _l("Name"),
    "field_id_number": _l("ID number"),
    "field_birth_date": _l("Date of birth"),
    "field_phone": _l("Phone"),
    "field_address": _l("Address"),
    "field_summary": _l("The need, as the caseworker summarised it for you"),
    "field_programme": _l("Drug treatment programme"),
    "field_programme_start": _l("In the programme since"),
    "field_skills": _l("Skills"),
    "field_languages": _l("Languages"),
    "field_availability": _l("Available"),
    # A consent's state today (portal/consents/services.py state_of).
    "consent_active": _l("In force"),
    "consent_not_yet_valid": _l("Not yet in force"),
    "consent_expired": _l("Ended"),
    "consent_revoked": _l("Revoked"),
}

# Apart from LABELS: "open" is already an offer's and a need's status there.
ERASURE_STATUS_LABELS: dict[str, LazyString] = {
    ErasureStatus.OPEN: _l("Waiting"),
    ErasureStatus.DONE: _l("Erased"),
    ErasureStatus.REFUSED: _l("Refused"),
}

URGENCY_LABELS: dict[int, LazyString] = {1: _l("Can wait"), 2: _l("Soon"), 3: _l("Urgent")}

ACTION_LABELS: dict[str, LazyString] = {
    "publish": _l("Publish"),
    "pause": _l("Pause"),
    "reopen": _l("Reopen"),
    "close": _l("Close"),
}


# Words the matching engine's reasons carry as codes: fixed hours that clash, groups asked for.
MATCHING_LABELS: dict[str, LazyString] = {
    "early_start": _l("starts early"),
    "long_hours": _l("long hours or live-in"),
    "night_work": _l("night or shift work"),
    "women": _l("women"),
    "men": _l("men"),
}

REASON_TEXTS: dict[str, LazyString] = {
    "same_category": _l("Same category: %(category)s"),
    "related_category": _l("%(offer_category)s can answer a %(need_category)s need"),
    "shared_meaning": _l("Both about: %(concepts)s"),
    # The same, quoting the words that matched on each side, whenever both sides have some.
    "shared_meaning+words": _l("Both about: %(concepts)s (need: “%(need_words)s”; offer: “%(offer_words)s”)"),
    "related_meaning": _l("Close in meaning"),
    "close_in_meaning": _l("Close in meaning: “%(need_words)s” ↔ “%(offer_words)s”"),
    "similar_wording": _l("Similar wording"),
    "skills": _l("Uses their skills: %(skills)s"),
    "hours_clash": _l("Hours clash with what they said they cannot do: %(hours)s"),
    "reserved_as_asked": _l("Only for %(group)s, as the need asks"),
    "remote": _l("Can be done remotely"),
    "distance": _l("%(km)s km away"),
    "not_open": _l("Not open: %(status)s"),
    "full": _l("Full"),
    "too_young": _l("Needs age %(min_age)s or over, is %(age)s"),
    "too_old": _l("Needs age %(max_age)s or under, is %(age)s"),
    "gender": _l("For %(genders)s only"),
    "recovery_time": _l("Needs %(required)s months in recovery, has %(months)s"),
    "language": _l("Only in %(languages)s"),
    "too_far": _l("Too far: %(km)s km, limit %(limit_km)s km"),
    "schedule": _l("Only at %(schedule)s"),
}


# Values a reason quotes as they were written (a need's sentence, an offer's title), never as codes.
QUOTED = frozenset({"need_words", "offer_words"})


def reason_text(code: str, values: dict[str, object]) -> str:
    """A matching engine's reason in the reader's language (its codes and figures, not its English)."""
    template = REASON_TEXTS.get(f"{code}+words" if values.get("need_words") and values.get("offer_words") else code)
    template = template if template is not None else REASON_TEXTS.get(code)
    if template is None:
        return code
    shown = {}
    for name, value in values.items():
        if name in QUOTED:  # the person's and the provider's own words, never translated
            shown[name] = " / ".join(map(str, value)) if isinstance(value, list) else str(value)
        elif name == "concepts" and isinstance(value, list):
            language = "zh" if str(get_locale()).startswith("zh") else "en"
            shown[name] = ", ".join(CONCEPT_LABELS.get(str(c), {}).get(language, str(c)) for c in value)
        elif isinstance(value, list):
            shown[name] = ", ".join(label(item) for item in value)
        elif isinstance(value, str):
            shown[name] = label(value)
        else:
            shown[name] = format_decimal(value, format="#,##0.#") if isinstance(value, float) else str(value)
    return str(template) % shown if shown else str(template)


def label(value: object) -> str:
    """The translated word for a stored code; the code itself if it has none."""
    if value is None:
        return ""
    # A StrEnum hashes as its string, so codes read back from the database find their label.
    text = LABELS.get(value) or LANGUAGE_NAMES.get(str(value)) or REFERRAL_LABELS.get(str(value))  # type: ignore[call-overload]
    text = text or MATCHING_LABELS.get(str(value))
    return str(text) if text is not None else str(value)


def need_status_label(status: object) -> str:
    """Need statuses reuse offer status codes ("open", "closed") but not their words."""
    words = {
        NeedStatus.OPEN: pgettext("need status", "Open"),
        NeedStatus.MET: pgettext("need status", "Met"),
        NeedStatus.CLOSED: pgettext("need status", "Closed"),
    }
    return words.get(str(status), str(status))  # type: ignore[call-overload]


def area_choices(areas: list[Area]) -> list[tuple[str, str]]:
    """Areas as select options, indented under their parent (areas come sorted by code)."""
    depth = {AreaLevel.DISTRICT: 0, AreaLevel.STREET: 1, AreaLevel.GRID: 2}
    language = "zh" if str(get_locale()).startswith("zh") else "en"
    return [(str(area.id), " " * depth.get(area.level, 0) + area.name(language)) for area in areas]


def zip_labels(codes: object) -> list[tuple[str, str]]:
    """Codes as (value, translated label) pairs for select options and checkboxes."""
    return [(str(code), label(code)) for code in codes]  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    app.jinja_env.filters["zip_labels"] = zip_labels
    app.jinja_env.globals.update(
        label=label,
        reason_text=reason_text,
        area_choices=area_choices,
        CATEGORIES=list(Category),
        SCHEDULE_SLOTS=list(ScheduleSlot),
        GENDERS=list(Gender),
        EMPLOYMENT_TYPES=list(EmploymentType),
        PAY_PERIODS=list(PayPeriod),
        OFFER_STATUSES=list(OfferStatus),
        PROGRAMMES=list(Programme),
        CONTACT_KINDS=list(ContactKind),
        CONTACT_OUTCOMES=list(ContactOutcome),
        NEED_STATUSES=list(NeedStatus),
        URGENCY_LABELS=URGENCY_LABELS,
        need_status_label=need_status_label,
        LANGUAGE_NAMES=LANGUAGE_NAMES,
        ACTION_LABELS=ACTION_LABELS,
        CONSENT_PURPOSES=list(ConsentPurpose),
        DATA_CATEGORIES=list(DataCategory),
        CONSENT_METHODS=list(ConsentMethod),
        RECIPIENT_KINDS=list(RecipientKind),
        OVERRIDE_BASES=list(OverrideBasis),
        SIGNER_ROLES=list(SignerRole),
        EXPIRY_EVENTS=list(ExpiryEvent),
        ERASURE_BASES=list(ErasureBasis),
        ERASURE_STATUS_LABELS=ERASURE_STATUS_LABELS,
    )
