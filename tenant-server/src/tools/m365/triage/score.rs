//! The pure part of inbox triage: a message and the user's signals in, a score with its reasons
//! out. No Graph, no clock, no randomness: same inputs, same ranking.

use std::collections::{HashMap, HashSet};

use crate::tools::m365::model::{GMessage, GRecipient};

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
        let addr = |r: &GRecipient| r.email_address.address.clone().unwrap_or_default().to_lowercase();
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
}
