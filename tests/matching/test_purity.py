"""The matching engine stays a pure library: importing it loads no web or database code."""

import subprocess
import sys


def test_matching_imports_neither_flask_nor_the_database() -> None:
    probe = (
        "import sys, matching; "
        "loaded = [m for m in ('flask', 'sqlmodel', 'sqlalchemy', 'portal') if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
