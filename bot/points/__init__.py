"""Love-supermarket points (爱心积分), one home:

- `policy`: the rules in force in a village, and which rule a command names;
- `ledger`: the append-only ledger (record, confirm, expire, reverse, objections, locks);
- `balance`: balances, a household's entries, top households, activity per village;
- `shop`: goods and redemption;
- `targets`: which household an @mention or a name means;
- `wording`: every reply and post, from result objects;
- `files`: households from a file (with heads and phones), the ledger to a file;
- `claim`: a villager linked to their household by the phone on file (#认领), the
  households nobody has claimed (#未认领); `phones`: reading and masking phones;
- `errors`: what the area refuses, as exception classes.

What other areas (rankings, dashboard, bulletins, bench, tests) use is re-exported here.
"""

from bot.points.balance import (
    Balance,
    Ranked,
    VillageActivity,
    balance,
    balance_detail,
    entries_of,
    reversals_of,
    top_households,
    village_activity,
    week_entries,
)
from bot.points.errors import NotWholePacks, PointsError, UnknownRule
from bot.points.ledger import (
    EXPIRY_KIND,
    KEEP,
    REVERSE,
    confirm,
    expire,
    object_to,
    record,
    reverse,
    review,
)
from bot.points.policy import Policy, Rule, find_rule, period_start, pick_rule, policy
from bot.points.shop import Redemption, Want, redeem, stock_good, unlist_good, village_goods
from bot.points.wording import day_text, entry_line, signed, status_label, what

__all__ = [
    "EXPIRY_KIND",
    "KEEP",
    "REVERSE",
    "Balance",
    "NotWholePacks",
    "PointsError",
    "Policy",
    "Ranked",
    "Redemption",
    "Rule",
    "UnknownRule",
    "VillageActivity",
    "Want",
    "balance",
    "balance_detail",
    "confirm",
    "day_text",
    "entries_of",
    "entry_line",
    "expire",
    "find_rule",
    "object_to",
    "period_start",
    "pick_rule",
    "policy",
    "record",
    "redeem",
    "reversals_of",
    "reverse",
    "review",
    "signed",
    "status_label",
    "stock_good",
    "unlist_good",
    "top_households",
    "village_activity",
    "village_goods",
    "week_entries",
    "what",
]
