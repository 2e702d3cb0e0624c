"""Each user's notifications, marking them read, and the e-mail outbox for admins."""

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.auth.access import role_required
from portal.db import get_session
from portal.htmx import render, wants_partial
from portal.keyset import Page
from portal.models import Role
from portal.notifications import services
from portal.notifications.links import notice_url

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

EVERYONE = tuple(Role)


def _list(page: Page[services.Shown], after: str | None, refresh_nav: bool = False) -> Response:
    """The page of notifications, or only the list for htmx (which swaps it after marking read)."""
    return render(
        "notifications/index.html",
        "notifications/_list.html",
        items=page.items,
        next_cursor=page.next_cursor,
        after=after,
        refresh_nav=refresh_nav,
    )


@bp.route("/")
@role_required(*EVERYONE)
def index() -> Response:
    """The signed-in user's own notifications, newest first, 50 a page, unread ones marked."""
    after = request.args.get("after") or None
    page = services.notifications_of(get_session(), current_user, after)
    return _list(page, after)


@bp.route("/read", methods=["POST"])
@role_required(*EVERYONE)
def read() -> Response:
    """Mark all of the user's notifications read, not only the page shown; htmx gets that page
    again, browsers a redirect to it."""
    session = get_session()
    after = request.form.get("after") or None
    services.mark_all_read(session, current_user)
    if wants_partial():
        page = services.notifications_of(session, current_user, after)
        return _list(page, after, refresh_nav=True)
    return redirect(url_for("notifications.index", after=after), code=303)


@bp.route("/outbox")
@role_required(Role.ADMIN)
def outbox() -> str:
    """The e-mails, sent or waiting, newest first, 50 a page: where admins read them when no SMTP
    server is set."""
    after = request.args.get("after") or None
    page = services.outbox(get_session(), after)
    return render_template("notifications/outbox.html", mails=page.items, next_cursor=page.next_cursor, after=after)


def unread_notifications() -> int:
    """The signed-in user's unread count for the navigation: one query per request at most."""
    if "unread_notifications" not in g:
        g.unread_notifications = (
            services.count_unread(get_session(), current_user.id) if current_user.is_authenticated else 0
        )
    count: int = g.unread_notifications
    return count


def init_app(app: Flask) -> None:
    app.jinja_env.globals["unread_notifications"] = unread_notifications
    app.jinja_env.globals["notice_url"] = notice_url
