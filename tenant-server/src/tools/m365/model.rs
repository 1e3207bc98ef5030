//! The Graph JSON the tools read, and the shapes they return.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    graph::odata::plain_address,
    tools::{ToolError, m365::text::html_to_text},
};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GEmail {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GRecipient {
    #[serde(default)]
    pub email_address: GEmail,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct GBody {
    #[serde(default, rename = "contentType")]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GFlag {
    #[serde(default)]
    pub flag_status: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GAttachment {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub is_inline: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GMessage {
    pub id: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body_preview: Option<String>,
    #[serde(default)]
    pub body: Option<GBody>,
    #[serde(default)]
    pub from: Option<GRecipient>,
    #[serde(default)]
    pub to_recipients: Vec<GRecipient>,
    #[serde(default)]
    pub cc_recipients: Vec<GRecipient>,
    #[serde(default)]
    pub received_date_time: Option<String>,
    #[serde(default)]
    pub is_read: Option<bool>,
    #[serde(default)]
    pub importance: Option<String>,
    #[serde(default)]
    pub flag: Option<GFlag>,
    #[serde(default)]
    pub has_attachments: Option<bool>,
    #[serde(default)]
    pub attachments: Vec<GAttachment>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub web_link: Option<String>,
}

/// Fields read for message lists.
pub const MESSAGE_SUMMARY_FIELDS: &[&str] = &[
    "id",
    "subject",
    "from",
    "receivedDateTime",
    "isRead",
    "importance",
    "hasAttachments",
    "bodyPreview",
    "webLink",
];

/// A person as a name and an address.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Person {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl From<&GRecipient> for Person {
    fn from(r: &GRecipient) -> Self {
        Self {
            name: r.email_address.name.clone(),
            address: r.email_address.address.clone(),
        }
    }
}

impl Person {
    pub fn label(&self) -> String {
        match (&self.name, &self.address) {
            (Some(n), Some(a)) => format!("{n} <{a}>"),
            (Some(n), None) => n.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => "(unknown)".into(),
        }
    }
}

/// One message in a list.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MessageSummary {
    pub id: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Person>,
    /// ISO 8601, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    pub is_read: bool,
    pub importance: String,
    pub has_attachments: bool,
    pub preview: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_link: Option<String>,
}

impl From<GMessage> for MessageSummary {
    fn from(m: GMessage) -> Self {
        Self {
            id: m.id,
            subject: m.subject.unwrap_or_default(),
            from: m.from.as_ref().map(Person::from),
            received: m.received_date_time,
            is_read: m.is_read.unwrap_or(false),
            importance: m.importance.unwrap_or_else(|| "normal".into()),
            has_attachments: m.has_attachments.unwrap_or(false),
            preview: m.body_preview.unwrap_or_default(),
            web_link: m.web_link,
        }
    }
}

/// A list of messages.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MessageList {
    pub messages: Vec<MessageSummary>,
    /// More messages matched than were returned.
    pub more: bool,
}

impl MessageList {
    pub fn summary(&self, what: &str) -> String {
        let mut s = format!(
            "{} {what}{}",
            self.messages.len(),
            if self.more { " (more available)" } else { "" }
        );
        for m in self.messages.iter().take(10) {
            let from = m.from.as_ref().map(Person::label).unwrap_or_default();
            s.push_str(&format!(
                "\n- {} | {} | {} | id {}",
                m.received.as_deref().unwrap_or(""),
                from,
                m.subject,
                m.id
            ));
        }
        s
    }
}

/// An attachment by name and size (contents are not fetched).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct AttachmentInfo {
    /// Pass to mail_read_attachment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub name: String,
    pub size_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A message with its text body.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MessageDetail {
    pub id: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    pub importance: String,
    /// The body as plain text (HTML converted; scripts and styles dropped).
    pub body: String,
    /// The body was cut to the first `MAX_BODY_CHARS` characters.
    pub body_truncated: bool,
    pub attachments: Vec<AttachmentInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_link: Option<String>,
}

/// Longest body returned.
pub const MAX_BODY_CHARS: usize = 20_000;

impl From<GMessage> for MessageDetail {
    fn from(m: GMessage) -> Self {
        let body = m.body.unwrap_or_default();
        let raw = body.content.unwrap_or_default();
        let text = if body
            .content_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("html"))
        {
            html_to_text(&raw)
        } else {
            raw
        };
        let body_truncated = text.chars().count() > MAX_BODY_CHARS;
        let body: String = text.chars().take(MAX_BODY_CHARS).collect();
        Self {
            id: m.id,
            subject: m.subject.unwrap_or_default(),
            from: m.from.as_ref().map(Person::from),
            to: m.to_recipients.iter().map(Person::from).collect(),
            cc: m.cc_recipients.iter().map(Person::from).collect(),
            received: m.received_date_time,
            importance: m.importance.unwrap_or_else(|| "normal".into()),
            body,
            body_truncated,
            attachments: m
                .attachments
                .into_iter()
                .filter(|a| a.is_inline != Some(true))
                .map(|a| AttachmentInfo {
                    id: a.id.unwrap_or_default(),
                    name: a.name.unwrap_or_default(),
                    size_bytes: a.size.unwrap_or(0),
                    content_type: a.content_type,
                })
                .collect(),
            conversation_id: m.conversation_id,
            web_link: m.web_link,
        }
    }
}

/// Graph recipients from plain addresses (each checked).
pub fn recipients(addresses: &[String]) -> Result<Vec<serde_json::Value>, ToolError> {
    addresses
        .iter()
        .map(|a| {
            let a = plain_address(a.trim()).map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
            Ok(serde_json::json!({"emailAddress": {"address": a}}))
        })
        .collect()
}

/// A colleague named in a path (`/users/{id}`): an address (user principal name) or an object
/// id, nothing else; the error names `argument`.
pub fn user_ref<'a>(argument: &str, user: &'a str) -> Result<&'a str, ToolError> {
    let u = user.trim();
    let ok = !u.is_empty()
        && u.len() <= 256
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_' | b'\'' | b'+'));
    if ok {
        Ok(u)
    } else {
        Err(ToolError::InvalidArguments(format!(
            "`{argument}`: \"{}\" is neither an address nor an object id",
            user.chars().take(64).collect::<String>()
        )))
    }
}
