//! The user's OneDrive: recent files, files shared with them, and uploading a small text file.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document;
use crate::{
    graph::{Endpoint, GraphRequest, odata::Query},
    tools::{
        Tool, ToolContext, ToolError,
        m365::{M365Deps, bounded, invalid},
        typed::{TypedTool, typed},
    },
};

const RECENT: Endpoint = Endpoint::new("/me/drive/recent");
const SHARED_WITH_ME: Endpoint = Endpoint::new("/me/drive/sharedWithMe");
const UPLOAD: Endpoint = Endpoint::new("/me/drive/items/{id}:/{id}:/content");

/// The largest file uploaded (Graph's simple upload takes far more; a note is small).
pub const MAX_UPLOAD_BYTES: usize = 1024 * 1024;

/// A drive item as Graph lists or uploads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GListed {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    last_modified_date_time: Option<String>,
    #[serde(default)]
    remote_item: Option<GRemote>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GRemote {
    id: String,
    #[serde(default)]
    parent_reference: Option<GParent>,
    #[serde(default)]
    shared: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GParent {
    #[serde(default)]
    drive_id: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DriveFile {
    /// Pass to files_read_text (with `drive_id` when present).
    pub id: String,
    /// The drive holding the file when it is someone else's (a shared file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drive_id: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Who shared it with the user (shared files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_by: Option<String>,
    /// files_read_text can read it.
    pub readable: bool,
}

impl From<GListed> for DriveFile {
    fn from(f: GListed) -> Self {
        let name = f.name.unwrap_or_default();
        let (id, drive_id, shared_by) = match f.remote_item {
            Some(r) => (
                r.id,
                r.parent_reference.and_then(|p| p.drive_id),
                r.shared
                    .as_ref()
                    .and_then(|s| s.pointer("/sharedBy/user/displayName")?.as_str())
                    .map(str::to_owned),
            ),
            None => (f.id, None, None),
        };
        Self {
            readable: document::readable(&name),
            id,
            drive_id,
            name,
            size_bytes: f.size,
            web_url: f.web_url,
            last_modified: f.last_modified_date_time,
            shared_by,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DriveFiles {
    pub files: Vec<DriveFile>,
    pub more: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Most files (1-50, default 20).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

fn listing(files: &[DriveFile]) -> String {
    let mut text = format!("{} file(s)", files.len());
    for f in files {
        let by = f
            .shared_by
            .as_deref()
            .map(|b| format!(", shared by {b}"))
            .unwrap_or_default();
        text.push_str(&format!("\n- {} (id {}{by})", f.name, f.id));
    }
    text
}

async fn list(
    deps: &M365Deps,
    ctx: &ToolContext,
    endpoint: Endpoint,
    count: Option<u32>,
) -> Result<(DriveFiles, String), ToolError> {
    let count = bounded("count", count, 20, 50)?;
    let req = GraphRequest::get(endpoint, &[])?.query(Query::new().top(count));
    let page = deps
        .graph
        .list::<GListed>(ctx.into(), &req, count as usize)
        .await?;
    let files: Vec<DriveFile> = page.items.into_iter().map(DriveFile::from).collect();
    let text = listing(&files);
    Ok((
        DriveFiles {
            files,
            more: page.more,
        },
        text,
    ))
}

/// Resource links to the listed files the server can read.
fn file_links(output: &DriveFiles) -> Vec<rmcp::model::Resource> {
    let own = output.files.iter().filter(|f| f.readable && f.drive_id.is_none());
    own.filter_map(|f| crate::resources::link("files_read_text", &f.id, &f.name))
        .collect()
}

pub struct ListRecent;

#[async_trait::async_trait]
impl TypedTool for ListRecent {
    type Deps = M365Deps;
    type Args = ListArgs;
    type Output = DriveFiles;

    fn links(output: &DriveFiles) -> Vec<rmcp::model::Resource> {
        file_links(output)
    }
    const NAME: &'static str = "files_list_recent";
    const TITLE: &'static str = "Recent files";
    const DESCRIPTION: &'static str = "List the files the user opened or changed lately in OneDrive and SharePoint, \
        most recent first, with ids for files_read_text.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: ListArgs) -> Result<(DriveFiles, String), ToolError> {
        list(deps, ctx, RECENT, a.count).await
    }
}

pub struct ListShared;

#[async_trait::async_trait]
impl TypedTool for ListShared {
    type Deps = M365Deps;
    type Args = ListArgs;
    type Output = DriveFiles;
    const NAME: &'static str = "files_list_shared";
    const TITLE: &'static str = "Files shared with me";
    const DESCRIPTION: &'static str = "List the files colleagues shared with the user, with who shared each and the \
        drive_id and id files_read_text needs.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: ListArgs) -> Result<(DriveFiles, String), ToolError> {
        list(deps, ctx, SHARED_WITH_ME, a.count).await
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Refuse when a file of that name exists (default).
    #[default]
    Fail,
    Replace,
    /// Keep both; OneDrive numbers the new one.
    Rename,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadArgs {
    /// The file name, ending `.txt` or `.md`.
    #[schemars(length(min = 4, max = 255))]
    pub name: String,
    /// The file's text (at most 1 MiB as UTF-8).
    pub content: String,
    /// The folder's id (default: the root of the user's OneDrive).
    #[schemars(length(min = 1, max = 512))]
    pub folder_id: Option<String>,
    /// When a file of that name exists: `fail` (default), `replace` or `rename`.
    #[serde(default)]
    pub on_conflict: OnConflict,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Uploaded {
    pub id: String,
    pub name: String,
    pub size_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

/// A OneDrive file name for a text note, and its media type.
fn text_file_name(name: &str) -> Result<(&str, &'static str), ToolError> {
    let bad_char = |c: char| c.is_control() || "\"*:<>?/\\|#%".contains(c);
    if name.is_empty() || name.len() > 255 || name.chars().any(bad_char) {
        return Err(invalid(
            "`name`: 1-255 characters, none of \" * : < > ? / \\ | # % or control characters",
        ));
    }
    if name.starts_with(' ') || name.ends_with(' ') || name.ends_with('.') {
        return Err(invalid(
            "`name` may not start or end with a space, nor end with a dot",
        ));
    }
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let mime = match extension.as_deref() {
        Some("txt") => "text/plain",
        Some("md" | "markdown") => "text/markdown",
        _ => {
            return Err(invalid(
                "`name` must end with .txt or .md (text and Markdown files only)",
            ));
        }
    };
    Ok((name, mime))
}

pub struct UploadText;

#[async_trait::async_trait]
impl TypedTool for UploadText {
    type Deps = M365Deps;
    type Args = UploadArgs;
    type Output = Uploaded;
    const NAME: &'static str = "files_upload_text";
    const TITLE: &'static str = "Save a note to OneDrive";
    const DESCRIPTION: &'static str = "Save a small text or Markdown file (up to 1 MiB) to the user's OneDrive, in \
        its root or a folder; by default an existing file of that name is not overwritten. Returns the file's \
        id and link.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: UploadArgs) -> Result<(Uploaded, String), ToolError> {
        let (name, mime) = text_file_name(&a.name)?;
        if a.content.len() > MAX_UPLOAD_BYTES {
            return Err(invalid(format!(
                "`content`: at most {} KiB of text",
                MAX_UPLOAD_BYTES / 1024
            )));
        }
        let folder = a.folder_id.as_deref().unwrap_or("root");
        let behavior = match a.on_conflict {
            OnConflict::Fail => "fail",
            OnConflict::Replace => "replace",
            OnConflict::Rename => "rename",
        };
        let req = GraphRequest::put_bytes(UPLOAD, &[folder, name], mime, a.content.into_bytes())?
            .query(Query::new().param("@microsoft.graph.conflictBehavior", behavior));
        let f: GListed = deps.graph.send_as(ctx.into(), &req).await?;
        let out = Uploaded {
            name: f.name.unwrap_or_else(|| name.to_owned()),
            size_bytes: f.size.unwrap_or_default(),
            web_url: f.web_url,
            id: f.id,
        };
        let text = format!("Saved {} ({} bytes, id {}).", out.name, out.size_bytes, out.id);
        Ok((out, text))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ListRecent>(deps.clone()),
        typed::<ListShared>(deps.clone()),
        typed::<UploadText>(deps.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_text_or_markdown_with_onedrive_names() {
        assert_eq!(text_file_name("Notes.MD").unwrap().1, "text/markdown");
        assert_eq!(text_file_name("todo.txt").unwrap().1, "text/plain");
        for bad in [
            "",
            "a/b.md",
            "../x.md",
            "x:y.txt",
            "report.docx",
            "noext",
            " lead.md",
            "trail.md.",
            "a\u{7}.md",
        ] {
            assert!(text_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
