//! Keeping mail in order: move, mark (read, flag, categories), delete, forward, send a draft.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::MAIL_FOLDERS;
use crate::{
    graph::{Endpoint, GraphRequest, odata::Filter, odata::Query},
    tools::{
        Tool, ToolContext, ToolError,
        m365::{
            M365Deps, invalid,
            model::{GMessage, recipients},
        },
        typed::{TypedTool, typed},
    },
};

const MESSAGE: Endpoint = Endpoint::new("/me/messages/{id}");
const MOVE: Endpoint = Endpoint::new("/me/messages/{id}/move");
const FORWARD: Endpoint = Endpoint::new("/me/messages/{id}/forward");
const SEND_DRAFT: Endpoint = Endpoint::new("/me/messages/{id}/send");

/// Folders every mailbox has, by the names Graph accepts in place of their ids, with the display
/// names people use for them.
const WELL_KNOWN_FOLDERS: &[(&str, &str)] = &[
    ("inbox", "Inbox"),
    ("archive", "Archive"),
    ("deleteditems", "Deleted Items"),
    ("drafts", "Drafts"),
    ("sentitems", "Sent Items"),
    ("junkemail", "Junk Email"),
];

/// Most categories on one message (Outlook's own limit is far higher; more is a mistake).
const MAX_CATEGORIES: usize = 25;
/// Longest category name Outlook accepts.
const MAX_CATEGORY_CHARS: usize = 255;
/// Most forward recipients.
const MAX_FORWARD_RECIPIENTS: usize = 100;

/// A folder as the user or the model names it: a well-known name (`archive`, "Deleted Items"),
/// a folder id from mail_list_folders, or the display name of a top-level folder.
enum FolderRef<'a> {
    WellKnown(&'static str, &'static str),
    Id(&'a str),
    Name(&'a str),
}

impl<'a> FolderRef<'a> {
    fn parse(folder: &'a str) -> Result<Self, ToolError> {
        let folder = folder.trim();
        if folder.is_empty() || folder.len() > 512 || folder.chars().any(char::is_control) {
            return Err(invalid(
                "`folder`: give a folder name (1-512 characters) or an id from mail_list_folders",
            ));
        }
        let squashed: String = folder.split_whitespace().collect::<String>().to_ascii_lowercase();
        if let Some((id, name)) = WELL_KNOWN_FOLDERS.iter().find(|(id, _)| *id == squashed) {
            return Ok(Self::WellKnown(id, name));
        }
        // Outlook folder ids are long base64 strings; no display name looks like one.
        let id_like = folder.len() >= 64
            && folder
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/'));
        Ok(if id_like {
            Self::Id(folder)
        } else {
            Self::Name(folder)
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GFolderName {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
}

/// The id Graph takes for `folder` and the name to show: well-known names and ids as given, a
/// display name looked up among the top-level folders (exactly one must match).
async fn resolve_folder(
    deps: &M365Deps,
    ctx: &ToolContext,
    folder: &str,
) -> Result<(String, String), ToolError> {
    match FolderRef::parse(folder)? {
        FolderRef::WellKnown(id, name) => Ok((id.into(), name.into())),
        FolderRef::Id(id) => Ok((id.into(), id.into())),
        FolderRef::Name(name) => {
            let req = GraphRequest::get(MAIL_FOLDERS, &[])?.query(
                Query::new()
                    .filter(&Filter::eq_str("displayName", name))
                    .select(&["id", "displayName"])
                    .top(2),
            );
            let page = deps.graph.list::<GFolderName>(ctx.into(), &req, 2).await?;
            match page.items.as_slice() {
                [one] => Ok((
                    one.id.clone(),
                    one.display_name.clone().unwrap_or_else(|| name.into()),
                )),
                [] => Err(invalid(format!(
                    "`folder`: no top-level mail folder is named \"{name}\"; mail_list_folders lists them"
                ))),
                _ => Err(invalid(format!(
                    "`folder`: several folders are named \"{name}\"; pass the id from mail_list_folders"
                ))),
            }
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveArgs {
    /// Id of the message to move.
    pub id: String,
    /// Where to: `archive`, `inbox`, `deleteditems`, `junkemail`, a folder's name ("Projects"),
    /// or its id from mail_list_folders.
    pub folder: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MoveResult {
    /// The message's id in its new folder (Outlook gives a moved message a new id).
    pub id: String,
    pub folder: String,
}

pub struct MoveMessage;

#[async_trait::async_trait]
impl TypedTool for MoveMessage {
    type Deps = M365Deps;
    type Args = MoveArgs;
    type Output = MoveResult;
    const NAME: &'static str = "mail_move_message";
    const TITLE: &'static str = "Move mail to a folder";
    const DESCRIPTION: &'static str = "Move one email to another folder: Archive, Inbox, Junk Email, or any of the \
        user's folders by name or id. Returns the message's new id (moving changes it).";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: MoveArgs) -> Result<(MoveResult, String), ToolError> {
        let (destination, folder) = resolve_folder(deps, ctx, &a.folder).await?;
        let req = GraphRequest::post(MOVE, &[a.id.as_str()], json!({"destinationId": destination}))?;
        let moved: GMessage = deps.graph.send_as(ctx.into(), &req).await?;
        let text = format!("Moved to {folder} (new id {}).", moved.id);
        Ok((MoveResult { id: moved.id, folder }, text))
    }
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum FlagStatus {
    /// Follow up.
    Flagged,
    /// Done.
    Complete,
    /// No flag.
    NotFlagged,
}

impl FlagStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Flagged => "flagged",
            Self::Complete => "complete",
            Self::NotFlagged => "notFlagged",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkArgs {
    /// Id of the message.
    pub id: String,
    /// Mark read (`true`) or unread (`false`).
    pub read: Option<bool>,
    /// `flagged` (follow up), `complete` or `notFlagged`.
    pub flag: Option<FlagStatus>,
    /// Replace the message's categories with these (Outlook category names; `[]` clears them).
    #[schemars(length(max = 25))]
    pub categories: Option<Vec<String>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MarkResult {
    pub id: String,
    pub is_read: bool,
    /// `flagged`, `complete` or `notFlagged`.
    pub flag: String,
    pub categories: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GMarked {
    id: String,
    #[serde(default)]
    is_read: bool,
    #[serde(default)]
    flag: Option<GFlagStatus>,
    #[serde(default)]
    categories: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GFlagStatus {
    #[serde(default)]
    flag_status: Option<String>,
}

pub struct MarkMessage;

#[async_trait::async_trait]
impl TypedTool for MarkMessage {
    type Deps = M365Deps;
    type Args = MarkArgs;
    type Output = MarkResult;
    const NAME: &'static str = "mail_mark_message";
    const TITLE: &'static str = "Mark, flag or categorize mail";
    const DESCRIPTION: &'static str = "Mark one email read or unread, flag it for follow-up (or complete or clear \
        the flag), and/or set its Outlook categories. Give at least one of read, flag, categories; \
        returns the message's state after the change.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: MarkArgs) -> Result<(MarkResult, String), ToolError> {
        let mut patch = Map::new();
        if let Some(read) = a.read {
            patch.insert("isRead".into(), Value::Bool(read));
        }
        if let Some(flag) = a.flag {
            patch.insert("flag".into(), json!({"flagStatus": flag.as_str()}));
        }
        if let Some(categories) = &a.categories {
            if categories.len() > MAX_CATEGORIES {
                return Err(invalid(format!("`categories`: at most {MAX_CATEGORIES}")));
            }
            if let Some(bad) = categories
                .iter()
                .position(|c| c.trim().is_empty() || c.chars().count() > MAX_CATEGORY_CHARS)
            {
                return Err(invalid(format!(
                    "`categories[{bad}]`: a category name has 1-{MAX_CATEGORY_CHARS} characters"
                )));
            }
            patch.insert("categories".into(), json!(categories));
        }
        if patch.is_empty() {
            return Err(invalid("give at least one of `read`, `flag` or `categories`"));
        }
        let req = GraphRequest::patch(MESSAGE, &[a.id.as_str()], Value::Object(patch))?;
        let m: GMarked = deps.graph.send_as(ctx.into(), &req).await?;
        let result = MarkResult {
            id: m.id,
            is_read: m.is_read,
            flag: m
                .flag
                .and_then(|f| f.flag_status)
                .unwrap_or_else(|| "notFlagged".into()),
            categories: m.categories,
        };
        let text = format!(
            "Now {}, flag {}, categories: {}.",
            if result.is_read { "read" } else { "unread" },
            result.flag,
            if result.categories.is_empty() {
                "none".into()
            } else {
                result.categories.join(", ")
            }
        );
        Ok((result, text))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// Id of the message to delete.
    pub id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteResult {
    pub deleted: bool,
}

pub struct DeleteMessage;

#[async_trait::async_trait]
impl TypedTool for DeleteMessage {
    type Deps = M365Deps;
    type Args = DeleteArgs;
    type Output = DeleteResult;
    const NAME: &'static str = "mail_delete_message";
    const TITLE: &'static str = "Delete mail";
    const DESCRIPTION: &'static str = "Delete one email: it goes to Deleted Items, where the user can still \
        recover it. Confirm with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: DeleteArgs,
    ) -> Result<(DeleteResult, String), ToolError> {
        deps.graph
            .send(ctx.into(), &GraphRequest::delete(MESSAGE, &[a.id.as_str()])?)
            .await?;
        Ok((DeleteResult { deleted: true }, "Moved to Deleted Items.".into()))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardArgs {
    /// Id of the message to forward.
    pub id: String,
    /// Recipient addresses.
    #[schemars(length(min = 1, max = 100))]
    pub to: Vec<String>,
    /// A note placed above the forwarded message.
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ForwardResult {
    pub forwarded: bool,
    pub recipients: usize,
}

pub struct Forward;

#[async_trait::async_trait]
impl TypedTool for Forward {
    type Deps = M365Deps;
    type Args = ForwardArgs;
    type Output = ForwardResult;
    const NAME: &'static str = "mail_forward";
    const TITLE: &'static str = "Forward mail";
    const DESCRIPTION: &'static str = "Forward one email, with its attachments and an optional note, to other \
        people now. Sends immediately; confirm recipients with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ForwardArgs,
    ) -> Result<(ForwardResult, String), ToolError> {
        if a.to.is_empty() || a.to.len() > MAX_FORWARD_RECIPIENTS {
            return Err(invalid(format!("`to`: 1-{MAX_FORWARD_RECIPIENTS} addresses")));
        }
        let body = json!({"comment": a.comment, "toRecipients": recipients(&a.to)?});
        deps.graph
            .send(ctx.into(), &GraphRequest::post(FORWARD, &[a.id.as_str()], body)?)
            .await?;
        let n = a.to.len();
        Ok((
            ForwardResult {
                forwarded: true,
                recipients: n,
            },
            format!("Forwarded to {n} recipient(s)."),
        ))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendDraftArgs {
    /// Id of the draft (from mail_create_draft or mail_list_messages in `drafts`).
    pub id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SendDraftResult {
    pub sent: bool,
}

pub struct SendDraft;

#[async_trait::async_trait]
impl TypedTool for SendDraft {
    type Deps = M365Deps;
    type Args = SendDraftArgs;
    type Output = SendDraftResult;
    const NAME: &'static str = "mail_send_draft";
    const TITLE: &'static str = "Send a draft";
    const DESCRIPTION: &'static str = "Send a saved draft as it is (it moves to Sent Items). Read it back with \
        mail_get_message and confirm with the user first.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: SendDraftArgs,
    ) -> Result<(SendDraftResult, String), ToolError> {
        deps.graph
            .send(
                ctx.into(),
                &GraphRequest::post_empty(SEND_DRAFT, &[a.id.as_str()])?,
            )
            .await?;
        Ok((SendDraftResult { sent: true }, "Draft sent.".into()))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<MoveMessage>(deps.clone()),
        typed::<MarkMessage>(deps.clone()),
        typed::<DeleteMessage>(deps.clone()),
        typed::<Forward>(deps.clone()),
        typed::<SendDraft>(deps.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_well_known_ids_or_names() {
        assert!(matches!(
            FolderRef::parse(" Deleted  items ").unwrap(),
            FolderRef::WellKnown("deleteditems", "Deleted Items")
        ));
        assert!(matches!(
            FolderRef::parse("ARCHIVE").unwrap(),
            FolderRef::WellKnown("archive", _)
        ));
        let id = "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQ=";
        assert!(matches!(FolderRef::parse(id).unwrap(), FolderRef::Id(_)));
        assert!(matches!(
            FolderRef::parse("Projects 2026").unwrap(),
            FolderRef::Name("Projects 2026")
        ));
        for bad in ["", "  ", "a\u{0}b", &"x".repeat(513)] {
            assert!(FolderRef::parse(bad).is_err(), "{bad:?}");
        }
    }
}
