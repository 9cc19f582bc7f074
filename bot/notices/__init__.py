"""Notices: HQ broadcasts to every group in a scope, groups acknowledge with 收到.

Functions over a session; they never commit. A notice is one `Notice` row and one
`NoticeTarget` row per group it went to, and a `NoticeReader` row per person of a
group's audience (`audience`: its unit's role holders), each of whom acknowledges; where
a group has none, or the notice is 全员, the group's first 收到 is its acknowledgement.
The chases are a job per notice, keyed `notice:<id>`.

- `scope`: who may notify where, and the groups a scope names;
- `sending`: #通知 (`send_notice`), which also schedules the chases, and #通知 … 定时
  (`schedule_notice`);
- `acks`: 收到 (`acknowledge`);
- `receipts`: a notice's acknowledged and missing groups (#回执, the dashboard);
- `chases`: the chase job's times and what each run does;
- `overview`: the notices still open (the dashboard);
- `wording`: every text notices send; `files`: the spreadsheet export.
"""

from bot.notices.acks import Ack, acknowledge
from bot.notices.audience import audience
from bot.notices.chases import (
    CHASE_KIND,
    DueChase,
    chase_times,
    due_chase,
    job_key,
    mark_chased,
)
from bot.notices.files import export_notices
from bot.notices.overview import NoticeSummary, open_notices
from bot.notices.receipts import (
    GroupReceipt,
    NoNoticeNamed,
    NotYourNotice,
    Reader,
    Receipt,
    UnknownNotice,
    is_author,
    is_waiting,
    newest_waiting,
    percent,
    receipt_for,
    receipts,
    waiting_for,
)
from bot.notices.scope import (
    LOCAL,
    WHOLE,
    NoticeError,
    Scope,
    ScopeError,
    authority,
    may_notify,
    resolve_scope,
    split_head,
    target_rooms,
)
from bot.notices.sending import (
    MAX_PARTS,
    RESEND_WINDOW,
    AlreadySent,
    NotAllowed,
    NoTargets,
    Scheduled,
    Sent,
    TooLong,
    create_notice,
    recent_same,
    schedule_notice,
    send_notice,
)
from bot.notices.wording import (
    PROMPT,
    excerpt,
    format_parts,
    group_labels,
    join_capped,
    split_text,
)

__all__ = [
    "CHASE_KIND", "Reader", "audience", "mark_chased", "waiting_for", "LOCAL", "MAX_PARTS", "PROMPT", "RESEND_WINDOW", "WHOLE", "Ack",
    "AlreadySent", "DueChase", "GroupReceipt", "NoNoticeNamed", "NoTargets", "NotAllowed",
    "NotYourNotice", "NoticeError", "NoticeSummary", "Receipt", "Scheduled", "Scope", "ScopeError", "Sent",
    "TooLong", "UnknownNotice", "acknowledge", "authority", "chase_times", "create_notice",
    "due_chase", "excerpt", "export_notices", "format_parts", "group_labels", "is_author",
    "is_waiting", "job_key", "join_capped", "may_notify", "newest_waiting", "open_notices",
    "percent", "receipt_for", "receipts", "recent_same", "resolve_scope", "schedule_notice", "send_notice",
    "split_head", "split_text", "target_rooms",
]
