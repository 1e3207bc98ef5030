//! Contacts, relevant people, file search, and a file's text.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{M365Deps, Tool, TypedTool, bounded, invalid, text::html_to_text, typed};
use crate::{
    graph::{
        Endpoint, GraphError, GraphRequest,
        odata::{Filter, MAX_SEARCH_CHARS, Query, kql_terms},
    },
    tools::{ToolContext, ToolError},
};

const CONTACTS: Endpoint = Endpoint::new("/me/contacts");
pub(super) const PEOPLE: Endpoint = Endpoint::new("/me/people");
const SEARCH_QUERY: Endpoint = Endpoint::new("/search/query");
const DRIVE_ITEM: Endpoint = Endpoint::new("/me/drive/items/{id}");

/// The largest file `files_read_text` downloads.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The most characters of a file's text it returns.
pub const MAX_TEXT_CHARS: usize = 100_000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Name, part of a name, or e-mail address (prefix for contacts).
    pub query: String,
    /// Most results (1-50, default 10).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GContact {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email_addresses: Vec<super::model::GEmail>,
    #[serde(default)]
    business_phones: Vec<String>,
    #[serde(default)]
    mobile_phone: Option<String>,
    #[serde(default)]
    company_name: Option<String>,
    #[serde(default)]
    job_title: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ContactList {
    pub contacts: Vec<Contact>,
    pub more: bool,
}

pub struct ContactsSearch;

#[async_trait::async_trait]
impl TypedTool for ContactsSearch {
    type Deps = M365Deps;
    type Args = SearchArgs;
    type Output = ContactList;
    const NAME: &'static str = "contacts_search";
    const TITLE: &'static str = "Search contacts";
    const DESCRIPTION: &'static str = "Find people in the user's Outlook contacts whose name or e-mail address \
        starts with the query. Returns names, addresses, phones and company.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: SearchArgs,
    ) -> Result<(ContactList, String), ToolError> {
        let count = bounded("count", a.count, 10, 50)?;
        let q = a.query.trim();
        if q.is_empty() || q.chars().count() > MAX_SEARCH_CHARS {
            return Err(invalid(format!(
                "`query` must have 1 to {MAX_SEARCH_CHARS} characters"
            )));
        }
        let filter = Filter::starts_with("displayName", q)
            .or(Filter::starts_with("givenName", q))
            .or(Filter::starts_with("surname", q))
            .or(Filter::any_starts_with("emailAddresses", "address", q));
        let req = GraphRequest::get(CONTACTS, &[])?.query(
            Query::new()
                .filter(&filter)
                .select(&[
                    "id",
                    "displayName",
                    "emailAddresses",
                    "businessPhones",
                    "mobilePhone",
                    "companyName",
                    "jobTitle",
                ])
                .top(count),
        );
        let page = deps
            .graph
            .list::<GContact>(ctx.into(), &req, count as usize)
            .await?;
        let contacts: Vec<Contact> = page
            .items
            .into_iter()
            .map(|c| Contact {
                id: c.id,
                name: c.display_name.unwrap_or_default(),
                emails: c.email_addresses.into_iter().filter_map(|e| e.address).collect(),
                phones: c
                    .business_phones
                    .into_iter()
                    .chain(c.mobile_phone)
                    .filter(|p| !p.is_empty())
                    .collect(),
                company: c.company_name.filter(|s| !s.is_empty()),
                job_title: c.job_title.filter(|s| !s.is_empty()),
            })
            .collect();
        let mut text = format!("{} contact(s)", contacts.len());
        for c in &contacts {
            text.push_str(&format!("\n- {} {}", c.name, c.emails.join(", ")));
        }
        Ok((
            ContactList {
                contacts,
                more: page.more,
            },
            text,
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GPerson {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub scored_email_addresses: Vec<GScored>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GScored {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub relevance_score: Option<f64>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RelevantPerson {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Graph's relevance of this person to the user (higher: more contact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
}

impl From<GPerson> for RelevantPerson {
    fn from(p: GPerson) -> Self {
        let first = p.scored_email_addresses.into_iter().next();
        Self {
            name: p.display_name.unwrap_or_default(),
            address: first.as_ref().and_then(|s| s.address.clone()),
            job_title: p.job_title.filter(|s| !s.is_empty()),
            department: p.department.filter(|s| !s.is_empty()),
            company: p.company_name.filter(|s| !s.is_empty()),
            relevance: first.and_then(|s| s.relevance_score),
        }
    }
}

pub(crate) const PEOPLE_FIELDS: &[&str] = &[
    "displayName",
    "scoredEmailAddresses",
    "jobTitle",
    "department",
    "companyName",
];

#[derive(Debug, Serialize, JsonSchema)]
pub struct PeopleList {
    pub people: Vec<RelevantPerson>,
}

pub struct PeopleSearch;

#[async_trait::async_trait]
impl TypedTool for PeopleSearch {
    type Deps = M365Deps;
    type Args = SearchArgs;
    type Output = PeopleList;
    const NAME: &'static str = "people_search";
    const TITLE: &'static str = "Search people";
    const DESCRIPTION: &'static str = "Find people relevant to the user (colleagues and frequent contacts, ranked by \
        how much they work together) by name or address. Returns name, address, job title and department.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: SearchArgs,
    ) -> Result<(PeopleList, String), ToolError> {
        let count = bounded("count", a.count, 10, 50)?;
        let kql = kql_terms(&a.query).map_err(invalid)?;
        let req =
            GraphRequest::get(PEOPLE, &[])?.query(Query::new().search(&kql).select(PEOPLE_FIELDS).top(count));
        let page = deps
            .graph
            .list::<GPerson>(ctx.into(), &req, count as usize)
            .await?;
        let people: Vec<RelevantPerson> = page.items.into_iter().map(RelevantPerson::from).collect();
        let mut text = format!("{} person(s)", people.len());
        for p in &people {
            text.push_str(&format!("\n- {} {}", p.name, p.address.as_deref().unwrap_or("")));
        }
        Ok((PeopleList { people }, text))
    }
}

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
        let readable = output.files.iter().filter(|f| text_kind(&f.name, None).is_some());
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

/// How a file's bytes become text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextKind {
    Plain,
    Html,
}

/// Text files by extension or MIME type; `None` for any other file.
fn text_kind(name: &str, mime: Option<&str>) -> Option<TextKind> {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("html" | "htm") => return Some(TextKind::Html),
        Some("txt" | "md" | "markdown" | "csv" | "tsv" | "json" | "log" | "xml" | "yaml" | "yml") => {
            return Some(TextKind::Plain);
        }
        _ => {}
    }
    match mime? {
        "text/html" => Some(TextKind::Html),
        m if m.starts_with("text/") || m == "application/json" || m == "application/xml" => {
            Some(TextKind::Plain)
        }
        _ => None,
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadTextArgs {
    /// The file's id (from files_search or a link).
    #[schemars(length(min = 1, max = 512))]
    pub id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FileText {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// The file's text (HTML converted), at most 100,000 characters.
    pub text: String,
    /// The text was longer and is cut at the limit.
    pub truncated: bool,
}

fn unsupported(message: String) -> ToolError {
    ToolError::Upstream {
        service: "files",
        code: "unsupportedType".into(),
        message,
    }
}

pub struct ReadFileText;

#[async_trait::async_trait]
impl TypedTool for ReadFileText {
    type Deps = M365Deps;
    type Args = ReadTextArgs;
    type Output = FileText;
    const NAME: &'static str = "files_read_text";
    const TITLE: &'static str = "Read a text file";
    const DESCRIPTION: &'static str = "Read the text of a OneDrive or SharePoint file by id: plain text, Markdown, \
        CSV, JSON, XML, YAML or HTML (converted to text), up to 1 MiB. Other types (Word, PowerPoint, PDF) \
        are refused with their type.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ReadTextArgs,
    ) -> Result<(FileText, String), ToolError> {
        let req = GraphRequest::get(DRIVE_ITEM, &[a.id.as_str()])?.query(Query::new().select(&[
            "id",
            "name",
            "size",
            "webUrl",
            "file",
            "@microsoft.graph.downloadUrl",
        ]));
        let item: GDriveItem = deps.graph.send_as(ctx.into(), &req).await?;
        let name = item.name.unwrap_or_default();
        let Some(file) = item.file else {
            return Err(invalid(format!("{name:?} is a folder, not a file")));
        };
        let mime = file.mime_type;
        let kind = text_kind(&name, mime.as_deref()).ok_or_else(|| {
            unsupported(format!(
                "{name:?} is {}; files_read_text reads text files (txt, md, csv, json, xml, yaml, html)",
                mime.as_deref().unwrap_or("of an unknown type")
            ))
        })?;
        if item.size.is_some_and(|size| size > MAX_FILE_BYTES) {
            return Err(GraphError::TooLarge {
                limit: MAX_FILE_BYTES,
            }
            .into());
        }
        let url = item
            .download_url
            .ok_or_else(|| GraphError::Malformed("the drive item has no download URL".into()))?;
        let bytes = deps.graph.download(ctx.into(), &url, MAX_FILE_BYTES).await?;
        if bytes.contains(&0) {
            return Err(unsupported(format!("{name:?} holds binary data, not text")));
        }
        let decoded = String::from_utf8_lossy(&bytes);
        let decoded = decoded.strip_prefix('\u{feff}').unwrap_or(&decoded);
        let full = match kind {
            TextKind::Plain => decoded.to_owned(),
            TextKind::Html => html_to_text(decoded),
        };
        let truncated = full.chars().count() > MAX_TEXT_CHARS;
        let text: String = full.chars().take(MAX_TEXT_CHARS).collect();
        let summary = format!(
            "{name} ({} bytes{})\n\n{text}",
            bytes.len(),
            if truncated {
                ", text cut at 100,000 characters"
            } else {
                ""
            }
        );
        let out = FileText {
            id: item.id,
            name,
            mime_type: mime,
            size_bytes: item.size,
            web_url: item.web_url,
            text,
            truncated,
        };
        Ok((out, summary))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ContactsSearch>(deps.clone()),
        typed::<PeopleSearch>(deps.clone()),
        typed::<FilesSearch>(deps.clone()),
        typed::<ReadFileText>(deps.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_files_are_known_by_extension_or_type() {
        assert_eq!(text_kind("notes.MD", None), Some(TextKind::Plain));
        assert_eq!(
            text_kind("page.htm", Some("application/octet-stream")),
            Some(TextKind::Html)
        );
        assert_eq!(text_kind("data", Some("application/json")), Some(TextKind::Plain));
        assert_eq!(
            text_kind("readme", Some("text/plain; charset=utf-8")),
            Some(TextKind::Plain)
        );
        assert_eq!(
            text_kind("Roadmap.pptx", Some("application/vnd.ms-powerpoint")),
            None
        );
        assert_eq!(text_kind("report.pdf", Some("application/pdf")), None);
        assert_eq!(text_kind("noextension", None), None);
    }
}
