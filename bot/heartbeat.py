"""The accounts' heartbeat and the admins' alerts when an account drops or comes back.

Every `villagebot run` process runs one `AccountWatch` for the WeChat accounts it holds.
Each `heartbeat_seconds` it asks each account's puppet service a cheap question
(`WechatyTransport.ping`: a hung connection answers nothing) and writes the answer to
the database (`bot.accounts.heartbeat`, or `mark_down` with the reason; a hung session
is also restarted). It also marks down any account, held by whatever process, whose
heartbeat is older than `heartbeat_timeout_seconds`: its process died or hangs.

Every live process watches every account, but each drop is told once: the state change
is a conditional UPDATE in the database, so only the transaction that changes it writes
the alert, into the outbox in that same transaction (to the WeCom alerts webhook and to
the HQ groups, sent by any live account in them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from sqlmodel import Session, col, select

from bot import accounts
from bot.app import App
from bot.models.accounts import BotAccount
from bot.models.core import OrgUnit, Room

log = logging.getLogger(__name__)

ALERT_KIND = "alert"
WECHATY, WECOM = "wechaty", "wecom"


class Pingable(Protocol):
    """What the watch needs of an account's transport (`WechatyTransport`)."""

    account: str

    @property
    def available(self) -> bool: ...

    async def ping(self, timeout: float) -> str | None: ...

    def restart(self, reason: str) -> None: ...


class AccountWatch:
    """Heartbeats for this process's accounts; drops and returns of all accounts told to
    the admins once. `alert` false: only the heartbeats (one account in the config: the
    single-account `ConnectionWatch` of bot.runner tells the admins)."""

    def __init__(self, app: App, held: Mapping[str, Pingable], *, alerts: str | None,
                 notify: Callable[[], None], alert: bool = True,
                 dashboard_qr: bool = False) -> None:
        self.app = app
        self.held = dict(held)
        self.alerts = alerts
        self.notify = notify
        self.alert = alert
        self.dashboard_qr = dashboard_qr
        w = app.config.transports.wechaty
        self.every = w.heartbeat_seconds
        self.timeout = timedelta(seconds=w.heartbeat_timeout_seconds)
        # One RPC's answer is awaited this long; longer is a hang.
        self.ping_timeout = min(10.0, max(2.0, self.every))
        self._was_up: set[str] = set()  # accounts that were logged in in this process
        self.started = app.clock.now()
        self._live: set[str] = set()  # the live accounts at the last look
        self.changed = asyncio.Event()

    def wake(self) -> None:
        self.changed.set()

    async def run(self) -> None:
        while True:
            self.changed.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("account watch failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), self.every)

    async def tick(self) -> None:
        for name, transport in self.held.items():
            problem = await transport.ping(self.ping_timeout)
            if problem is None:
                first = name not in self._was_up
                self._was_up.add(name)
                await self._beat(name, getattr(transport, "health", None), first)
                continue
            if transport.available:  # logged in but not answering: start over
                log.error("微信账号 %s 无响应，重新连接：%s", name, problem)
                transport.restart(problem)
            # Only a drop of what was up here: a start still waiting for its login (or QR
            # scan) is not one. Left up in the database by an earlier process, it goes
            # down by its silence (`_stale`) after the timeout.
            if name in self._was_up:
                now = self.app.clock.now()
                await self.app.db.run(partial(self._down, names=[name], now=now, why=problem))
        now = self.app.clock.now()
        live = await self.app.db.run(lambda s: self._stale(s, now))
        if live != self._live:  # another process's account dropped or came back
            self._live = live
            self.notify()

    async def _beat(self, name: str, health: object, first: bool = False) -> None:
        now = self.app.clock.now()
        user_id = getattr(health, "user_id", None)
        started = self.started

        def beat(s: Session) -> bool:
            if first:
                # This process holds the account now: what an earlier process of it
                # had claimed and not sent (killed, and restarted before its silence
                # marked the account down) is due again, not after the claim window.
                accounts.release_claims(s, name, now, claimed_before=started)
            row = s.get(BotAccount, name)
            was_down = row is not None and row.status == accounts.DOWN
            since = row.status_since if row is not None else None
            back = accounts.heartbeat(s, name, now, user_id) and was_down
            if back:
                self._back(s, name, since, now)
            return back

        if await self.app.db.run(beat):
            self.notify()

    def _stale(self, s: Session, now: datetime) -> set[str]:
        """Silent accounts marked down (and told); the live accounts."""
        names = accounts.mark_stale_down(
            s, now, self.timeout,
            f"超过 {self.timeout.total_seconds():g} 秒没有心跳（进程停止或微信服务无响应）")
        if names:
            self._tell_down(s, names, now)
        return accounts.live_accounts(s, now, self.timeout)

    def _down(self, s: Session, names: list[str], now: datetime, why: str) -> None:
        changed = [n for n in names if accounts.mark_down(s, n, now, why)]
        if changed:
            self._tell_down(s, changed, now)

    # -- what the admins are told ----------------------------------------------------

    def _tell_down(self, s: Session, names: list[str], now: datetime) -> None:
        live = accounts.live_accounts(s, now, self.timeout) - set(names)
        lost = accounts.unreachable(s, live)
        cfg = self.app.config
        for name in names:
            row = s.get(BotAccount, name)
            why = row.detail if row is not None and row.detail else "原因不明"
            where = f"运行 villagebot run --account {name} 的日志中的二维码"
            if self.dashboard_qr:
                where += "，或该进程看板的 /qr 页面"
            text = (f"【{cfg.bot.name}】微信账号 {name} 已掉线（{_hm(now, cfg.zone)} 起，{why}）。"
                    f"现在有 {len(lost)} 个群没有在线的机器人账号，发往这些群的消息暂存等待"
                    f"（有企业微信群的单位改由企业微信发送）；其他群由仍在线的账号发送。"
                    f"重新登录：用该微信扫描{where}。")
            self._put(s, text, mentions=("@all",))

    def _back(self, s: Session, name: str, since: datetime | None, now: datetime) -> None:
        cfg = self.app.config
        minutes = round((now - since).total_seconds() / 60) if since is not None else 0
        groups = len(accounts.rooms_of(s, name))
        self._put(s, f"【{cfg.bot.name}】微信账号 {name} 已恢复在线（中断约 {minutes} 分钟），"
                     f"重新负责它所在的 {groups} 个群，积压的消息将陆续发出。")

    async def tell(self, text: str) -> None:
        """Tell the admins something else about the accounts (e.g. a daily cap)."""
        await self.app.db.run(lambda s: self._put(s, text))
        self.notify()

    def _put(self, s: Session, text: str, mentions: tuple[str, ...] = ()) -> None:
        if not self.alert:  # one account: ConnectionWatch tells the admins
            log.warning("account state: %s", text)
            return
        log.error("alert: %s", text)
        writer = self.app.writer
        if self.alerts:
            writer.put(s, text, room_id=self.alerts, transport=WECOM, kind=ALERT_KIND,
                       mentions=mentions)
        for room in hq_rooms(s):
            writer.put(s, text, room_id=room, transport=WECHATY, kind=ALERT_KIND)


def hq_rooms(s: Session) -> list[str]:
    """The WeChat groups bound to a root unit (the HQ's groups), where admins read."""
    return list(s.exec(
        select(Room.id).join(OrgUnit, col(Room.unit_id) == col(OrgUnit.id))
        .where(col(OrgUnit.parent_id).is_(None), Room.transport == WECHATY)
        .order_by(col(Room.id))
    ).all())


def _hm(at: datetime, zone: object) -> str:
    return f"{at.astimezone(zone):%m月%d日 %H:%M}"  # type: ignore[arg-type]
