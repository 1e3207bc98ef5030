//! Writing mail: send, reply, drafts.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::MESSAGES;
use crate::{
    graph::{Endpoint, GraphRequest},
    tools::{
        Tool, ToolContext, ToolError,
        m365::{
            M365Deps, invalid,
            model::{GMessage, recipients},
        },
        typed::{TypedTool, typed},
    },
};

const SEND_MAIL: Endpoint = Endpoint::new("/me/sendMail");
const REPLY: Endpoint = Endpoint::new("/me/messages/{id}/reply");
const REPLY_ALL: Endpoint = Endpoint::new("/me/messages/{id}/replyAll");

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    #[default]
    Text,
    Html,
}

impl BodyFormat {
    fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Html => "html",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Importance {
    Low,
    #[default]
    Normal,
    High,
}

impl Importance {
    fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// Most recipients in one message.
const MAX_RECIPIENTS: usize = 100;

// What a sent or drafted message says besides its `to` recipients: one type for both tools.
// (A plain comment: a doc comment would become the description of both argument schemas.)
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MessageContent {
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub cc: Vec<String>,
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub bcc: Vec<String>,
    pub subject: String,
    pub body: String,
    /// `text` (default) or `html`.
    #[serde(default)]
    pub body_format: BodyFormat,
    #[serde(default)]
    pub importance: Importance,
}

impl MessageContent {
    /// The Graph message to `to` with this content (recipients checked and bounded).
    fn graph_message(&self, to: &[String]) -> Result<Value, ToolError> {
        if to.len() + self.cc.len() + self.bcc.len() > MAX_RECIPIENTS {
            return Err(invalid(format!("at most {MAX_RECIPIENTS} recipients")));
        }
        Ok(json!({
            "subject": self.subject,
            "body": {"contentType": self.body_format.content_type(), "content": self.body},
            "toRecipients": recipients(to)?,
            "ccRecipients": recipients(&self.cc)?,
            "bccRecipients": recipients(&self.bcc)?,
            "importance": self.importance.as_str(),
        }))
    }

    fn recipient_count(&self, to: &[String]) -> usize {
        to.len() + self.cc.len() + self.bcc.len()
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendArgs {
    /// Recipient addresses.
    #[schemars(length(min = 1, max = 100))]
    pub to: Vec<String>,
    #[serde(flatten)]
    pub message: MessageContent,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SendResult {
    pub sent: bool,
    pub recipients: usize,
}

pub struct Send;

#[async_trait::async_trait]
impl TypedTool for Send {
    type Deps = M365Deps;
    type Args = SendArgs;
    type Output = SendResult;
    const NAME: &'static str = "mail_send";
    const TITLE: &'static str = "Send mail";
    const DESCRIPTION: &'static str = "Send an email now as the user (saved to Sent Items). Confirm recipients and \
        content with the user first; to prepare without sending use mail_create_draft.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: SendArgs) -> Result<(SendResult, String), ToolError> {
        if a.to.is_empty() {
            return Err(invalid("`to` needs at least one address"));
        }
        let message = a.message.graph_message(&a.to)?;
        let req = GraphRequest::post(
            SEND_MAIL,
            &[],
            json!({"message": message, "saveToSentItems": true}),
        )?;
        deps.graph.send(ctx.into(), &req).await?;
        let n = a.message.recipient_count(&a.to);
        Ok((
            SendResult {
                sent: true,
                recipients: n,
            },
            format!("Sent \"{}\" to {n} recipient(s).", a.message.subject),
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyArgs {
    /// Id of the message to answer.
    pub id: String,
    /// The reply text (placed above the quoted original).
    pub comment: String,
    /// Reply to everyone on the message, not only the sender.
    #[serde(default)]
    pub reply_all: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReplyResult {
    pub replied: bool,
    pub reply_all: bool,
}

pub struct Reply;

#[async_trait::async_trait]
impl TypedTool for Reply {
    type Deps = M365Deps;
    type Args = ReplyArgs;
    type Output = ReplyResult;
    const NAME: &'static str = "mail_reply";
    const TITLE: &'static str = "Reply to mail";
    const DESCRIPTION: &'static str = "Reply to an email now (to the sender, or to all with reply_all). \
        Sends immediately; confirm the text with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ReplyArgs,
    ) -> Result<(ReplyResult, String), ToolError> {
        let endpoint = if a.reply_all { REPLY_ALL } else { REPLY };
        let req = GraphRequest::post(endpoint, &[a.id.as_str()], json!({"comment": a.comment}))?;
        deps.graph.send(ctx.into(), &req).await?;
        let who = if a.reply_all { "everyone" } else { "the sender" };
        Ok((
            ReplyResult {
                replied: true,
                reply_all: a.reply_all,
            },
            format!("Replied to {who}."),
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftArgs {
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub to: Vec<String>,
    #[serde(flatten)]
    pub message: MessageContent,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DraftResult {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_link: Option<String>,
}

pub struct CreateDraft;

#[async_trait::async_trait]
impl TypedTool for CreateDraft {
    type Deps = M365Deps;
    type Args = DraftArgs;
    type Output = DraftResult;
    const NAME: &'static str = "mail_create_draft";
    const TITLE: &'static str = "Draft mail";
    const DESCRIPTION: &'static str = "Save an email as a draft in the user's Drafts folder without sending it; \
        returns its id and a link to open it in Outlook.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: DraftArgs,
    ) -> Result<(DraftResult, String), ToolError> {
        let message = a.message.graph_message(&a.to)?;
        let req = GraphRequest::post(MESSAGES, &[], message)?;
        let created: GMessage = deps.graph.send_as(ctx.into(), &req).await?;
        let text = format!("Draft \"{}\" saved (id {}).", a.message.subject, created.id);
        Ok((
            DraftResult {
                id: created.id,
                web_link: created.web_link,
            },
            text,
        ))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<Send>(deps.clone()),
        typed::<Reply>(deps.clone()),
        typed::<CreateDraft>(deps.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flattened_arguments_still_refuse_unknown_fields() {
        let send = json!({"to": ["a@contoso.example"], "subject": "s", "body": "b", "importance": "high"});
        let a: SendArgs = serde_json::from_value(send.clone()).unwrap();
        assert_eq!(a.message.recipient_count(&a.to), 1);
        let mut typo = send;
        typo["bc"] = json!(["x@contoso.example"]);
        let err = serde_json::from_value::<SendArgs>(typo.clone()).unwrap_err();
        assert!(err.to_string().contains("unknown field `bc`"), "{err}");
        assert!(serde_json::from_value::<DraftArgs>(typo).is_err());
        let draft: DraftArgs = serde_json::from_value(json!({"subject": "s", "body": "b"})).unwrap();
        assert!(draft.to.is_empty() && draft.message.cc.is_empty());
    }
}
