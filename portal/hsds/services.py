"""Who may read the directory API, and what they read: the offers of verified organizations that
chose to publish them (to partners holding a token, or to anyone), never a draft, never a
volunteer's offer (a volunteer is a private person), never anything about a person.

Partners' tokens are random, shown once and kept as their SHA-256; every read with a token is
counted against its hourly limit and written to the audit trail as one event naming the token
(not the records: the directory is not personal data, and a page of 50 would be 50 rows).
"""

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from portal.audit import services as audit
from portal.auth import throttle
from portal.auth.sessions import digest
from portal.clock import utcnow
from portal.hsds import taxonomy
from portal.hsds.documents import Directory, reversed_id
from portal.hsds.taxonomy import Term
from portal.models import ApiToken, Area, Offer, OfferStatus, Organization, Publication, User, VerificationStatus
from portal.offers.search import text_match

TOKEN_PREFIX = "hsds_"


class TokenRefused(PermissionError):
    """The token is unknown or revoked."""


class TooManyReads(RuntimeError):
    """The reader used up its reads for this hour."""


@dataclass(frozen=True)
class Reader:
    """Who is reading: a partner's token, or anyone (None)."""

    token_id: uuid.UUID | None


@dataclass(frozen=True)
class Filters:
    search: str = ""
    taxonomy_term_id: uuid.UUID | None = None
    taxonomy_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    modified_after: datetime | None = None


@dataclass(frozen=True)
class Found:
    offers: list[Offer]
    total: int
    directory: Directory


# --- Tokens -------------------------------------------------------------------------------------


def create_token(session: Session, name: str, by: User | None) -> tuple[ApiToken, str]:
    """A new token and its secret, which is shown once and never kept."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name.strip()[:120], token_hash=digest(secret), created_by_id=by.id if by else None)
    session.add(token)
    audit.record(session, by, "create", "api_token", token.id)
    session.commit()
    return token, secret


def revoke_token(session: Session, token: ApiToken, by: User | None) -> ApiToken:
    locked = session.exec(select(ApiToken).where(ApiToken.id == token.id).with_for_update()).one()
    if locked.revoked_at is None:
        locked.revoked_at = utcnow()
        audit.record(session, by, "revoke", "api_token", locked.id)
    session.commit()
    return locked


def list_tokens(session: Session) -> Sequence[ApiToken]:
    return session.exec(
        select(ApiToken).order_by(col(ApiToken.revoked_at).is_not(None), col(ApiToken.created_at).desc())
    ).all()


def find_token(session: Session, token_id: uuid.UUID) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def admit(session: Session, secret: str | None, address: str, limit: int) -> Reader:
    """The reader a request's token names, once its read is counted and, for a token, audited (the
    caller's session is committed here). Raises TokenRefused or TooManyReads."""
    now = utcnow()
    if secret is None:
        if not throttle.take(session, "api", f"address:{address}", limit, now):
            session.rollback()
            raise TooManyReads
        session.commit()
        return Reader(token_id=None)
    token = session.exec(
        select(ApiToken).where(ApiToken.token_hash == digest(secret), col(ApiToken.revoked_at).is_(None))
    ).first()
    if token is None:
        raise TokenRefused
    if not throttle.take(session, "api", f"token:{token.id}", limit, now):
        session.rollback()
        raise TooManyReads
    token.last_used_at = now
    audit.record(session, None, "read", "api_token", token.id)
    session.commit()
    return Reader(token_id=token.id)


# --- What a reader may read ---------------------------------------------------------------------


def _publications(reader: Reader) -> list[Publication]:
    return [Publication.PUBLIC, Publication.PARTNERS] if reader.token_id else [Publication.PUBLIC]


def _published_organizations(reader: Reader) -> ColumnElement[bool]:
    return sa.and_(
        col(Organization.status) == VerificationStatus.VERIFIED,
        col(Organization.api_publication).in_(_publications(reader)),
    )


def _published_offers(reader: Reader) -> SelectOfScalar[Offer]:
    # Asked of each offer (EXISTS), not joined: the pages walk the offers in their order through
    # its index and stop at the page's end, where a join read and sorted every published offer.
    published = sa.exists().where(col(Organization.id) == Offer.organization_id, _published_organizations(reader))
    return select(Offer).where(published, Offer.status != OfferStatus.DRAFT)


def _term_condition(term: Term) -> ColumnElement[bool]:
    if term.taxonomy == taxonomy.ATTRIBUTES:
        return {
            taxonomy.CAPACITY: sa.true(),
            taxonomy.REMOTE: col(Offer.remote).is_(True),
            taxonomy.MONTHS_IN_RECOVERY: col(Offer.min_months_in_recovery) > 0,
            taxonomy.GENDER: sa.cast(Offer.genders, sa.String) != "[]",
        }[term.code]
    categories = taxonomy.categories_of_term(term)
    return col(Offer.category).in_(sorted(categories)) if categories else sa.false()


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.search.strip():
        matched = text_match(filters.search)
        if matched is not None:
            found.append(matched.condition)
    if filters.taxonomy_term_id is not None:
        term = taxonomy.terms_by_id().get(filters.taxonomy_term_id)
        found.append(_term_condition(term) if term else sa.false())
    if filters.taxonomy_id is not None:
        known = any(item.id == filters.taxonomy_id for item in taxonomy.TAXONOMIES)
        found.append(sa.true() if known else sa.false())
    if filters.organization_id is not None:
        found.append(col(Offer.organization_id) == filters.organization_id)
    if filters.modified_after is not None:
        found.append(col(Offer.updated_at) >= filters.modified_after)
    return found


def _directory(session: Session, offers: Sequence[Offer]) -> Directory:
    organization_ids = {offer.organization_id for offer in offers if offer.organization_id}
    organizations = (
        {o.id: o for o in session.exec(select(Organization).where(col(Organization.id).in_(organization_ids)))}
        if organization_ids
        else {}
    )
    areas = {area.id: area for area in session.exec(select(Area))} if offers else {}
    return Directory(organizations=organizations, areas=areas)


LOCATED = sa.or_(sa.and_(col(Offer.latitude).is_not(None), col(Offer.longitude).is_not(None)), col(Offer.address) != "")


def _page(session: Session, reader: Reader, conditions: list[ColumnElement[bool]], page: int, per_page: int) -> Found:
    # Counted through a join: the offers' index on (organization, status) answers it without the
    # offers' rows, where asking each offer (as the page does) read them all.
    counted = (
        sa.select(func.count())
        .select_from(Offer)
        .join(Organization, col(Organization.id) == Offer.organization_id)
        .where(_published_organizations(reader), col(Offer.status) != OfferStatus.DRAFT, *conditions)
    )
    total = session.execute(counted).scalar_one()
    shown = _published_offers(reader).where(*conditions)
    offers = session.exec(
        shown.order_by(col(Offer.updated_at).desc(), col(Offer.id).desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Found(offers=list(offers), total=total, directory=_directory(session, offers))


def services(session: Session, reader: Reader, filters: Filters, page: int, per_page: int) -> Found:
    return _page(session, reader, _conditions(filters), page, per_page)


def service(session: Session, reader: Reader, offer_id: uuid.UUID) -> Found | None:
    offer = session.exec(_published_offers(reader).where(Offer.id == offer_id)).first()
    return Found([offer], 1, _directory(session, [offer])) if offer else None


def services_at_locations(session: Session, reader: Reader, filters: Filters, page: int, per_page: int) -> Found:
    return _page(session, reader, [*_conditions(filters), LOCATED], page, per_page)


def service_at_location(session: Session, reader: Reader, service_at_location_id: uuid.UUID) -> Found | None:
    offer_id = reversed_id("service_at_location", service_at_location_id)
    offer = session.exec(_published_offers(reader).where(Offer.id == offer_id, LOCATED)).first()
    return Found([offer], 1, _directory(session, [offer])) if offer else None


def organizations(
    session: Session, reader: Reader, search: str, page: int, per_page: int
) -> tuple[list[Organization], int]:
    query = select(Organization).where(_published_organizations(reader))
    if search.strip():
        query = query.where(col(Organization.name).contains(search.strip(), autoescape=True))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    found = session.exec(
        query.order_by(col(Organization.name), col(Organization.id)).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(found), total


def organization(session: Session, reader: Reader, organization_id: uuid.UUID) -> Organization | None:
    return session.exec(
        select(Organization).where(Organization.id == organization_id, _published_organizations(reader))
    ).first()


def offers_of(session: Session, reader: Reader, organization: Organization) -> Found:
    """All the organization's published offers, for its full document."""
    query = _published_offers(reader).where(Offer.organization_id == organization.id)
    offers = session.exec(query.order_by(col(Offer.title), col(Offer.id))).all()
    return Found(list(offers), len(offers), _directory(session, offers))


# --- The whole directory, for an export ---------------------------------------------------------

# Stands for any partner's token: an export is what a token holder may read.
ANY_PARTNER = Reader(token_id=uuid.UUID(int=0))


def everything_published(session: Session) -> tuple[list[Organization], Found]:
    """Every organization and offer a partner holding a token may read (published to partners or
    to everyone), for `hsds export`: organizations by name, offers by organization and title."""
    organizations = session.exec(
        select(Organization)
        .where(_published_organizations(ANY_PARTNER))
        .order_by(col(Organization.name), col(Organization.id))
    ).all()
    offers = session.exec(
        _published_offers(ANY_PARTNER).order_by(col(Offer.organization_id), col(Offer.title), col(Offer.id))
    ).all()
    return list(organizations), Found(list(offers), len(offers), _directory(session, offers))
