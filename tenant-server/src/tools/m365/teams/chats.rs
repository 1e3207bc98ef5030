//! Chats: the user's chats, sending a chat message, replying in a channel thread.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{GPostBody, PostedMessage, post_message};
use crate::{
    graph::{Endpoint, GraphRequest, odata::Query},
    tools::{
        Tool, ToolContext, ToolError,
        m365::{M365Deps, bounded, mail::BodyFormat, text::html_to_text},
        typed::{TypedTool, typed},
    },
};

pub(in crate::tools::m365) const CHATS: Endpoint = Endpoint::new("/me/chats");
const SEND_CHAT_MESSAGE: Endpoint = Endpoint::new("/chats/{id}/messages");
const CHANNEL_REPLIES: Endpoint = Endpoint::new("/teams/{id}/channels/{id}/messages/{id}/replies");

/// Longest preview of a chat's last message.
const PREVIEW_CHARS: usize = 200;

/// A chat as Graph lists it (catch_me_up reads the same listing).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(in crate::tools::m365) struct GChat {
    pub id: String,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub chat_type: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    members: Vec<GMember>,
    #[serde(default)]
    pub last_message_preview: Option<GPreview>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GMember {
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(in crate::tools::m365) struct GPreview {
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    from: Option<serde_json::Value>,
    #[serde(default)]
    body: Option<GPostBody>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LastMessage {
    pub from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    pub preview: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Chat {
    /// Pass to teams_read_chat or teams_send_chat_message.
    pub id: String,
    /// The chat's topic, or its members' names when it has none (one-on-one chats).
    pub name: String,
    /// `oneOnOne`, `group` or `meeting`.
    pub chat_type: String,
    pub members: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<LastMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

impl From<GChat> for Chat {
    fn from(c: GChat) -> Self {
        let members: Vec<String> = c.members.into_iter().filter_map(|m| m.display_name).collect();
        let name = c
            .topic
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| members.join(", "));
        let last_message = c.last_message_preview.map(|p| {
            let body = p.body.unwrap_or_default();
            let content = body.content.unwrap_or_default();
            let text = match body.content_type.as_deref() {
                Some("html") => html_to_text(&content),
                _ => content,
            };
            LastMessage {
                from: p
                    .from
                    .as_ref()
                    .and_then(|f| f.get("user")?.get("displayName")?.as_str())
                    .unwrap_or("(unknown)")
                    .to_owned(),
                sent: p.created_date_time,
                preview: text.trim().chars().take(PREVIEW_CHARS).collect(),
            }
        });
        Self {
            id: c.id,
            name,
            chat_type: c.chat_type.unwrap_or_else(|| "group".into()),
            members,
            last_message,
            web_url: c.web_url,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListChatsArgs {
    /// Most chats, most recently active first (1-50, default 20).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChatList {
    pub chats: Vec<Chat>,
    pub more: bool,
}

pub struct ListChats;

#[async_trait::async_trait]
impl TypedTool for ListChats {
    type Deps = M365Deps;
    type Args = ListChatsArgs;
    type Output = ChatList;

    fn links(output: &ChatList) -> Vec<rmcp::model::Resource> {
        let chats = output.chats.iter();
        chats
            .filter_map(|c| crate::resources::link("teams_read_chat", &c.id, &c.name))
            .collect()
    }
    const NAME: &'static str = "teams_list_chats";
    const TITLE: &'static str = "List my chats";
    const DESCRIPTION: &'static str = "List the user's Teams chats (one-on-one, group and meeting chats), most \
        recently active first, with members and a preview of the last message. Use teams_read_chat with an id \
        to read one.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ListChatsArgs,
    ) -> Result<(ChatList, String), ToolError> {
        let count = bounded("count", a.count, 20, 50)?;
        let req = GraphRequest::get(CHATS, &[])?.query(
            Query::new()
                .expand("members,lastMessagePreview")
                .orderby("lastMessagePreview/createdDateTime desc")
                .top(count),
        );
        let page = deps.graph.list::<GChat>(ctx.into(), &req, count as usize).await?;
        let chats: Vec<Chat> = page.items.into_iter().map(Chat::from).collect();
        let mut text = format!("{} chat(s)", chats.len());
        for c in &chats {
            text.push_str(&format!("\n- {} ({}, id {})", c.name, c.chat_type, c.id));
            if let Some(m) = &c.last_message {
                text.push_str(&format!(": {}: {}", m.from, m.preview));
            }
        }
        Ok((
            ChatList {
                chats,
                more: page.more,
            },
            text,
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendChatArgs {
    /// The chat's id from teams_list_chats.
    #[schemars(length(min = 1, max = 512))]
    pub chat_id: String,
    /// The message (at most 20,000 characters).
    pub message: String,
    /// `text` (default) or `html`.
    #[serde(default)]
    pub format: BodyFormat,
}

pub struct SendChatMessage;

#[async_trait::async_trait]
impl TypedTool for SendChatMessage {
    type Deps = M365Deps;
    type Args = SendChatArgs;
    type Output = PostedMessage;
    const NAME: &'static str = "teams_send_chat_message";
    const TITLE: &'static str = "Send a chat message";
    const DESCRIPTION: &'static str = "Send a message in a Teams chat as the user (everyone in the chat sees it). \
        Confirm the text with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: SendChatArgs,
    ) -> Result<(PostedMessage, String), ToolError> {
        let chat = [a.chat_id.as_str()];
        post_message(deps, ctx, SEND_CHAT_MESSAGE, &chat, &a.message, a.format, |id| {
            format!("Sent chat message {id}.")
        })
        .await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyArgs {
    #[schemars(length(min = 1, max = 512))]
    pub team_id: String,
    #[schemars(length(min = 1, max = 512))]
    pub channel_id: String,
    /// The id of the thread's first message (from teams_read_channel).
    #[schemars(length(min = 1, max = 512))]
    pub message_id: String,
    /// The reply (at most 20,000 characters).
    pub message: String,
    /// `text` (default) or `html`.
    #[serde(default)]
    pub format: BodyFormat,
}

pub struct ReplyToChannelMessage;

#[async_trait::async_trait]
impl TypedTool for ReplyToChannelMessage {
    type Deps = M365Deps;
    type Args = ReplyArgs;
    type Output = PostedMessage;
    const NAME: &'static str = "teams_reply_to_channel_message";
    const TITLE: &'static str = "Reply in a channel thread";
    const DESCRIPTION: &'static str = "Reply to a message in a Teams channel, in its thread, as the user (visible \
        to the whole channel). Confirm the text with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ReplyArgs,
    ) -> Result<(PostedMessage, String), ToolError> {
        let thread = [a.team_id.as_str(), a.channel_id.as_str(), a.message_id.as_str()];
        post_message(deps, ctx, CHANNEL_REPLIES, &thread, &a.message, a.format, |id| {
            format!("Replied in the thread (message {id}).")
        })
        .await
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ListChats>(deps.clone()),
        typed::<SendChatMessage>(deps.clone()),
        typed::<ReplyToChannelMessage>(deps.clone()),
    ]
}
