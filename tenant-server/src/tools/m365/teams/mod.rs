//! Teams: teams, channels, reading a channel or a chat, posting to a channel, online meetings;
//! chats: listing, sending, replying in a channel thread ([`chats`]); presence ([`presence`]).

mod chats;
mod presence;

pub(super) use chats::{CHATS, GChat};

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{M365Deps, Tool, TypedTool, bounded, invalid, mail::BodyFormat, text::html_to_text, typed};
use crate::{
    graph::{Endpoint, GraphRequest, odata::Query},
    tools::{ToolContext, ToolError},
};

const JOINED_TEAMS: Endpoint = Endpoint::new("/me/joinedTeams");
const CHANNELS: Endpoint = Endpoint::new("/teams/{id}/channels");
const CHANNEL_MESSAGES: Endpoint = Endpoint::new("/teams/{id}/channels/{id}/messages");
const ONLINE_MEETINGS: Endpoint = Endpoint::new("/me/onlineMeetings");
const CHAT_MESSAGES: Endpoint = Endpoint::new("/me/chats/{id}/messages");

/// Teams refuses messages over about 28 KB; this many characters always fit.
const MAX_MESSAGE_CHARS: usize = 20_000;

/// The body of a new channel or chat message: not empty, not over [`MAX_MESSAGE_CHARS`].
fn message_body(message: &str, format: BodyFormat) -> Result<serde_json::Value, ToolError> {
    if message.trim().is_empty() {
        return Err(invalid("`message` is empty"));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(invalid(format!(
            "`message`: at most {MAX_MESSAGE_CHARS} characters"
        )));
    }
    let content_type = match format {
        BodyFormat::Text => "text",
        BodyFormat::Html => "html",
    };
    Ok(json!({"body": {"contentType": content_type, "content": message}}))
}

/// A Teams message as Graph returns it (channel or chat).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GPost {
    id: String,
    #[serde(default)]
    message_type: Option<String>,
    #[serde(default)]
    created_date_time: Option<String>,
    #[serde(default)]
    from: Option<serde_json::Value>,
    #[serde(default)]
    body: Option<GPostBody>,
    #[serde(default)]
    replies: Vec<GPost>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GPostBody {
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

/// One message of a channel or chat.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Post {
    pub id: String,
    /// Who wrote it (a person's or an app's display name).
    pub from: String,
    /// ISO 8601, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    /// The message as plain text (HTML converted).
    pub text: String,
    /// Replies, oldest first (channel messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<Post>,
}

/// Messages only: system events (members added, topic changed) are not something people wrote.
fn posts(items: Vec<GPost>) -> Vec<Post> {
    items
        .into_iter()
        .filter(|p| p.message_type.as_deref().is_none_or(|t| t == "message"))
        .map(Post::from)
        .collect()
}

impl From<GPost> for Post {
    fn from(p: GPost) -> Self {
        let from = p.from.as_ref().and_then(|f| {
            ["user", "application"]
                .iter()
                .find_map(|who| f.get(who)?.get("displayName")?.as_str())
        });
        let body = p.body.unwrap_or_default();
        let content = body.content.unwrap_or_default();
        let text = match body.content_type.as_deref() {
            Some("html") => html_to_text(&content),
            _ => content,
        };
        // Oldest first, as a thread reads (ISO 8601 UTC times sort as strings).
        let mut replies = posts(p.replies);
        replies.sort_by(|a, b| a.sent.cmp(&b.sent));
        Self {
            id: p.id,
            from: from.unwrap_or("(unknown)").to_owned(),
            sent: p.created_date_time,
            text,
            replies,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PostList {
    /// Newest first.
    pub messages: Vec<Post>,
    /// Older messages exist than were returned.
    pub more: bool,
}

/// `n message(s)` and one line per message (and reply), newest first.
fn conversation(list: &PostList) -> String {
    let mut text = format!(
        "{} message(s), newest first{}",
        list.messages.len(),
        if list.more { " (older ones exist)" } else { "" }
    );
    let line = |p: &Post, indent: &str| {
        let said: String = p.text.chars().take(300).collect();
        format!(
            "\n{indent}- {} {}: {said}",
            p.sent.as_deref().unwrap_or(""),
            p.from
        )
    };
    for p in &list.messages {
        text.push_str(&line(p, ""));
        for r in &p.replies {
            text.push_str(&line(r, "  "));
        }
    }
    text
}

/// The first `count` messages of a listing of channel or chat messages, and their lines.
async fn read_posts(
    deps: &M365Deps,
    ctx: &ToolContext,
    req: &GraphRequest,
    count: u32,
) -> Result<(PostList, String), ToolError> {
    let page = deps.graph.list::<GPost>(ctx.into(), req, count as usize).await?;
    let list = PostList {
        messages: posts(page.items),
        more: page.more,
    };
    let text = conversation(&list);
    Ok((list, text))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadChannelArgs {
    /// Team id from teams_list_teams.
    #[schemars(length(min = 1, max = 512))]
    pub team_id: String,
    /// Channel id from teams_list_channels.
    #[schemars(length(min = 1, max = 512))]
    pub channel_id: String,
    /// How many recent messages, each with its replies (1-50, default 20).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

pub struct ReadChannel;

#[async_trait::async_trait]
impl TypedTool for ReadChannel {
    type Deps = M365Deps;
    type Args = ReadChannelArgs;
    type Output = PostList;
    const NAME: &'static str = "teams_read_channel";
    const TITLE: &'static str = "Read a channel";
    const DESCRIPTION: &'static str = "Read the recent messages of a Teams channel, newest first, each with its \
        replies: who wrote it, when, and the text.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ReadChannelArgs,
    ) -> Result<(PostList, String), ToolError> {
        let count = bounded("count", a.count, 20, 50)?;
        let req = GraphRequest::get(CHANNEL_MESSAGES, &[a.team_id.as_str(), a.channel_id.as_str()])?
            .query(Query::new().top(count).expand("replies"));
        read_posts(deps, ctx, &req, count).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadChatArgs {
    /// The chat's id (e.g. `19:...@thread.v2`).
    #[schemars(length(min = 1, max = 512))]
    pub chat_id: String,
    /// How many recent messages (1-50, default 20).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

pub struct ReadChat;

#[async_trait::async_trait]
impl TypedTool for ReadChat {
    type Deps = M365Deps;
    type Args = ReadChatArgs;
    type Output = PostList;
    const NAME: &'static str = "teams_read_chat";
    const TITLE: &'static str = "Read a chat";
    const DESCRIPTION: &'static str = "Read the recent messages of a Teams chat (one-on-one or group), newest \
        first: who wrote it, when, and the text.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ReadChatArgs,
    ) -> Result<(PostList, String), ToolError> {
        let count = bounded("count", a.count, 20, 50)?;
        let req = GraphRequest::get(CHAT_MESSAGES, &[a.chat_id.as_str()])?.query(Query::new().top(count));
        read_posts(deps, ctx, &req, count).await
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GNamed {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    membership_type: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NamedItem {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Channels only: `standard`, `private` or `shared`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership_type: Option<String>,
}

impl From<GNamed> for NamedItem {
    fn from(g: GNamed) -> Self {
        Self {
            id: g.id,
            name: g.display_name.unwrap_or_default(),
            description: g.description.filter(|d| !d.is_empty()),
            membership_type: g.membership_type,
        }
    }
}

fn listing(kind: &str, items: &[NamedItem]) -> String {
    let mut s = format!("{} {kind}", items.len());
    for i in items {
        s.push_str(&format!("\n- {} (id {})", i.name, i.id));
    }
    s
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTeamsArgs {
    /// Most teams (1-50, default 50).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TeamList {
    pub teams: Vec<NamedItem>,
    pub more: bool,
}

pub struct ListTeams;

#[async_trait::async_trait]
impl TypedTool for ListTeams {
    type Deps = M365Deps;
    type Args = ListTeamsArgs;
    type Output = TeamList;
    const NAME: &'static str = "teams_list_teams";
    const TITLE: &'static str = "List my teams";
    const DESCRIPTION: &'static str =
        "List the Microsoft Teams teams the user is a member of, with their ids (needed for channels).";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ListTeamsArgs,
    ) -> Result<(TeamList, String), ToolError> {
        let count = bounded("count", a.count, 50, 50)?;
        let req = GraphRequest::get(JOINED_TEAMS, &[])?.query(Query::new().select(&[
            "id",
            "displayName",
            "description",
        ]));
        let page = deps
            .graph
            .list::<GNamed>(ctx.into(), &req, count as usize)
            .await?;
        let teams: Vec<NamedItem> = page.items.into_iter().map(NamedItem::from).collect();
        let text = listing("team(s)", &teams);
        Ok((
            TeamList {
                teams,
                more: page.more,
            },
            text,
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListChannelsArgs {
    /// Team id from teams_list_teams.
    pub team_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChannelList {
    pub channels: Vec<NamedItem>,
    pub more: bool,
}

pub struct ListChannels;

#[async_trait::async_trait]
impl TypedTool for ListChannels {
    type Deps = M365Deps;
    type Args = ListChannelsArgs;
    type Output = ChannelList;
    const NAME: &'static str = "teams_list_channels";
    const TITLE: &'static str = "List team channels";
    const DESCRIPTION: &'static str = "List the channels of one team (by team id), with their ids.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ListChannelsArgs,
    ) -> Result<(ChannelList, String), ToolError> {
        let req = GraphRequest::get(CHANNELS, &[a.team_id.as_str()])?.query(Query::new().select(&[
            "id",
            "displayName",
            "description",
            "membershipType",
        ]));
        let page = deps.graph.list::<GNamed>(ctx.into(), &req, 200).await?;
        let channels: Vec<NamedItem> = page.items.into_iter().map(NamedItem::from).collect();
        let text = listing("channel(s)", &channels);
        Ok((
            ChannelList {
                channels,
                more: page.more,
            },
            text,
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendArgs {
    pub team_id: String,
    pub channel_id: String,
    /// The message.
    pub message: String,
    /// `text` (default) or `html`.
    #[serde(default)]
    pub format: BodyFormat,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GChatMessage {
    id: String,
    #[serde(default)]
    web_url: Option<String>,
}

/// Posts `message` to `endpoint` (a channel, a thread's replies or a chat) and answers the
/// posted message, with `said` of its id as the text.
async fn post_message(
    deps: &M365Deps,
    ctx: &ToolContext,
    endpoint: Endpoint,
    params: &[&str],
    message: &str,
    format: BodyFormat,
    said: fn(&str) -> String,
) -> Result<(PostedMessage, String), ToolError> {
    let req = GraphRequest::post(endpoint, params, message_body(message, format)?)?;
    let m: GChatMessage = deps.graph.send_as(ctx.into(), &req).await?;
    let text = said(&m.id);
    Ok((
        PostedMessage {
            id: m.id,
            web_url: m.web_url,
        },
        text,
    ))
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PostedMessage {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

pub struct SendChannelMessage;

#[async_trait::async_trait]
impl TypedTool for SendChannelMessage {
    type Deps = M365Deps;
    type Args = SendArgs;
    type Output = PostedMessage;
    const NAME: &'static str = "teams_send_channel_message";
    const TITLE: &'static str = "Post to a Teams channel";
    const DESCRIPTION: &'static str = "Post a new message in a Teams channel as the user (visible to the whole \
        channel). Confirm the text with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: SendArgs,
    ) -> Result<(PostedMessage, String), ToolError> {
        let channel = [a.team_id.as_str(), a.channel_id.as_str()];
        post_message(
            deps,
            ctx,
            CHANNEL_MESSAGES,
            &channel,
            &a.message,
            a.format,
            |id| format!("Posted message {id}."),
        )
        .await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingArgs {
    pub subject: String,
    /// Start, RFC 3339 (e.g. `2026-05-04T09:00:00Z`).
    pub start: String,
    /// End, RFC 3339.
    pub end: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GOnlineMeeting {
    id: String,
    #[serde(default)]
    join_web_url: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OnlineMeeting {
    pub id: String,
    pub join_url: String,
}

pub struct CreateOnlineMeeting;

#[async_trait::async_trait]
impl TypedTool for CreateOnlineMeeting {
    type Deps = M365Deps;
    type Args = MeetingArgs;
    type Output = OnlineMeeting;
    const NAME: &'static str = "teams_create_online_meeting";
    const TITLE: &'static str = "Create a Teams meeting link";
    const DESCRIPTION: &'static str = "Create a standalone Microsoft Teams meeting and return its join link \
        (no calendar invitation; use calendar_create_event with online_meeting for that).";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: MeetingArgs,
    ) -> Result<(OnlineMeeting, String), ToolError> {
        let start: Timestamp = a.start.parse().map_err(|e| invalid(format!("`start`: {e}")))?;
        let end: Timestamp = a.end.parse().map_err(|e| invalid(format!("`end`: {e}")))?;
        if end <= start || end.duration_since(start) > SignedDuration::from_hours(24) {
            return Err(invalid("`end` must be after `start`, within 24 hours"));
        }
        let req = GraphRequest::post(
            ONLINE_MEETINGS,
            &[],
            json!({"subject": a.subject, "startDateTime": start.to_string(), "endDateTime": end.to_string()}),
        )?;
        let m: GOnlineMeeting = deps.graph.send_as(ctx.into(), &req).await?;
        let join_url = m.join_web_url.unwrap_or_default();
        let text = format!("Teams meeting \"{}\": {join_url}", a.subject);
        Ok((OnlineMeeting { id: m.id, join_url }, text))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ListTeams>(deps.clone()),
        typed::<ListChannels>(deps.clone()),
        typed::<ReadChannel>(deps.clone()),
        typed::<ReadChat>(deps.clone()),
        typed::<SendChannelMessage>(deps.clone()),
        typed::<CreateOnlineMeeting>(deps.clone()),
    ]
    .into_iter()
    .chain(chats::tools(deps))
    .chain(presence::tools(deps))
    .collect()
}
