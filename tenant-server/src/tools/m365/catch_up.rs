//! "Catch me up": what happened since a time, across sources: important unread mail (the
//! triage scoring), chat messages that mention the user or were sent to them directly, meetings
//! added, changed or cancelled, and tasks due. The sources are read in parallel, progress is
//! reported as each completes, a failed source leaves a gap instead of failing the call, and a
//! cancelled call stops them all. A source is read only where its own tool is offered to the
//! caller (a tenant without Teams, or a tier without the chat tools, reads no chats).

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

use futures::{StreamExt, stream::FuturesUnordered};
use jiff::{SignedDuration, Timestamp, ToSpan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    M365Deps, Tool, TypedTool, bounded,
    calendar::{CALENDAR_VIEW, EVENT_FIELDS, EventSummary, GEvent},
    invalid,
    model::GMessage,
    tasks::{Task, due_tasks},
    teams::{CHATS, GChat},
    text::html_to_text,
    triage::{SIGNAL_KINDS, TriagedMessage, cached, signals_of, triaged, unread_request},
    typed,
};
use crate::{
    graph::{
        BatchItem, CacheKind, Endpoint, GraphError, GraphRequest,
        odata::{Query, datetime_literal},
    },
    tools::{ToolContext, ToolError},
};

const CHAT_MESSAGES: Endpoint = Endpoint::new("/me/chats/{id}/messages");

/// How far back `since` may reach.
const MAX_LOOKBACK_DAYS: i64 = 14;
/// The default lookback when the user has no earlier sign-in on record.
const DEFAULT_LOOKBACK_HOURS: i64 = 24;
/// Unread messages scored.
const MAIL_SCAN: u32 = 200;
/// Chats looked into (the most recently active), and messages read of each.
const CHATS_SCANNED: u32 = 10;
const MESSAGES_PER_CHAT: u32 = 20;
/// Meetings looked at: the next days' calendar.
const MEETING_DAYS: i64 = 7;
const SOURCES: f64 = 4.0;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatchUpArgs {
    /// Since when (RFC 3339, at most 14 days ago). Default: the user's previous sign-in to this
    /// server, or 24 hours ago.
    pub since: Option<String>,
    /// Most items per section (1-20, default 10).
    #[schemars(range(min = 1, max = 20))]
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChatMention {
    pub chat_id: String,
    /// The chat's topic, or `direct message`.
    pub chat: String,
    pub from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    pub text: String,
    /// `mentioned you` or `direct message`.
    pub why: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MeetingChange {
    /// `added`, `changed` or `cancelled`.
    pub change: String,
    pub meeting: EventSummary,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CatchUp {
    /// The start of the period covered (RFC 3339).
    pub since: String,
    /// Important unread mail received since, most important first.
    pub mail: Vec<TriagedMessage>,
    /// Chat messages since that mention the user or were sent to them directly, newest first.
    pub chats: Vec<ChatMention>,
    /// Meetings of the next 7 days added, changed or cancelled since.
    pub meetings: Vec<MeetingChange>,
    /// Open tasks of the default list due by tomorrow (overdue first).
    pub tasks: Vec<Task>,
    /// Sources that failed, and why; the other sections are complete.
    pub gaps: Vec<String>,
    /// Sources not read because their tools are not offered to the user.
    pub skipped: Vec<String>,
}

/// One finished source.
enum Part {
    Mail(Result<Vec<TriagedMessage>, ToolError>),
    Chats(Result<Vec<ChatMention>, ToolError>),
    Meetings(Result<Vec<MeetingChange>, ToolError>),
    Tasks(Result<Vec<Task>, ToolError>),
}

type PartFuture<'a> = Pin<Box<dyn Future<Output = Part> + Send + 'a>>;

/// The user's cached Graph answers, by kind.
type SignalMap = HashMap<CacheKind, Arc<Value>>;

pub struct CatchMeUp;

#[async_trait::async_trait]
impl TypedTool for CatchMeUp {
    type Deps = M365Deps;
    type Args = CatchUpArgs;
    type Output = CatchUp;

    fn links(output: &CatchUp) -> Vec<rmcp::model::Resource> {
        let mail = output.mail.iter().map(|m| (m.id.as_str(), m.subject.as_str()));
        super::mail::message_links(mail)
    }
    const NAME: &'static str = "catch_me_up";
    const TITLE: &'static str = "Catch me up";
    const DESCRIPTION: &'static str = "Tell the user what happened since a time (default: their previous sign-in, \
        or the last 24 hours): important unread mail ranked by the triage scoring, chat messages that mention \
        them or were sent to them directly, meetings of the next 7 days added, changed or cancelled, and tasks \
        due by tomorrow. Reports progress per source; a source that fails is listed in gaps and the rest is \
        still returned.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: CatchUpArgs) -> Result<(CatchUp, String), ToolError> {
        let count = bounded("count", a.count, 10, 20)? as usize;
        let now = Timestamp::now();
        let since = match a.since.as_deref() {
            Some(s) => s.parse::<Timestamp>().map_err(|e| {
                invalid(format!(
                    "`since` must be RFC 3339 (e.g. 2026-05-04T09:00:00Z): {e}"
                ))
            })?,
            None => match &deps.sign_ins {
                Some(s) => s.previous_sign_in(&ctx.caller).await,
                None => None,
            }
            .unwrap_or(now - SignedDuration::from_hours(DEFAULT_LOOKBACK_HOURS)),
        };
        if since > now {
            return Err(invalid("`since` is in the future"));
        }
        let since = since.max(now - SignedDuration::from_hours(24 * MAX_LOOKBACK_DAYS));

        let mut out = CatchUp {
            since: since.to_string(),
            mail: Vec::new(),
            chats: Vec::new(),
            meetings: Vec::new(),
            tasks: Vec::new(),
            gaps: Vec::new(),
            skipped: Vec::new(),
        };
        // The user's signals (who they are, their manager, people and sent mail), cached per
        // user: mail is scored with them and chats searched for the user's mentions.
        let signals = match cached(deps, ctx, &SIGNAL_KINDS).await {
            Ok(s) => Some(s),
            Err(ToolError::Cancelled) => return Err(ToolError::Cancelled),
            Err(e) => {
                out.gaps
                    .push(format!("mail and chats: your profile could not be read: {e}"));
                None
            }
        };
        let signals = signals.as_ref();
        let mut parts: FuturesUnordered<PartFuture<'_>> = FuturesUnordered::new();
        let mut done = 0.0;
        if let Some(signals) = signals {
            parts.push(Box::pin(async move {
                Part::Mail(important_mail(deps, ctx, signals, since, count).await)
            }));
        } else {
            done += 1.0;
        }
        for (source, tool) in [
            ("chats", "teams_read_chat"),
            ("meetings", "calendar_list_events"),
            ("tasks", "tasks_list_tasks"),
        ] {
            if !deps.policy.allows(&ctx.caller, tool) {
                out.skipped
                    .push(format!("{source}: {tool} is not offered to you"));
                done += 1.0;
                continue;
            }
            parts.push(match (source, signals) {
                ("chats", Some(signals)) => {
                    Box::pin(
                        async move { Part::Chats(chat_mentions(deps, ctx, signals, since, count).await) },
                    )
                }
                ("chats", None) => {
                    done += 1.0;
                    continue;
                }
                ("meetings", _) => {
                    Box::pin(
                        async move { Part::Meetings(meeting_changes(deps, ctx, since, now, count).await) },
                    )
                }
                _ => Box::pin(async move { Part::Tasks(tasks_due(deps, ctx, now, count).await) }),
            });
        }
        while let Some(part) = parts.next().await {
            done += 1.0;
            let (source, message) = match part {
                Part::Mail(r) => (
                    "mail",
                    keep(r, &mut out.mail).map(|n| format!("{n} important unread message(s)")),
                ),
                Part::Chats(r) => (
                    "chats",
                    keep(r, &mut out.chats).map(|n| format!("{n} chat message(s) for you")),
                ),
                Part::Meetings(r) => (
                    "meetings",
                    keep(r, &mut out.meetings).map(|n| format!("{n} meeting change(s)")),
                ),
                Part::Tasks(r) => (
                    "tasks",
                    keep(r, &mut out.tasks).map(|n| format!("{n} task(s) due")),
                ),
            };
            let message = match message {
                Ok(m) => m,
                Err(ToolError::Cancelled) => return Err(ToolError::Cancelled),
                Err(e) => {
                    out.gaps.push(format!("{source}: {e}"));
                    format!("{source} unavailable")
                }
            };
            ctx.report_progress(done, Some(SOURCES), &format!("{source}: {message}"))
                .await;
        }
        let text = summary(&out);
        Ok((out, text))
    }
}

/// Moves a source's items into its section; how many.
fn keep<T>(r: Result<Vec<T>, ToolError>, into: &mut Vec<T>) -> Result<usize, ToolError> {
    let items = r?;
    let n = items.len();
    *into = items;
    Ok(n)
}

/// Unread inbox mail received since, ranked by the triage scoring; only mail that scores.
async fn important_mail(
    deps: &M365Deps,
    ctx: &ToolContext,
    signals: &SignalMap,
    since: Timestamp,
    count: usize,
) -> Result<Vec<TriagedMessage>, ToolError> {
    let req = unread_request(since, MAIL_SCAN)?;
    let unread = deps
        .graph
        .list::<GMessage>(ctx.into(), &req, MAIL_SCAN as usize)
        .await?;
    let mut mail = triaged(&unread.items, &signals_of(signals), count);
    mail.retain(|m| m.score > 0);
    Ok(mail)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GChatMessage {
    #[serde(default)]
    message_type: Option<String>,
    #[serde(default)]
    created_date_time: Option<String>,
    #[serde(default)]
    from: Option<Value>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    mentions: Vec<Value>,
}

/// Messages since in the most recently active chats that mention the user (by object id or
/// display name) or were written to them in a one-on-one chat, newest first.
async fn chat_mentions(
    deps: &M365Deps,
    ctx: &ToolContext,
    signals: &SignalMap,
    since: Timestamp,
    count: usize,
) -> Result<Vec<ChatMention>, ToolError> {
    let chats_req = GraphRequest::get(CHATS, &[])?.query(
        Query::new()
            .expand("lastMessagePreview")
            .orderby("lastMessagePreview/createdDateTime desc")
            .top(CHATS_SCANNED),
    );
    let chats = deps
        .graph
        .list::<GChat>(ctx.into(), &chats_req, CHATS_SCANNED as usize)
        .await?;
    let me = signals
        .get(&CacheKind::Profile)
        .map(|p| p.as_ref().clone())
        .unwrap_or(Value::Null);
    let my_id = me["id"].as_str().unwrap_or_default().to_owned();
    let my_name = me["displayName"].as_str().unwrap_or_default().to_owned();
    let since_text = since.to_string();
    let active: Vec<GChat> = chats
        .items
        .into_iter()
        .filter(|c| {
            c.last_message_preview
                .as_ref()
                .and_then(|p| p.created_date_time.as_deref())
                .is_some_and(|t| t >= since_text.as_str())
        })
        .collect();
    if active.is_empty() {
        return Ok(Vec::new());
    }
    let items = active
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(BatchItem {
                id: i.to_string(),
                request: GraphRequest::get(CHAT_MESSAGES, &[c.id.as_str()])?
                    .query(Query::new().top(MESSAGES_PER_CHAT)),
            })
        })
        .collect::<Result<Vec<_>, GraphError>>()?;
    let answers = deps.graph.batch(ctx.into(), &items).await?;
    let mut found = Vec::new();
    for (chat, answer) in active.iter().zip(answers) {
        let body = answer.into_result()?;
        let messages: Vec<GChatMessage> = serde_json::from_value(body["value"].clone())
            .map_err(|e| GraphError::Malformed(format!("chat messages: {e}")))?;
        let direct = chat.chat_type.as_deref() == Some("oneOnOne");
        for m in messages {
            let sent = m.created_date_time.clone();
            if m.message_type.as_deref().is_some_and(|t| t != "message")
                || sent.as_deref().is_none_or(|t| t < since_text.as_str())
            {
                continue;
            }
            let from_user = m.from.as_ref().and_then(|f| f.get("user"));
            let from_id = from_user.and_then(|u| u["id"].as_str()).unwrap_or_default();
            let from = from_user
                .and_then(|u| u["displayName"].as_str())
                .unwrap_or("(unknown)");
            if (!my_id.is_empty() && from_id == my_id) || from == my_name {
                continue;
            }
            let mentioned = m.mentions.iter().any(|x| {
                let user = &x["mentioned"]["user"];
                (!my_id.is_empty() && user["id"] == my_id.as_str()) || user["displayName"] == my_name.as_str()
            });
            if !mentioned && !direct {
                continue;
            }
            let content = m
                .body
                .as_ref()
                .and_then(|b| b["content"].as_str())
                .unwrap_or_default();
            let text = if m.body.as_ref().is_some_and(|b| b["contentType"] == "html") {
                html_to_text(content)
            } else {
                content.to_owned()
            };
            found.push(ChatMention {
                chat_id: chat.id.clone(),
                chat: chat
                    .topic
                    .clone()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "direct message".into()),
                from: from.to_owned(),
                sent,
                text: text.trim().chars().take(500).collect(),
                why: if mentioned {
                    "mentioned you"
                } else {
                    "direct message"
                }
                .into(),
            });
        }
    }
    found.sort_by(|a, b| b.sent.cmp(&a.sent));
    found.truncate(count);
    Ok(found)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GStamps {
    #[serde(default)]
    created_date_time: Option<String>,
    #[serde(default)]
    last_modified_date_time: Option<String>,
    #[serde(default)]
    is_cancelled: bool,
}

/// Meetings of the next days created, changed or cancelled since, soonest first.
async fn meeting_changes(
    deps: &M365Deps,
    ctx: &ToolContext,
    since: Timestamp,
    now: Timestamp,
    count: usize,
) -> Result<Vec<MeetingChange>, ToolError> {
    let mut fields = EVENT_FIELDS.to_vec();
    fields.extend(["createdDateTime", "lastModifiedDateTime", "isCancelled"]);
    let req = GraphRequest::get(CALENDAR_VIEW, &[])?
        .query(
            Query::new()
                .param("startDateTime", datetime_literal(now))
                .param(
                    "endDateTime",
                    datetime_literal(now + SignedDuration::from_hours(24 * MEETING_DAYS)),
                )
                .select(&fields)
                .orderby("start/dateTime")
                .top(100),
        )
        .header("Prefer", "outlook.timezone=\"UTC\"");
    let page = deps.graph.list::<Value>(ctx.into(), &req, 100).await?;
    let since_ts = since;
    let after = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .is_some_and(|t| t >= since_ts)
    };
    let mut changes = Vec::new();
    for v in page.items {
        let stamps: GStamps = serde_json::from_value(v.clone())
            .map_err(|e| GraphError::Malformed(format!("calendar view: {e}")))?;
        let change = if stamps.is_cancelled && after(&stamps.last_modified_date_time) {
            "cancelled"
        } else if after(&stamps.created_date_time) {
            "added"
        } else if after(&stamps.last_modified_date_time) {
            "changed"
        } else {
            continue;
        };
        let event: GEvent =
            serde_json::from_value(v).map_err(|e| GraphError::Malformed(format!("calendar view: {e}")))?;
        changes.push(MeetingChange {
            change: change.into(),
            meeting: EventSummary::from(event),
        });
        if changes.len() == count {
            break;
        }
    }
    Ok(changes)
}

/// Open tasks of the default list due by tomorrow.
async fn tasks_due(
    deps: &M365Deps,
    ctx: &ToolContext,
    now: Timestamp,
    count: usize,
) -> Result<Vec<Task>, ToolError> {
    let tomorrow = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .saturating_add(1.day());
    let mut tasks = due_tasks(deps, ctx, tomorrow).await?;
    tasks.truncate(count);
    Ok(tasks)
}

fn summary(c: &CatchUp) -> String {
    let mut text = format!("Since {}:", c.since);
    text.push_str(&format!("\n{} important unread message(s)", c.mail.len()));
    for m in &c.mail {
        text.push_str(&format!(
            "\n- [{}] {} — {} ({})",
            m.score,
            m.subject,
            m.from.label(),
            m.reasons.join("; ")
        ));
    }
    text.push_str(&format!("\n{} chat message(s) for you", c.chats.len()));
    for m in &c.chats {
        text.push_str(&format!("\n- {} in {} ({}): {}", m.from, m.chat, m.why, m.text));
    }
    text.push_str(&format!("\n{} meeting change(s)", c.meetings.len()));
    for m in &c.meetings {
        text.push_str(&format!(
            "\n- {}: {} at {} UTC",
            m.change, m.meeting.subject, m.meeting.start
        ));
    }
    text.push_str(&format!("\n{} task(s) due by tomorrow", c.tasks.len()));
    for t in &c.tasks {
        text.push_str(&format!(
            "\n- {} (due {})",
            t.title,
            t.due.as_deref().unwrap_or("?")
        ));
    }
    for g in &c.gaps {
        text.push_str(&format!("\nUnavailable: {g}"));
    }
    for s in &c.skipped {
        text.push_str(&format!("\nSkipped: {s}"));
    }
    text
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![typed::<CatchMeUp>(deps.clone())]
}
