"""Reminders: a group's weekly meetings and one-off reminders (`group`), the built-in
monthly assessment reminder (`assessment`), and what they say (`wording`). Functions
over a session; they never commit. What runs when a reminder is due is the job kinds
in `bot/schedules/reminders.py`."""

from bot.reminders.assessment import (
    ASSESSED_LEVELS,
    ASSESSMENT,
    ASSESSMENT_KEY,
    AssessmentInfo,
    assessment_info,
    assessment_next_after,
    assessment_rooms,
    next_assessment,
    seed_assessment,
)
from bot.reminders.group import (
    DEFAULT_LEAD_MINUTES,
    MAX_LEAD_MINUTES,
    MEETING,
    ONEOFF,
    AlreadyCancelled,
    AlreadyReminded,
    InThePast,
    MeetingSet,
    MeetingSpec,
    MissedWhileDown,
    NoSuchReminder,
    Reminder,
    ReminderError,
    ReminderList,
    TooFarAhead,
    add_reminder,
    cancel_reminders,
    list_reminders,
    meeting_next_after,
    next_meeting,
    number,
    set_meeting,
    set_oneoff,
)

__all__ = [
    "ASSESSED_LEVELS", "ASSESSMENT", "ASSESSMENT_KEY", "DEFAULT_LEAD_MINUTES",
    "MAX_LEAD_MINUTES", "MEETING", "ONEOFF", "AlreadyCancelled", "AlreadyReminded",
    "AssessmentInfo", "InThePast", "MeetingSet", "MeetingSpec", "MissedWhileDown",
    "NoSuchReminder", "Reminder", "ReminderError", "ReminderList", "TooFarAhead",
    "add_reminder", "assessment_info", "assessment_next_after", "assessment_rooms",
    "cancel_reminders", "list_reminders", "meeting_next_after", "next_assessment",
    "next_meeting", "number", "seed_assessment", "set_meeting", "set_oneoff",
]
