"""Real WeChat groups through a Wechaty puppet service (python-wechaty 0.10.7).

The only module that imports wechaty, and only when a transport is built: importing
this module does nothing. Wechaty objects are converted to `Inbound` here and go no
further. python-wechaty cannot recover from a lost connection by itself (it waits 60 s,
reconnects once, then fails on its own plugin scheduler), so `WechatyTransport.run` is a
supervisor: it waits until the puppet service's port answers, builds a fresh Wechaty,
runs it until its event stream ends, and starts over. `health` tells the runner whether
the account is logged in, and since when; `ping` whether the service really answers (a
connection can stay open and hang), `restart` starts a fresh session. One transport per
bot account (`account`); at each login its room list goes to `on_rooms`.

What an operator needs is logged in Chinese: 正在连接… / 已登录 … / 连接失败，N 秒后重试
(with what to check), the login QR code as a terminal QR code (also kept in `qr` for the
dashboard), and at login the groups and members the account sees with their ids, which
is where the ids for the config and `#绑定` come from.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import logging
import os
import re
import socket
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import Clock, SystemClock
from bot.config import WechatyAccount, WechatySection
from bot.messages import Inbound, Mention, Outgoing
from bot.transports import TransportDown
from bot.welcome import Join

log = logging.getLogger(__name__)

NAME = "wechaty"
Handler = Callable[[Inbound], Awaitable[Any]]
JoinHandler = Callable[[Join], Awaitable[Any]]
RoomsHandler = Callable[[list[str]], Awaitable[Any]]


def load_wechaty() -> Any:
    """Import python-wechaty under Python 3.11, quietly and without litter.

    Its `PuppetOptions` dataclass has a mutable default that 3.11 rejects unless it is
    hashable; the library logs at INFO through its own handlers unless told otherwise;
    and importing it creates an empty `.wechaty` folder in the working directory, which
    is removed again when it was not there before.
    """
    litter = Path(".wechaty")
    existed = litter.exists()
    os.environ.setdefault("WECHATY_LOG", "warn")
    with _quiet():
        import wechaty_puppet.schemas.puppet as puppet_schemas

        puppet_schemas.PuppetOptions.__hash__ = object.__hash__  # type: ignore[assignment]
        import wechaty

    if not existed:
        with contextlib.suppress(OSError):
            litter.rmdir()
    return wechaty


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """python-wechaty uses what its Python and pyee deprecate (telnetlib,
    pyee.AsyncIOEventEmitter): not ours to fix, so not ours to report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@dataclass(frozen=True)
class _Said:
    message_id: str


@dataclass(frozen=True)
class Health:
    logged_in: bool
    since: datetime  # when it last changed
    user_id: str | None = None
    sessions: int = 0  # fresh Wechaty instances built so far
    last_error: str | None = None


def strip_self_mention(text: str, name: str) -> str:
    """Remove '@<bot name>' (WeChat ends a mention with U+2005 or a space)."""
    if not name:
        return text
    return re.sub(rf"@{re.escape(name)}(?:\u2005|\s|$)", "", text, count=1).strip()


def group_key(room: str, sender: str, stamp: int, text: str) -> str:
    """The journal's id of a group message: the same for every bot account in the group.

    Each account's puppet gives the message an id of its own, so two accounts in one
    group would handle it twice under the puppet ids. What they see alike is the group,
    the sender, WeChat's own timestamp of the message (whole seconds: the server's) and
    the raw text (before the account's own @mention is stripped), so the journal is
    keyed on those. The same person saying the same words twice in one second counts
    once, which is what a double send is anyway.
    """
    digest = hashlib.sha256(f"{room}\0{sender}\0{stamp}\0{text}".encode()).hexdigest()
    return f"wxg-{digest[:40]}"


async def to_inbound(msg: Any, self_id: str, self_name: str,
                     account: str | None = None) -> Inbound | None:
    """A wechaty Message as an `Inbound`; None for the bot's own messages and non-text.
    A group message's `id` is its `group_key` (the puppet's id is `native_id`)."""
    talker = msg.talker()
    if talker is None or talker.contact_id == self_id:
        return None
    from wechaty_puppet import MessageType

    if msg.type() != MessageType.MESSAGE_TYPE_TEXT:
        return None
    room = msg.room()
    topic = None
    if room is not None:
        with contextlib.suppress(Exception):
            topic = await room.topic()
    mentioned = await msg.mention_list()
    mentions = tuple(Mention(c.contact_id, c.name) for c in mentioned if c.contact_id != self_id)
    mentions_bot = any(c.contact_id == self_id for c in mentioned)
    raw = msg.text() or ""
    text = strip_self_mention(raw, self_name) if mentions_bot else raw
    stamp = msg.payload.timestamp or 0
    seconds = int(stamp / 1000 if stamp > 2145888000 else stamp)
    at = datetime.fromtimestamp(seconds, UTC)
    msg_id = native = str(msg.message_id)
    if room is not None and seconds > 0:  # without WeChat's time: the puppet's id only
        msg_id = group_key(room.room_id, talker.contact_id, seconds, raw)
    return Inbound(
        transport=NAME, id=msg_id, sender=talker.contact_id, sender_name=talker.name,
        text=text, at=at, room=room.room_id if room is not None else None, topic=topic,
        mentions=mentions, mentions_bot=mentions_bot, account=account,
        native_id=native if native != msg_id else None,
    )


def terminal_qr(data: str) -> str:
    """`data` as a QR code drawn with block characters, for a terminal or a log."""
    import qrcode

    qr = qrcode.QRCode(border=1)
    qr.add_data(data)
    out = io.StringIO()
    qr.print_ascii(out=out)
    return out.getvalue()


def svg_qr(data: str) -> bytes:
    """`data` as a QR code in SVG (for the dashboard's /qr page)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=12)
    out = io.BytesIO()
    img.save(out)
    return out.getvalue()


# WeChat ends an @mention with a four-per-em space.
AT_END = "\u2005"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class WechatyTransport:
    """In and out through a Wechaty puppet service at `endpoint` ("host:port")."""

    name = NAME
    can_send_images = True

    def __init__(
        self,
        endpoint: str,
        token: str,
        on_message: Handler,
        *,
        clock: Clock | None = None,
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 30.0,
        on_health: Callable[[Health], None] | None = None,
        on_join: JoinHandler | None = None,
        account: str = "main",
        on_rooms: RoomsHandler | None = None,
    ) -> None:
        """`account`: the config's name of this WeChat account (one transport per
        account); `on_rooms` gets the account's room list at each login."""
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"endpoint must be host:port, not {endpoint!r}")
        self.endpoint, self.host, self.port = endpoint, host, int(port)
        self.token = token
        self.on_message = on_message
        self.clock = clock or SystemClock()
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.on_health = on_health
        self.on_join = on_join
        self.account = account
        self.on_rooms = on_rooms
        self._ending: str | None = None  # why this process ended the session itself
        self._bot: Any = None
        self._self_name = ""
        self._health = Health(False, self.clock.now())
        self._accepting = True
        self._in_hand: set[asyncio.Task[Any]] = set()
        self._logged_in = asyncio.Event()
        self._current: asyncio.Future[None] | None = None
        self._logins = 0
        # The login QR code's content while WeChat waits for a scan, else None.
        self.qr: str | None = None

    @classmethod
    def from_config(cls, section: WechatySection, on_message: Handler,
                    clock: Clock | None = None, account: WechatyAccount | None = None,
                    **kw: Any) -> WechatyTransport:
        """The transport of `account` (by default the section's first)."""
        acc = account or section.account_list()[0]
        return cls(acc.endpoint, acc.token, on_message, clock=clock, account=acc.name, **kw)

    # -- health ------------------------------------------------------------------

    @property
    def health(self) -> Health:
        return self._health

    @property
    def available(self) -> bool:
        return self._health.logged_in

    async def wait_logged_in(self, timeout: float | None = None) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._logged_in.wait(), timeout)
        return self._logged_in.is_set()

    def _set_health(self, logged_in: bool, user_id: str | None = None,
                    error: str | None = None, new_session: bool = False) -> None:
        h = self._health
        changed = logged_in != h.logged_in
        self._health = Health(
            logged_in=logged_in,
            since=self.clock.now() if changed else h.since,
            user_id=user_id if logged_in else h.user_id,
            sessions=h.sessions + (1 if new_session else 0),
            last_error=error if error is not None else h.last_error,
        )
        if logged_in:
            self._logged_in.set()
        else:
            self._logged_in.clear()
        if changed:
            if logged_in:
                log.warning("已登录微信：%s（%s），账号 %s", self._self_name, user_id, self.account)
            else:
                log.warning("微信账号 %s 的连接已断开%s", self.account, f"：{error}" if error else "")
            if self.on_health is not None:
                self.on_health(self._health)

    # -- the supervisor ----------------------------------------------------------

    async def run(self) -> None:
        """Keep a session up until cancelled: a fresh Wechaty for every connection."""
        delay = self.retry_seconds
        while True:
            log.info("正在连接微信服务 %s…", self.endpoint)
            if not await port_open(self.host, self.port):
                log.warning("连接失败，%g 秒后重试：微信服务 %s 连不上，请确认 puppet 服务已启动、"
                            "transports.wechaty.endpoint 填写正确", delay, self.endpoint)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_seconds)
                continue
            started = self.clock.now()
            logins, error = self._logins, None
            self._ending = None
            self._current = asyncio.ensure_future(self._session())
            try:
                await self._current
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                error = self._ending or "logged out"  # `_on_logout` or `restart` ended it
            except Exception as e:
                error = repr(e)
            finally:
                self._set_health(False, error=error)
                await self._dispose()
            # A session that lasted a while was healthy: reconnect at once.
            if (self.clock.now() - started).total_seconds() > self.max_retry_seconds:
                delay = self.retry_seconds
            if self._logins == logins and self.qr is None:
                log.error("连接失败，%g 秒后重试：微信服务 %s 没有让机器人登录，请检查令牌 "
                          "transports.wechaty.token（或环境变量 VILLAGEBOT_WECHATY_TOKEN）%s",
                          delay, self.endpoint, f"（{error}）" if error else "")
            else:
                log.warning("微信连接中断，%g 秒后重连%s", delay, f"（{error}）" if error else "")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_retry_seconds)

    async def _session(self) -> None:
        wechaty = load_wechaty()
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from wechaty_puppet import PuppetOptions

        options = wechaty.WechatyOptions(
            puppet="wechaty-puppet-service",
            puppet_options=PuppetOptions(end_point=self.endpoint, token=self.token),
            # Its plugin web server is only started with plugins (none here), but the
            # port must be free; its scheduler would otherwise keep jobs in a file.
            host="127.0.0.1", port=_free_port(), scheduler=AsyncIOScheduler(),
        )
        with _quiet():
            bot = wechaty.Wechaty(options)
        bot.on("login", self._on_login)
        bot.on("logout", self._on_logout)
        bot.on("scan", self._on_scan)
        bot.on("message", self._on_message)
        bot.on("room-join", self._on_room_join)
        self._bot = bot
        self._set_health(False, new_session=True)
        with _quiet():
            await bot.init_puppet()  # synchronous inside: builds the puppet
        # Its Room/Contact caches are class attributes shared by every instance: a room
        # loaded by an earlier session would still talk through that session's dead
        # connection. Give this session caches of its own.
        for cls in (bot.Room, bot.Contact, bot.ContactSelf, bot.Tag):
            cls._pool = {}
        await bot.init_puppet_event_bridge(bot.puppet)
        # Returns (or raises) when the puppet service's event stream ends.
        await bot.puppet.start()

    async def _dispose(self) -> None:
        bot, self._bot = self._bot, None
        if bot is None:
            return
        with contextlib.suppress(Exception):
            scheduler = bot._plugin_manager.scheduler
            if scheduler.running:
                scheduler.shutdown(wait=False)
        puppet = getattr(bot, "_puppet", None)
        if puppet is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(puppet.stop(), 2)
        channel = getattr(puppet, "channel", None)
        if channel is not None:
            with contextlib.suppress(Exception):
                channel.close()

    # -- events ------------------------------------------------------------------

    async def _on_login(self, contact: Any) -> None:
        self._self_name = contact.name or ""
        self._logins += 1
        self.qr = None
        self._set_health(True, user_id=contact.contact_id)
        bot = self._bot
        if bot is not None and self.on_rooms is not None:
            try:  # which groups this account is in: where the outbox may send through it
                rooms = await asyncio.wait_for(bot.puppet.room_list(), 60)
                await self.on_rooms([str(r) for r in rooms])
            except Exception as e:
                log.warning("未能记录账号 %s 所在的群：%r", self.account, e)
        if bot is not None:
            try:
                await asyncio.wait_for(self._log_contacts(bot), 60)
            except Exception as e:  # only a listing for the operator: never stop the login
                log.warning("未能列出所在的群和成员：%r", e)

    async def _log_contacts(self, bot: Any) -> None:
        """The groups this account is in and their members, with ids: what goes into
        `bot.contact_id`, `bot.admins` and the household files."""
        rooms = await bot.Room.find_all()
        log.warning("账号 %s 的联系人id为 %s；所在的群 %d 个：", self.account, bot.contact_id,
                    len(rooms))
        for room in rooms:
            await room.ready()
            topic = await room.topic()
            members = await room.member_list()
            names = "，".join(f"{m.name}（{m.contact_id}）" for m in members)
            log.warning("群「%s」（%s）成员 %d 人：%s", topic, room.room_id, len(members), names)

    async def _on_logout(self, contact: Any) -> None:
        # python-wechaty takes one login per instance: end this session, so that the
        # next login (after a new QR scan) reaches a fresh one.
        self._ending = "logged out"
        self._set_health(False, error="logged out")
        if self._current is not None:
            self._current.cancel()

    async def _on_scan(self, qr_code: str, status: Any, data: Any = None) -> None:
        if not qr_code:  # a status change of a scan in progress (scanned, confirmed …)
            log.warning("微信扫码状态：%s", status)
            return
        self.qr = qr_code
        log.warning("请用机器人的微信扫描下面的二维码登录（账号 %s；或打开看板的 /qr 页面）：%s\n%s",
                    self.account, qr_code, terminal_qr(qr_code))

    async def _on_message(self, msg: Any) -> None:
        if not self._accepting:
            return
        task = asyncio.current_task()
        if task is not None:
            self._in_hand.add(task)
        try:
            bot = self._bot
            if bot is None:
                return
            inbound = await to_inbound(msg, getattr(bot, "contact_id", ""), self._self_name,
                                       self.account)
            if inbound is not None:
                await self.on_message(inbound)
        except Exception:
            log.exception("handling a WeChat message failed")
        finally:
            if task is not None:
                self._in_hand.discard(task)

    async def ping(self, timeout: float) -> str | None:
        """None when the puppet service answers a cheap RPC (this account's own contact)
        within `timeout`, else what is wrong. A connection that stays open but hangs
        answers nothing: this is how it is found."""
        bot, user_id = self._bot, self._health.user_id
        if bot is None or not self._health.logged_in or not user_id:
            return self._health.last_error or "未登录"
        try:
            await asyncio.wait_for(bot.puppet.contact_payload(user_id), timeout)
        except TimeoutError:
            return f"微信服务 {self.endpoint} {timeout:g} 秒无响应"
        except Exception as e:
            return f"微信服务 {self.endpoint} 出错：{e!r}"
        return None

    def restart(self, reason: str) -> None:
        """End the session (e.g. it hangs): the supervisor builds a fresh one."""
        self._ending = reason
        self._set_health(False, error=reason)
        if self._current is not None:
            self._current.cancel()

    async def drain(self, timeout: float = 30.0) -> None:
        """Take no new messages; wait for those in hand (SIGTERM)."""
        self._accepting = False
        tasks = [t for t in self._in_hand if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _on_room_join(self, room: Any, invitees: list[Any], inviter: Any,
                            date: Any = None) -> None:
        """People joined a group: handed on as a `Join` (the bot's own joining is not)."""
        if not self._accepting or self.on_join is None:
            return
        bot = self._bot
        self_id = getattr(bot, "contact_id", "") if bot is not None else ""
        members = tuple(Mention(c.contact_id, c.name or "") for c in invitees
                        if c is not None and c.contact_id != self_id)
        if not members:
            return
        # python-wechaty gives the event's time as a naive local time.
        at = date.astimezone(UTC) if isinstance(date, datetime) else self.clock.now()
        join = Join(transport=NAME, room=room.room_id, members=members, at=at,
                    inviter=getattr(inviter, "contact_id", None))
        try:
            await self.on_join(join)
        except Exception:
            log.exception("handling a WeChat room-join failed")

    # -- sending -----------------------------------------------------------------

    async def _say_mentioning(self, bot: Any, room_id: str, text: str,
                              ids: tuple[str, ...]) -> Any:
        """Say in a room with real mentions: the puppet's messageSendText(room, text,
        mentionIdList), the text carrying each `@name` + U+2005."""
        said = await bot.puppet.message_send_text(
            conversation_id=room_id, message=await mention_text(bot, text, ids),
            mention_ids=list(ids),
        )
        return _Said(said) if isinstance(said, str) else said


    async def send(self, out: Outgoing) -> str | None:
        """Send; the puppet's id of the (last) sent message when it gives one, kept on the
        outbox row."""
        bot = self._bot
        if bot is None or not self._health.logged_in:
            raise TransportDown("WeChat is not logged in")
        from wechaty_puppet import FileBox

        target = bot.Room.load(out.room) if out.room is not None else bot.Contact.load(out.to)
        said: Any = None
        try:
            await target.ready()
            if out.text:
                if out.room is not None and out.mentions:
                    said = await self._say_mentioning(bot, out.room, out.text, out.mentions)
                else:
                    said = await target.say(out.text)
            if out.image is not None:
                box = FileBox.from_base64(base64.b64encode(out.image), name=f"chart-{out.id}.png")
                said = await target.say(box) or said
        except _connection_errors() as e:
            raise TransportDown(f"the connection to the puppet service broke: {e!r}") from e
        msg_id = getattr(said, "message_id", None)
        return str(msg_id) if msg_id else None


async def mention_text(bot: Any, text: str, ids: tuple[str, ...]) -> str:
    """`text` after an `@name` + U+2005 for each id (WeChat shows and notifies a mention
    only when its name is in the text too)."""
    names = []
    for contact_id in ids:
        contact = bot.Contact.load(contact_id)
        with contextlib.suppress(Exception):
            await contact.ready()
        names.append(f"@{contact.name or contact_id}{AT_END}")
    return "".join(names) + text


def _connection_errors() -> tuple[type[BaseException], ...]:
    from grpclib.exceptions import StreamTerminatedError

    return (OSError, StreamTerminatedError)
