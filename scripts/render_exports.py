"""Render every export of the demo city to PDF with LibreOffice, and the first page of
each to a PNG, to look at how they print: `python scripts/render_exports.py OUT_DIR`
(needs `soffice` and `pdftoppm` on the PATH; `--pictures DIR` also copies the PNGs
there, as docs/exports/ holds them)."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path


async def _seed(db_url: str, until: datetime) -> None:
    from bot import demo
    from bot.clock import VirtualClock
    from bot.config import load_config
    from bot.drivers.memory import MemoryChat
    from bot.wiring import build_app

    app = build_app(load_config(None), clock=VirtualClock(demo.SEED_START), db_url=db_url,
                    admins=[demo.ADMIN_ID])
    try:
        await demo.seed(MemoryChat(app), until=until)
    finally:
        app.close()


def main() -> None:
    from bot import demo
    from bot.config import load_config
    from bot.db import Database
    from bot.notices import files as notices
    from bot.points import files as points
    from bot.progress import files as progress
    from bot.rankings import files as rankings

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--pictures", type=Path, default=None)
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    until = demo.DEMO_START + timedelta(days=29)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        asyncio.run(_seed(url, until))
        cfg = load_config(None)
        db = Database(url)
        day = until.astimezone(cfg.zone).date()
        try:
            db.run_sync(lambda s: progress.export_progress(s, cfg, out / "progress.xlsx", day))
            db.run_sync(lambda s: points.export_ledger(s, cfg, out / "ledger.xlsx", until))
            db.run_sync(lambda s: notices.export_notices(s, out / "notices.xlsx", cfg.zone, until))
            db.run_sync(lambda s: rankings.export_bulletin(
                s, cfg, out / "bulletin.xlsx", rankings.default_month(day), until))
        finally:
            db.close()
    for name in ("progress", "ledger", "notices", "bulletin"):
        subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(out),
                        str(out / f"{name}.xlsx")], check=True, capture_output=True)
        subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1",
                        str(out / f"{name}.pdf"), str(out / name)], check=True)
        png = next(out.glob(f"{name}-*1.png"))
        if args.pictures is not None:
            args.pictures.mkdir(parents=True, exist_ok=True)
            shutil.copy(png, args.pictures / f"{name}.png")
        pages = subprocess.run(["pdfinfo", str(out / f"{name}.pdf")], capture_output=True,
                               text=True, check=False).stdout
        print(name, next((ln for ln in pages.splitlines() if ln.startswith("Pages")), ""))


if __name__ == "__main__":
    main()
