//! Calendar events: list a window (calendarView, recurrences expanded), read one, create one.

use std::sync::Arc;

use jiff::{SignedDuration, civil::DateTime};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CALENDAR_VIEW, EVENT, EVENT_FIELDS, EventSummary, GEvent, time_zone, window};
use crate::{
    graph::{
        Endpoint, GraphRequest,
        odata::{Query, datetime_literal},
    },
    tools::{
        Tool, ToolContext, ToolError,
        m365::{M365Deps, bounded, invalid, model::recipients},
        typed::{TypedTool, typed},
    },
};

const EVENTS: Endpoint = Endpoint::new("/me/events");

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

    fn links(output: &EventList) -> Vec<rmcp::model::Resource> {
        let events = output.events.iter();
        events
            .filter_map(|e| crate::resources::link("calendar_get_event", &e.id, &e.subject))
            .collect()
    }
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

pub(super) fn civil(name: &str, s: &str) -> Result<DateTime, ToolError> {
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
pub struct GetArgs {
    /// The event's id (from calendar_list_events or meeting_brief).
    #[schemars(length(min = 1, max = 512))]
    pub id: String,
    /// Time zone for the returned times, IANA or Windows name (default `UTC`).
    pub time_zone: Option<String>,
}

pub struct GetEvent;

#[async_trait::async_trait]
impl TypedTool for GetEvent {
    type Deps = M365Deps;
    type Args = GetArgs;
    type Output = EventSummary;
    const NAME: &'static str = "calendar_get_event";
    const TITLE: &'static str = "Read a calendar event";
    const DESCRIPTION: &'static str = "Read one calendar event by id, in the time zone asked for: subject, start, \
        end, location, organizer, attendees with their responses, online meeting link and the start of the \
        invitation text.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: GetArgs,
    ) -> Result<(EventSummary, String), ToolError> {
        let tz = time_zone(a.time_zone.as_deref())?;
        let req = GraphRequest::get(EVENT, &[a.id.as_str()])?
            .query(Query::new().select(EVENT_FIELDS))
            .header("Prefer", format!("outlook.timezone=\"{tz}\""));
        let event: GEvent = deps.graph.send_as(ctx.into(), &req).await?;
        let e = EventSummary::from(event);
        let mut text = format!("{}\n{} – {} ({tz})", e.subject, e.start, e.end);
        if let Some(location) = &e.location {
            text.push_str(&format!("\nWhere: {location}"));
        }
        if let Some(organizer) = &e.organizer {
            text.push_str(&format!("\nOrganizer: {}", organizer.label()));
        }
        for attendee in &e.attendees {
            text.push_str(&format!(
                "\nAttendee: {} ({}, {})",
                attendee.person.label(),
                attendee.kind,
                attendee.response
            ));
        }
        if let Some(url) = &e.online_meeting_url {
            text.push_str(&format!("\nJoin: {url}"));
        }
        if !e.preview.is_empty() {
            text.push_str(&format!("\n\n{}", e.preview));
        }
        Ok((e, text))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ListEvents>(deps.clone()),
        typed::<GetEvent>(deps.clone()),
        typed::<CreateEvent>(deps.clone()),
    ]
}
