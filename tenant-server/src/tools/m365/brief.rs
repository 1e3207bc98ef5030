//! Meeting brief: for the next meeting (or a given event), who attends and what the user's
//! people data says of them, recent mail with them, and files they shared. Lookups go out as
//! `$batch`es in parallel; progress is reported as each part completes; cancellation is honoured.

use std::{future::Future, pin::Pin, sync::Arc};

use futures::{StreamExt, stream::FuturesUnordered};
use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    M365Deps, Tool, TypedTool, bounded,
    calendar::{CALENDAR_VIEW, EVENT, EVENT_FIELDS, EventSummary, GEvent},
    directory::{GPerson, PEOPLE, PEOPLE_FIELDS, RelevantPerson},
    mail::MESSAGES,
    model::{GMessage, MessageSummary},
    triage::cached,
    typed,
};
use crate::{
    graph::{
        BatchItem, BatchResponse, CacheKind, Endpoint, GraphError, GraphRequest,
        odata::{Query, datetime_literal, plain_address},
    },
    tools::{ToolContext, ToolError},
};

const SHARED_INSIGHTS: Endpoint = Endpoint::new("/me/insights/shared");

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

/// A finished part of the brief.
enum Part {
    People(Result<Vec<BatchResponse>, GraphError>),
    Mail(Result<Vec<BatchResponse>, GraphError>),
    Files(Result<Vec<Value>, GraphError>),
}

type PartFuture<'a> = Pin<Box<dyn Future<Output = Part> + Send + 'a>>;

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
        let event_req = match &a.event_id {
            Some(id) => GraphRequest::get(EVENT, &[id.as_str()])?.query(Query::new().select(EVENT_FIELDS)),
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
        }
        .header("Prefer", "outlook.timezone=\"UTC\"");
        let event_fut = async {
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
        let (profile, event) = tokio::join!(cached(deps, ctx, &[CacheKind::Profile]), event_fut);
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

        let me: Vec<String> = ["mail", "userPrincipalName"]
            .iter()
            .filter_map(|k| {
                profile
                    .get(&CacheKind::Profile)
                    .and_then(|p| p.get(*k))
                    .and_then(Value::as_str)
            })
            .map(str::to_lowercase)
            .collect();
        let mut gaps = Vec::new();
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
            if attendees.len() == max_attendees {
                gaps.push(format!("only the first {max_attendees} attendees are covered"));
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

        let people_items = attendees
            .iter()
            .enumerate()
            .map(|(i, x)| {
                Ok(BatchItem {
                    id: format!("p{i}"),
                    request: GraphRequest::get(PEOPLE, &[])?
                        .query(Query::new().search(&x.address).select(PEOPLE_FIELDS).top(1)),
                })
            })
            .collect::<Result<Vec<_>, GraphError>>()?;
        let mail_items = attendees
            .iter()
            .enumerate()
            .map(|(i, x)| {
                Ok(BatchItem {
                    id: format!("m{i}"),
                    request: GraphRequest::get(MESSAGES, &[])?.query(
                        Query::new()
                            .search(&format!("participants:{}", x.address))
                            .select(&[
                                "id",
                                "subject",
                                "from",
                                "receivedDateTime",
                                "bodyPreview",
                                "webLink",
                                "isRead",
                                "importance",
                                "hasAttachments",
                            ])
                            .top(per),
                    ),
                })
            })
            .collect::<Result<Vec<_>, GraphError>>()?;
        let files_req = GraphRequest::get(SHARED_INSIGHTS, &[])?.query(Query::new().top(50));

        let mut parts: FuturesUnordered<PartFuture<'_>> = FuturesUnordered::new();
        if !attendees.is_empty() {
            parts.push(Box::pin(async {
                Part::People(deps.graph.batch(ctx.into(), &people_items).await)
            }));
            parts.push(Box::pin(async {
                Part::Mail(deps.graph.batch(ctx.into(), &mail_items).await)
            }));
            parts.push(Box::pin(async {
                Part::Files(
                    deps.graph
                        .list::<Value>(ctx.into(), &files_req, 50)
                        .await
                        .map(|p| p.items),
                )
            }));
        }
        if attendees.is_empty() {
            ctx.report_progress(TOTAL_STEPS, Some(TOTAL_STEPS), "no other attendees")
                .await;
        }
        let mut files = Vec::new();
        let mut done = 1.0;
        while let Some(part) = parts.next().await {
            if ctx.cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            done += 1.0;
            let label = match part {
                Part::People(r) => {
                    for (i, answer) in answers(r, "people data", &mut gaps)?.into_iter().enumerate() {
                        match answer.into_result() {
                            Ok(v) => {
                                attendees[i].profile = v
                                    .get("value")
                                    .and_then(Value::as_array)
                                    .and_then(|a| a.first())
                                    .and_then(|p| serde_json::from_value::<GPerson>(p.clone()).ok())
                                    .map(RelevantPerson::from);
                            }
                            Err(e) => gaps.push(format!(
                                "people data for {}: {}",
                                attendees[i].address,
                                ToolError::from(e)
                            )),
                        }
                    }
                    "people data"
                }
                Part::Mail(r) => {
                    for (i, answer) in answers(r, "recent mail", &mut gaps)?.into_iter().enumerate() {
                        match answer.into_result() {
                            Ok(v) => {
                                attendees[i].recent_mail = v
                                    .get("value")
                                    .and_then(Value::as_array)
                                    .into_iter()
                                    .flatten()
                                    .filter_map(|m| serde_json::from_value::<GMessage>(m.clone()).ok())
                                    .map(MessageSummary::from)
                                    .collect();
                            }
                            Err(e) => gaps.push(format!(
                                "recent mail with {}: {}",
                                attendees[i].address,
                                ToolError::from(e)
                            )),
                        }
                    }
                    "recent mail"
                }
                Part::Files(r) => {
                    match r {
                        Ok(items) => files = shared_with(&items, &attendees),
                        Err(GraphError::Cancelled) => return Err(ToolError::Cancelled),
                        Err(e) => gaps.push(format!("shared files: {}", ToolError::from(e))),
                    }
                    "shared files"
                }
            };
            ctx.report_progress(done, Some(TOTAL_STEPS), &format!("{label} ready"))
                .await;
        }
        let mut text = format!(
            "{} — {} to {} ({})",
            meeting.subject, meeting.start, meeting.end, meeting.time_zone
        );
        for x in &attendees {
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

/// The answers of a batch, or a gap when the whole batch failed (cancellation propagates).
fn answers(
    r: Result<Vec<BatchResponse>, GraphError>,
    what: &str,
    gaps: &mut Vec<String>,
) -> Result<Vec<BatchResponse>, ToolError> {
    match r {
        Ok(a) => Ok(a),
        Err(GraphError::Cancelled) => Err(ToolError::Cancelled),
        Err(e) => {
            gaps.push(format!("{what}: {}", ToolError::from(e)));
            Ok(Vec::new())
        }
    }
}

/// Shared-insight items that an attendee shared with the user, newest first. (Graph's shared
/// insight does not say whom the user's own shares went to, so those are left out.)
fn shared_with(items: &[Value], attendees: &[AttendeeBrief]) -> Vec<SharedFile> {
    items
        .iter()
        .filter_map(|it| {
            let by = it
                .pointer("/lastShared/sharedBy/address")
                .and_then(Value::as_str)?
                .to_lowercase();
            let relevant = attendees.iter().any(|a| a.address == by);
            relevant.then(|| SharedFile {
                title: it
                    .pointer("/resourceVisualization/title")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                web_url: it
                    .pointer("/resourceReference/webUrl")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                shared_by: it
                    .pointer("/lastShared/sharedBy/displayName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or(by),
                shared_at: it
                    .pointer("/lastShared/sharedDateTime")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                kind: it
                    .pointer("/resourceVisualization/type")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        })
        .collect()
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![typed::<MeetingBrief>(deps.clone())]
}
