"""Users and groups, from the capture's user-list block and useradded/groupadded events."""

from __future__ import annotations

from lanner.records import Record


class User(Record):
    """A user account."""

    __slots__ = __match_args__ = ("uid", "gid", "name", "homedir", "shell")
    uid: int
    gid: int
    name: str
    homedir: str
    shell: str

    def __init__(self, uid: int, gid: int, name: str, homedir: str = "", shell: str = "") -> None:
        self.uid = uid
        self.gid = gid
        self.name = name
        self.homedir = homedir
        self.shell = shell


class Group(Record):
    """A group."""

    __slots__ = __match_args__ = ("gid", "name")
    gid: int
    name: str

    def __init__(self, gid: int, name: str) -> None:
        self.gid = gid
        self.name = name


class UserTable:
    """uid -> user and gid -> group lookups."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}

    def add_user(self, user: User) -> None:
        """Add or replace a user."""
        self.users[user.uid] = user

    def add_group(self, group: Group) -> None:
        """Add or replace a group."""
        self.groups[group.gid] = group

    def user(self, uid: int | None) -> User | None:
        """The user with ``uid``, or None."""
        return None if uid is None else self.users.get(uid)

    def group(self, gid: int | None) -> Group | None:
        """The group with ``gid``, or None."""
        return None if gid is None else self.groups.get(gid)

    @classmethod
    def from_host(cls, passwd: str = "/etc/passwd", group: str = "/etc/group") -> UserTable:
        """Load the host's accounts (for live sources)."""
        table = cls()
        try:
            with open(passwd, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.rstrip("\n").split(":")
                    if len(parts) >= 7 and parts[2].isdigit() and parts[3].isdigit():
                        table.add_user(
                            User(int(parts[2]), int(parts[3]), parts[0], parts[5], parts[6])
                        )
        except OSError:
            pass
        try:
            with open(group, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.rstrip("\n").split(":")
                    if len(parts) >= 3 and parts[2].isdigit():
                        table.add_group(Group(int(parts[2]), parts[0]))
        except OSError:
            pass
        return table
