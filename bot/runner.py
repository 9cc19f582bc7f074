"""`villagebot run`: the real bot with the configured transports.

It builds the app, starts WeChat (one Wechaty puppet-service transport per account it
holds: all configured accounts, or with `--account NAME` that one, so that one process
per account can share a PostgreSQL database) and the WeCom webhooks, the outbox sender
(each account at its own pace) and the scheduler's timing layer. The accounts'
heartbeats and drop alerts are `bot.heartbeat.AccountWatch`'s; with a single account,
`ConnectionWatch` watches the session: when it has been down for `alert_after` it tells
the admins through the WeCom alerts webhook and copies notices there until it is back.
Inbound messages go through the `Inbox` (bot.inbox): in order per group, and kept in a
spool file and retried while the database is unreachable; the sender and the admins
are then told directly through the transports, since the outbox is in that database.
SIGTERM (or SIGINT) finishes the message in hand and leaves the rest in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bot.accounts import note_rooms
from bot.app import App, freeze_startup_objects
from bot.clock import Clock
from bot.config import Config, ConfigError
from bot.db import normalize_url
from bot.heartbeat import AccountWatch
from bot.inbox import QUEUED_REPLY, Inbox, Spool
from bot.jobs.timer import start_timer
from bot.messages import Inbound, Outgoing
from bot.org import bind_send_only_rooms
from bot.outbox import relay_notices
from bot.sender import OutboxSender, Pacer
from bot.transports import Sender
from bot.transports.wechaty import NAME as WECHATY
from bot.transports.wechaty import Health, WechatyTransport
from bot.transports.wecom import NAME as WECOM
from bot.transports.wecom import WecomTransport
from bot.web.server import Events, Server, is_loopback, make_dashboard_app, serve_app
from bot.wiring import build_app

log = logging.getLogger(__name__)

ALERT_KIND = "alert"


def check_config(config: Config, account: str | None = None) -> None:
    """What `run` needs beyond what the config schema checks (`account`: the one
    WeChat account this process is to hold, `run --account`)."""
    t = config.transports
    problems = []
    if not t.wechaty.enabled and not t.wecom.enabled:
        problems.append("transports: neither transports.wechaty nor transports.wecom is enabled")
    if t.wechaty.enabled:
        many = bool(t.wechaty.accounts)
        for i, acc in enumerate(t.wechaty.account_list()):
            key = f"transports.wechaty.accounts[{i}]" if many else "transports.wechaty"
            if ":" not in acc.endpoint:
                problems.append(f"{key}.endpoint = {acc.endpoint!r}: "
                                "expected host:port of the puppet service")
            if not acc.token:
                problems.append(f"{key}.token = '': the puppet service needs a token")
    names = [a.name for a in t.wechaty.account_list()] if t.wechaty.enabled else []
    if account is not None and account not in names:
        problems.append(f"--account {account}: not one of the configured WeChat accounts "
                        f"{names} (transports.wechaty.accounts)")
    if t.wecom.enabled and not t.wecom.webhooks:
        problems.append("transports.wecom.webhooks = {}: name at least one webhook URL")
    for name, url in t.wecom.webhooks.items():
        if t.wecom.enabled and not url:
            problems.append(f"transports.wecom.webhooks.{name} = '': give its URL, or set "
                            f"VILLAGEBOT_WECOM_WEBHOOK_{name.upper()} to its key")
    if t.wecom.alerts:
        if not t.wecom.enabled:
            problems.append(f"transports.wecom.alerts = {t.wecom.alerts!r}: "
                            "transports.wecom is not enabled")
        elif t.wecom.alerts not in t.wecom.webhooks:
            problems.append(f"transports.wecom.alerts = {t.wecom.alerts!r}: "
                            f"not one of the webhooks {sorted(t.wecom.webhooks)}")
    for name in t.wecom.units:
        if name not in t.wecom.webhooks:
            problems.append(f"transports.wecom.units.{name}: not one of the webhooks "
                            f"{sorted(t.wecom.webhooks)}")
    sim = t.simulator
    if sim.dashboard_in_run and not is_loopback(sim.host) and not sim.token:
        problems.append(f"transports.simulator.host = {sim.host!r} is not a loopback address: "
                        "set transports.simulator.token to serve the dashboard there")
    if problems:
        raise ConfigError("\n".join(problems))


def spool_path(config: Config, db_url: str | None = None) -> Path:
    """`inbox.spool_path`, or by default next to the SQLite database file (in the working
    directory for PostgreSQL)."""
    if config.inbox.spool_path:
        return Path(config.inbox.spool_path)
    url = make_url(normalize_url(db_url or config.database.url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}.inbox")
    return Path("villagebot-inbox.db")


class ConnectionWatch:
    """Tells the admins through the WeCom alerts webhook when WeChat is down and back,
    and copies notices there while it is down (each once)."""

    def __init__(self, app: App, wechaty: WechatyTransport, alerts: str | None,
                 notify: Callable[[], None], alert_after: float = 60.0) -> None:
        self.app = app
        self.wechaty = wechaty
        self.alerts = alerts
        self.notify = notify
        self.alert_after = alert_after
        self.alerted_since: datetime | None = None
        self.alerted_unreachable = False  # the alert said 无法连接: it never connected
        self.changed = asyncio.Event()

    def on_health(self, _health: Health) -> None:
        self.changed.set()

    async def run(self, poll_seconds: float = 5.0) -> None:
        while True:
            self.changed.clear()
            try:
                await self.check()
            except Exception:
                log.exception("connection watch failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), poll_seconds)

    async def check(self) -> None:
        h = self.wechaty.health
        now = self.app.clock.now()
        if not h.logged_in:
            if self.alerted_since is None and (now - h.since).total_seconds() >= self.alert_after:
                self.alerted_since = h.since
                since = h.since.astimezone(self.app.config.zone)
                name = self.app.config.bot.name
                self.alerted_unreachable = h.user_id is None
                if self.alerted_unreachable:  # never logged in since the start: nothing dropped
                    text = (f"【{name}】微信无法连接（{since:%m月%d日 %H:%M} 起），正在重试，"
                            "请检查微信服务地址和令牌，或扫码登录。其间的通知转发到本群，请转告各群。")
                else:
                    text = (f"【{name}】微信连接已断开（{since:%m月%d日 %H:%M} 起），"
                            "正在自动重连。其间的通知转发到本群，请转告各群。")
                await self.alert(text, mentions=("@all",))
            if self.alerted_since is not None and self.alerts:
                copied = await self.app.db.run(
                    lambda s: relay_notices(s, WECHATY, WECOM, self.alerts or "", now)
                )
                if copied:
                    self.notify()
        elif self.alerted_since is not None:
            minutes = round((now - self.alerted_since).total_seconds() / 60)
            self.alerted_since = None
            if self.alerted_unreachable:
                await self.alert(f"【{self.app.config.bot.name}】微信已连接，积压的消息将合并补发。")
                return
            await self.alert(f"【{self.app.config.bot.name}】微信已恢复连接（中断约 {minutes} 分钟），"
                             "积压的消息将合并补发。")

    async def alert(self, text: str, mentions: tuple[str, ...] = ()) -> None:
        log.error("alert: %s", text)
        if not self.alerts:
            return
        alerts = self.alerts
        await self.app.db.run(
            lambda s: self.app.writer.put(
                s, text, room_id=alerts, transport=WECOM, kind=ALERT_KIND, mentions=mentions
            )
        )
        self.notify()


class Runner:
    """Everything `villagebot run` starts, and its orderly stop."""

    def __init__(self, config: Config, *, db_url: str | None = None, clock: Clock | None = None,
                 alert_after: float = 60.0, retry_seconds: float = 1.0,
                 account: str | None = None) -> None:
        """`account`: hold only this WeChat account (one process per account, all on one
        database); None: every configured account."""
        check_config(config, account)
        self.config = config
        self.account = account
        self.db_url = db_url
        self.clock = clock
        self.alert_after = alert_after
        self.retry_seconds = retry_seconds
        self.app: App | None = None
        self.sender: OutboxSender | None = None
        self.wechaty: WechatyTransport | None = None  # the first held account's
        self.wechats: dict[str, WechatyTransport] = {}  # the held accounts, by name
        self.wecom: WecomTransport | None = None
        self.watch: ConnectionWatch | None = None
        self.accounts: AccountWatch | None = None
        self.timer: Any = None
        self.dashboard: Server | None = None
        self.inbox: Inbox | None = None
        self._transports: dict[str, Sender] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._sender_task: asyncio.Task[Any] | None = None

    async def start(self) -> App:
        cfg = self.config
        app = await asyncio.to_thread(build_app, cfg, clock=self.clock, db_url=self.db_url)
        self.app = app
        transports: dict[str, Sender] = {}
        if cfg.transports.wecom.enabled:
            self.wecom = WecomTransport.from_config(cfg.transports.wecom, clock=app.clock)
            transports[WECOM] = self.wecom
        units = cfg.transports.wecom.units if cfg.transports.wecom.enabled else {}
        problems = app.db.run_sync(
            lambda s: bind_send_only_rooms(s, WECOM, units, app.clock.now()))
        if problems:
            raise ConfigError("\n".join(problems))
        pacing: dict[str, Pacer] = {}
        wechaty = cfg.transports.wechaty
        if wechaty.enabled:
            for acc in wechaty.account_list():
                if self.account is not None and acc.name != self.account:
                    continue
                self.wechats[acc.name] = WechatyTransport.from_config(
                    wechaty, self._deliver, clock=app.clock, account=acc,
                    retry_seconds=self.retry_seconds, on_health=self._on_health,
                    on_join=app.handle_join, on_rooms=partial(self._on_rooms, acc.name),
                )
            self.wechaty = next(iter(self.wechats.values()))
        self._transports = transports
        self.inbox = self.make_inbox(app)
        self.inbox.restore()  # the spooled commands first, before any new message
        self.sender = OutboxSender(
            app.db, transports, app.clock, cfg.outbox.max_attempts, pacing=pacing,
            traditional=cfg.bot.reply_script == "traditional",
            merge_max_chars=cfg.notices.max_chars, on_cap=self._on_cap, shared=True,
            # Each held account sends through its own transport at its own pace; which
            # rows it takes (its groups, failover) is the sender's (bot.sender).
            accounts=self.wechats, account_transport=WECHATY,
            account_pacing={name: Pacer.from_config(cfg) for name in self.wechats},
            heartbeat_timeout=timedelta(seconds=wechaty.heartbeat_timeout_seconds),
        )
        app.on_commit.append(self.sender.notify)
        self._sender_task = asyncio.create_task(self.sender.run(), name="outbox")
        if self.wechaty is not None:
            alerts = cfg.transports.wecom.alerts or None
            one = len(wechaty.account_list()) == 1
            if one:  # one account: while it is down, nothing reaches WeChat at all
                self.watch = ConnectionWatch(app, self.wechaty, alerts, self.sender.notify,
                                             self.alert_after)
                self._tasks.append(asyncio.create_task(self.watch.run(), name="watch"))
            self.accounts = AccountWatch(
                app, self.wechats, alerts=alerts, notify=self.sender.notify, alert=not one,
                dashboard_qr=cfg.transports.simulator.dashboard_in_run)
            for name, transport in self.wechats.items():
                self._tasks.append(asyncio.create_task(transport.run(), name=f"wechaty-{name}"))
            self._tasks.append(asyncio.create_task(self.accounts.run(), name="accounts"))
        self.timer = start_timer(app)
        if cfg.transports.simulator.dashboard_in_run:
            await self._serve_dashboard(app)
        running = [*transports, *(f"{WECHATY} {name}" for name in self.wechats)]
        log.info("villagebot running: %s", ", ".join(running) or "no transports")
        return app

    async def _serve_dashboard(self, app: App) -> None:
        """The read-only dashboard (no simulator), refreshed live after each commit."""
        sim = self.config.transports.simulator
        changes = Events()
        loop = asyncio.get_running_loop()

        def changed() -> None:  # commits happen in database threads: hand it to the loop
            loop.call_soon_threadsafe(changes.publish, {"type": "changed"})

        app.on_commit.append(changed)
        wechats = list(self.wechats.values())
        # The QR code of the (first) held account waiting for a scan.
        login_qr = (lambda: next((w.qr for w in wechats if w.qr), None)) if wechats else None
        self.dashboard = await serve_app(
            make_dashboard_app(app, changes, sim.token, login_qr=login_qr),
            sim.host, sim.port, sim.token,
        )
        base = self.dashboard.url.split("?")[0]
        log.info("dashboard at %sdashboard", base)
        if wechats:
            log.info("微信登录二维码也在 %sqr", base)

    def make_inbox(self, app: App) -> Inbox:
        c = self.config.inbox
        return Inbox(
            app.handle,
            Spool(spool_path(self.config, self.db_url), c.spool_max),
            durable=lambda m: app.router.parse(m) is not None,
            on_queued=self._tell_queued,
            on_outage=self._alert_outage,
            notice_after=c.notice_after_seconds,
            retry_seconds=c.retry_seconds,
            max_retry_seconds=c.max_retry_seconds,
        )

    async def _deliver(self, msg: Inbound) -> None:
        assert self.inbox is not None
        self.inbox.put(msg)

    async def _on_rooms(self, account: str, rooms: list[str]) -> None:
        """An account's room list at login: the groups it can send to."""
        app = self.app
        assert app is not None
        now = app.clock.now()
        n = await app.db.run(lambda s: note_rooms(s, account, rooms, now))
        app.memberships.replace(account, rooms)
        log.info("微信账号 %s 在 %d 个群里", account, n)
        if self.sender is not None:
            self.sender.notify()

    async def _tell_queued(self, msg: Inbound) -> None:
        """Straight through the transport: the outbox is in the unreachable database."""
        transport: Sender | None = self._transports.get(msg.transport)
        if msg.transport == WECHATY and msg.account in self.wechats:
            transport = self.wechats[msg.account]  # the account that received it
        if transport is None:
            return
        to = None if msg.room else msg.sender
        out = Outgoing(id=0, transport=msg.transport, text=QUEUED_REPLY, at=msg.at,
                       room=msg.room, to=to, reply_to=msg.id, kind="queued")
        await transport.send(out)

    async def _alert_outage(self, down: bool, seconds: float, waiting: int) -> None:
        name = self.config.bot.name
        if down:
            text = (
                f"【{name}】数据库连不上（已约 {seconds:.0f} 秒），收到的命令已排队"
                f"（{waiting} 条），恢复后按顺序处理。"
            )
        else:
            text = f"【{name}】数据库已恢复（中断约 {seconds:.0f} 秒），排队的命令正在处理。"
        log.error("alert: %s", text)
        alerts = self.config.transports.wecom.alerts
        if self.wecom is None or not alerts:
            return
        mentions = ("@all",) if down else ()
        out = Outgoing(id=0, transport=WECOM, text=text, at=datetime.now(UTC), room=alerts,
                       kind=ALERT_KIND, mentions=mentions)
        await self.wecom.send(out)

    def _on_health(self, health: Health) -> None:
        if self.watch is not None:
            self.watch.on_health(health)
        if self.accounts is not None:
            self.accounts.wake()
        if health.logged_in and self.sender is not None:
            self.sender.notify()

    def _on_cap(self, name: str) -> None:
        cap = self.config.outbox.daily_cap
        if self.watch is not None:
            text = f"【{self.config.bot.name}】今日微信发送已达上限 {cap} 条，其余消息明日发出。"
            self._tasks.append(asyncio.ensure_future(self.watch.alert(text)))
        elif self.accounts is not None:  # several accounts: `name` is the one capped
            text = (f"【{self.config.bot.name}】微信账号 {name} 今日发送已达上限 {cap} 条，"
                    "同群有其他在线账号的由它们发送，其余消息明日发出。")
            self._tasks.append(asyncio.ensure_future(self.accounts.tell(text)))

    async def stop(self, grace: float = 30.0) -> None:
        """Finish the message in hand; leave the rest in the outbox."""
        for transport in self.wechats.values():
            await transport.drain(grace)
        if self.inbox is not None:  # what is not handled in time stays in the spool
            await self.inbox.close(grace)
        if self.timer is not None:
            with contextlib.suppress(Exception):
                self.timer.shutdown()
        if self.sender is not None and self._sender_task is not None:
            self.sender.stop()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._sender_task), grace)
            self._sender_task.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.dashboard is not None:
            await self.dashboard.close()
        if self.wecom is not None:
            await self.wecom.aclose()
        if self.app is not None:
            await asyncio.to_thread(self.app.close)
        log.info("villagebot stopped")


async def run_bot(config: Config, db_url: str | None = None, account: str | None = None
                  ) -> None:
    """Run until SIGTERM or SIGINT (`account`: hold only that WeChat account)."""
    runner = Runner(config, db_url=db_url, account=account)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.start()
        freeze_startup_objects()
        await stop.wait()
        log.info("stopping: finishing the message in hand")
    finally:
        await runner.stop()
