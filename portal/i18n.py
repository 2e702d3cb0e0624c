"""Languages: English and Simplified Chinese, chosen by the user, then the browser."""

from datetime import datetime

from flask import Flask, Response, request, session
from flask_babel import Babel, format_date, format_decimal, format_time, get_locale
from flask_login import current_user

# Babel looks the catalogue up by the parsed locale: "zh_CN" parses to zh_Hans_CN.
# English dates and numbers follow British usage (day before month), as in most of the
# English the programme's partners read; there is no separate English catalogue.
LOCALES = {"en": "en_GB", "zh": "zh_Hans_CN"}

babel = Babel()


def select_locale() -> str:
    """The user's saved choice, then this session's choice, then the browser's preference."""
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return LOCALES[current_user.locale]
    chosen = session.get("locale")
    if chosen in LOCALES:
        return LOCALES[chosen]
    best = request.accept_languages.best_match(["en", "zh", "zh_CN", "zh_Hans_CN"])
    return LOCALES["zh"] if best and best.startswith("zh") else LOCALES["en"]


def language_code() -> str:
    """The short code of the current language, "en" or "zh"."""
    return "zh" if str(get_locale()).startswith("zh") else "en"


def html_lang() -> str:
    """The BCP 47 tag for <html lang>."""
    return "zh-Hans-CN" if language_code() == "zh" else "en"


def moment(value: datetime) -> str:
    """A moment as every page writes it: its day as days are written everywhere (`dateformat`),
    then hours and minutes, in the portal's time zone ("7 Dec 2026, 11:54", "2026年12月7日 11:54")."""
    joined: str = get_locale().datetime_formats["medium"]
    return joined.replace("{1}", format_date(value, "medium")).replace("{0}", format_time(value, "short"))


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals.update(language_code=language_code, html_lang=html_lang)
    app.jinja_env.filters["moment"] = moment
    # A count as the language writes it: "10,000" in English.
    app.jinja_env.filters["number"] = format_decimal

    @app.after_request
    def _vary_on_language(response: Response) -> Response:
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
        return response
