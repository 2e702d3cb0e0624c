"""The second factor: TOTP (RFC 6238: 6 digits, 30-second steps, one step of clock drift either
way) with single-use recovery codes. Seeds are an encrypted column like any other (portal/crypto.py:
the key ring, bound to the user's row, rotated with `keys rotate`), so a copy of the database
alone does not let anyone make codes; recovery codes are kept only as SHA-256 hashes.
A code is accepted once: the step it belongs to is stored, and a guarded UPDATE means two
requests racing with the same code cannot both win."""

import base64
import hashlib
import io
import secrets
from datetime import datetime

import pyotp
import qrcode
from qrcode.image.svg import SvgPathImage
from sqlmodel import Session, col, delete, or_, update

from portal.audit.services import record
from portal.forms import ASCII_DIGITS
from portal.models import RecoveryCode, User, utcnow

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODES = 10
ISSUER = "Bridge"


def begin_enrolment(session: Session, user: User) -> str:
    """Give the user a new seed (160 random bits), not yet in force until a code confirms it;
    returns the seed for the authenticator app. Committed here."""
    seed = pyotp.random_base32(32)
    user.totp_secret = seed
    user.totp_last_step = None
    user.mfa_enrolled_at = None
    session.add(user)
    session.commit()
    return seed


def pending_seed(user: User) -> str | None:
    """The seed being set up, shown again when the confirming code was wrong."""
    if user.mfa_enrolled_at is not None:
        return None
    return user.totp_secret


def provisioning_uri(user: User, seed: str) -> str:
    return pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg_data_uri(text: str) -> str:
    """A QR code as an SVG data: URI (the CSP allows data: images; no script, no external request)."""
    image = qrcode.make(text, image_factory=SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _matching_step(seed: str, code: str, now: datetime) -> int | None:
    code = "".join(code.split())
    if len(code) != DIGITS or not ASCII_DIGITS.fullmatch(code):
        return None
    totp = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _claim_step(session: Session, user: User, step: int) -> bool:
    """Store the step as used, unless this step or a later one was used already."""
    result = session.exec(
        update(User)
        .where(col(User.id) == user.id)
        .where(or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step))
        .values(totp_last_step=step)
    )
    return bool(result.rowcount == 1)


def verify_code(session: Session, user: User, code: str, now: datetime) -> bool:
    """True for a valid code of an enrolled (or enrolling) user, used for the first time; the
    caller commits."""
    if user.totp_secret is None:
        return False
    step = _matching_step(user.totp_secret, code, now)
    return step is not None and _claim_step(session, user, step)


def _digest(code: str) -> str:
    return hashlib.sha256("".join(code.lower().split()).replace("-", "").encode()).hexdigest()


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Ten fresh single-use codes (80 random bits each) replacing any earlier ones; shown once,
    stored hashed. The caller commits."""
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(10)
        codes.append("-".join(raw[i : i + 5] for i in range(0, len(raw), 5)))
        session.add(RecoveryCode(user_id=user.id, code_hash=_digest(raw)))
    return codes


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    """Spend a recovery code: true once per code (the caller commits)."""
    result = session.exec(
        update(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user.id, col(RecoveryCode.code_hash) == _digest(code))
        .where(col(RecoveryCode.used_at).is_(None))
        .values(used_at=utcnow())
    )
    return bool(result.rowcount == 1)


def confirm_enrolment(session: Session, user: User, code: str, now: datetime) -> list[str] | None:
    """Put the new seed in force once a code from the app proves it was set up; returns the
    recovery codes to show, or None when the code is wrong. Committed here."""
    if user.totp_secret is None or user.mfa_enrolled_at is not None:
        return None
    if not verify_code(session, user, code, now):
        session.rollback()
        return None
    user.mfa_enrolled_at = utcnow()
    session.add(user)
    codes = new_recovery_codes(session, user)
    record(session, user, "mfa_enrolled", "user", user.id)
    session.commit()
    return codes
