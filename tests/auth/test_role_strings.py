"""Role codes are spelled in one place (crm/auth/models.py) and decide access in one place
(crm/auth/permissions.py): everything else imports the constants or asks ``can()``.

A quoted role code anywhere else in crm/ or templates/ fails this test. A literal that merely
looks like a role (a demo username, a spreadsheet column) says so with a ``not a role`` comment
on its line.
"""

import re
from pathlib import Path

from crm.auth.models import ROLES

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {Path("crm/auth/models.py"), Path("crm/auth/permissions.py")}
CODES = "|".join(map(re.escape, ROLES))
LITERAL = re.compile(rf"""(["'])({CODES})\1""")


def _sources():
    for pattern, folder in (("*.py", "crm"), ("*.html", "templates"), ("*.txt", "templates"),
                            ("*.js", "static")):
        for path in sorted((ROOT / folder).rglob(pattern)):
            relative = path.relative_to(ROOT)
            if relative not in ALLOWED:
                yield relative


def role_literals() -> list[str]:
    found = []
    for relative in _sources():
        for number, line in enumerate((ROOT / relative).read_text("utf-8").splitlines(), 1):
            if LITERAL.search(line) and "not a role" not in line:
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_no_role_string_outside_the_policy_and_the_role_definitions():
    found = role_literals()
    assert not found, (
        "role codes decide access only in crm/auth/permissions.py (ask can(user, action)); "
        "import the constants from crm/auth/models.py:\n" + "\n".join(found)
    )


def test_the_check_sees_a_role_string():
    assert LITERAL.search("""{% if current_user.role == "township_head" %}""")
    assert LITERAL.search("User.role.in_(('officer', 'district_admin'))")
    assert not LITERAL.search('"officers"')
