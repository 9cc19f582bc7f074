"""The simulator and the dashboard in a real browser: Debian's Chromium, headless, driven
by Playwright, against the demo city served on a free loopback port.

`make test` installs Chromium (the Makefile's `browser` target). Without it these tests
are skipped, except under CI, where they fail. With VILLAGEBOT_SCREENSHOTS=1 the
screenshot test also writes the README's docs/screenshots/*.png.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import demo
from bot.clock import VirtualClock
from bot.config import load_config
from bot.drivers.simulator import ChatLog, Simulator, serve
from bot.web.server import WEB, Server
from bot.wiring import build_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
TIMEOUT = 15_000  # ms, for one thing to appear on the page


@dataclass
class Demo:
    sim: Simulator
    server: Server

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ChatLog]:
    """The demo city seeded once through the simulator: its database file and chat log."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"

    async def build() -> ChatLog:
        clock = VirtualClock(demo.SEED_START)
        app = build_app(load_config(), clock=clock, db_url=f"sqlite:///{path}",
                        admins=[demo.ADMIN_ID])
        try:
            sim = Simulator(app, clock, titles=demo.titles())
            result = await demo.seed(sim)
            assert result.problems == [] and result.skipped == []
            return sim.log
        finally:
            app.close()

    return path, asyncio.run(build())


@pytest.fixture
async def demo_city(seeded: tuple[Path, ChatLog], tmp_path: Path) -> AsyncIterator[Demo]:
    """A copy of the seeded city (database and chat history), served on a free port."""
    template, log = seeded
    db = tmp_path / "demo.db"
    shutil.copy(template, db)
    clock = VirtualClock(demo.DEMO_START)
    app = build_app(load_config(), clock=clock, db_url=f"sqlite:///{db}", admins=[demo.ADMIN_ID])
    sim = Simulator(app, clock, titles=demo.titles(), log=log.copy())
    server = await serve(sim)
    yield Demo(sim, server)
    await server.close()
    app.close()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it")
        pytest.skip(f"{CHROMIUM} is missing (make browser)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def open_page(browser, url: str, width: int = 1400, height: int = 860):
    page = await browser.new_page(viewport={"width": width, "height": height}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(TIMEOUT)
    await page.goto(url)
    await page.wait_for_selector("body[data-ready='1']")
    page.errors = errors  # checked by the tests: the page's scripts must not fail
    return page


async def go_to_group(page, room_id: str, speaker: str) -> None:
    await page.click(f"li.room[data-id='{room_id}']")
    await page.select_option("#speaker", speaker)


async def say(page, text: str) -> None:
    await page.fill("#input", text)
    await page.press("#input", "Enter")


def bot_says(page, *parts: str):
    loc = page.locator(".msg.bot .text")
    for part in parts:
        loc = loc.filter(has_text=part)
    return loc


async def test_cadre_reports_and_sees_the_reply(demo_city: Demo, browser) -> None:
    page = await open_page(browser, demo_city.url)
    await go_to_group(page, "sim_huangshuwa", "wxid_liuwei")
    assert "皇叔洼村村务群" in await page.inner_text("#room-title")
    await say(page, "#进度 危房改造 46")
    reply = bot_says(page, "已记录", "皇叔洼村", "危房改造 46/50")
    await reply.first.wait_for()
    text = await reply.first.inner_text()
    assert "序时进度" in text and "超前" in text
    # The cadre's own message is on the right, as in WeChat.
    mine = page.locator(".msg.mine .text", has_text="#进度 危房改造 46")
    await mine.first.wait_for()
    # A villager may not report: refused with the role it needs, nothing recorded.
    await page.select_option("#speaker", "wxid_wangjinshan")
    await say(page, "#进度 危房改造 50")
    await bot_says(page, "需要", "干部").first.wait_for()
    assert await bot_says(page, "危房改造 50/50").count() == 0
    assert page.errors == []


async def test_moving_the_clock_shows_a_reminder(demo_city: Demo, browser) -> None:
    page = await open_page(browser, demo_city.url)
    await go_to_group(page, "sim_datong", "wxid_jiajiangang")
    assert "2019-06-03 周一 08:00" in await page.inner_text("#clock")
    await say(page, "#提醒 6月3日 10:00 各县区报送危房改造验收材料")
    await bot_says(page, "已设置提醒", "10:00", "各县区报送危房改造验收材料").first.wait_for()
    reminder = bot_says(page, "【提醒】各县区报送危房改造验收材料")
    # An hour on: not yet; but the Monday 08:30 bulletin came, with its chart.
    bulletins = page.locator(".msg.bot", has=page.locator(".text", has_text="【周通报】"))
    before = await bulletins.count()
    await page.click("#clock-controls button[data-minutes='60']")
    await page.wait_for_function("document.querySelector('#clock').textContent.includes('09:00')")
    await bulletins.nth(before).wait_for()
    chart = bulletins.nth(before).locator("img.pic")
    await page.wait_for_function("img => img.complete && img.naturalWidth > 200",
                                 arg=await chart.element_handle())
    assert "6月3日" in await bulletins.nth(before).inner_text()
    assert await reminder.count() == 0
    await page.click("#clock-controls button[data-minutes='60']")
    await page.wait_for_function("document.querySelector('#clock').textContent.includes('10:00')")
    await reminder.first.wait_for()
    assert await reminder.count() == 1
    assert page.errors == []


async def test_dashboard_shows_the_new_figure(demo_city: Demo, browser) -> None:
    dash = await open_page(browser, demo_city.url.split("?")[0] + "dashboard")
    progress = dash.locator("#progress")
    await progress.locator("td", has_text="42/50").first.wait_for()
    assert await progress.locator("td", has_text="皇叔洼村").count() >= 1
    # A report in the simulator, seen on the already open dashboard.
    page = await open_page(browser, demo_city.url)
    await go_to_group(page, "sim_huangshuwa", "wxid_liuwei")
    await say(page, "#进度 危房改造 48")
    await bot_says(page, "危房改造 48/50").first.wait_for()
    row = progress.locator("tr", has=dash.locator("td", has_text="皇叔洼村"))
    await row.filter(has_text="48/50").first.wait_for()
    assert dash.errors == [] and page.errors == []


async def test_screenshots(demo_city: Demo, browser, tmp_path: Path) -> None:
    page = await open_page(browser, demo_city.url)
    await go_to_group(page, "sim_huangshuwa", "wxid_liuwei")
    await say(page, "#进度 危房改造 46")
    await bot_says(page, "危房改造 46/50").first.wait_for()
    # The Monday bulletin, with its chart, in the HQ group.
    await page.click("#clock-controls button[data-minutes='60']")
    await page.wait_for_function("document.querySelector('#clock').textContent.includes('09:00')")
    await go_to_group(page, "sim_datong", "wxid_jiajiangang")
    await say(page, "#排名")
    await bot_says(page, "排名").last.wait_for()
    await page.wait_for_function(
        "[...document.querySelectorAll('img.pic')].every(i => i.complete && i.naturalWidth > 0)"
    )
    await keep(page, tmp_path, "simulator.png")


async def keep(page, tmp_path: Path, name: str, full_page: bool = False) -> None:
    """A screenshot; with VILLAGEBOT_SCREENSHOTS=1 also the README's copy."""
    path = tmp_path / name
    await page.screenshot(path=str(path), full_page=full_page)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
    if os.environ.get("VILLAGEBOT_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / name)


def has_echarts() -> bool:
    """`make echarts` puts the chart library beside the pages; CI must have it."""
    if (WEB / "vendor" / "echarts.min.js").exists():
        return True
    if os.environ.get("CI"):
        pytest.fail("bot/web/vendor/echarts.min.js is missing: `make echarts` installs it")
    return False


async def test_simulator_on_a_phone(demo_city: Demo, browser, tmp_path: Path) -> None:
    page = await open_page(browser, demo_city.url, 390, 844)
    # First the group list, full width, as in WeChat; the clock controls within reach.
    rooms = page.locator("aside.rooms")
    assert (await rooms.bounding_box())["width"] >= 380
    assert not await page.locator("section.chat").is_visible()
    plus_hour = page.locator("#clock-controls button[data-minutes='60']")
    box = await plus_hour.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 390
    await keep(page, tmp_path, "simulator-phone-list.png")
    # A tap opens the chat, wide enough to read.
    await go_to_group(page, "sim_huangshuwa", "wxid_liuwei")
    chat = await page.locator("section.chat").bounding_box()
    assert chat is not None and chat["width"] > 300
    assert await page.locator("#input").is_visible() and await page.locator("#back").is_visible()
    await say(page, "#进度 危房改造 46")
    await bot_says(page, "已记录", "危房改造 46/50").first.wait_for()
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 390
    await keep(page, tmp_path, "simulator-phone.png")
    # 返回 goes back to the list; the clock still moves from there.
    await page.click("#back")
    await rooms.locator("#room-list").wait_for()
    assert not await page.locator("section.chat").is_visible()
    await plus_hour.click()
    await page.wait_for_function("document.querySelector('#clock').textContent.includes('09:00')")
    assert page.errors == []


async def test_dashboard_on_the_big_screen(demo_city: Demo, browser, tmp_path: Path) -> None:
    base = demo_city.url.split("?")[0]
    dash = await open_page(browser, base + "dashboard", 1920, 1080)
    rows = dash.locator("#rank-table tbody tr")
    await rows.first.wait_for()
    assert "各县区排名" in await dash.inner_text("#rank-title")
    size = await rows.first.evaluate("tr => parseFloat(getComputedStyle(tr.cells[1]).fontSize)")
    assert size >= 20
    # The 序时进度 per task, and this week's 未报 and the notices' receipts beside.
    assert "序时进度" in await dash.inner_text("#standing")
    assert await dash.locator("#unreported h2").inner_text()
    assert await dash.locator("#receipts .body").inner_text()
    if has_echarts():
        canvas = dash.locator("#rank-chart canvas")
        await canvas.first.wait_for()
        # Non-empty: the ranking's bars put coloured pixels on it.
        coloured = await canvas.first.evaluate("""c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i + 3] && (d[i] < 200 || d[i + 2] < 200)) n++;
            return n; }""")
        assert coloured > 1000
    await keep(dash, tmp_path, "dashboard.png")
    # Drill-down: a county, then one of its townships; the county filter follows.
    county = rows.locator("a[data-unit]", has_text="浑源县")
    await county.click()
    await dash.wait_for_function("document.querySelector('#rank-title').textContent.includes('浑源县各乡镇')")
    assert await dash.locator("#county option:checked").inner_text() == "浑源县"
    await rows.locator("a[data-unit]", has_text="吴城乡").click()
    await dash.wait_for_function("document.querySelector('#rank-title').textContent.includes('吴城乡各村')")
    assert await rows.filter(has_text="皇叔洼村").count() == 1
    await keep(dash, tmp_path, "dashboard-drill.png")
    assert "大同市" in await dash.inner_text("#crumbs")
    await dash.locator("#crumbs a", has_text="大同市").click()
    await dash.wait_for_function("document.querySelector('#rank-title').textContent.includes('各县区')")
    # The export buttons download the workbooks, under Chinese names.
    exports = {"progress": "任务进度", "ledger": "积分台账", "notices": "通知回执", "rankings": "月度排名"}
    for what, name in exports.items():
        async with dash.expect_download() as info:
            await dash.click(f"a[data-export='{what}']")
        download = await info.value
        assert download.suggested_filename.startswith(name) and download.suggested_filename.endswith(".xlsx")
        saved = tmp_path / f"{what}.xlsx"
        await download.save_as(saved)
        assert saved.read_bytes()[:2] == b"PK"
    # Print: the controls are not on paper.
    await dash.emulate_media(media="print")
    assert not await dash.locator("#actions").is_visible()
    await dash.emulate_media(media="screen")
    assert dash.errors == []


async def test_dashboard_on_a_phone(demo_city: Demo, browser, tmp_path: Path) -> None:
    dash = await open_page(browser, demo_city.url.split("?")[0] + "dashboard", 390, 844)
    await dash.locator("#rank-table tbody tr").first.wait_for()
    await dash.locator("#progress td", has_text="/").first.wait_for()
    assert await dash.evaluate("document.scrollingElement.scrollWidth") <= 390
    await keep(dash, tmp_path, "dashboard-phone.png")
    assert dash.errors == []
