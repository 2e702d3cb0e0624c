"""The WSGI entry point: `flask --app wsgi run`, or any WSGI server pointed at `wsgi:app`."""

from portal import create_app

app = create_app()
