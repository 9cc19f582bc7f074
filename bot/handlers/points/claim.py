"""#认领 (a villager links themself to their household by the phone on file) and
#未认领 (the village's households that nobody is linked to yet)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.handlers.points.common import NoArgs, domain
from bot.points import wording as W
from bot.points.claim import Claimed, claim_household, unlinked_households
from bot.points.phones import normalize_phone
from bot.router import Ctx, Usage
from bot.text import Args

# A label before the number: #认领 手机号 13812345678, #绑定手机号 138…
_LABEL = re.compile(r"^(?:手机号码|手机号|手机|电话号码|电话|号码|号)[:：]?")


@dataclass(frozen=True)
class ClaimArgs:
    phone: str  # normalised: 11 digits


def parse_claim(args: Args) -> ClaimArgs:
    if args.mentions():
        raise Usage("认领只能绑定自己：请写本户登记的手机号，不要@别人")
    text = _LABEL.sub("", "".join(args.words()))
    if not text:
        raise Usage("请写本户登记的手机号")
    phone = normalize_phone(text)
    if phone is None:
        raise Usage("手机号应是11位数字")
    return ClaimArgs(phone)


@domain
def run_claim(ctx: Ctx, args: ClaimArgs) -> None:
    village = ctx.require_unit("村")
    result = claim_household(ctx.session, ctx.person, village, args.phone, ctx.now, ctx.zone,
                             ctx.msg.id)
    if isinstance(result, Claimed):
        ctx.audit("claim", person=ctx.person.id, household=result.household.id)
        ctx.reply(W.claimed_text(result))
    else:
        ctx.reply(W.missed_text(result))


@domain
def run_unlinked(ctx: Ctx, args: NoArgs) -> None:
    ctx.reply(W.unlinked_text(unlinked_households(ctx.session, ctx.require_unit("村"))))
