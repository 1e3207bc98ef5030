//! Reading mail: folders, listing, search, one message.

use std::sync::Arc;

use jiff::Timestamp;
use rmcp::model::Resource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{MAIL_FOLDERS, MESSAGES, MESSAGES_OF_FOLDER};
use crate::{
    graph::{
        Endpoint, GraphRequest,
        odata::{Filter, Query, kql_terms, plain_address},
    },
    resources,
    tools::{
        Tool, ToolContext, ToolError,
        m365::{
            M365Deps, bounded, invalid,
            model::{GMessage, MESSAGE_SUMMARY_FIELDS, MessageDetail, MessageList, MessageSummary},
        },
        typed::{TypedTool, typed},
    },
};

/// Resource links to the messages of a listing.
fn listed_links(list: &MessageList) -> Vec<Resource> {
    message_links(list.messages.iter().map(|m| (m.id.as_str(), m.subject.as_str())))
}

/// Resource links to messages, by id and subject.
pub(crate) fn message_links<'a>(messages: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<Resource> {
    messages
        .filter_map(|(id, subject)| resources::link("mail_get_message", id, subject))
        .collect()
}
const MESSAGE: Endpoint = Endpoint::new("/me/messages/{id}");

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Folder {
    #[default]
    Inbox,
    Sentitems,
    Drafts,
    Archive,
    Junkemail,
}

impl Folder {
    fn id(self) -> &'static str {
        match self {
            Self::Inbox => "inbox",
            Self::Sentitems => "sentitems",
            Self::Drafts => "drafts",
            Self::Archive => "archive",
            Self::Junkemail => "junkemail",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Mail folder; default `inbox`.
    #[serde(default)]
    pub folder: Folder,
    /// Only unread messages.
    #[serde(default)]
    pub unread_only: bool,
    /// How many messages, newest first (1-50, default 10).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
    /// Only messages received at or after this instant (RFC 3339, e.g. `2026-05-01T00:00:00Z`).
    pub since: Option<String>,
}

pub struct ListMessages;

#[async_trait::async_trait]
impl TypedTool for ListMessages {
    type Deps = M365Deps;
    type Args = ListArgs;
    type Output = MessageList;

    fn links(output: &MessageList) -> Vec<Resource> {
        listed_links(output)
    }
    const NAME: &'static str = "mail_list_messages";
    const TITLE: &'static str = "List mail";
    const DESCRIPTION: &'static str = "List the user's recent email in a folder (default inbox), newest first. \
        Filter to unread and/or messages since a time. Returns id, subject, sender, time, read state, \
        importance and a preview; use mail_get_message with an id for the full text.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ListArgs,
    ) -> Result<(MessageList, String), ToolError> {
        let count = bounded("count", a.count, 10, 50)?;
        let since = a.since.as_deref().map(|s| {
            s.parse::<Timestamp>()
                .map_err(|e| invalid(format!("`since`: {e}")))
        });
        let since = since.transpose()?;
        let mut query = Query::new()
            .select(MESSAGE_SUMMARY_FIELDS)
            .top(count)
            .orderby("receivedDateTime desc");
        // Graph wants the $orderby property first in $filter when both are used.
        if a.unread_only || since.is_some() {
            let mut f = Filter::ge_datetime("receivedDateTime", since.unwrap_or(Timestamp::UNIX_EPOCH));
            if a.unread_only {
                f = f.and(Filter::eq_bool("isRead", false));
            }
            query = query.filter(&f);
        }
        let req = GraphRequest::get(MESSAGES_OF_FOLDER, &[a.folder.id()])?.query(query);
        let page = deps
            .graph
            .list::<GMessage>(ctx.into(), &req, count as usize)
            .await?;
        let list = MessageList {
            messages: page.items.into_iter().map(MessageSummary::from).collect(),
            more: page.more,
        };
        let text = list.summary(&format!("message(s) in {}", a.folder.id()));
        Ok((list, text))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Words to look for in subject, body and people (plain words; operators are ignored).
    pub query: String,
    /// Only mail from this address.
    pub from: Option<String>,
    /// How many results (1-50, default 10).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

pub struct Search;

#[async_trait::async_trait]
impl TypedTool for Search {
    type Deps = M365Deps;
    type Args = SearchArgs;
    type Output = MessageList;

    fn links(output: &MessageList) -> Vec<Resource> {
        listed_links(output)
    }
    const NAME: &'static str = "mail_search";
    const TITLE: &'static str = "Search mail";
    const DESCRIPTION: &'static str = "Search all of the user's mail folders by words (subject, body, sender, recipients), \
        optionally only from one sender address. Returns matching messages, most relevant first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: SearchArgs,
    ) -> Result<(MessageList, String), ToolError> {
        let count = bounded("count", a.count, 10, 50)?;
        let terms = kql_terms(&a.query).map_err(invalid)?;
        let kql = match &a.from {
            Some(from) => format!("from:{} {terms}", plain_address(from.trim()).map_err(invalid)?),
            None => terms,
        };
        let req = GraphRequest::get(MESSAGES, &[])?.query(
            Query::new()
                .search(&kql)
                .select(MESSAGE_SUMMARY_FIELDS)
                .top(count),
        );
        let page = deps
            .graph
            .list::<GMessage>(ctx.into(), &req, count as usize)
            .await?;
        let list = MessageList {
            messages: page.items.into_iter().map(MessageSummary::from).collect(),
            more: page.more,
        };
        let text = list.summary("matching message(s)");
        Ok((list, text))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// Message id from mail_list_messages or mail_search.
    pub id: String,
}

pub struct GetMessage;

#[async_trait::async_trait]
impl TypedTool for GetMessage {
    type Deps = M365Deps;
    type Args = GetArgs;
    type Output = MessageDetail;
    const NAME: &'static str = "mail_get_message";
    const TITLE: &'static str = "Read a message";
    const DESCRIPTION: &'static str = "Read one email by id: sender, recipients, time, the body as plain text \
        (HTML converted), and attachments by name and size.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: GetArgs,
    ) -> Result<(MessageDetail, String), ToolError> {
        let req = GraphRequest::get(MESSAGE, &[a.id.as_str()])?.query(
            Query::new()
                .select(&[
                    "id",
                    "subject",
                    "from",
                    "toRecipients",
                    "ccRecipients",
                    "receivedDateTime",
                    "importance",
                    "body",
                    "conversationId",
                    "webLink",
                    "hasAttachments",
                ])
                .expand("attachments($select=id,name,size,contentType,isInline)"),
        );
        let m: GMessage = deps.graph.send_as(ctx.into(), &req).await?;
        let d = MessageDetail::from(m);
        let from = d.from.as_ref().map(|p| p.label()).unwrap_or_default();
        let text = format!("From {from}: {}\n\n{}", d.subject, d.body);
        Ok((d, text))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFoldersArgs {
    /// Most folders (1-100, default 50).
    #[schemars(range(min = 1, max = 100))]
    pub count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GMailFolder {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    unread_item_count: Option<u64>,
    #[serde(default)]
    total_item_count: Option<u64>,
    #[serde(default)]
    child_folder_count: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MailFolder {
    pub id: String,
    pub name: String,
    pub unread: u64,
    pub total: u64,
    /// Folders inside this one (not listed here).
    pub child_folders: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FolderList {
    pub folders: Vec<MailFolder>,
    /// More folders exist than were returned.
    pub more: bool,
}

pub struct ListFolders;

#[async_trait::async_trait]
impl TypedTool for ListFolders {
    type Deps = M365Deps;
    type Args = ListFoldersArgs;
    type Output = FolderList;
    const NAME: &'static str = "mail_list_folders";
    const TITLE: &'static str = "List mail folders";
    const DESCRIPTION: &'static str = "List the user's top-level mail folders (Inbox, Sent Items, Archive, their own \
        folders) with how many messages each holds and how many are unread. Returns names, ids and counts.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ListFoldersArgs,
    ) -> Result<(FolderList, String), ToolError> {
        let count = bounded("count", a.count, 50, 100)?;
        let req = GraphRequest::get(MAIL_FOLDERS, &[])?.query(
            Query::new()
                .select(&[
                    "id",
                    "displayName",
                    "unreadItemCount",
                    "totalItemCount",
                    "childFolderCount",
                ])
                .top(count),
        );
        let page = deps
            .graph
            .list::<GMailFolder>(ctx.into(), &req, count as usize)
            .await?;
        let folders: Vec<MailFolder> = page
            .items
            .into_iter()
            .map(|f| MailFolder {
                id: f.id,
                name: f.display_name.unwrap_or_default(),
                unread: f.unread_item_count.unwrap_or(0),
                total: f.total_item_count.unwrap_or(0),
                child_folders: f.child_folder_count.unwrap_or(0),
            })
            .collect();
        let mut text = format!("{} folder(s)", folders.len());
        for f in &folders {
            text.push_str(&format!(
                "\n- {}: {} unread of {} (id {})",
                f.name, f.unread, f.total, f.id
            ));
        }
        Ok((
            FolderList {
                folders,
                more: page.more,
            },
            text,
        ))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ListMessages>(deps.clone()),
        typed::<ListFolders>(deps.clone()),
        typed::<Search>(deps.clone()),
        typed::<GetMessage>(deps.clone()),
    ]
}
