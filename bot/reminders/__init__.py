"""Reminders: a group's meetings, one-off and repeating reminders (`group`), the built-in
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
    NOTICE,
    ONEOFF,
    REPEAT,
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
    add_repeating,
    cancel_reminders,
    list_reminders,
    meeting_next_after,
    next_meeting,
    next_number,
    number,
    repeat_next_after,
    set_meeting,
    set_oneoff,
)

__all__ = [
    "ASSESSED_LEVELS", "ASSESSMENT", "ASSESSMENT_KEY", "DEFAULT_LEAD_MINUTES",
    "MAX_LEAD_MINUTES", "MEETING", "NOTICE", "ONEOFF", "REPEAT", "AlreadyCancelled", "AlreadyReminded",
    "AssessmentInfo", "InThePast", "MeetingSet", "MeetingSpec", "MissedWhileDown",
    "NoSuchReminder", "Reminder", "ReminderError", "ReminderList", "TooFarAhead",
    "add_reminder", "add_repeating", "assessment_info", "assessment_next_after", "assessment_rooms",
    "cancel_reminders", "list_reminders", "meeting_next_after", "next_assessment",
    "next_meeting", "next_number", "number", "repeat_next_after", "seed_assessment", "set_meeting", "set_oneoff",
]
