//! Calendar: list events (calendarView), create events, find meeting times.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp, civil::DateTime};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    M365Deps, Tool, TypedTool, bounded, invalid,
    model::{GRecipient, Person, recipients},
    typed,
};
use crate::{
    graph::{
        Endpoint, GraphError, GraphRequest,
        odata::{Query, datetime_literal},
    },
    tools::{ToolContext, ToolError},
};

pub(super) const CALENDAR_VIEW: Endpoint = Endpoint::new("/me/calendarView");
pub(super) const EVENT: Endpoint = Endpoint::new("/me/events/{id}");
const EVENTS: Endpoint = Endpoint::new("/me/events");
const FIND_MEETING_TIMES: Endpoint = Endpoint::new("/me/findMeetingTimes");

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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Window start, RFC 3339 (default: now).
    pub start: Option<String>,
    /// Window end, RFC 3339 (default: start + 7 days; at most 31 days after start).
    pub end: Option<String>,
    /// Time zone for the returned times, IANA or Windows name (default `UTC`).
    pub time_zone: Option<String>,
    /// Most events (1-50, default 20).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EventList {
    pub events: Vec<EventSummary>,
    pub more: bool,
}

pub struct ListEvents;

#[async_trait::async_trait]
impl TypedTool for ListEvents {
    type Deps = M365Deps;
    type Args = ListArgs;
    type Output = EventList;
    const NAME: &'static str = "calendar_list_events";
    const TITLE: &'static str = "List calendar events";
    const DESCRIPTION: &'static str = "List the user's calendar events (recurring ones expanded) in a time window \
        of at most 31 days (default: the next 7 days), in the time zone asked for. Returns subject, start, end, \
        location, organizer, attendees and online meeting link.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: ListArgs) -> Result<(EventList, String), ToolError> {
        let count = bounded("count", a.count, 20, 50)?;
        let (start, end) = window(a.start.as_deref(), a.end.as_deref(), 7)?;
        let tz = time_zone(a.time_zone.as_deref())?;
        let req = GraphRequest::get(CALENDAR_VIEW, &[])?
            .query(
                Query::new()
                    .param("startDateTime", datetime_literal(start))
                    .param("endDateTime", datetime_literal(end))
                    .select(EVENT_FIELDS)
                    .orderby("start/dateTime")
                    .top(count),
            )
            .header("Prefer", format!("outlook.timezone=\"{tz}\""));
        let page = deps
            .graph
            .list::<GEvent>(ctx.into(), &req, count as usize)
            .await?;
        let list = EventList {
            events: page.items.into_iter().map(EventSummary::from).collect(),
            more: page.more,
        };
        let mut text = format!("{} event(s) ({tz})", list.events.len());
        for e in &list.events {
            text.push_str(&format!(
                "\n- {} – {} | {} | id {}",
                e.start, e.end, e.subject, e.id
            ));
        }
        Ok((list, text))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    pub subject: String,
    /// Local start date-time in `time_zone`, e.g. `2026-05-04T09:30:00`.
    pub start: String,
    /// Local end date-time in `time_zone`.
    pub end: String,
    /// IANA or Windows time zone of start and end (default `UTC`).
    pub time_zone: Option<String>,
    /// Required attendees' addresses.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub attendees: Vec<String>,
    /// Optional attendees' addresses.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub optional_attendees: Vec<String>,
    pub location: Option<String>,
    /// Agenda or description (plain text).
    pub body: Option<String>,
    /// Add a Microsoft Teams meeting link.
    #[serde(default)]
    pub online_meeting: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedEvent {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_meeting_url: Option<String>,
}

fn civil(name: &str, s: &str) -> Result<DateTime, ToolError> {
    s.trim_end_matches('Z').parse::<DateTime>().map_err(|e| {
        invalid(format!(
            "`{name}` must be a local date-time like 2026-05-04T09:30:00: {e}"
        ))
    })
}

pub struct CreateEvent;

#[async_trait::async_trait]
impl TypedTool for CreateEvent {
    type Deps = M365Deps;
    type Args = CreateArgs;
    type Output = CreatedEvent;
    const NAME: &'static str = "calendar_create_event";
    const TITLE: &'static str = "Create calendar event";
    const DESCRIPTION: &'static str = "Create an event in the user's calendar and send invitations to the attendees, \
        optionally with a Teams meeting link. Times are local to time_zone. Confirm with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: CreateArgs,
    ) -> Result<(CreatedEvent, String), ToolError> {
        let tz = time_zone(a.time_zone.as_deref())?;
        let (start, end) = (civil("start", &a.start)?, civil("end", &a.end)?);
        if end <= start {
            return Err(invalid("`end` must be after `start`"));
        }
        if start.duration_until(end) > SignedDuration::from_hours(24 * 14) {
            return Err(invalid("an event may last at most 14 days"));
        }
        let mut attendees = Vec::new();
        for (list, kind) in [(&a.attendees, "required"), (&a.optional_attendees, "optional")] {
            for mut r in recipients(list)? {
                r["type"] = json!(kind);
                attendees.push(r);
            }
        }
        let mut body = json!({
            "subject": a.subject,
            "start": {"dateTime": start.to_string(), "timeZone": tz},
            "end": {"dateTime": end.to_string(), "timeZone": tz},
            "attendees": attendees,
            "isOnlineMeeting": a.online_meeting,
        });
        if a.online_meeting {
            body["onlineMeetingProvider"] = json!("teamsForBusiness");
        }
        if let Some(l) = &a.location {
            body["location"] = json!({"displayName": l});
        }
        if let Some(b) = &a.body {
            body["body"] = json!({"contentType": "text", "content": b});
        }
        let req = GraphRequest::post(EVENTS, &[], body)?;
        let e: GEvent = deps.graph.send_as(ctx.into(), &req).await?;
        let s = EventSummary::from(e);
        let text = format!("Created \"{}\" (id {}).", a.subject, s.id);
        Ok((
            CreatedEvent {
                id: s.id,
                web_link: s.web_link,
                online_meeting_url: s.online_meeting_url,
            },
            text,
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindArgs {
    /// Addresses of the people who must attend.
    #[schemars(length(min = 1, max = 20))]
    pub attendees: Vec<String>,
    /// Meeting length in minutes (15-480).
    #[schemars(range(min = 15, max = 480))]
    pub duration_minutes: u32,
    /// Search window start, RFC 3339 (default now).
    pub start: Option<String>,
    /// Search window end, RFC 3339 (default start + 7 days; at most 31 days).
    pub end: Option<String>,
    /// Most suggestions (1-20, default 5).
    #[schemars(range(min = 1, max = 20))]
    pub max_candidates: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Availability {
    pub address: String,
    /// `free`, `tentative`, `busy`, `oof`, `unknown`.
    pub availability: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Suggestion {
    /// UTC date-time.
    pub start: String,
    pub end: String,
    pub confidence: f64,
    pub attendees: Vec<Availability>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Suggestions {
    pub suggestions: Vec<Suggestion>,
    /// Why there are none, when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_reason: Option<String>,
}

pub struct FindMeetingTimes;

#[async_trait::async_trait]
impl TypedTool for FindMeetingTimes {
    type Deps = M365Deps;
    type Args = FindArgs;
    type Output = Suggestions;
    const NAME: &'static str = "calendar_find_meeting_times";
    const TITLE: &'static str = "Find meeting times";
    const DESCRIPTION: &'static str = "Suggest times when the user and the given attendees are free for a meeting \
        of the given length within a window (default: the next 7 days, at most 31). Does not book anything.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: FindArgs,
    ) -> Result<(Suggestions, String), ToolError> {
        if a.attendees.is_empty() || a.attendees.len() > 20 {
            return Err(invalid("`attendees` must list 1 to 20 addresses"));
        }
        if !(15..=480).contains(&a.duration_minutes) {
            return Err(invalid("`duration_minutes` must be between 15 and 480"));
        }
        let max = bounded("max_candidates", a.max_candidates, 5, 20)?;
        let (start, end) = window(a.start.as_deref(), a.end.as_deref(), 7)?;
        let mut attendees = recipients(&a.attendees)?;
        for r in &mut attendees {
            r["type"] = json!("required");
        }
        let utc = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
        let body = json!({
            "attendees": attendees,
            "timeConstraint": {
                "activityDomain": "work",
                "timeSlots": [{"start": {"dateTime": utc(start), "timeZone": "UTC"}, "end": {"dateTime": utc(end), "timeZone": "UTC"}}],
            },
            "meetingDuration": format!("PT{}H{}M", a.duration_minutes / 60, a.duration_minutes % 60),
            "maxCandidates": max,
            "returnSuggestionReasons": true,
        });
        let req = GraphRequest::post(FIND_MEETING_TIMES, &[], body)?;
        let v: serde_json::Value = deps.graph.send(ctx.into(), &req).await?;
        let suggestions: Vec<Suggestion> = v
            .get("meetingTimeSuggestions")
            .and_then(|s| s.as_array())
            .ok_or_else(|| {
                ToolError::from(GraphError::Malformed(
                    "findMeetingTimes returned no suggestions array".into(),
                ))
            })?
            .iter()
            .map(|s| Suggestion {
                start: s
                    .pointer("/meetingTimeSlot/start/dateTime")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .into(),
                end: s
                    .pointer("/meetingTimeSlot/end/dateTime")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .into(),
                confidence: s.get("confidence").and_then(|v| v.as_f64()).unwrap_or(0.0),
                attendees: s
                    .get("attendeeAvailability")
                    .and_then(|v| v.as_array())
                    .map(|list| {
                        list.iter()
                            .map(|x| Availability {
                                address: x
                                    .pointer("/attendee/emailAddress/address")
                                    .and_then(|v| v.as_str())
                                    .unwrap_or("")
                                    .into(),
                                availability: x
                                    .get("availability")
                                    .and_then(|v| v.as_str())
                                    .unwrap_or("unknown")
                                    .into(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let empty_reason = v
            .get("emptySuggestionsReason")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty() && suggestions.is_empty())
            .map(str::to_string);
        let mut text = format!("{} suggestion(s) (UTC)", suggestions.len());
        for s in &suggestions {
            text.push_str(&format!("\n- {} – {}", s.start, s.end));
        }
        if let Some(r) = &empty_reason {
            text.push_str(&format!(" — {r}"));
        }
        Ok((
            Suggestions {
                suggestions,
                empty_reason,
            },
            text,
        ))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ListEvents>(deps.clone()),
        typed::<CreateEvent>(deps.clone()),
        typed::<FindMeetingTimes>(deps.clone()),
    ]
}
