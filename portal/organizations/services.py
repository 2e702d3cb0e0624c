"""Verifying organizations: until an admin does, their offers stay unseen."""

import uuid

from sqlmodel import Session, col, select

from portal.audit import services as audit
from portal.keyset import DEFAULT_PER_PAGE, Page, SortKey, page_of
from portal.models import Offer, Organization, Publication, Role, User, VerificationStatus, utcnow
from portal.offers.services import touch_offers_of

# "pending" sorts before "verified": the verification queue is on top of the first page.
ORDER = (SortKey(col(Organization.status)), SortKey(col(Organization.name)), SortKey(col(Organization.id)))
# An organization's offers by title: a city NGO has hundreds.
OFFER_ORDER = (SortKey(col(Offer.title)), SortKey(col(Offer.id)))


def list_organizations(
    session: Session, cursor: str | None = None, per_page: int = DEFAULT_PER_PAGE
) -> Page[Organization]:
    """A page of organizations, pending ones first, then by name.

    :raise BadCursor: the cursor was not written for this list.
    """
    return page_of(session, select(Organization), ORDER, lambda org: (org.status, org.name, org.id), cursor, per_page)


def find_organization(session: Session, organization_id: uuid.UUID) -> Organization | None:
    return session.get(Organization, organization_id)


def organization_members(
    session: Session, organization: Organization, offers_cursor: str | None = None, per_page: int = DEFAULT_PER_PAGE
) -> tuple[list[User], Page[Offer]]:
    """Every staff member (a handful) and a page of the organization's offers.

    :raise BadCursor: the offers' cursor was not written for this list.
    """
    staff = session.exec(select(User).where(User.organization_id == organization.id).order_by(User.name))
    own = select(Offer).where(Offer.organization_id == organization.id)
    offers = page_of(session, own, OFFER_ORDER, lambda offer: (offer.title, offer.id), offers_cursor, per_page)
    return list(staff), offers


def verify_organization(session: Session, admin: User, organization: Organization) -> Organization:
    """Mark the organization verified; its published offers become visible to staff."""
    if admin.role != Role.ADMIN:
        raise PermissionError("only admins verify organizations")
    if organization.status != VerificationStatus.VERIFIED:
        organization.status = VerificationStatus.VERIFIED
        organization.verified_at = utcnow()
        touch_offers_of(session, organization)
        session.commit()
    return organization


def own_organization(session: Session, user: User) -> Organization | None:
    """The provider's own organization; nobody else's."""
    if user.role != Role.PROVIDER or user.organization_id is None:
        return None
    return session.get(Organization, user.organization_id)


def set_publication(
    session: Session, user: User, organization: Organization, publication: Publication, contacts: bool
) -> Organization:
    """The organization's choice of who reads its offers through the directory API (HSDS), and
    whether its contacts go with them. Its offers are marked changed, so partners reading what
    changed since their last read see them appear, or go."""
    if user.role != Role.PROVIDER or user.organization_id != organization.id:
        raise PermissionError("only the organization's own staff choose what it publishes")
    locked = session.exec(select(Organization).where(Organization.id == organization.id).with_for_update()).one()
    if (locked.api_publication, locked.api_contacts) != (publication, contacts):
        locked.api_publication, locked.api_contacts = publication, contacts
        touch_offers_of(session, locked)
        audit.record(session, user, "publication", "organization", locked.id)
    session.commit()
    return locked
