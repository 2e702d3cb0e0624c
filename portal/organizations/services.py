"""Verifying organizations: until an admin does, their offers stay unseen."""

import uuid

from sqlmodel import Session, col, select

from portal.models import Offer, Organization, Role, User, VerificationStatus, utcnow
from portal.offers.services import touch_offers_of


def list_organizations(session: Session) -> list[Organization]:
    """Pending organizations first, so the verification queue is on top."""
    rows = session.exec(select(Organization).order_by(col(Organization.status), col(Organization.name)))
    return sorted(rows, key=lambda org: (org.status != VerificationStatus.PENDING, org.name))


def find_organization(session: Session, organization_id: uuid.UUID) -> Organization | None:
    return session.get(Organization, organization_id)


def organization_members(session: Session, organization: Organization) -> tuple[list[User], list[Offer]]:
    staff = session.exec(select(User).where(User.organization_id == organization.id).order_by(User.name))
    offers = session.exec(select(Offer).where(Offer.organization_id == organization.id).order_by(Offer.title))
    return list(staff), list(offers)


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
