"""A newcomer's first minutes: a fresh clone of the committed HEAD, `make demo` in it (its
own .venv, its own `pip install`, ECharts from npm), then the simulator and the dashboard
in Debian's Chromium at phone size (390×844).

It tests what is committed: a dirty working tree is ignored. The clone lives in a temp
directory with its own .venv, and `make demo` runs with this process's virtualenv and
Python path taken out of its environment, so the repository's own .venv is not touched.
`VILLAGEBOT_DEMO_PORT=0` lets the demo pick a free port; the URL it prints says which.
The demo's whole process group is stopped at the end.

Slow by nature (the install takes a minute or two on warm pip and npm caches). Without
git, python3.11, npm or Chromium it is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, bot_says, go_to_group, open_page, say

REPO = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"演示已启动，请用浏览器打开：(\S+)")
# Only a bound on a hung install or seed, not a speed check: on warm caches the demo is
# up in one to three minutes.
START_LIMIT = 600  # seconds
PHONE = (390, 844)
JOBS_TIMEOUT = 120_000  # ms: an hour of the virtual clock, with its scheduled jobs


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def clean_env() -> dict[str, str]:
    """This environment without what would tie `make demo` to the running tests: the
    virtualenv (and its bin on PATH), PYTHONPATH, an outer make's flags, VILLAGEBOT_…"""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MAKEFLAGS", "MAKELEVEL",
                        "MFLAGS")
           and not k.startswith("VILLAGEBOT_")}
    if sys.prefix != sys.base_prefix:
        venv_bin = str(Path(sys.prefix) / "bin")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if p.rstrip("/") != venv_bin)
    env["PYTHONUNBUFFERED"] = "1"  # the URL line must reach the log as soon as it is said
    env["VILLAGEBOT_DEMO_PORT"] = "0"
    env["VILLAGEBOT_DEMO_HOST"] = "127.0.0.1"
    return env


def clone_head(dest: Path) -> str:
    """A clone of this repository at its committed HEAD; returns the commit."""
    if not (REPO / ".git").exists():
        _missing(f"{REPO} is not a git checkout")
    head = _git("rev-parse", "HEAD", cwd=REPO)
    _git("clone", "--quiet", "--depth", "1", f"file://{REPO}", str(dest), cwd=REPO.parent)
    # HEAD may be detached (or a worktree's): fetch that very commit and check it out.
    _git("fetch", "--quiet", "--depth", "1", "origin", head, cwd=dest)
    _git("checkout", "--quiet", "--detach", head, cwd=dest)
    return head


def wait_for_url(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        found = SERVING.search(text)
        if found:
            return found.group(1)
        if proc.poll() is not None:
            pytest.fail(f"`make demo` exited with {proc.returncode}:\n{text[-4000:]}")
        time.sleep(1)
    pytest.fail(f"`make demo` printed no address in {START_LIMIT} s:\n"
                f"{log.read_text(encoding='utf-8', errors='replace')[-4000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """make, the demo and anything they started: the whole process group."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            os.killpg(proc.pid, 0)  # still someone in the group?
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return
        time.sleep(1)


@pytest.fixture(scope="module")
def fresh_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """`make demo` in a fresh clone: the clone's path and the URL the demo printed."""
    for tool in ("git", "make", "python3.11", "npm"):
        if shutil.which(tool) is None:
            _missing(f"{tool} is missing")
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is missing: `make browser` installs it")
    clone = tmp_path_factory.mktemp("fresh") / "villagebot"
    clone_head(clone)
    log = clone.parent / "make-demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["make", "demo"], cwd=clone, env=clean_env(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        url = wait_for_url(proc, log)
        yield clone, url
    finally:
        stop(proc)


@pytest.fixture
async def phone_browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


def test_the_clone_runs_its_own_install(fresh_demo: tuple[Path, str]) -> None:
    clone, url = fresh_demo
    assert url.startswith("http://127.0.0.1:") and not url.startswith("http://127.0.0.1:8600/")
    # The clone's .venv runs the clone's code, and ECharts came from npm into the clone.
    where = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        env=clean_env(), capture_output=True, text=True, check=True, cwd="/",
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(clone.resolve())
    assert (clone / "bot" / "web" / "vendor" / "echarts.min.js").stat().st_size > 100_000
    assert (clone / "demo.db").exists()


async def test_simulator_on_a_phone(fresh_demo: tuple[Path, str], phone_browser) -> None:
    _, url = fresh_demo
    page = await open_page(phone_browser, url, *PHONE)
    # First the group list, full width, as in WeChat, with the demo city's groups.
    rooms = page.locator("aside.rooms")
    assert (await rooms.bounding_box())["width"] >= 380
    assert not await page.locator("section.chat").is_visible()
    await page.locator("li.room[data-id='sim_huangshuwa']").wait_for()
    assert await page.locator("li.room").count() >= 20
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= PHONE[0]
    # A tap opens the chat; a cadre's report is answered by the bot.
    await go_to_group(page, "sim_huangshuwa", "wxid_liuwei")
    assert "皇叔洼村村务群" in await page.inner_text("#room-title")
    chat = await page.locator("section.chat").bounding_box()
    assert chat is not None and chat["width"] > 300
    assert await page.locator("#back").is_visible()
    await say(page, "#进度 危房改造 46")
    reply = bot_says(page, "已记录", "皇叔洼村", "危房改造 46/50")
    await reply.first.wait_for()
    assert "序时进度" in await reply.first.inner_text()
    # As in WeChat: one's own message on the right, the bot's on the left.
    # (Measured in one go: the list is re-rendered as messages come.)
    mine, theirs = await page.evaluate("""() => {
        const last = (sel, text) => [...document.querySelectorAll(sel)]
            .filter(e => e.textContent.includes(text)).pop();
        const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; };
        return [box(last('.msg.mine .bubble', '#进度 危房改造 46')),
                box(last('.msg.bot .bubble', '危房改造 46/50'))]; }""")
    assert mine[1] > PHONE[0] - 80 and theirs[0] < 80
    assert mine[0] > theirs[0]
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= PHONE[0]
    # The clock controls are on the screen in the chat too, and move time on.
    plus_hour = page.locator("#clock-controls button[data-minutes='60']")
    box = await plus_hour.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0]
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE[1]
    assert "2019-06-03 周一 08:00" in await page.inner_text("#clock")
    await plus_hour.click()
    # The hour's jobs run first (the Monday bulletins, a chart per group): on a busy
    # machine that takes longer than one thing appearing on the page.
    await page.wait_for_function(
        "document.querySelector('#clock').textContent.includes('09:00')", timeout=JOBS_TIMEOUT)
    # Back to the list; in the HQ's group, the Monday 08:30 bulletin has come.
    await page.click("#back")
    await page.locator("#room-list").wait_for()
    await go_to_group(page, "sim_datong", "wxid_jiajiangang")
    await bot_says(page, "【周通报】", "6月3日").first.wait_for(timeout=JOBS_TIMEOUT)
    assert page.errors == []


async def test_dashboard_on_a_phone(fresh_demo: tuple[Path, str], phone_browser) -> None:
    _, url = fresh_demo
    dash = await open_page(phone_browser, url.split("?")[0] + "dashboard", *PHONE)
    rows = dash.locator("#rank-table tbody tr")
    await rows.first.wait_for()
    await dash.locator("#progress td", has_text="/").first.wait_for()
    # The chart library fetched by `make demo` draws the ranking.
    await dash.locator("#rank-chart canvas").first.wait_for()
    assert await dash.locator("a[data-export='progress']").is_visible()
    assert await dash.evaluate("document.scrollingElement.scrollWidth") <= PHONE[0]
    # Drilling into a county keeps to the phone's width too.
    await rows.locator("a[data-unit]", has_text="浑源县").click()
    await dash.wait_for_function(
        "document.querySelector('#rank-title').textContent.includes('浑源县各乡镇')")
    assert await dash.evaluate("document.scrollingElement.scrollWidth") <= PHONE[0]
    assert dash.errors == []
