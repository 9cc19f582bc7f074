"""Setting up the organisation: #绑定, #任命, #免职, #登记."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from bot.handlers.points.claim import ClaimArgs, parse_claim, run_claim
from bot.messages import Mention
from bot.models.core import LEVELS, OrgUnit, Person, RoleGrant
from bot.org import (
    ADMIN,
    CADRE,
    HQ,
    create_unit,
    find_unit,
    find_units,
    grant_role,
    level_index,
    level_name,
    parent_name,
    register_household,
    revoke_role,
    role_name,
    roles_at,
)
from bot.router import Command, Ctx, Refusal, Usage, needs
from bot.text import Args, simplify

# -- #绑定 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BindArgs:
    level: str | None
    name: str
    parent: str | None


def parse_bind(args: Args) -> BindArgs | ClaimArgs:
    """A unit to bind the group to; or a phone: `#绑定 13812345678` is `#认领` (no unit
    is named by 11 digits)."""
    claim = _as_claim(args)
    if claim is not None:
        return claim
    words = args.words()
    level = level_name(words[0]) if words else None
    if level and len(words) > 1:
        words = words[1:]
    elif level:
        raise Usage(f"“{words[0]}”后面要写单位名称")
    parent = None
    if "上级" in words:
        i = words.index("上级")
        if i + 1 >= len(words):
            raise Usage("“上级”后面要写上级单位的名称")
        parent = words[i + 1]
        words = words[:i] + words[i + 2 :]
    if len(words) != 1:
        raise Usage("请写一个单位名称" if not words else "单位名称里不能有空格")
    name = simplify(words[0])
    if level is None:
        level = next((lv for suffix, lv in _SUFFIX_LEVEL if name.endswith(suffix)), None)
    return BindArgs(level, name, parent)


_SUFFIX_LEVEL = (("市", "市"), ("县", "县"), ("区", "县"), ("乡", "乡"), ("镇", "乡"), ("村", "村"))


def _bind_allowed(ctx: Ctx, unit: OrgUnit | None) -> bool:
    """Admins of the target unit (or of its parent, for a new one) may bind to it."""
    if ctx.roles.bootstrap_admin:
        return True
    return unit is not None and roles_at(ctx.session, ctx.person.id, unit, ()).has(ADMIN)


def _as_claim(args: Args) -> ClaimArgs | None:
    try:
        return parse_claim(args)
    except Usage:
        return None


def _bind_check(ctx: Ctx) -> str | None:
    """Only admins get as far as the arguments; which unit they may bind is checked
    against the target in `run_bind`. `#绑定 手机号` (a claim) is for everyone."""
    if ctx.roles.bootstrap_admin:
        return None
    router = ctx.services.get("router")
    parsed = router.parse(ctx.msg) if router is not None else None
    if parsed is not None and parsed.command is ctx.command and _as_claim(parsed.args):
        return None
    held = ctx.session.exec(
        select(RoleGrant.id).where(RoleGrant.person_id == ctx.person.id, RoleGrant.role == ADMIN)
    ).first()
    return None if held is not None else needs(ctx.command)


def _bind_parent_first(args: BindArgs) -> str:
    """Units are bound top down: a parent that does not exist yet is bound first, in its
    own group (the one example says how)."""
    assert args.parent is not None
    name = simplify(args.parent)
    level = next((lv for suffix, lv in _SUFFIX_LEVEL if name.endswith(suffix)), None)
    if level is None and args.level in LEVELS[1:]:
        level = LEVELS[level_index(args.level) - 1]
    example = f"#绑定 {level or '级别'} {name}"
    if level != LEVELS[0]:
        above = LEVELS[level_index(level) - 1] if level else "乡"
        example += f" 上级 XX{above}"
    return f"找不到上级单位“{name}”：请先绑定上级，在{name}的群里发送 {example}"


def run_bind(ctx: Ctx, args: BindArgs | ClaimArgs) -> None:
    if isinstance(args, ClaimArgs):
        run_claim(ctx, args)
        return
    room = ctx.room
    assert room is not None
    parent: OrgUnit | None = None
    if args.parent is not None:
        if not find_units(ctx.session, args.parent):
            raise Refusal(_bind_parent_first(args))
        parent = find_unit(ctx.session, args.parent, what="上级")  # OrgError: the reply
    candidates = find_units(ctx.session, args.name, args.level)
    if parent is not None:
        candidates = [u for u in candidates if u.parent_id == parent.id]
    if len(candidates) > 1:
        places = "、".join(f"{parent_name(ctx.session, u)}的{u.name}" for u in candidates)
        raise Refusal(f"有{len(candidates)}个“{args.name}”（{places}），请加“上级 …”指定")
    created = False
    if candidates:
        unit = candidates[0]
        if not _bind_allowed(ctx, unit):
            raise Refusal("#绑定 需要管理员权限")
    else:
        if args.level is None:
            raise Usage(f"新建单位“{args.name}”要写明级别（市/县/乡/村）")
        if args.level == "市":
            if parent is not None:
                raise Refusal("市是最高一级，不能有上级")
        elif parent is None:
            above = LEVELS[level_index(args.level) - 1]
            raise Usage(f"新建{args.level}“{args.name}”要写明上级{above}")
        elif level_index(parent.level) != level_index(args.level) - 1:
            above = LEVELS[level_index(args.level) - 1]
            raise Usage(f"{args.level}的上级应是{above}，{parent.name}是{parent.level}")
        if not _bind_allowed(ctx, parent):
            raise Refusal("#绑定 需要管理员权限")
        unit = create_unit(ctx.session, args.name, args.level, parent, ctx.now)
        created = True
    previous = room.unit_id
    if previous not in (None, unit.id) and not ctx.roles.has(ADMIN):
        # `ctx.roles` are those on the unit the group is bound to now.
        old = ctx.session.get(OrgUnit, previous)
        raise Refusal(f"本群已绑定 {old.name if old else '其他单位'}，改绑需要它的管理员权限")
    room.unit_id, room.bound_by, room.bound_at = unit.id, ctx.person.id, ctx.now
    ctx.unit = unit
    ctx.audit("bind", room=room.id, unit=unit.id, name=unit.name, created=created,
              previous=previous)
    where = f"{unit.name}（{unit.level}" + (
        f"，上级 {parent_name(ctx.session, unit)}）" if unit.parent_id else "）"
    )
    if previous == unit.id:
        ctx.reply(f"本群已经绑定 {where}")
    elif previous is not None:
        old = ctx.session.get(OrgUnit, previous)
        ctx.reply(f"本群已从 {old.name if old else '原单位'} 改绑到 {where}")
    else:
        ctx.reply(f"{'已新建并绑定' if created else '已绑定'}：本群 → {where}")


# -- #任命 / #免职 ----------------------------------------------------------------------


@dataclass(frozen=True)
class RoleArgs:
    people: tuple[Mention, ...]
    role: str


def parse_role(args: Args) -> RoleArgs:
    people = tuple(args.mentions())
    words = args.words()
    roles = [r for r in (role_name(w) for w in words) if r]
    others = [w for w in words if role_name(w) is None]
    if not people and others:
        # A bare name without '@': resolved among the group's people.
        people = tuple(Mention("", w) for w in others)
        others = []
    if not people:
        raise Usage("请@要任命的人")
    if len(roles) != 1 or others:
        raise Usage("请写一个职务：管理员、指挥部、干部、评议员 或 超市管理员")
    return RoleArgs(people, roles[0])


def run_appoint(ctx: Ctx, args: RoleArgs) -> None:
    unit = ctx.require_unit()
    if args.role == ADMIN and not ctx.roles.has(ADMIN):
        raise Refusal("任命管理员需要管理员权限")
    lines = []
    for m in args.people:
        person = ctx.resolve(m)
        if grant_role(ctx.session, person.id, unit, args.role, ctx.person.id, ctx.now):
            ctx.audit("appoint", person=person.id, unit=unit.id, role=args.role)
            lines.append(f"已任命 {_name(person)} 为 {unit.name}{args.role}")
        else:
            lines.append(f"{_name(person)} 已是 {unit.name}{args.role}")
    ctx.reply("\n".join(lines))


def run_dismiss(ctx: Ctx, args: RoleArgs) -> None:
    unit = ctx.require_unit()
    if args.role == ADMIN and not ctx.roles.has(ADMIN):
        raise Refusal("免去管理员需要管理员权限")
    lines = []
    for m in args.people:
        person = ctx.resolve(m)
        if revoke_role(ctx.session, person.id, unit, args.role):
            ctx.audit("dismiss", person=person.id, unit=unit.id, role=args.role)
            lines.append(f"已免去 {_name(person)} 的 {unit.name}{args.role} 职务")
        elif roles_at(ctx.session, person.id, unit, ()).has(args.role):
            lines.append(f"{_name(person)} 的{args.role}职务是在上级单位任命的，请在上级的群里免职")
        else:
            lines.append(f"{_name(person)} 不是 {unit.name}{args.role}")
    ctx.reply("\n".join(lines))


def _name(person: Person) -> str:
    return person.name or person.id


# -- #登记 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterArgs:
    people: tuple[Mention, ...]
    household: str


def parse_register(args: Args) -> RegisterArgs:
    people = list(args.mentions())
    words = args.words()
    if "户" in words:
        i = words.index("户")
        before, after = words[:i], words[i + 1 :]
        people += [Mention("", w) for w in before]  # bare names before 户
        words = after
    if len(words) != 1:
        raise Usage("请写一个户名" if not words else "户名里不能有空格")
    name = simplify(words[0])
    if len(name) > 32:
        raise Usage("户名太长")
    return RegisterArgs(tuple(people), name)


def run_register(ctx: Ctx, args: RegisterArgs) -> None:
    village = ctx.require_unit("村")
    people = [ctx.resolve(m) for m in args.people]

    def may_move(old_village: OrgUnit) -> bool:
        # Moving someone out of their household: admins of its village only.
        return roles_at(ctx.session, ctx.person.id, old_village, ctx.config.bot.admins).has(ADMIN)

    reg = register_household(ctx.session, village, args.household, ctx.now, people,
                             by=ctx.person.id, may_move=may_move)  # MoveNeedsAdmin: the reply
    hh = reg.household
    moved = {p.id: old for p, old in reg.linked}
    already = {p.id for p in reg.already}
    notes = []
    for person in {p.id: p for p in people}.values():
        if person.id in already:
            notes.append(f"{_name(person)} 已在本户")
            continue
        old = moved.get(person.id)
        if old is not None:
            notes.append(f"{_name(person)} 原属 {old.name}，已改到本户")
        ctx.audit("link", person=person.id, household=hh.id)
    if reg.created:
        ctx.audit("household", household=hh.id, name=hh.name, unit=village.id)
    members = ctx.session.exec(
        select(Person).where(Person.household_id == hh.id).order_by(col(Person.name))
    ).all()
    head = f"{'已登记' if reg.created else '已更新'} {hh.name}（{village.name}）"
    body = "，成员：" + "、".join(_name(p) for p in members) if members else "，暂无成员"
    ctx.reply(head + body + ("\n" + "\n".join(notes) if notes else ""))


COMMANDS = (
    Command(
        name="绑定", summary="把本群绑定到一个单位（需要时新建）", scope="room",
        usage="#绑定 级别 单位名 [上级 上级单位名]", example="#绑定 村 皇叔洼村 上级 吴城乡",
        parse=parse_bind, run=run_bind, roles=(ADMIN,), check=_bind_check,
        detail="级别：市、县（区）、乡（镇）、村。已有的单位可只写名称：#绑定 皇叔洼村。"
               "村民绑定自己的户请用 #认领 手机号（#绑定 手机号 也可以）。",
    ),
    Command(
        name="任命", aliases=("授权",), summary="在本群的单位任命职务",
        usage="#任命 @某人 职务", example="#任命 @刘伟 干部", parse=parse_role, run=run_appoint,
        roles=(ADMIN, HQ),
        detail="职务：管理员、指挥部、干部、评议员、超市管理员；对本单位及下级都有效。",
    ),
    Command(
        name="免职", aliases=("撤职", "取消任命"), summary="免去本群单位的职务",
        usage="#免职 @某人 职务", example="#免职 @刘伟 干部", parse=parse_role, run=run_dismiss,
        roles=(ADMIN, HQ),
    ),
    Command(
        name="登记", aliases=("登记农户", "建户"), summary="登记本村农户并关联家庭成员",
        usage="#登记 [@成员 …] 户 户名", example="#登记 @张三 户 张三家",
        parse=parse_register, run=run_register, roles=(ADMIN, CADRE), levels=("村",),
        detail="不用智能手机的农户可只登记户名：#登记 户 王五家；多位家庭成员可一起@。",
    ),
)
