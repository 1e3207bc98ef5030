//! OneDrive and SharePoint: search, a file's text ([`document`]: text, HTML, Word, Excel,
//! PowerPoint, PDF), recent and shared files and uploads ([`drive`]).

pub(super) mod document;
mod drive;

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{M365Deps, Tool, TypedTool, bounded, directory::SearchArgs, invalid, typed};
use crate::{
    graph::{
        Endpoint, GraphError, GraphRequest,
        odata::{Query, kql_terms},
    },
    tools::{ToolContext, ToolError},
};

const SEARCH_QUERY: Endpoint = Endpoint::new("/search/query");
const DRIVE_ITEM: Endpoint = Endpoint::new("/me/drive/items/{id}");
const DRIVE_ITEM_OF: Endpoint = Endpoint::new("/drives/{id}/items/{id}");

#[derive(Debug, Serialize, JsonSchema)]
pub struct FileHit {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Matching text around the query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FileList {
    pub files: Vec<FileHit>,
    pub more: bool,
}

pub struct FilesSearch;

#[async_trait::async_trait]
impl TypedTool for FilesSearch {
    type Deps = M365Deps;
    type Args = SearchArgs;
    type Output = FileList;
    const NAME: &'static str = "files_search";

    /// Text files only: the others cannot be read as a resource.
    fn links(output: &FileList) -> Vec<rmcp::model::Resource> {
        let readable = output.files.iter().filter(|f| document::readable(&f.name));
        readable
            .filter_map(|f| crate::resources::link("files_read_text", &f.id, &f.name))
            .collect()
    }
    const TITLE: &'static str = "Search files";
    const DESCRIPTION: &'static str = "Search the OneDrive and SharePoint documents the user can open, by words in \
        their name or content. Returns names, links, sizes, authors and a matching snippet.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: SearchArgs) -> Result<(FileList, String), ToolError> {
        let count = bounded("count", a.count, 10, 50)?;
        let kql = kql_terms(&a.query).map_err(invalid)?;
        let req = GraphRequest::post(
            SEARCH_QUERY,
            &[],
            json!({"requests": [{"entityTypes": ["driveItem"], "query": {"queryString": kql}, "from": 0, "size": count}]}),
        )?;
        let v = deps.graph.send(ctx.into(), &req).await?;
        let container = v.pointer("/value/0/hitsContainers/0").ok_or_else(|| {
            ToolError::from(GraphError::Malformed("search returned no hitsContainers".into()))
        })?;
        let hits = container
            .get("hits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let files: Vec<FileHit> = hits
            .iter()
            .map(|h| {
                let r = &h["resource"];
                let s = |p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_string);
                FileHit {
                    id: s("/id").unwrap_or_default(),
                    name: s("/name").unwrap_or_default(),
                    web_url: s("/webUrl"),
                    size_bytes: r.get("size").and_then(Value::as_u64),
                    last_modified: s("/lastModifiedDateTime"),
                    created_by: s("/createdBy/user/displayName"),
                    summary: h.get("summary").and_then(Value::as_str).map(str::to_string),
                }
            })
            .collect();
        let more = container
            .get("moreResultsAvailable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut text = format!("{} file(s)", files.len());
        for f in &files {
            text.push_str(&format!("\n- {} {}", f.name, f.web_url.as_deref().unwrap_or("")));
        }
        Ok((FileList { files, more }, text))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GDriveItem {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    file: Option<GFileFacet>,
    #[serde(default, rename = "@microsoft.graph.downloadUrl")]
    download_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GFileFacet {
    #[serde(default)]
    mime_type: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadTextArgs {
    /// The file's id (from files_search, files_list_recent, files_list_shared or a link).
    #[schemars(length(min = 1, max = 512))]
    pub id: String,
    /// The drive holding the file when it is not the user's own OneDrive (`drive_id` of
    /// files_list_recent or files_list_shared).
    #[schemars(length(min = 1, max = 512))]
    pub drive_id: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FileText {
    pub id: String,
    pub name: String,
    /// What it was read as: `text file`, `HTML document`, `Word document`, `Excel workbook`,
    /// `PowerPoint presentation` or `PDF`.
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// The document's text (HTML converted; tables and sheets as tab-separated rows; slides
    /// and pages in order), at most 100,000 characters.
    pub text: String,
    /// The text was longer and is cut at the limit.
    pub truncated: bool,
}

pub struct ReadFileText;

#[async_trait::async_trait]
impl TypedTool for ReadFileText {
    type Deps = M365Deps;
    type Args = ReadTextArgs;
    type Output = FileText;
    const NAME: &'static str = "files_read_text";
    const TITLE: &'static str = "Read a file";
    const DESCRIPTION: &'static str = "Read the text of a OneDrive or SharePoint file by id: Word, Excel (every \
        sheet), PowerPoint (every slide), PDF, plain text, Markdown, CSV, JSON, XML, YAML or HTML, up to 16 MiB \
        and 100,000 characters of text. Other types (images, legacy .doc/.xls/.ppt, archives) are refused with \
        their type.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ReadTextArgs,
    ) -> Result<(FileText, String), ToolError> {
        let fields = [
            "id",
            "name",
            "size",
            "webUrl",
            "file",
            "@microsoft.graph.downloadUrl",
        ];
        let req = match &a.drive_id {
            Some(drive) => GraphRequest::get(DRIVE_ITEM_OF, &[drive.as_str(), a.id.as_str()])?,
            None => GraphRequest::get(DRIVE_ITEM, &[a.id.as_str()])?,
        }
        .query(Query::new().select(&fields));
        let item: GDriveItem = deps.graph.send_as(ctx.into(), &req).await?;
        let name = item.name.unwrap_or_default();
        let Some(file) = item.file else {
            return Err(invalid(format!("{name:?} is a folder, not a file")));
        };
        let mime = file.mime_type;
        let format = document::format_of(&name, mime.as_deref())?;
        if item.size.is_some_and(|size| size > document::MAX_DOCUMENT_BYTES) {
            return Err(GraphError::TooLarge {
                limit: document::MAX_DOCUMENT_BYTES,
            }
            .into());
        }
        let url = item
            .download_url
            .ok_or_else(|| GraphError::Malformed("the drive item has no download URL".into()))?;
        let bytes = deps
            .graph
            .download(ctx.into(), &url, document::MAX_DOCUMENT_BYTES)
            .await?;
        let size = bytes.len();
        let doc = document::text_of(ctx, &name, format, bytes).await?;
        let summary = format!(
            "{name} ({}, {size} bytes{})\n\n{}",
            doc.format,
            if doc.truncated {
                ", text cut at 100,000 characters"
            } else {
                ""
            },
            doc.text
        );
        let out = FileText {
            id: item.id,
            name,
            format: doc.format.name().into(),
            mime_type: mime,
            size_bytes: item.size,
            web_url: item.web_url,
            text: doc.text,
            truncated: doc.truncated,
        };
        Ok((out, summary))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<FilesSearch>(deps.clone()),
        typed::<ReadFileText>(deps.clone()),
    ]
    .into_iter()
    .chain(drive::tools(deps))
    .collect()
}
