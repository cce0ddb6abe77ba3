"""A plain-Python model of one group chat and one single chat, for the stateful test.

It predicts each request's status code and keeps what the read side must then show:
membership and roles, seqs, history per member (minus what they cleared), watermarks and unread
counts, receipts, visibility of a hidden single chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Msg:
    seq: int
    sender: int
    type: str
    status: str = "sent"


@dataclass
class Conv:
    kind: str
    members: dict[int, str] = field(default_factory=dict)  # user -> role
    muted: set[int] = field(default_factory=set)
    dissolved: bool = False
    messages: list[Msg] = field(default_factory=list)
    watermark: dict[int, int] = field(default_factory=dict)
    cleared: dict[int, int] = field(default_factory=dict)
    hidden: dict[int, int] = field(default_factory=dict)
    keys: dict[tuple[int, str], int] = field(default_factory=dict)  # idempotency key -> seq

    @property
    def last_seq(self) -> int:
        return len(self.messages)

    def join(self, user: int, role: str = "member") -> None:
        self.members[user] = role
        self.muted.discard(user)
        self.watermark[user] = self.last_seq
        self.cleared[user] = 0
        self.hidden.pop(user, None)

    def leave(self, user: int) -> None:
        del self.members[user]
        self.muted.discard(user)

    def read(self, user: int, seq: int) -> None:
        if user in self.members:
            self.watermark[user] = max(self.watermark[user], seq)

    def post(self, sender: int, kind: str = "text") -> Msg:
        msg = Msg(self.last_seq + 1, sender, kind)
        self.messages.append(msg)
        self.read(sender, msg.seq)
        return msg

    def unread(self, user: int) -> int:
        return max(0, self.last_seq - max(self.watermark[user], self.cleared[user]))

    def visible_to(self, user: int) -> bool:
        return user in self.members and self.last_seq > self.hidden.get(user, -1)

    def history(self, user: int) -> list[tuple[int, str]]:
        floor = self.cleared[user]
        return [(m.seq, m.status) for m in self.messages if m.seq > floor]

    # -- predictions: (status, effect applied) --------------------------------------------------
    def add(self, actor: int, users: list[int]) -> int:
        if actor not in self.members:
            return 403
        if self.dissolved:
            return 400
        new = [u for u in dict.fromkeys(users) if u not in self.members]
        if new:
            for u in new:
                self.join(u)
            self.post(actor, "system")
        return 200

    def remove(self, actor: int, target: int) -> int:
        if actor not in self.members:
            return 403
        if self.dissolved and actor != target:
            return 400
        if target not in self.members:
            return 404
        role, target_role = self.members[actor], self.members[target]
        if actor == target:
            if role == "owner":
                return 400
        elif (role == "admin" and target_role != "member") or role not in ("owner", "admin"):
            return 403
        self.leave(target)
        if not self.dissolved:  # a dissolved group's history gets no "left" line
            self.post(actor, "system")
        return 200

    def set_role(self, actor: int, target: int, new: str) -> int:
        if actor not in self.members:
            return 403
        if target not in self.members:
            return 404
        old, mine = self.members[target], self.members[actor]
        if new == old:
            return 200
        if self.dissolved:
            return 400
        if new == "owner":
            if mine != "owner":
                return 403
            self.members[target], self.members[actor] = "owner", "admin"
            self.post(actor, "system")
            return 200
        if old == "owner":
            return 400
        if not (mine == "owner" or (mine == "admin" and old == "member")):
            return 403
        self.members[target] = new
        return 200

    def set_muted(self, actor: int, target: int, muted: bool) -> int:
        if actor not in self.members:
            return 403
        if target not in self.members:
            return 404
        if (target in self.muted) == muted:
            return 200
        if self.dissolved:
            return 400
        if self.members[target] == "owner":
            return 400
        mine = self.members[actor]
        if not (mine == "owner" or (mine == "admin" and self.members[target] == "member")):
            return 403
        (self.muted.add if muted else self.muted.discard)(target)
        return 200

    def send(self, actor: int) -> int:
        if actor not in self.members or self.dissolved or actor in self.muted:
            return 403
        self.post(actor)
        self.hidden = {u: s for u, s in self.hidden.items() if s >= self.last_seq}
        return 201

    def edit(self, actor: int, msg: Msg) -> int:
        if actor not in self.members or msg.sender != actor or self.dissolved:
            return 403
        if msg.type != "text" or msg.status == "recalled":
            return 400
        msg.status = "edited"
        return 200

    def recall(self, actor: int, msg: Msg) -> int:
        if actor not in self.members:
            return 403
        if msg.type == "system":
            return 400
        manager = self.kind == "group" and self.members[actor] in ("owner", "admin")
        if not manager and msg.sender != actor:
            return 403
        msg.status = "recalled"
        return 200

    def mark_read(self, actor: int, seq: int | None) -> int:
        if actor not in self.members:
            return 403
        self.read(actor, self.last_seq if seq is None else min(seq, self.last_seq))
        return 204

    def clear(self, actor: int) -> int:
        if actor not in self.members:
            return 403
        self.cleared[actor] = max(self.cleared[actor], self.last_seq)
        self.read(actor, self.last_seq)
        return 204

    def delete(self, actor: int) -> int:
        if actor not in self.members:
            return 403
        if self.kind == "single":
            self.hidden[actor] = self.last_seq
            self.read(actor, self.last_seq)
            return 204
        if self.members[actor] != "owner":
            return 403
        self.dissolved = True
        return 204
