//! Meeting brief: for the next meeting (or a given event), who attends and what the user's
//! people data says of them, recent mail with them, and files they shared. Lookups go out as
//! `$batch`es in parallel; progress is reported as each part completes; cancellation is honoured.

mod gather;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    M365Deps, Tool, TypedTool, bounded,
    calendar::{CALENDAR_VIEW, EVENT, EVENT_FIELDS, EventSummary, GEvent},
    directory::RelevantPerson,
    model::MessageSummary,
    triage::cached,
    typed,
};
use crate::{
    graph::{
        CacheKind, GraphError, GraphRequest,
        odata::{Query, datetime_literal, plain_address},
    },
    tools::{ToolContext, ToolError},
};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BriefArgs {
    /// A calendar event id; default: the user's next meeting within 7 days.
    pub event_id: Option<String>,
    /// Recent messages per attendee (1-10, default 3).
    #[schemars(range(min = 1, max = 10))]
    pub mail_per_attendee: Option<u32>,
    /// Most attendees covered (1-10, default 8).
    #[schemars(range(min = 1, max = 10))]
    pub max_attendees: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AttendeeBrief {
    pub name: Option<String>,
    pub address: String,
    /// `required`, `optional`, `organizer`.
    pub role: String,
    pub response: String,
    /// What the user's people data says of them (absent when they are not among the user's people).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<RelevantPerson>,
    /// Recent mail with them, newest first.
    pub recent_mail: Vec<MessageSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SharedFile {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    pub shared_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Brief {
    /// The meeting (absent when there is no meeting in the next 7 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting: Option<EventSummary>,
    pub attendees: Vec<AttendeeBrief>,
    /// Files the attendees recently shared with the user.
    pub files: Vec<SharedFile>,
    /// Parts that could not be fetched, and why.
    pub gaps: Vec<String>,
}

pub struct MeetingBrief;

const TOTAL_STEPS: f64 = 4.0;

#[async_trait::async_trait]
impl TypedTool for MeetingBrief {
    type Deps = M365Deps;
    type Args = BriefArgs;
    type Output = Brief;
    const NAME: &'static str = "meeting_brief";
    const TITLE: &'static str = "Brief me for a meeting";
    const DESCRIPTION: &'static str = "Prepare the user for their next meeting (or the event id given): the \
        attendees and what the user's people data says of them, recent mail with each attendee, and files \
        they recently shared with the user. Reports progress while it gathers.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: BriefArgs) -> Result<(Brief, String), ToolError> {
        let per = bounded("mail_per_attendee", a.mail_per_attendee, 3, 10)?;
        let max_attendees = bounded("max_attendees", a.max_attendees, 8, 10)? as usize;
        let event_req = event_request(a.event_id.as_deref())?;
        let event = async {
            match &a.event_id {
                Some(_) => deps
                    .graph
                    .send_as::<GEvent>(ctx.into(), &event_req)
                    .await
                    .map(Some),
                None => deps
                    .graph
                    .list::<GEvent>(ctx.into(), &event_req, 1)
                    .await
                    .map(|p| p.items.into_iter().next()),
            }
        };
        let (profile, event) = tokio::join!(cached(deps, ctx, &[CacheKind::Profile]), event);
        let (profile, event) = (profile?, event?);
        let Some(event) = event else {
            ctx.report_progress(TOTAL_STEPS, Some(TOTAL_STEPS), "no meeting in the next 7 days")
                .await;
            let brief = Brief {
                meeting: None,
                attendees: vec![],
                files: vec![],
                gaps: vec![],
            };
            return Ok((brief, "No meeting in the next 7 days.".into()));
        };
        let meeting = EventSummary::from(event);
        ctx.report_progress(1.0, Some(TOTAL_STEPS), &format!("meeting: {}", meeting.subject))
            .await;
        let me = my_addresses(profile.get(&CacheKind::Profile).map(|p| p.as_ref()));
        let mut gaps = Vec::new();
        let mut attendees = attendees_of(&meeting, &me, max_attendees, &mut gaps);
        let files = if attendees.is_empty() {
            ctx.report_progress(TOTAL_STEPS, Some(TOTAL_STEPS), "no other attendees")
                .await;
            Vec::new()
        } else {
            gather::gather(deps, ctx, &mut attendees, per, &mut gaps).await?
        };
        let text = summary(&meeting, &attendees, &files, &gaps);
        Ok((
            Brief {
                meeting: Some(meeting),
                attendees,
                files,
                gaps,
            },
            text,
        ))
    }
}

/// The given event, or the calendar view that holds the next meeting within 7 days.
fn event_request(event_id: Option<&str>) -> Result<GraphRequest, GraphError> {
    let req = match event_id {
        Some(id) => GraphRequest::get(EVENT, &[id])?.query(Query::new().select(EVENT_FIELDS)),
        None => {
            let now = Timestamp::now();
            GraphRequest::get(CALENDAR_VIEW, &[])?.query(
                Query::new()
                    .param("startDateTime", datetime_literal(now))
                    .param(
                        "endDateTime",
                        datetime_literal(now + SignedDuration::from_hours(24 * 7)),
                    )
                    .select(EVENT_FIELDS)
                    .orderby("start/dateTime")
                    .top(1),
            )
        }
    };
    Ok(req.header("Prefer", "outlook.timezone=\"UTC\""))
}

/// The user's own addresses (lower case) from the cached profile.
fn my_addresses(profile: Option<&Value>) -> Vec<String> {
    ["mail", "userPrincipalName"]
        .iter()
        .filter_map(|k| profile.and_then(|p| p.get(*k)).and_then(Value::as_str))
        .map(str::to_lowercase)
        .collect()
}

/// The organizer and attendees other than the user, once each, with plain addresses, at most
/// `max`; what is left out is said in `gaps`.
fn attendees_of(
    meeting: &EventSummary,
    me: &[String],
    max: usize,
    gaps: &mut Vec<String>,
) -> Vec<AttendeeBrief> {
    let mut attendees: Vec<AttendeeBrief> = Vec::new();
    let organizer = meeting
        .organizer
        .iter()
        .map(|p| (p.clone(), "organizer".to_string(), "organizer".to_string()));
    let invited = meeting
        .attendees
        .iter()
        .map(|a| (a.person.clone(), a.kind.clone(), a.response.clone()));
    for (person, role, response) in organizer.chain(invited) {
        let Some(address) = person.address.as_deref().map(str::to_lowercase) else {
            continue;
        };
        if me.contains(&address) || attendees.iter().any(|x| x.address == address) {
            continue;
        }
        if plain_address(&address).is_err() {
            gaps.push(format!("skipped attendee with an unusual address: {address}"));
            continue;
        }
        if attendees.len() == max {
            gaps.push(format!("only the first {max} attendees are covered"));
            break;
        }
        attendees.push(AttendeeBrief {
            name: person.name,
            address,
            role,
            response,
            profile: None,
            recent_mail: vec![],
        });
    }
    attendees
}

/// The one-line-per-attendee summary of a brief.
fn summary(
    meeting: &EventSummary,
    attendees: &[AttendeeBrief],
    files: &[SharedFile],
    gaps: &[String],
) -> String {
    let mut text = format!(
        "{} — {} to {} ({})",
        meeting.subject, meeting.start, meeting.end, meeting.time_zone
    );
    for x in attendees {
        let job = x
            .profile
            .as_ref()
            .and_then(|p| p.job_title.clone())
            .unwrap_or_default();
        text.push_str(&format!(
            "\n- {} <{}> {} {}: {} recent message(s)",
            x.name.as_deref().unwrap_or(""),
            x.address,
            x.role,
            job,
            x.recent_mail.len()
        ));
    }
    text.push_str(&format!("\n{} shared file(s)", files.len()));
    if !gaps.is_empty() {
        text.push_str(&format!("\nGaps: {}", gaps.join("; ")));
    }
    text
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![typed::<MeetingBrief>(deps.clone())]
}
