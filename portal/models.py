"""Every table of the portal, with the enumerations their columns take.

Primary keys are UUIDs (HSDS 3.0 requires them). Enumerations are stored as short strings,
not native database enums, so adding a value later needs no type migration.
"""

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from portal.crypto import blind_index_column, encrypted_column

STALE_AFTER = timedelta(days=90)


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: every timestamp in the database is UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always comes back timezone-aware, on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(length: int = 20, **kwargs: Any) -> Any:
    """A string column holding one value of a StrEnum."""
    return Field(sa_type=sa.String(length), **kwargs)


def list_column() -> Any:
    """A JSON list of short codes (languages, skills, schedule slots)."""
    return Field(default_factory=list, sa_type=sa.JSON)


def timestamp(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def version_column() -> "sa.Column[int]":
    """The version counter of a case record. SQLAlchemy bumps it at every ORM update and refuses an
    update whose row changed since it was read (StaleDataError), so two saves cannot silently race;
    services also compare it with the version an edit form was loaded at. Bulk `update()`
    statements bypass it: never use them on these tables."""
    return sa.Column("version", sa.Integer, nullable=False, server_default="1")


class OrganizationKind(StrEnum):
    NGO = "ngo"
    EMPLOYER = "employer"
    GOVERNMENT = "government"
    VOLUNTEER_GROUP = "volunteer_group"


class VerificationStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    CASEWORKER = "caseworker"  # the social worker (社工)
    GRID_WORKER = "grid_worker"  # 网格员
    SPECIALIST = "specialist"  # the anti-drug specialist (禁毒专干)
    PROVIDER = "provider"
    VOLUNTEER = "volunteer"


# Who works inside the programme: they sign in with a second factor, a longer password and a
# shorter idle time, as the records they read are Part 2 records.
STAFF_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CASEWORKER, Role.GRID_WORKER, Role.SPECIALIST})
# Who reads the directory of offers to refer people to them.
DIRECTORY_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CASEWORKER})


class AreaLevel(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    GRID = "grid"


class Category(StrEnum):
    EMPLOYMENT = "employment"
    TRAINING = "training"
    COUNSELLING = "counselling"
    FAMILY_SUPPORT = "family_support"
    HEALTH = "health"
    HOUSING = "housing"
    LEGAL = "legal"
    PEER_SUPPORT = "peer_support"


class OfferStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"


class ScheduleSlot(StrEnum):
    WEEKDAY_DAY = "weekday_day"
    WEEKDAY_EVENING = "weekday_evening"
    WEEKEND = "weekend"


class EmploymentType(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    TEMPORARY = "temporary"
    CONTRACTOR = "contractor"
    INTERN = "intern"


class PayPeriod(StrEnum):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


class Programme(StrEnum):
    COMMUNITY_DETOX = "community_detox"  # 社区戒毒
    COMMUNITY_REHAB = "community_rehab"  # 社区康复


class NeedStatus(StrEnum):
    OPEN = "open"
    MET = "met"
    CLOSED = "closed"


class ReferralStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WAITLISTED = "waitlisted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


# A referral still under way: one need has at most one with each offer (the partial unique index on
# Referral), while a declined, withdrawn, expired or completed one leaves room for a new approval.
OPEN_STATES = frozenset(
    {
        ReferralStatus.PROPOSED,
        ReferralStatus.APPROVED,
        ReferralStatus.SENT,
        ReferralStatus.WAITLISTED,
        ReferralStatus.ACCEPTED,
        ReferralStatus.IN_PROGRESS,
    }
)
_OPEN = sa.text("status IN (" + ", ".join(f"'{state}'" for state in sorted(OPEN_STATES)) + ")")


class ConsentPurpose(StrEnum):
    REFERRAL = "referral"
    EMPLOYMENT = "employment"
    RESEARCH = "research"


class DataCategory(StrEnum):
    """The parts of a person's record a consent can open to a recipient (minimum necessary)."""

    IDENTITY = "identity"  # full name, ID number, date of birth
    CONTACT = "contact"  # phone, address
    NEEDS = "needs"  # what the person needs help with, in the caseworker's words
    TREATMENT = "treatment"  # drug-treatment programme and its dates: the drug history
    SKILLS = "skills"  # skills, languages, availability


class RecipientKind(StrEnum):
    """A class of recipients a consent may name instead of one organization."""

    NGO = "ngo"
    EMPLOYER = "employer"
    GOVERNMENT = "government"
    VOLUNTEER_GROUP = "volunteer_group"
    INDIVIDUAL_VOLUNTEER = "individual_volunteer"


class OverrideBasis(StrEnum):
    """The legal grounds on which a supervisor may send a referral without the person's consent."""

    MEDICAL_EMERGENCY = "medical_emergency"
    COURT_ORDER = "court_order"
    STATUTORY_DUTY = "statutory_duty"
    VITAL_INTERESTS = "vital_interests"


class ConsentMethod(StrEnum):
    PAPER = "paper"
    VERBAL = "verbal"
    SIGNED_ON_SCREEN = "signed_on_screen"


class SignerRole(StrEnum):
    """Who signed a consent: the person, or someone the law lets sign for them (42 CFR 2.14, 2.15)."""

    SELF = "self"
    REPRESENTATIVE = "representative"


class ExpiryEvent(StrEnum):
    """An event that ends a consent, instead of a date (42 CFR 2.31(a)(6))."""

    PROGRAMME_END = "programme_end"
    REFERRAL_END = "referral_end"
    OTHER = "other_event"  # said in `expiry_event_text`


class ErasureBasis(StrEnum):
    """Why a person asked for their record to be erased (GDPR Art. 17(1), PIPL Art. 47)."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    NO_LONGER_NECESSARY = "no_longer_necessary"
    OBJECTION = "objection"
    UNLAWFUL_PROCESSING = "unlawful_processing"
    LEGAL_OBLIGATION = "legal_obligation"


class ErasureStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    REFUSED = "refused"


class ContactKind(StrEnum):
    VISIT = "visit"
    CALL = "call"
    MESSAGE = "message"
    CHECK_IN = "check_in"


class Area(SQLModel, table=True):
    """A district, a street (街道) within it, or a community grid (网格) within a street."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="area.id", index=True)
    level: AreaLevel = enum_column()
    name_en: str = Field(max_length=120)
    name_zh: str = Field(max_length=120)
    code: str = Field(max_length=40, unique=True)
    # The area's centre: where an offer or a person placed in it is, unless a pin says otherwise.
    latitude: float | None = Field(default=None)
    longitude: float | None = Field(default=None)

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


class Publication(StrEnum):
    """Who may read an organization's offers through the directory API (HSDS): nobody, partner
    systems holding a token, or anyone."""

    NONE = "none"
    PARTNERS = "partners"
    PUBLIC = "public"


class Organization(SQLModel, table=True):
    """An NGO, employer, government body or volunteer group; unseen by others until verified."""

    # An HSDS id names one record everywhere: an import finds the organization it made by it.
    __table_args__ = (
        sa.Index(
            "organization_source_id_once",
            "source_id",
            unique=True,
            postgresql_where=sa.text("source_id <> ''"),
            sqlite_where=sa.text("source_id <> ''"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    kind: OrganizationKind = enum_column()
    status: VerificationStatus = enum_column(default=VerificationStatus.PENDING, index=True)
    description: str = Field(default="", max_length=4000)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)
    website: str = Field(default="", max_length=300)
    area_id: uuid.UUID | None = Field(default=None, foreign_key="area.id")
    # What an admin checks before verifying: the unified social credit code (统一社会信用代码) on
    # the registration papers, the registered address, and a person to call.
    credit_code: str = Field(default="", max_length=18, sa_column_kwargs={"server_default": ""})
    registered_address: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})
    contact_person: str = Field(default="", max_length=120, sa_column_kwargs={"server_default": ""})
    contact_phone: str = Field(default="", max_length=40, sa_column_kwargs={"server_default": ""})
    # The organization's own choice: an employer may not want it known that it hires people in
    # recovery, so nothing is published until it says so; its contacts only if it says so too.
    api_publication: Publication = enum_column(default=Publication.NONE, sa_column_kwargs={"server_default": "none"})
    api_contacts: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = timestamp(default_factory=utcnow)
    verified_at: datetime | None = timestamp(default=None)
    # Imported from another HSDS directory (portal/hsds/importing.py): the record's id there, which a
    # second import finds it by, and where it came from last ('' for the portal's own).
    source_id: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})
    source: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})

    @property
    def is_verified(self) -> bool:
        return self.status == VerificationStatus.VERIFIED


class User(UserMixin, SQLModel, table=True):
    """A person who signs in: staff, a provider's staff member, or a volunteer."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=300)
    name: str = Field(max_length=120)
    role: Role = enum_column(index=True)
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organization.id", index=True)
    area_id: uuid.UUID | None = Field(default=None, foreign_key="area.id")
    phone: str = Field(default="", max_length=40)
    locale: str | None = Field(default=None, max_length=10)
    active: bool = Field(default=True)
    # Volunteers are verified one by one; everyone else is verified through their organization
    # or was created by an admin.
    verified_at: datetime | None = timestamp(default=None)
    created_at: datetime = timestamp(default_factory=utcnow)
    last_login_at: datetime | None = timestamp(default=None)
    # A volunteer's identity document type, for the volunteer service record export; no number.
    id_type: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})
    # The TOTP seed (portal/auth/mfa.py), encrypted like the case notes; None until enrolled.
    totp_secret: str | None = encrypted_column(default=None)
    # The last 30-second step whose code was accepted: a code is never accepted twice.
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    mfa_enrolled_at: datetime | None = timestamp(default=None)
    # Set only for a one-time password (the first admin's, from `flask create-admin`): it stops
    # working at this time, and until the user chooses their own they can do nothing else.
    password_expires_at: datetime | None = timestamp(default=None)

    @property
    def must_change_password(self) -> bool:
        return self.password_expires_at is not None

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random token and this row only its SHA-256, so
    the database cannot be used to forge a cookie, and revoking the row signs the browser out."""

    __tablename__ = "user_session"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    created_at: datetime = timestamp(default_factory=utcnow)
    last_seen_at: datetime = timestamp(default_factory=utcnow)
    # When the user last proved who they are in this browser: at sign-in, and again on
    # /auth/confirm before exports, overrides, account changes and the audit trail.
    authenticated_at: datetime = timestamp(default_factory=utcnow)
    revoked_at: datetime | None = timestamp(default=None)


class ApiToken(SQLModel, table=True):
    """A partner system's key to the directory API; only its hash is kept, so the token is shown
    once, when it is made."""

    __tablename__ = "api_token"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=120)
    token_hash: str = Field(max_length=64, unique=True)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = timestamp(default_factory=utcnow)
    last_used_at: datetime | None = timestamp(default=None)
    revoked_at: datetime | None = timestamp(default=None)


class LoginAttempt(SQLModel, table=True):
    """One sign-in attempt, for throttling and lock-out. The account is named by a hash of the
    e-mail typed, so unknown addresses are throttled like real ones without storing them."""

    __tablename__ = "login_attempt"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = timestamp(default_factory=utcnow, index=True)
    account_key: str = Field(max_length=64, index=True)
    address: str = Field(max_length=64, index=True)
    succeeded: bool = Field(default=False)


class RateEvent(SQLModel, table=True):
    """One use of something limited per hour (portal/auth/throttle.py `take`): a sign-up from a
    client address, a user's look for people already recorded. Counted, then forgotten."""

    __tablename__ = "rate_event"
    __table_args__ = (sa.Index("ix_rate_event_kind_subject_at", "kind", "subject", "at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=20)
    # What is limited: a client address, or a user's id.
    subject: str = Field(max_length=64)
    at: datetime = timestamp(default_factory=utcnow, index=True)


class RecoveryCode(SQLModel, table=True):
    """A single-use code that stands in for a TOTP code when the phone is lost; kept hashed."""

    __tablename__ = "recovery_code"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = timestamp(default=None)


class PasswordReset(SQLModel, table=True):
    """A password-reset link sent by e-mail: single use, short-lived, dead once the password changes;
    only its SHA-256 stored."""

    __tablename__ = "password_reset"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    # SHA-256 of the password hash when the link was asked for: a changed password kills the link.
    password_fingerprint: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)
    used_at: datetime | None = timestamp(default=None)


_OFFER_VERSION = version_column()


_REFERENCED = sa.text("reference <> ''")
_SOURCED = sa.text("source_id <> ''")


class Offer(SQLModel, table=True):
    """What a provider or a volunteer offers: a service, a job, or a volunteer's help."""

    __table_args__ = (
        sa.CheckConstraint("(organization_id IS NULL) <> (volunteer_id IS NULL)", name="offer_has_one_owner"),
        sa.CheckConstraint("capacity >= 0", name="offer_capacity_not_negative"),
        # An owner's own reference names one of its offers, so a spreadsheet imported twice updates.
        sa.Index(
            "offer_reference_once_per_organization",
            "organization_id",
            "reference",
            unique=True,
            postgresql_where=_REFERENCED,
            sqlite_where=_REFERENCED,
        ),
        sa.Index(
            "offer_reference_once_per_volunteer",
            "volunteer_id",
            "reference",
            unique=True,
            postgresql_where=_REFERENCED,
            sqlite_where=_REFERENCED,
        ),
        # The directory API counts an organization's published offers from the index alone.
        sa.Index("offer_organization_status", "organization_id", "status"),
        # An HSDS id names one record everywhere: an import finds the offer it made by it.
        sa.Index("offer_source_id_once", "source_id", unique=True, postgresql_where=_SOURCED, sqlite_where=_SOURCED),
    )
    __mapper_args__ = {"version_id_col": _OFFER_VERSION}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organization.id", index=True)
    volunteer_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True)
    category: Category = enum_column(index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=5000)
    skills: list[str] = list_column()
    languages: list[str] = list_column()
    area_id: uuid.UUID | None = Field(default=None, foreign_key="area.id", index=True)
    address: str = Field(default="", max_length=300)
    latitude: float | None = Field(default=None)
    longitude: float | None = Field(default=None)
    remote: bool = Field(default=False)
    schedule: list[str] = list_column()
    capacity: int = Field(default=1)
    # The owner's own code for the offer ('' for none): a spreadsheet's rows find their offers by it.
    reference: str = Field(default="", max_length=60, sa_column_kwargs={"server_default": ""})
    status: OfferStatus = enum_column(default=OfferStatus.DRAFT, index=True)
    min_age: int | None = Field(default=None)
    max_age: int | None = Field(default=None)
    genders: list[str] = list_column()
    min_months_in_recovery: int | None = Field(default=None)
    # Jobs only.
    employment_type: EmploymentType | None = enum_column(default=None, nullable=True)
    pay_min: int | None = Field(default=None)
    pay_max: int | None = Field(default=None)
    pay_period: PayPeriod | None = enum_column(default=None, nullable=True)
    hours_per_week: int | None = Field(default=None)
    fair_chance_statement: str = Field(default="", max_length=2000)
    # The employer said it gives no fair-chance statement: caseworkers are shown so.
    fair_chance_none_given: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Who takes referrals for this offer.
    contact_name: str = Field(default="", max_length=120)
    contact_phone: str = Field(default="", max_length=40)
    contact_email: str = Field(default="", max_length=254)
    last_confirmed_at: datetime = timestamp(default_factory=utcnow)
    version: int = Field(default=1, sa_column=_OFFER_VERSION)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = timestamp(default_factory=utcnow)
    # Indexed: every worker's matching index catches up with the offers changed since it last looked.
    updated_at: datetime = timestamp(default_factory=utcnow, index=True)
    # Imported from another HSDS directory: the service's id there ('' for an offer made here).
    source_id: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})

    def is_stale(self, now: datetime | None = None) -> bool:
        """Not confirmed by its owner for STALE_AFTER (90 days): their home page asks them to confirm it."""
        return (now or utcnow()) - self.last_confirmed_at > STALE_AFTER

    @property
    def is_job(self) -> bool:
        return self.category == Category.EMPLOYMENT


# The directory lists offers most recently confirmed first; this index gives it each page in order.
sa.Index("ix_offer_last_confirmed_at_id", Offer.__table__.c.last_confirmed_at, Offer.__table__.c.id)  # type: ignore[attr-defined]

# Terms are compared byte by byte (a prefix is a range of the index): PostgreSQL's "C" collation,
# SQLite's default one, whatever the database's own collation.
OFFER_TERM_LENGTH = 40
TERM_TYPE = sa.String(OFFER_TERM_LENGTH).with_variant(sa.String(OFFER_TERM_LENGTH, collation="C"), "postgresql")


class OfferTerm(SQLModel, table=True):
    """One word of an offer's title, description or skills, as the directory's search finds it
    (portal/offers/search.py writes them whenever an offer is written)."""

    __tablename__ = "offer_term"

    term: str = Field(primary_key=True, sa_type=TERM_TYPE)
    offer_id: uuid.UUID = Field(
        primary_key=True, sa_column_args=[sa.ForeignKey("offer.id", ondelete="CASCADE")], index=True
    )


class OfferFeatures(SQLModel, table=True):
    """What the matching engine reads in an offer's text, computed once when the offer is written
    (portal/matches/services.py), so that a new worker assembles its index from these rows instead
    of computing them for every offer. One column per representation, each named by the scheme it
    was computed with: a row of an older scheme is computed anew when it is read."""

    __tablename__ = "offer_features"

    offer_id: uuid.UUID = Field(foreign_key="offer.id", primary_key=True, ondelete="CASCADE")
    scheme: str = Field(max_length=80)
    # SHA-256 of the text the features were computed from: an edit that leaves it alone keeps them.
    digest: str = Field(max_length=64)
    # Hashed character n-grams and their counts (matching.features.TextFeatures.ngram_bytes).
    ngrams: bytes = Field(sa_type=sa.LargeBinary)
    concepts: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    hours: list[str] = list_column()
    # The offer's place in the space of meaning (matching.features.TextFeatures.vector_bytes).
    vector: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    computed_at: datetime = timestamp(default_factory=utcnow)


def phone_key(phone: str) -> str:
    """A phone number reduced to its digits, without China's +86, for comparing numbers."""
    digits = re.sub(r"\D", "", phone)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def id_number_key(id_number: str) -> str:
    """An ID number without spaces, in upper case (the check character may be typed x or X)."""
    return "".join(id_number.split()).upper()


_PERSON_VERSION = version_column()


class Person(SQLModel, table=True):
    """Someone on a caseworker's caseload. `code` is the pseudonym shown to providers."""

    # The caseload's filters and figures: a caseworker's (or an area's) people by next contact due.
    __table_args__ = (
        sa.Index("ix_person_caseworker_id_next_contact_due", "caseworker_id", "next_contact_due"),
        sa.Index("ix_person_area_id_next_contact_due", "area_id", "next_contact_due"),
        # An inbox checks each referral's consent against the end of its person's programme: this
        # index answers that without reading the person's wide row.
        sa.Index("ix_person_id_programme_end", "id", "programme_end"),
    )
    __mapper_args__ = {"version_id_col": _PERSON_VERSION}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(default=1, sa_column=_PERSON_VERSION)
    code: str = Field(max_length=20, unique=True)
    caseworker_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True)
    # The person's grid worker and anti-drug specialist, beside their social worker (the caseworker):
    # each sees and does what portal/duties.py gives their role; a supervisor assigns them.
    grid_worker_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True)
    specialist_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True)
    # Names, numbers, the address and every free-text note are encrypted (portal/crypto.py); the
    # blind indexes let the duplicate check find the same phone or ID number without decrypting.
    full_name: str = encrypted_column()
    phone: str = encrypted_column(default="")
    phone_index: str = blind_index_column("phone", phone_key)
    id_number: str = encrypted_column(default="")
    id_number_index: str = blind_index_column("id_number", id_number_key)
    birth_date: date | None = Field(default=None)
    gender: Gender | None = enum_column(default=None, nullable=True)
    languages: list[str] = list_column()
    area_id: uuid.UUID | None = Field(default=None, foreign_key="area.id", index=True)
    address: str = encrypted_column(default="")
    latitude: float | None = Field(default=None)
    longitude: float | None = Field(default=None)
    max_travel_km: float | None = Field(default=None)
    availability: list[str] = list_column()
    skills: list[str] = list_column()
    programme: Programme | None = enum_column(default=None, nullable=True)
    programme_start: date | None = Field(default=None)
    # The retention clock starts here: the record is anonymised a configured time after it.
    programme_end: date | None = Field(default=None, index=True)
    next_contact_due: date | None = Field(default=None)
    # The latest contact's date, kept with each contact logged (portal/people/search.py), so that
    # whether someone is out of contact is read off their row, not off their log.
    last_contact_on: date | None = Field(default=None)
    # The person refused computer-ranked suggestions (PIPL Art. 24): their caseworker sees the
    # eligible offers unscored, by title, and nothing is proposed to them automatically.
    refuses_ranked_suggestions: bool = Field(default=False)
    # A supervisor's hold (court case, complaint, audit) keeps the record whole past its retention.
    legal_hold: bool = Field(default=False)
    legal_hold_reason: str = Field(default="", max_length=500)
    # Set once the identifying details were replaced; the record is read-only from then on.
    anonymised_at: datetime | None = timestamp(default=None)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)

    @property
    def is_anonymised(self) -> bool:
        return self.anonymised_at is not None


_NEED_VERSION = version_column()


class Need(SQLModel, table=True):
    """One need of a person, from their needs assessment."""

    # The caseload's open-needs filter and count, without reading closed needs.
    __table_args__ = (sa.Index("ix_need_person_id_status", "person_id", "status"),)
    __mapper_args__ = {"version_id_col": _NEED_VERSION}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(default=1, sa_column=_NEED_VERSION)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    category: Category = enum_column()
    description: str = encrypted_column(default="")
    # The description's place in the matching engine's space of meaning, computed when it is
    # written (portal/matches/services.py): as revealing as the text, so sealed like it. None
    # until computed (needs written before there were vectors) or when there is no description.
    meaning: str | None = encrypted_column(default=None)
    urgency: int = Field(default=2)  # 1 can wait, 2 soon, 3 urgent
    status: NeedStatus = enum_column(default=NeedStatus.OPEN)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = timestamp(default_factory=utcnow)


_REFERRAL_VERSION = version_column()


class Referral(SQLModel, table=True):
    """A match between a need and an offer as it moves from proposal to outcome."""

    # Two approvals of one match at once (a double click, two tabs) give one referral: the second
    # insert waits for the first to commit, then fails, and finds the first's referral.
    __table_args__ = (
        sa.Index(
            "referral_open_once_per_need_offer",
            "need_id",
            "offer_id",
            unique=True,
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        # The periodic job asks which waiting referrals are past or near their answer date.
        sa.Index("ix_referral_status_respond_by", "status", "respond_by"),
        # The provider's inbox: referrals to these offers, in these states, by answer deadline.
        sa.Index("ix_referral_offer_id_status_respond_by", "offer_id", "status", "respond_by"),
        # A caseload's referrals by state: the home page's lists and counts, the caseload's filters.
        sa.Index("ix_referral_person_id_status", "person_id", "status"),
        # Lists that read every referral of a caseload or an inbox in some states (to count them and
        # to pick the first few) find what they need in this index alone, never in the wide rows.
        sa.Index("ix_referral_status_keys", "status", "person_id", "offer_id", "created_at", "respond_by", "id"),
    )
    __mapper_args__ = {"version_id_col": _REFERRAL_VERSION}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(default=1, sa_column=_REFERRAL_VERSION)
    need_id: uuid.UUID = Field(foreign_key="need.id", index=True)
    # The need's person, kept on the referral (a need never changes person) so that a caseload's
    # referrals are found from its people without going through every need; filled in on insert
    # (portal/referrals/services.py) when not given.
    person_id: uuid.UUID | None = Field(default=None, foreign_key="person.id", nullable=False)
    offer_id: uuid.UUID = Field(foreign_key="offer.id", index=True)
    status: ReferralStatus = enum_column(default=ReferralStatus.PROPOSED)
    score: float | None = Field(default=None)
    reasons: list[str] = list_column()
    reason_code: str = Field(default="", max_length=40)  # decline, withdrawal or outcome code
    note: str = encrypted_column(default="")
    # What the provider reads about the need, written or approved by the caseworker when sending;
    # the need's description (the caseworker's own words, which matching reads) never reaches them.
    summary: str = encrypted_column(default="")
    respond_by: datetime | None = timestamp(default=None)
    reminded_at: datetime | None = timestamp(default=None)
    # The provider may see the person's contact by this channel only (phone, visit, or none: through
    # the caseworker); see disclosure.CHANNEL_FIELDS.
    contact_method: str = Field(default="", max_length=20)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


_CONSENT_VERSION = version_column()


class Consent(SQLModel, table=True):
    """A person's consent to disclose some of their data to a recipient for a purpose, with every
    element 42 CFR 2.31(a) asks of a written consent (portal/consents/elements.py checks them)."""

    __table_args__ = (
        sa.CheckConstraint("valid_until IS NOT NULL OR expiry_event IS NOT NULL", name="consent_has_an_end"),
    )

    __mapper_args__ = {"version_id_col": _CONSENT_VERSION}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(default=1, sa_column=_CONSENT_VERSION)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    recipient_organization_id: uuid.UUID | None = Field(default=None, foreign_key="organization.id")
    recipient_kind: RecipientKind | None = enum_column(default=None, nullable=True)
    purpose: ConsentPurpose = enum_column()
    data_categories: list[str] = list_column()
    valid_from: date
    valid_until: date | None = Field(default=None)
    # The alternative to an end date: the consent ends when this happens.
    expiry_event: ExpiryEvent | None = enum_column(default=None, nullable=True)
    expiry_event_text: str = encrypted_column(default="")
    method: ConsentMethod = enum_column()
    # Who may make the disclosure: this programme, or another discloser named on the form.
    discloser: str = Field(max_length=200)
    # Where the signature is: the paper form's number, or the on-screen signature's id.
    signature_ref: str = Field(max_length=100)
    signed_at: date
    signed_by_role: SignerRole = enum_column(default=SignerRole.SELF)
    representative_name: str = encrypted_column(default="")
    # The text the person read (portal/consent_text.py): its revocation statement and its SHA-256.
    revocation_statement_version: str = Field(max_length=20)
    text_version_sha256: str = Field(max_length=64)
    # Anything the form cannot say: who signed for the person, where the paper form is filed.
    note: str = encrypted_column(default="")
    recorded_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    recorded_at: datetime = timestamp(default_factory=utcnow)
    revoked_at: datetime | None = timestamp(default=None)
    revoked_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")


class ConsentOverride(SQLModel, table=True):
    """A supervisor's decision to send one referral without a consent, on a recorded legal basis."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)
    by_id: uuid.UUID = Field(foreign_key="user.id")
    basis: OverrideBasis = enum_column()
    note: str = encrypted_column()
    at: datetime = timestamp(default_factory=utcnow)


class ContactLog(SQLModel, table=True):
    """One contact between a worker (caseworker, grid worker, specialist; `caseworker_id` names
    whoever recorded it) and a person: the trail that prevents 脱失漏管."""

    # A person's last contact (out of contact or not) is the top of this index, not a read of their log.
    __table_args__ = (sa.Index("ix_contactlog_person_id_occurred_on", "person_id", "occurred_on"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    caseworker_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    kind: ContactKind = enum_column()
    occurred_on: date
    outcome: str = Field(default="", max_length=40)
    note: str = encrypted_column(default="")
    # Where a visit was recorded, from the worker's phone with their permission; the supervisor
    # reads it as a distance from the person's address, never as a place.
    latitude: float | None = Field(default=None)
    longitude: float | None = Field(default=None)
    created_at: datetime = timestamp(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """An append-only record of who did what to which record, chained with a keyed MAC (`hash`); no
    sensitive values.

    Events are written pending (no `sequence`, empty MACs) with the change they log, so appending
    takes no lock every server shares; one linker at a time then gives each pending event its
    sequence and MAC, once (portal/audit/services.py). An event names one record (`record_id`) or,
    for a list shown, several (`AuditEventRecord` rows, `record_id` empty)."""

    # "Who touched this record, and when": one index serves a record's trail and breach queries.
    __table_args__ = (sa.Index("ix_auditevent_record_id_at", "record_id", "at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    sequence: int | None = Field(default=None, unique=True)  # None while pending
    at: datetime = timestamp(default_factory=utcnow, index=True)
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True)
    action: str = Field(max_length=60)
    record_type: str = Field(max_length=40)
    record_id: uuid.UUID | None = Field(default=None)
    # A list's records as SHA-256 (portal.audit.services.digest_of), taken when it is written: the
    # linker chains it without reading the records, and verification recomputes it from them.
    records_digest: str = Field(default="", max_length=64)
    previous_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)


class AuditEventRecord(SQLModel, table=True):
    """One record a list event names: a list of 500 people is one event and 500 of these small rows,
    found by record for "who viewed this record". The event's MAC covers a digest of them all."""

    event_id: uuid.UUID = Field(foreign_key="auditevent.id", primary_key=True)
    record_id: uuid.UUID = Field(primary_key=True, index=True)


class ReferralEvent(SQLModel, table=True):
    """One step of a referral: who moved it, when, from which state to which, and why."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)
    from_status: ReferralStatus | None = enum_column(default=None, nullable=True)
    to_status: ReferralStatus = enum_column()
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")  # None: the portal itself
    at: datetime = timestamp(default_factory=utcnow)
    reason_code: str = Field(default="", max_length=40)
    note: str = encrypted_column(default="")


class Dismissal(SQLModel, table=True):
    """A ranked offer a caseworker set aside for a need, and why; it is not proposed again."""

    __table_args__ = (sa.UniqueConstraint("need_id", "offer_id", name="dismissal_once_per_need_offer"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    need_id: uuid.UUID = Field(foreign_key="need.id", index=True)
    offer_id: uuid.UUID = Field(foreign_key="offer.id")
    reason: str = Field(max_length=40)
    note: str = encrypted_column(default="")
    by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    at: datetime = timestamp(default_factory=utcnow)


class RankingShown(SQLModel, table=True):
    """A ranking of a need's offers as the caseworker's matches page showed it, kept so the ranker
    can learn from what caseworkers then decided (portal/matches/learning.py). Only for people in
    the programmes of PORTAL_LEARNING_PROGRAMMES; never for an unscored list.

    One row a ranking, the shown offers a JSON list in the order shown, not one row an offer: a
    ranking is only ever written and read whole (replaying it needs every offer of it together),
    so ten rows and their index entries a page view would cost ten times the space for nothing.
    The list holds numbers and ids only: each offer's id and its signals in the order of
    matching.ranker.SIGNALS, never a text, a reason's words or a field of the person."""

    __tablename__ = "ranking_shown"
    # The latest ranking of a need, to record a decision against it.
    __table_args__ = (sa.Index("ix_ranking_shown_need_id_shown_at", "need_id", "shown_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    need_id: uuid.UUID = Field(foreign_key="need.id")
    shown_at: datetime = timestamp(default_factory=utcnow)
    # Which weights ranked (matching.ranker.Ranker.digest).
    ranker_digest: str = Field(max_length=16)
    # [{"offer": "<uuid>", "signals": [9 numbers]}, ...], best first: the position is the place in the list.
    offers: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)


class DecisionKind(StrEnum):
    APPROVED = "approved"
    SET_ASIDE = "set_aside"


class RankingDecision(SQLModel, table=True):
    """What the caseworker did with one offer of a recorded ranking: approved it (a referral, whose
    outcome is read from the referral itself) or set it aside, with the reason code."""

    __tablename__ = "ranking_decision"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    ranking_id: uuid.UUID = Field(foreign_key="ranking_shown.id", index=True, ondelete="CASCADE")
    offer_id: uuid.UUID = Field(foreign_key="offer.id")
    decision: DecisionKind = enum_column()
    reason: str = Field(default="", max_length=40)
    at: datetime = timestamp(default_factory=utcnow)


class NoticeTarget(StrEnum):
    """What a notification is about, so it can open that page; the web layer builds the address
    (portal/notifications/links.py), services never do."""

    NONE = "none"
    PERSON = "person"  # the person's page; target_id is the person
    REFERRAL_INBOX = "referral_inbox"  # the provider's inbox
    HOME = "home"  # the start page, where the attention list is
    OUTBOX = "outbox"  # the admins' outbox


class Notification(SQLModel, table=True):
    """A message in a user's in-app list; `kind` and `params` let it be shown in their language."""

    # A user's list, newest first, a page at a time (and their unread count) from the index alone.
    __table_args__ = (sa.Index("ix_notification_user_id_created_at", "user_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id")
    kind: str = Field(max_length=40)
    params: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    target: NoticeTarget = enum_column(default=NoticeTarget.NONE)
    target_id: uuid.UUID | None = Field(default=None)
    created_at: datetime = timestamp(default_factory=utcnow)
    read_at: datetime | None = timestamp(default=None)


class OutboxMail(SQLModel, table=True):
    """An e-mail to send: delivered by SMTP when configured, otherwise kept here for admins to read."""

    # The admins' outbox, newest first, a page at a time: the table only grows. The mails still to
    # send, oldest first (the sweep of run-due-jobs, /metrics' count): a few among every mail sent.
    __table_args__ = (
        sa.Index("ix_outboxmail_created_at", "created_at", "id"),
        sa.Index(
            "ix_outboxmail_unsent",
            "created_at",
            "id",
            postgresql_where=sa.text("sent_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    to_address: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    body: str = Field(max_length=10000)
    created_at: datetime = timestamp(default_factory=utcnow)
    sent_at: datetime | None = timestamp(default=None)
    error: str = Field(default="", max_length=500)
    # Tries so far; after a temporary failure the next is not before `next_attempt_at`. A mail the
    # server refused for good, or that failed every try, has `failed_at` and is never tried again.
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = timestamp(default=None)
    failed_at: datetime | None = timestamp(default=None)


class FollowUpKind(StrEnum):
    LOST_CONTACT = "lost_contact"
    CONTACT_OVERDUE = "contact_overdue"
    REFERRAL_OVERDUE = "referral_overdue"
    EMPLOYMENT_30 = "employment_30"
    EMPLOYMENT_90 = "employment_90"
    EMPLOYMENT_180 = "employment_180"


class FollowUpStatus(StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"
    DONE = "done"


class FollowUp(SQLModel, table=True):
    """Something a caseworker must attend to so that nobody drops out of contact (防脱失).

    `key` names the occasion (kind, person, referral, date), so the periodic job creates each once.
    """

    __table_args__ = (
        # The periodic job asks which referrals' follow-ups of a kind were opened already.
        sa.Index("ix_followup_referral_id_kind", "referral_id", "kind"),
        # Whether a person due for a contact follow-up has it already: a look-up, not a read of them all.
        sa.Index("ix_followup_person_id_kind_due_on", "person_id", "kind", "due_on"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: FollowUpKind = enum_column()
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    referral_id: uuid.UUID | None = Field(default=None, foreign_key="referral.id")
    due_on: date
    status: FollowUpStatus = enum_column(default=FollowUpStatus.OPEN, index=True)
    snoozed_until: date | None = Field(default=None)
    note: str = encrypted_column(default="")
    # Job checks only: whether the person was still in the job when it was done (90-day retention).
    outcome: str = Field(default="", max_length=40)
    resolved_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    resolved_at: datetime | None = timestamp(default=None)
    created_at: datetime = timestamp(default_factory=utcnow)


class CheckKind(StrEnum):
    CHECK_IN = "report_in"  # 报到: the person reports to the programme office
    TEST = "drug_test"  # 尿检 (or another test the agreement names)


class CheckResult(StrEnum):
    """How a scheduled check went. A check-in is attended or missed; a test is negative, positive,
    refused or missed."""

    ATTENDED = "attended"
    NEGATIVE = "negative"
    POSITIVE = "positive"
    REFUSED = "refused"
    MISSED = "missed"


_AGREEMENT_VERSION = version_column()


class ProgrammeAgreement(SQLModel, table=True):
    """The person's community detox or rehabilitation agreement (社区戒毒/社区康复协议): its term,
    and how often they report in and are tested. The anti-drug specialist keeps it."""

    __tablename__ = "programme_agreement"
    __mapper_args__ = {"version_id_col": _AGREEMENT_VERSION}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(default=1, sa_column=_AGREEMENT_VERSION)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    programme: Programme = enum_column()
    signed_on: date
    starts_on: date
    ends_on: date
    check_in_every_days: int
    test_every_days: int
    note: str = encrypted_column(default="")
    recorded_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = timestamp(default_factory=utcnow)


class ProgrammeCheck(SQLModel, table=True):
    """One check-in or test the agreement schedules: when it is due, and once done, when and how it
    went. Recording one schedules the next of its kind, until the agreement ends."""

    __tablename__ = "programme_check"
    # The specialist's list and the indicators: a person's checks by kind and due date.
    __table_args__ = (sa.Index("ix_programme_check_person_id_kind_due_on", "person_id", "kind", "due_on"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id")
    agreement_id: uuid.UUID = Field(foreign_key="programme_agreement.id", index=True)
    kind: CheckKind = enum_column()
    due_on: date
    done_on: date | None = Field(default=None)
    result: CheckResult | None = enum_column(default=None, nullable=True)
    note: str = encrypted_column(default="")
    recorded_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = timestamp(default_factory=utcnow)


class Duty(StrEnum):
    """What a worker does for a person; each role has one (portal/duties.py)."""

    SOCIAL_WORK = "social_work"  # the caseworker: needs, consents, matches, referrals
    GRID = "grid_work"  # the grid worker: visits and contacts
    PROGRAMME = "programme"  # the anti-drug specialist: the agreement, check-ins and tests


class Handover(SQLModel, table=True):
    """A person handed from one worker to another for one duty (social work, the grid, the
    programme), with the note that goes with them."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    duty: Duty = enum_column(default=Duty.SOCIAL_WORK, sa_column_kwargs={"server_default": "social_work"})
    from_user_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    to_user_id: uuid.UUID = Field(foreign_key="user.id")
    note: str = encrypted_column()
    by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    at: datetime = timestamp(default_factory=utcnow)


class ActivityKind(StrEnum):
    """What a volunteer (禁毒志愿者) did, as volunteer service records name it."""

    MENTORING = "mentoring"
    ACCOMPANIMENT = "accompaniment"
    TUTORING = "tutoring"
    PEER_SUPPORT = "peer_support"
    AWARENESS = "awareness"
    COMMUNITY = "community"
    OTHER = "other"


class ActivityStatus(StrEnum):
    PENDING = "to_confirm"
    CONFIRMED = "confirmed"
    RETURNED = "returned"


class IdType(StrEnum):
    """The identity document a volunteer service record names (证件类型); the number is never asked."""

    RESIDENT_ID = "resident_id"
    HK_MACAO_PERMIT = "hk_macao_permit"
    TAIWAN_PERMIT = "taiwan_permit"
    PASSPORT = "passport"
    FOREIGN_RESIDENCE = "foreign_residence"


_ACTIVITY_VERSION = version_column()


class VolunteerActivity(SQLModel, table=True):
    """Hours a volunteer gave on one day. They count once confirmed: by the caseworker of the
    referral it served, or else by the organization the volunteer served with."""

    __tablename__ = "volunteer_activity"
    __mapper_args__ = {"version_id_col": _ACTIVITY_VERSION}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(default=1, sa_column=_ACTIVITY_VERSION)
    volunteer_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    done_on: date
    minutes: int
    kind: ActivityKind = enum_column()
    # What was done, in the volunteer's words; it may name the person helped, so it is encrypted.
    description: str = encrypted_column(default="")
    referral_id: uuid.UUID | None = Field(default=None, foreign_key="referral.id", index=True)
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organization.id", index=True)
    # Where the hours count in the indicators: the referral's person's grid, or the organization's area.
    area_id: uuid.UUID | None = Field(default=None, foreign_key="area.id", index=True)
    status: ActivityStatus = enum_column(default=ActivityStatus.PENDING, index=True)
    decided_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    decided_at: datetime | None = timestamp(default=None)
    returned_reason: str = Field(default="", max_length=300)
    created_at: datetime = timestamp(default_factory=utcnow)

    @property
    def hours(self) -> float:
        return self.minutes / 60


class ErasureRequest(SQLModel, table=True):
    """A person's request to have their record erased, answered within 30 days (GDPR Art. 12(3)).
    It holds ids, codes and dates only, so it outlives the erasure it asks for."""

    __tablename__ = "erasure_request"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    basis: ErasureBasis = enum_column(30)
    requested_at: datetime = timestamp(default_factory=utcnow)
    requested_by_id: uuid.UUID = Field(foreign_key="user.id")
    due_on: date
    status: ErasureStatus = enum_column(default=ErasureStatus.OPEN, index=True)
    # Why it was refused (the legal hold's reason), or empty once carried out.
    outcome: str = Field(default="", max_length=500)
    decided_at: datetime | None = timestamp(default=None)
    decided_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")


class IdempotencyKey(SQLModel, table=True):
    """A create form's one-time key, written in the same transaction as the row it created, so a
    double click or a resent request finds the first result instead of making a second row."""

    __tablename__ = "idempotency_key"
    __table_args__ = (sa.UniqueConstraint("actor_id", "key", name="idempotency_key_once_per_actor"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # None for forms filled in before signing in (sign-up).
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True)
    key: uuid.UUID
    record_type: str = Field(max_length=40)
    record_id: uuid.UUID | None = Field(default=None)
    created_at: datetime = timestamp(default_factory=utcnow, index=True)


class JobLock(SQLModel, table=True):
    """A periodic command under way: the row exists while it runs, so a second run started before
    the first ended (cron, a slow run) finds it and leaves. `expires_at` lets a run take over the
    lock of one that died without releasing it."""

    __tablename__ = "job_lock"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=40, unique=True)
    holder: str = Field(max_length=100)
    taken_at: datetime = timestamp()
    expires_at: datetime = timestamp()


class JobRun(SQLModel, table=True):
    """When a periodic command last finished its work (run-due-jobs, a clean `audit verify`): the
    metrics show it, so an operator learns that cron stopped before the follow-ups pile up."""

    __tablename__ = "job_run"

    name: str = Field(max_length=40, primary_key=True)
    last_success_at: datetime = timestamp()


class IndicatorSnapshot(SQLModel, table=True):
    """The indicators of one area and period as published at `computed_at`: after small-cell
    suppression, as the page shows them (portal/indicators/snapshots.py); a view reads one row
    instead of running some twenty aggregate queries."""

    __tablename__ = "indicator_snapshot"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The area, the first and last day, and the contact rules and threshold the figures were published with.
    key: str = Field(max_length=200, unique=True)
    computed_at: datetime = timestamp(index=True)
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class ImportState(StrEnum):
    """Where an admin's HSDS import is (portal/hsds/imports.py): waiting for its thread, checking,
    checked (its report waits for a confirmation), applying, applied; refused (the check found
    problems: nothing was written) or failed (an unexpected error, in the log); expired: never
    confirmed nor started again in time, so its copy of the other directory's data is deleted."""

    WAITING = "waiting"
    CHECKING = "checking"
    CHECKED = "checked"
    APPLYING = "applying"
    APPLIED = "applied"
    REFUSED = "refused"
    FAILED = "failed"
    EXPIRED = "expired"


class DirectoryImport(SQLModel, table=True):
    """Another directory's HSDS data an admin imports from the page: the file kept until the import
    ends, and the progress of the thread that checks or applies it, so that any worker of the portal
    can show it; `updated_at` moves with every step, so a run whose process stopped is seen to."""

    __tablename__ = "directory_import"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = timestamp(default_factory=utcnow, index=True)
    updated_at: datetime = timestamp(default_factory=utcnow)
    # The file's name as uploaded, or the other API's base URL.
    source: str = Field(max_length=300)
    # Where the upload is kept (empty for a URL, and once the import has ended).
    file_path: str = Field(default="", max_length=500)
    state: ImportState = enum_column(default=ImportState.WAITING)
    # What the thread is doing: reading, checking or writing (portal/hsds/imports.py).
    phase: str = Field(default="", max_length=40)
    done: int = 0
    total: int = 0
    # The dry run's report, then the apply's (portal/hsds/imports.py: report_document).
    report: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    # The other API's token, if it asks for one: sealed, and forgotten once the import has ended.
    token: str | None = encrypted_column(default=None)
