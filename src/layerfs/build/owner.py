"""`--chown=user[:group]` of COPY/ADD: numeric ids as given, names looked up in the
image's /etc/passwd and /etc/group (read through the union of the parent layers)."""

from __future__ import annotations

from layerfs.errors import InvalidInput
from layerfs.union.view import UnionView


def _table(view: UnionView, path: str) -> list[list[str]]:
    try:
        data = view.read_bytes(path)
    except OSError:
        return []
    return [line.split(":") for line in data.decode(errors="replace").splitlines()
            if line and not line.startswith("#")]


def resolve_owner(view: UnionView, spec: str) -> tuple[int, int]:
    """(uid, gid) for `spec`; a user without a group gets the user's primary group (its
    own id when numeric and unknown, as docker does). InvalidInput for unknown names."""
    user, _, group = spec.partition(":")
    if user.isdigit():
        uid = int(user)
        gid = uid
        for row in _table(view, "/etc/passwd"):
            if len(row) > 3 and row[2] == user and row[3].isdigit():
                gid = int(row[3])
    else:
        rows = [r for r in _table(view, "/etc/passwd") if len(r) > 3 and r[0] == user]
        if not rows or not rows[0][2].isdigit() or not rows[0][3].isdigit():
            raise InvalidInput(f"--chown={spec}: unable to find user {user}: no matching"
                               " entries in passwd file")
        uid, gid = int(rows[0][2]), int(rows[0][3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = [r for r in _table(view, "/etc/group") if len(r) > 2 and r[0] == group]
            if not found or not found[0][2].isdigit():
                raise InvalidInput(f"--chown={spec}: unable to find group {group}: no"
                                   " matching entries in group file")
            gid = int(found[0][2])
    return uid, gid
