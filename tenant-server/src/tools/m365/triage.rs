//! Inbox triage: unread mail ranked by signals specific to the user, each score explained.
//! The scoring is a pure function of the message and the user's signals.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    M365Deps, Tool, TypedTool, bounded,
    directory::PEOPLE,
    mail::MESSAGES_OF_FOLDER,
    model::{GMessage, Person},
    typed,
};
use crate::{
    graph::{
        BatchItem, CacheKind, Endpoint, GraphError, GraphRequest,
        odata::{Filter, Query},
    },
    tools::{ToolContext, ToolError},
};

const ME: Endpoint = Endpoint::new("/me");
const MANAGER: Endpoint = Endpoint::new("/me/manager");

/// What the user's own data says about who and what matters to them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Signals {
    /// The user's own addresses, lower case.
    pub my_addresses: Vec<String>,
    /// Names the user is @-mentioned by (given name, display name), lower case.
    pub my_names: Vec<String>,
    /// The manager's address, lower case.
    pub manager: Option<String>,
    /// Address → how often the user wrote to them recently (sent items), lower case.
    pub sent_to: HashMap<String, u32>,
    /// Addresses of the user's most relevant people (people API), lower case.
    pub relevant_people: HashSet<String>,
    /// Conversations the user has replied in.
    pub replied_conversations: HashSet<String>,
}

/// One message as the scoring sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TriageMessage {
    pub id: String,
    pub subject: String,
    pub preview: String,
    pub from_address: String,
    pub from_name: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// `low`, `normal`, `high`.
    pub importance: String,
    pub flagged: bool,
    pub conversation_id: String,
    pub received: String,
}

impl From<&GMessage> for TriageMessage {
    fn from(m: &GMessage) -> Self {
        let addr =
            |r: &super::model::GRecipient| r.email_address.address.clone().unwrap_or_default().to_lowercase();
        Self {
            id: m.id.clone(),
            subject: m.subject.clone().unwrap_or_default(),
            preview: m.body_preview.clone().unwrap_or_default(),
            from_address: m.from.as_ref().map(addr).unwrap_or_default(),
            from_name: m
                .from
                .as_ref()
                .and_then(|f| f.email_address.name.clone())
                .unwrap_or_default(),
            to: m.to_recipients.iter().map(addr).collect(),
            cc: m.cc_recipients.iter().map(addr).collect(),
            importance: m.importance.clone().unwrap_or_else(|| "normal".into()),
            flagged: m.flag.as_ref().and_then(|f| f.flag_status.as_deref()) == Some("flagged"),
            conversation_id: m.conversation_id.clone().unwrap_or_default(),
            received: m.received_date_time.clone().unwrap_or_default(),
        }
    }
}

/// A score and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scored {
    pub score: i32,
    pub reasons: Vec<String>,
}

/// Words that signal a deadline or a request for action.
const DEADLINE_WORDS: &[&str] = &[
    "urgent",
    "asap",
    "deadline",
    "due",
    "today",
    "tomorrow",
    "eod",
    "overdue",
    "expires",
    "action needed",
    "by friday",
    "by monday",
    "immediately",
];

fn contains_word(haystack: &str, word: &str) -> bool {
    haystack.match_indices(word).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Scores one unread message. `thread_unread` is how many of the analysed unread messages share
/// its conversation (itself included). Pure: same inputs, same score and reasons.
pub fn score_message(m: &TriageMessage, s: &Signals, thread_unread: usize) -> Scored {
    let mut score = 0;
    let mut reasons = Vec::new();
    let mut add = |points: i32, why: String| {
        score += points;
        reasons.push(format!("{why} ({points:+})"));
    };
    let from = m.from_address.as_str();
    if s.manager.as_deref() == Some(from) {
        add(40, format!("from your manager {}", m.from_name));
    }
    let sent = s.sent_to.get(from).copied().unwrap_or(0);
    if sent > 0 {
        add(
            10 + 2 * sent.min(10) as i32,
            format!("you wrote to {} {sent} time(s) recently", m.from_name),
        );
    } else if s.relevant_people.contains(from) {
        add(10, format!("{} is among your most relevant people", m.from_name));
    }
    let mine = |list: &[String]| list.iter().any(|a| s.my_addresses.contains(a));
    if mine(&m.to) {
        add(15, "sent directly to you".into());
    } else if mine(&m.cc) {
        add(3, "you are in cc".into());
    } else {
        add(-5, "not addressed to you (list or bcc)".into());
    }
    if m.flagged {
        add(20, "flagged for follow-up".into());
    }
    match m.importance.as_str() {
        "high" => add(15, "marked high importance".into()),
        "low" => add(-5, "marked low importance".into()),
        _ => {}
    }
    let text = format!("{} {}", m.subject, m.preview).to_lowercase();
    if s.my_names
        .iter()
        .any(|n| !n.is_empty() && text.contains(&format!("@{n}")))
    {
        add(25, "mentions you".into());
    }
    if let Some(w) = DEADLINE_WORDS.iter().find(|w| contains_word(&text, w)) {
        add(12, format!("deadline language: \"{w}\""));
    }
    if !m.conversation_id.is_empty() && s.replied_conversations.contains(&m.conversation_id) {
        add(15, "you have replied in this thread".into());
    }
    if thread_unread > 1 {
        let extra = (thread_unread - 1).min(3) as i32;
        add(
            3 * extra,
            format!("{thread_unread} unread messages in this thread"),
        );
    }
    if s.manager.as_deref() != Some(from) && sent == 0 && !s.relevant_people.contains(from) {
        let my_domain = s
            .my_addresses
            .first()
            .and_then(|a| a.split_once('@'))
            .map(|(_, d)| d);
        if my_domain.is_some_and(|d| !from.ends_with(&format!("@{d}"))) {
            add(
                -5,
                "sender outside your organization and not a correspondent".into(),
            );
        }
    }
    Scored { score, reasons }
}

/// Scores every message and orders them: score, then newest, then id (deterministic).
pub fn rank(messages: &[TriageMessage], signals: &Signals) -> Vec<(usize, Scored)> {
    let mut per_thread: HashMap<&str, usize> = HashMap::new();
    for m in messages {
        *per_thread.entry(m.conversation_id.as_str()).or_default() += 1;
    }
    let mut scored: Vec<(usize, Scored)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let n = if m.conversation_id.is_empty() {
                1
            } else {
                per_thread[m.conversation_id.as_str()]
            };
            (i, score_message(m, signals, n))
        })
        .collect();
    scored.sort_by(|(a, sa), (b, sb)| {
        sb.score
            .cmp(&sa.score)
            .then_with(|| messages[*b].received.cmp(&messages[*a].received))
            .then_with(|| messages[*a].id.cmp(&messages[*b].id))
    });
    scored
}

fn lower(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}

impl Signals {
    /// Signals from the cached Graph answers (`/me`, `/me/manager`, `/me/people`, sent items).
    pub fn from_graph(profile: &Value, manager: &Value, people: &Value, sent: &Value) -> Self {
        let mut s = Signals::default();
        for k in ["mail", "userPrincipalName"] {
            if let Some(a) = lower(profile.get(k))
                && !s.my_addresses.contains(&a)
            {
                s.my_addresses.push(a);
            }
        }
        for k in ["givenName", "displayName"] {
            if let Some(n) = lower(profile.get(k)) {
                s.my_names.push(n);
            }
        }
        s.manager = lower(manager.get("mail")).or_else(|| lower(manager.get("userPrincipalName")));
        for p in people
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(a) = lower(p.pointer("/scoredEmailAddresses/0/address")) {
                s.relevant_people.insert(a);
            }
        }
        for m in sent.get("value").and_then(Value::as_array).into_iter().flatten() {
            for k in ["toRecipients", "ccRecipients"] {
                for r in m.get(k).and_then(Value::as_array).into_iter().flatten() {
                    if let Some(a) = lower(r.pointer("/emailAddress/address")) {
                        *s.sent_to.entry(a).or_default() += 1;
                    }
                }
            }
            if let Some(c) = m.get("conversationId").and_then(Value::as_str) {
                s.replied_conversations.insert(c.to_string());
            }
        }
        s
    }
}

fn signal_request(kind: CacheKind) -> Result<GraphRequest, GraphError> {
    Ok(match kind {
        CacheKind::Profile => GraphRequest::get(ME, &[])?.query(Query::new().select(&[
            "id",
            "displayName",
            "givenName",
            "mail",
            "userPrincipalName",
        ])),
        CacheKind::Manager => GraphRequest::get(MANAGER, &[])?.query(Query::new().select(&[
            "id",
            "displayName",
            "mail",
            "userPrincipalName",
        ])),
        CacheKind::People => GraphRequest::get(PEOPLE, &[])?.query(
            Query::new()
                .select(&["displayName", "scoredEmailAddresses"])
                .top(25),
        ),
        CacheKind::SentItems => GraphRequest::get(MESSAGES_OF_FOLDER, &["sentitems"])?.query(
            Query::new()
                .select(&["toRecipients", "ccRecipients", "conversationId"])
                .top(100),
        ),
    })
}

/// The user's cached answers of `kinds`, fetching the misses in one `$batch` (or one request).
/// A user without a manager gets `null` for [`CacheKind::Manager`].
pub(crate) async fn cached(
    deps: &M365Deps,
    ctx: &ToolContext,
    kinds: &[CacheKind],
) -> Result<HashMap<CacheKind, Arc<Value>>, ToolError> {
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for &k in kinds {
        match deps.cache.get(&ctx.caller, k).await {
            Some(v) => {
                out.insert(k, v);
            }
            None => missing.push(k),
        }
    }
    let results: Vec<(CacheKind, Result<Value, GraphError>)> = match missing.as_slice() {
        [] => Vec::new(),
        [k] => vec![(*k, deps.graph.send(ctx.into(), &signal_request(*k)?).await)],
        many => {
            let items = many
                .iter()
                .map(|k| {
                    Ok(BatchItem {
                        id: k.label().to_string(),
                        request: signal_request(*k)?,
                    })
                })
                .collect::<Result<Vec<_>, GraphError>>()?;
            let answers = deps.graph.batch(ctx.into(), &items).await?;
            many.iter()
                .copied()
                .zip(answers.into_iter().map(|a| a.into_result()))
                .collect()
        }
    };
    for (k, r) in results {
        let v = match (k, r) {
            (CacheKind::Manager, Err(GraphError::Api { status: 404, .. })) => Value::Null,
            (_, Ok(v)) => v,
            (_, Err(e)) => return Err(e.into()),
        };
        out.insert(k, deps.cache.insert(&ctx.caller, k, v).await);
    }
    Ok(out)
}

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
        let unread_req = GraphRequest::get(MESSAGES_OF_FOLDER, &["inbox"])?.query(
            Query::new()
                .filter(
                    &Filter::ge_datetime("receivedDateTime", jiff::Timestamp::UNIX_EPOCH)
                        .and(Filter::eq_bool("isRead", false)),
                )
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
                .top(scan.min(250)),
        );
        let kinds = [
            CacheKind::Profile,
            CacheKind::Manager,
            CacheKind::People,
            CacheKind::SentItems,
        ];
        let (signals, unread) = tokio::join!(
            cached(deps, ctx, &kinds),
            deps.graph
                .list::<GMessage>(ctx.into(), &unread_req, scan as usize)
        );
        let (signals, unread) = (signals?, unread?);
        let get = |k| signals.get(&k).map(|v| v.as_ref().clone()).unwrap_or(Value::Null);
        let signals = Signals::from_graph(
            &get(CacheKind::Profile),
            &get(CacheKind::Manager),
            &get(CacheKind::People),
            &get(CacheKind::SentItems),
        );
        let inputs: Vec<TriageMessage> = unread.items.iter().map(TriageMessage::from).collect();
        let ranked = rank(&inputs, &signals);
        let messages: Vec<TriagedMessage> = ranked
            .into_iter()
            .take(count as usize)
            .map(|(i, s)| {
                let m = &unread.items[i];
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
            .collect();
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

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![typed::<InboxTriage>(deps.clone())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals() -> Signals {
        Signals {
            my_addresses: vec!["me@contoso.example".into()],
            my_names: vec!["adele".into(), "adele vance".into()],
            manager: Some("boss@contoso.example".into()),
            sent_to: HashMap::from([("alex@contoso.example".into(), 3)]),
            relevant_people: HashSet::from(["megan@contoso.example".to_string()]),
            replied_conversations: HashSet::from(["c1".to_string()]),
        }
    }

    fn msg(id: &str, from: &str) -> TriageMessage {
        TriageMessage {
            id: id.into(),
            subject: "Hello".into(),
            preview: "Just checking in".into(),
            from_address: from.into(),
            from_name: from.split('@').next().unwrap_or("").into(),
            to: vec!["me@contoso.example".into()],
            cc: vec![],
            importance: "normal".into(),
            flagged: false,
            conversation_id: format!("conv-{id}"),
            received: "2026-05-01T10:00:00Z".into(),
        }
    }

    #[test]
    fn manager_direct_mail_scores_and_explains() {
        let s = score_message(&msg("1", "boss@contoso.example"), &signals(), 1);
        assert_eq!(s.score, 40 + 15);
        assert_eq!(
            s.reasons,
            vec!["from your manager boss (+40)", "sent directly to you (+15)"]
        );
    }

    #[test]
    fn every_signal_counts_once() {
        let mut m = msg("2", "alex@contoso.example");
        m.to = vec!["team@contoso.example".into()];
        m.cc = vec!["me@contoso.example".into()];
        m.flagged = true;
        m.importance = "high".into();
        m.subject = "Contract due tomorrow".into();
        m.preview = "@Adele please sign".into();
        m.conversation_id = "c1".into();
        let s = score_message(&m, &signals(), 3);
        // sent 3 times: 10 + 6; cc 3; flagged 20; high 15; mention 25; deadline 12; replied 15; thread 6.
        assert_eq!(s.score, 16 + 3 + 20 + 15 + 25 + 12 + 15 + 6, "{:?}", s.reasons);
        assert!(
            s.reasons
                .contains(&"deadline language: \"due\" (+12)".to_string()),
            "{:?}",
            s.reasons
        );
        assert!(
            s.reasons
                .contains(&"3 unread messages in this thread (+6)".to_string())
        );
    }

    #[test]
    fn strangers_and_lists_rank_low_and_words_match_whole() {
        let mut m = msg("3", "news@vendor.example");
        m.to = vec!["all@vendor.example".into()];
        m.subject = "Introducing our product".into(); // "due" inside a word does not count
        let s = score_message(&m, &signals(), 1);
        assert_eq!(s.score, -10, "{:?}", s.reasons);
        let relevant = score_message(&msg("4", "megan@contoso.example"), &signals(), 1);
        assert_eq!(relevant.score, 25);
    }

    #[test]
    fn ranking_is_deterministic() {
        let a = msg("a", "boss@contoso.example");
        let b = msg("b", "news@vendor.example");
        let mut c = msg("c", "boss@contoso.example");
        c.received = "2026-05-02T10:00:00Z".into();
        let ranked: Vec<usize> = rank(&[a.clone(), b.clone(), c.clone()], &signals())
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ranked, vec![2, 0, 1]);
        let again: Vec<usize> = rank(&[a, b, c], &signals()).into_iter().map(|(i, _)| i).collect();
        assert_eq!(ranked, again);
    }

    #[test]
    fn signals_are_read_from_graph_shapes() {
        let profile = serde_json::json!({"mail": "Me@Contoso.example", "givenName": "Adele", "displayName": "Adele Vance"});
        let manager = serde_json::json!({"mail": "Boss@contoso.example"});
        let people =
            serde_json::json!({"value": [{"scoredEmailAddresses": [{"address": "Megan@contoso.example"}]}]});
        let sent = serde_json::json!({"value": [
            {"toRecipients": [{"emailAddress": {"address": "alex@contoso.example"}}], "conversationId": "c1"},
            {"toRecipients": [{"emailAddress": {"address": "ALEX@contoso.example"}}], "ccRecipients": [], "conversationId": "c2"}
        ]});
        let s = Signals::from_graph(&profile, &manager, &people, &sent);
        assert_eq!(s.my_addresses, vec!["me@contoso.example"]);
        assert_eq!(s.manager.as_deref(), Some("boss@contoso.example"));
        assert_eq!(s.sent_to.get("alex@contoso.example"), Some(&2));
        assert!(s.relevant_people.contains("megan@contoso.example"));
        assert_eq!(s.replied_conversations.len(), 2);
        let none = Signals::from_graph(&profile, &Value::Null, &Value::Null, &Value::Null);
        assert_eq!(none.manager, None);
    }
}
