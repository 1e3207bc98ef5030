//! Changing the calendar: update an event, cancel one (organizer), answer an invitation, and
//! the calendars the user can see.

use std::sync::Arc;

use jiff::SignedDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{EVENT, EventSummary, GEvent, events::civil, time_zone};
use crate::{
    graph::{Endpoint, GraphRequest, odata::Query},
    tools::{
        Tool, ToolContext, ToolError,
        m365::{M365Deps, bounded, invalid, model::recipients},
        typed::{TypedTool, typed},
    },
};

const CANCEL: Endpoint = Endpoint::new("/me/events/{id}/cancel");
const ACCEPT: Endpoint = Endpoint::new("/me/events/{id}/accept");
const TENTATIVE: Endpoint = Endpoint::new("/me/events/{id}/tentativelyAccept");
const DECLINE: Endpoint = Endpoint::new("/me/events/{id}/decline");
const CALENDARS: Endpoint = Endpoint::new("/me/calendars");

/// Longest note sent with a cancellation or a response.
const MAX_COMMENT_CHARS: usize = 4_000;

fn comment(c: &str) -> Result<&str, ToolError> {
    if c.chars().count() > MAX_COMMENT_CHARS {
        return Err(invalid(format!(
            "`comment`: at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    Ok(c)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// Id of the event (from calendar_list_events).
    pub id: String,
    pub subject: Option<String>,
    /// New local start date-time in `time_zone`, e.g. `2026-05-04T10:00:00` (give `end` too).
    pub start: Option<String>,
    /// New local end date-time in `time_zone`.
    pub end: Option<String>,
    /// IANA or Windows time zone of start and end (default `UTC`).
    pub time_zone: Option<String>,
    pub location: Option<String>,
    /// New agenda or description (plain text).
    pub body: Option<String>,
    /// Replace the required attendees with these addresses (optional attendees are kept by
    /// Outlook only if listed again in `optional_attendees`).
    #[schemars(length(max = 100))]
    pub attendees: Option<Vec<String>>,
    #[schemars(length(max = 100))]
    pub optional_attendees: Option<Vec<String>>,
}

pub struct UpdateEvent;

#[async_trait::async_trait]
impl TypedTool for UpdateEvent {
    type Deps = M365Deps;
    type Args = UpdateArgs;
    type Output = EventSummary;
    const NAME: &'static str = "calendar_update_event";
    const TITLE: &'static str = "Update calendar event";
    const DESCRIPTION: &'static str = "Change an event the user organizes: subject, time (start and end together, \
        local to time_zone), location, description or attendees. Attendees get an updated invitation; confirm \
        with the user first. Returns the event as it is now.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: UpdateArgs,
    ) -> Result<(EventSummary, String), ToolError> {
        let tz = time_zone(a.time_zone.as_deref())?;
        let mut patch = Map::new();
        if let Some(s) = &a.subject {
            patch.insert("subject".into(), json!(s));
        }
        match (&a.start, &a.end) {
            (Some(start), Some(end)) => {
                let (start, end) = (civil("start", start)?, civil("end", end)?);
                if end <= start {
                    return Err(invalid("`end` must be after `start`"));
                }
                if start.duration_until(end) > SignedDuration::from_hours(24 * 14) {
                    return Err(invalid("an event may last at most 14 days"));
                }
                patch.insert(
                    "start".into(),
                    json!({"dateTime": start.to_string(), "timeZone": tz}),
                );
                patch.insert("end".into(), json!({"dateTime": end.to_string(), "timeZone": tz}));
            }
            (None, None) => {}
            _ => return Err(invalid("give `start` and `end` together")),
        }
        if let Some(l) = &a.location {
            patch.insert("location".into(), json!({"displayName": l}));
        }
        if let Some(b) = &a.body {
            patch.insert("body".into(), json!({"contentType": "text", "content": b}));
        }
        if a.attendees.is_some() || a.optional_attendees.is_some() {
            let mut attendees = Vec::new();
            for (list, kind) in [(&a.attendees, "required"), (&a.optional_attendees, "optional")] {
                for mut r in recipients(list.as_deref().unwrap_or_default())? {
                    r["type"] = json!(kind);
                    attendees.push(r);
                }
            }
            if attendees.len() > 100 {
                return Err(invalid("at most 100 attendees"));
            }
            patch.insert("attendees".into(), Value::Array(attendees));
        }
        if patch.is_empty() {
            return Err(invalid(
                "give at least one of `subject`, `start`/`end`, `location`, `body`, `attendees`",
            ));
        }
        let req = GraphRequest::patch(EVENT, &[a.id.as_str()], Value::Object(patch))?
            .header("Prefer", format!("outlook.timezone=\"{tz}\""));
        let e: GEvent = deps.graph.send_as(ctx.into(), &req).await?;
        let s = EventSummary::from(e);
        let text = format!(
            "Updated \"{}\": {} to {} ({}).",
            s.subject, s.start, s.end, s.time_zone
        );
        Ok((s, text))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelArgs {
    /// Id of the event the user organizes.
    pub id: String,
    /// The note attendees get with the cancellation.
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CancelResult {
    pub cancelled: bool,
}

pub struct CancelEvent;

#[async_trait::async_trait]
impl TypedTool for CancelEvent {
    type Deps = M365Deps;
    type Args = CancelArgs;
    type Output = CancelResult;
    const NAME: &'static str = "calendar_cancel_event";
    const TITLE: &'static str = "Cancel a meeting";
    const DESCRIPTION: &'static str = "Cancel a meeting the user organizes: it leaves every calendar and attendees \
        get a cancellation with the comment. Only the organizer can cancel; an attendee declines instead \
        (calendar_respond_to_event). Confirm with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: CancelArgs,
    ) -> Result<(CancelResult, String), ToolError> {
        let req = GraphRequest::post(CANCEL, &[a.id.as_str()], json!({"comment": comment(&a.comment)?}))?;
        deps.graph.send(ctx.into(), &req).await?;
        Ok((
            CancelResult { cancelled: true },
            "Meeting cancelled; attendees are told.".into(),
        ))
    }
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    Accept,
    Tentative,
    Decline,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondArgs {
    /// Id of the event (an invitation in the user's calendar).
    pub id: String,
    /// `accept`, `tentative` or `decline`.
    pub response: Response,
    /// A note to the organizer.
    #[serde(default)]
    pub comment: String,
    /// Tell the organizer (default true).
    #[serde(default = "yes")]
    pub send_response: bool,
    /// With `tentative` or `decline`: propose another local start date-time in `time_zone`.
    pub proposed_start: Option<String>,
    /// The proposed local end date-time.
    pub proposed_end: Option<String>,
    /// IANA or Windows time zone of the proposed times (default `UTC`).
    pub time_zone: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RespondResult {
    /// `accepted`, `tentativelyAccepted` or `declined`.
    pub response: String,
    pub organizer_told: bool,
    pub proposed_new_time: bool,
}

pub struct RespondToEvent;

#[async_trait::async_trait]
impl TypedTool for RespondToEvent {
    type Deps = M365Deps;
    type Args = RespondArgs;
    type Output = RespondResult;
    const NAME: &'static str = "calendar_respond_to_event";
    const TITLE: &'static str = "Accept or decline a meeting";
    const DESCRIPTION: &'static str = "Answer a meeting invitation: accept, tentative or decline, with an optional \
        note, and (tentative or decline) an optional proposed new time. The organizer is told unless \
        send_response is false. Confirm with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: RespondArgs,
    ) -> Result<(RespondResult, String), ToolError> {
        let mut body = json!({"comment": comment(&a.comment)?, "sendResponse": a.send_response});
        let proposed = match (&a.proposed_start, &a.proposed_end) {
            (None, None) => false,
            (Some(start), Some(end)) => {
                if a.response == Response::Accept {
                    return Err(invalid(
                        "a new time can be proposed only with `tentative` or `decline`",
                    ));
                }
                if !a.send_response {
                    return Err(invalid(
                        "a proposed time reaches the organizer only with `send_response: true`",
                    ));
                }
                let tz = time_zone(a.time_zone.as_deref())?;
                let (start, end) = (civil("proposed_start", start)?, civil("proposed_end", end)?);
                if end <= start {
                    return Err(invalid("`proposed_end` must be after `proposed_start`"));
                }
                body["proposedNewTime"] = json!({
                    "start": {"dateTime": start.to_string(), "timeZone": tz},
                    "end": {"dateTime": end.to_string(), "timeZone": tz},
                });
                true
            }
            _ => return Err(invalid("give `proposed_start` and `proposed_end` together")),
        };
        let (endpoint, response) = match a.response {
            Response::Accept => (ACCEPT, "accepted"),
            Response::Tentative => (TENTATIVE, "tentativelyAccepted"),
            Response::Decline => (DECLINE, "declined"),
        };
        deps.graph
            .send(ctx.into(), &GraphRequest::post(endpoint, &[a.id.as_str()], body)?)
            .await?;
        let told = if a.send_response {
            "; the organizer is told"
        } else {
            ""
        };
        let text = format!("Response: {response}{told}.");
        Ok((
            RespondResult {
                response: response.into(),
                organizer_told: a.send_response,
                proposed_new_time: proposed,
            },
            text,
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListCalendarsArgs {
    /// Most calendars (1-100, default 50).
    #[schemars(range(min = 1, max = 100))]
    pub count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GCalendar {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    can_edit: bool,
    #[serde(default)]
    is_default_calendar: bool,
    #[serde(default)]
    owner: Option<crate::tools::m365::model::GEmail>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Calendar {
    pub id: String,
    pub name: String,
    /// The owner's address: the user's own calendars, or a colleague's shared with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub can_edit: bool,
    pub is_default: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CalendarList {
    pub calendars: Vec<Calendar>,
    pub more: bool,
}

pub struct ListCalendars;

#[async_trait::async_trait]
impl TypedTool for ListCalendars {
    type Deps = M365Deps;
    type Args = ListCalendarsArgs;
    type Output = CalendarList;
    const NAME: &'static str = "calendar_list_calendars";
    const TITLE: &'static str = "List calendars";
    const DESCRIPTION: &'static str = "List the calendars the user can see: their own and those colleagues shared \
        with them, with owner and whether the user may edit each.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ListCalendarsArgs,
    ) -> Result<(CalendarList, String), ToolError> {
        let count = bounded("count", a.count, 50, 100)?;
        let req = GraphRequest::get(CALENDARS, &[])?.query(
            Query::new()
                .select(&["id", "name", "canEdit", "isDefaultCalendar", "owner"])
                .top(count),
        );
        let page = deps
            .graph
            .list::<GCalendar>(ctx.into(), &req, count as usize)
            .await?;
        let calendars: Vec<Calendar> = page
            .items
            .into_iter()
            .map(|c| Calendar {
                id: c.id,
                name: c.name.unwrap_or_default(),
                owner: c.owner.and_then(|o| o.address),
                can_edit: c.can_edit,
                is_default: c.is_default_calendar,
            })
            .collect();
        let mut text = format!("{} calendar(s)", calendars.len());
        for c in &calendars {
            let owner = c.owner.as_deref().unwrap_or("?");
            let edit = if c.can_edit { "can edit" } else { "read only" };
            text.push_str(&format!("\n- {} ({owner}, {edit})", c.name));
        }
        Ok((
            CalendarList {
                calendars,
                more: page.more,
            },
            text,
        ))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<UpdateEvent>(deps.clone()),
        typed::<CancelEvent>(deps.clone()),
        typed::<RespondToEvent>(deps.clone()),
        typed::<ListCalendars>(deps.clone()),
    ]
}
