//! Inbox triage: unread mail ranked by signals specific to the user, each score explained.
//! The scoring ([`score`]) is a pure function of the message and the user's signals
//! ([`signals`], cached per user).

mod score;
mod signals;

use std::{collections::HashMap, sync::Arc};

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use score::{Scored, Signals, TriageMessage, score_message};
pub(super) use signals::cached;

use self::score::rank;
use super::{
    M365Deps, Tool, TypedTool, bounded,
    mail::MESSAGES_OF_FOLDER,
    model::{GMessage, Person},
    typed,
};
use crate::{
    graph::{
        CacheKind, GraphError, GraphRequest,
        odata::{Filter, Query},
    },
    tools::{ToolContext, ToolError},
};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageArgs {
    /// How many of the most important messages to return (1-50, default 10).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
    /// How many unread inbox messages to analyse, newest first (1-500, default 200).
    #[schemars(range(min = 1, max = 500))]
    pub scan: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TriagedMessage {
    pub id: String,
    pub subject: String,
    pub from: Person,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    pub score: i32,
    /// Why it scored so, with the points of each reason.
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_link: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TriageResult {
    /// Unread messages analysed.
    pub analysed: usize,
    /// More unread messages exist than were analysed.
    pub more_unread: bool,
    /// Most important first.
    pub messages: Vec<TriagedMessage>,
}

pub struct InboxTriage;

#[async_trait::async_trait]
impl TypedTool for InboxTriage {
    type Deps = M365Deps;
    type Args = TriageArgs;
    type Output = TriageResult;

    fn links(output: &TriageResult) -> Vec<rmcp::model::Resource> {
        super::mail::message_links(
            output
                .messages
                .iter()
                .map(|m| (m.id.as_str(), m.subject.as_str())),
        )
    }
    const NAME: &'static str = "inbox_triage";
    const TITLE: &'static str = "Triage unread mail";
    const DESCRIPTION: &'static str = "Rank the user's unread inbox mail by what matters to this user: mail from \
        their manager or people they often write to, sent directly to them, flagged or high importance, \
        @-mentions, deadline words, and threads they take part in. Each result explains its score.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: TriageArgs,
    ) -> Result<(TriageResult, String), ToolError> {
        let count = bounded("count", a.count, 10, 50)?;
        let scan = bounded("scan", a.scan, 200, 500)?;
        let unread_req = unread_request(Timestamp::UNIX_EPOCH, scan.min(250))?;
        let (signals, unread) = tokio::join!(
            cached(deps, ctx, &SIGNAL_KINDS),
            deps.graph
                .list::<GMessage>(ctx.into(), &unread_req, scan as usize)
        );
        let (signals, unread) = (signals?, unread?);
        let messages = triaged(&unread.items, &signals_of(&signals), count as usize);
        let inputs = &unread.items;
        let mut text = format!("{} unread analysed; most important first:", inputs.len());
        for m in &messages {
            text.push_str(&format!(
                "\n- [{}] {} — {} ({})",
                m.score,
                m.subject,
                m.from.label(),
                m.reasons.join("; ")
            ));
        }
        Ok((
            TriageResult {
                analysed: inputs.len(),
                more_unread: unread.more,
                messages,
            },
            text,
        ))
    }
}

/// The cached answers the scoring reads: who the user is, their manager, people and sent mail.
pub(super) const SIGNAL_KINDS: [CacheKind; 4] = [
    CacheKind::Profile,
    CacheKind::Manager,
    CacheKind::People,
    CacheKind::SentItems,
];

/// Unread inbox mail received at or after `since`, newest first, with what the scoring reads.
pub(super) fn unread_request(since: Timestamp, top: u32) -> Result<GraphRequest, GraphError> {
    Ok(GraphRequest::get(MESSAGES_OF_FOLDER, &["inbox"])?.query(
        Query::new()
            .filter(&Filter::ge_datetime("receivedDateTime", since).and(Filter::eq_bool("isRead", false)))
            .orderby("receivedDateTime desc")
            .select(&[
                "id",
                "subject",
                "bodyPreview",
                "from",
                "toRecipients",
                "ccRecipients",
                "importance",
                "flag",
                "conversationId",
                "receivedDateTime",
                "webLink",
            ])
            .top(top),
    ))
}

/// The user's signals from their cached answers of [`SIGNAL_KINDS`].
pub(super) fn signals_of(cached: &HashMap<CacheKind, Arc<Value>>) -> Signals {
    let get = |k| cached.get(&k).map(|v| v.as_ref().clone()).unwrap_or(Value::Null);
    Signals::from_graph(
        &get(CacheKind::Profile),
        &get(CacheKind::Manager),
        &get(CacheKind::People),
        &get(CacheKind::SentItems),
    )
}

/// The `count` most important of `messages`, each with its score and reasons.
pub(super) fn triaged(messages: &[GMessage], signals: &Signals, count: usize) -> Vec<TriagedMessage> {
    let inputs: Vec<TriageMessage> = messages.iter().map(TriageMessage::from).collect();
    rank(&inputs, signals)
        .into_iter()
        .take(count)
        .map(|(i, s)| {
            let m = &messages[i];
            TriagedMessage {
                id: m.id.clone(),
                subject: m.subject.clone().unwrap_or_default(),
                from: m.from.as_ref().map(Person::from).unwrap_or(Person {
                    name: None,
                    address: None,
                }),
                received: m.received_date_time.clone(),
                score: s.score,
                reasons: s.reasons,
                web_link: m.web_link.clone(),
            }
        })
        .collect()
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![typed::<InboxTriage>(deps.clone())]
}
