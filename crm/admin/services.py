"""Managing users: every change checked against the guards and audited (never a password)."""

import secrets

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.account.services import revoke_all
from crm.audit.services import record
from crm.auth.models import DISTRICT_ADMIN, ROLES, UNIT_ROLES, User
from crm.auth.names import normalise_email, normalise_username
from crm.auth.services import check_password_strength, create_user
from crm.errors import DomainError, Forbidden
from crm.extensions import db
from crm.townships.models import Township

#: No look-alike characters (0/O, 1/l/I), for passwords read out over the phone.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_password() -> str:
    """A random password like ``h7Rk-p2Wc-9xQm`` (about 71 bits)."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))


def _fail(field: str, message) -> DomainError:
    return DomainError(message, {field: [message]})


def _unit_name(township: Township | None) -> str | None:
    return township.name if township is not None else None


def _validate(role: str, township: Township | None, email: str, display_name: str) -> str:
    """Check the profile fields; the e-mail address normalised (exactly one address)."""
    if role not in ROLES:
        raise _fail("role", _l("未知角色"))
    if role in UNIT_ROLES and township is None:
        raise _fail("township_id", _l("招商专员和镇街负责人须指定所属单位"))
    email = normalise_email(email)
    if not (display_name or "").strip() or len(display_name.strip()) > 64:
        raise _fail("display_name", _l("请填写姓名（不超过64个字符）"))
    return email


def _active_admin_ids() -> set[int]:
    """The active district admins, their rows locked until the commit (PostgreSQL).

    Two admins demoting each other at once must not leave the district without one: the second
    waits for the first, then sees the first's change.
    """
    return set(db.session.scalars(
        sa.select(User.id).where(User.role == DISTRICT_ADMIN, User.active.is_(True))
        .order_by(User.id).with_for_update()
    ))


def _guard_admin_loss(actor: User | None, user: User, *, deactivating: bool) -> None:
    """Refuse to take away the last admin, or to let an admin remove themselves."""
    if actor is not None and actor.id == user.id:
        raise _fail("role", _l("不能停用自己的账号") if deactivating else _l("不能降低自己的角色"))
    admins = _active_admin_ids()
    if actor is not None and actor.id not in admins:
        raise Forbidden(_l("您已不再是管理员"))
    if not admins - {user.id}:
        raise _fail("role", _l("这是最后一位在用的区招商局管理员，不能停用或降低其角色"))


def add_user(actor: User | None, *, username: str, display_name: str, email: str, role: str,
             township: Township | None, password: str) -> User:
    """A new user; audited with every field but the password. ``actor`` None: `crm users create`
    (the audit row has no user: the system)."""
    _validate(role, township, email, display_name)
    check_password_strength(password=password, username=normalise_username(username))
    user = create_user(username, role=role, email=email, password=password,
                       township=township, display_name=display_name.strip())
    record(actor, "user.create", user, changes={
        "username": [None, user.username], "display_name": [None, user.display_name],
        "email": [None, user.email], "role": [None, user.role],
        "township": [None, _unit_name(user.township)], "active": [None, True],
    })
    return user


def update_user(actor: User, user: User, *, display_name: str, email: str, role: str,
                township: Township | None) -> dict:
    """Change name, email, role and unit; the changes made ({} when nothing changed).

    The user's open sessions stay: they read the new role and unit on their next request.
    """
    email = _validate(role, township, email, display_name)
    if role not in UNIT_ROLES:
        township = None
    if user.role == DISTRICT_ADMIN and role != DISTRICT_ADMIN and user.active:
        _guard_admin_loss(actor, user, deactivating=False)
    new = {"display_name": display_name.strip(), "email": email, "role": role,
           "township": _unit_name(township)}
    old = {"display_name": user.display_name, "email": user.email, "role": user.role,
           "township": _unit_name(user.township)}
    changes = {k: [old[k], new[k]] for k in new if old[k] != new[k]}
    if not changes:
        return {}
    user.display_name, user.email, user.role = new["display_name"], new["email"], role
    user.township = township
    record(actor, "user.edit", user, changes=changes)
    return changes


def deactivate_user(actor: User, user: User) -> bool:
    """Deactivate: sessions end now and the user's API tokens are revoked. False if already so."""
    if not user.active:
        return False
    if user.role == DISTRICT_ADMIN or (actor is not None and actor.id == user.id):
        _guard_admin_loss(actor, user, deactivating=True)
    user.active = False
    user.session_nonce = secrets.token_hex(8)
    record(actor, "user.deactivate", user, changes={"active": [True, False]})
    revoke_all(actor, user)
    return True


def reactivate_user(actor: User, user: User) -> bool:
    if user.active:
        return False
    user.active = True
    record(actor, "user.reactivate", user, changes={"active": [False, True]})
    return True


def reset_password(actor: User, user: User, password: str) -> None:
    """Set a new password; every session and remember-cookie of the user ends."""
    check_password_strength(password=password, username=user.username)
    user.set_password(password)
    user.session_nonce = secrets.token_hex(8)
    record(actor, "user.password_reset", user, changes={})
