//! Calendar: list and create events ([`events`]), find meeting times ([`find_times`]), update,
//! cancel, answer invitations and list calendars ([`manage`]); the
//! event shapes, windows and time zones they share are here.

mod events;
mod find_times;
mod manage;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    M365Deps, invalid,
    model::{GRecipient, Person},
};
use crate::{
    graph::Endpoint,
    tools::{Tool, ToolError},
};

pub(super) const CALENDAR_VIEW: Endpoint = Endpoint::new("/me/calendarView");
pub(super) const EVENT: Endpoint = Endpoint::new("/me/events/{id}");

/// Longest calendar window read or searched at once.
pub const MAX_WINDOW_DAYS: i64 = 31;

pub(crate) const EVENT_FIELDS: &[&str] = &[
    "id",
    "subject",
    "start",
    "end",
    "location",
    "organizer",
    "attendees",
    "isOnlineMeeting",
    "onlineMeeting",
    "webLink",
    "bodyPreview",
];

/// A time zone name for `Prefer: outlook.timezone` (IANA like `Europe/Berlin` or Windows like
/// `Pacific Standard Time`). Only safe header characters are accepted.
pub(crate) fn time_zone(tz: Option<&str>) -> Result<String, ToolError> {
    let tz = tz.unwrap_or("UTC").trim();
    let ok = !tz.is_empty()
        && tz.len() <= 64
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " /_+-.:()".contains(c));
    if ok {
        Ok(tz.to_string())
    } else {
        Err(invalid("`time_zone` is not a valid time zone name"))
    }
}

fn instant(name: &str, s: Option<&str>, default: Timestamp) -> Result<Timestamp, ToolError> {
    match s {
        None => Ok(default),
        Some(s) => s.parse().map_err(|e| {
            invalid(format!(
                "`{name}` must be RFC 3339 (e.g. 2026-05-04T09:00:00Z): {e}"
            ))
        }),
    }
}

/// `[start, end)` with `end > start` and at most [`MAX_WINDOW_DAYS`].
fn window(
    start: Option<&str>,
    end: Option<&str>,
    default_days: i64,
) -> Result<(Timestamp, Timestamp), ToolError> {
    let start = instant("start", start, Timestamp::now())?;
    let end = instant("end", end, start + SignedDuration::from_hours(24 * default_days))?;
    if end <= start {
        return Err(invalid("`end` must be after `start`"));
    }
    if end.duration_since(start) > SignedDuration::from_hours(24 * MAX_WINDOW_DAYS) {
        return Err(invalid(format!(
            "the window may span at most {MAX_WINDOW_DAYS} days"
        )));
    }
    Ok((start, end))
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GDateTime {
    #[serde(default)]
    pub date_time: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GAttendee {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<serde_json::Value>,
    #[serde(default)]
    pub email_address: super::model::GEmail,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GEvent {
    pub id: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub start: GDateTime,
    #[serde(default)]
    pub end: GDateTime,
    #[serde(default)]
    pub location: Option<serde_json::Value>,
    #[serde(default)]
    pub organizer: Option<GRecipient>,
    #[serde(default)]
    pub attendees: Vec<GAttendee>,
    #[serde(default)]
    pub online_meeting: Option<serde_json::Value>,
    #[serde(default)]
    pub web_link: Option<String>,
    #[serde(default)]
    pub body_preview: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Attendee {
    pub person: Person,
    /// `required`, `optional` or `resource`.
    pub kind: String,
    /// `accepted`, `declined`, `tentativelyAccepted`, `none`, ...
    pub response: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EventSummary {
    pub id: String,
    pub subject: String,
    /// Local date-time in `time_zone`.
    pub start: String,
    pub end: String,
    pub time_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizer: Option<Person>,
    pub attendees: Vec<Attendee>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_meeting_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_link: Option<String>,
    pub preview: String,
}

impl From<GEvent> for EventSummary {
    fn from(e: GEvent) -> Self {
        Self {
            id: e.id,
            subject: e.subject.unwrap_or_default(),
            start: e.start.date_time.unwrap_or_default(),
            end: e.end.date_time.unwrap_or_default(),
            time_zone: e.start.time_zone.unwrap_or_else(|| "UTC".into()),
            location: e
                .location
                .as_ref()
                .and_then(|l| l.get("displayName"))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            organizer: e.organizer.as_ref().map(Person::from),
            attendees: e
                .attendees
                .into_iter()
                .map(|a| Attendee {
                    person: Person {
                        name: a.email_address.name,
                        address: a.email_address.address,
                    },
                    kind: a.kind.unwrap_or_else(|| "required".into()),
                    response: a
                        .status
                        .as_ref()
                        .and_then(|s| s.get("response"))
                        .and_then(|v| v.as_str())
                        .unwrap_or("none")
                        .to_string(),
                })
                .collect(),
            online_meeting_url: e
                .online_meeting
                .as_ref()
                .and_then(|m| m.get("joinUrl"))
                .and_then(|v| v.as_str())
                .map(str::to_string),
            web_link: e.web_link,
            preview: e.body_preview.unwrap_or_default(),
        }
    }
}

/// The calendar tools.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    [events::tools, find_times::tools, manage::tools]
        .iter()
        .flat_map(|tools| tools(deps))
        .collect()
}
