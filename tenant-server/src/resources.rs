//! Resources: Microsoft 365 items addressable by URI templates (`m365://mail/messages/{id}`,
//! `m365://calendar/events/{id}`, `m365://teams/chats/{id}`, `m365://files/items/{id}`), so
//! that tools can link to them and clients can attach them. Each is read by the tool that reads
//! it, through the tool pipeline: the caller's delegated Graph token, the same authorization
//! (a caller sees and reads only the templates of tools their tiers allow; any other URI is
//! answered as not found), the same audit line and metrics.

use std::sync::Arc;

use rmcp::{
    ErrorData,
    model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate},
};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::{
    caller::Caller,
    tool_calls::{self, CallChannels, ToolCall, ToolCalls},
    tools::ToolError,
};

/// The longest id in a resource URI, in bytes (Graph ids are about 150).
pub const MAX_ID_BYTES: usize = 512;

/// One URI template and the tool that reads it.
pub struct TemplateDefinition {
    /// `{prefix}{id}`; the id is percent-encoded in URIs.
    pub prefix: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// The tool whose authorization the template shares and which reads it, with the id as its
    /// one argument `argument`.
    pub tool: &'static str,
    pub argument: &'static str,
}

pub const TEMPLATES: &[TemplateDefinition] = &[
    TemplateDefinition {
        prefix: "m365://mail/messages/",
        name: "mail-message",
        title: "Mail message",
        description: "One email: sender, recipients, time, subject and the body as plain text.",
        tool: "mail_get_message",
        argument: "id",
    },
    TemplateDefinition {
        prefix: "m365://calendar/events/",
        name: "calendar-event",
        title: "Calendar event",
        description: "One calendar event: subject, time (UTC), place, organizer, attendees and the invitation text.",
        tool: "calendar_get_event",
        argument: "id",
    },
    TemplateDefinition {
        prefix: "m365://teams/chats/",
        name: "teams-chat",
        title: "Teams chat",
        description: "The recent messages of a Teams chat, newest first: who wrote what, and when.",
        tool: "teams_read_chat",
        argument: "chat_id",
    },
    TemplateDefinition {
        prefix: "m365://files/items/",
        name: "file-text",
        title: "File text",
        description: "The text of a OneDrive file: Word, Excel, PowerPoint, PDF, text, Markdown, CSV, JSON, XML, YAML or HTML, up to 16 MiB.",
        tool: "files_read_text",
        argument: "id",
    },
];

/// What an id's percent-encoding escapes: everything but unreserved characters (RFC 3986).
const ID_RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The text/plain contents of every resource.
const MIME_TYPE: &str = "text/plain";

impl TemplateDefinition {
    pub fn uri_template(&self) -> String {
        format!("{}{{id}}", self.prefix)
    }

    /// The URI of the item `id`.
    pub fn uri(&self, id: &str) -> String {
        let encoded = percent_encoding::utf8_percent_encode(id, ID_RESERVED);
        format!("{}{encoded}", self.prefix)
    }

    pub fn to_mcp(&self) -> ResourceTemplate {
        ResourceTemplate::new(self.uri_template(), self.name)
            .with_title(self.title)
            .with_description(self.description)
            .with_mime_type(MIME_TYPE)
    }

    /// The id in `uri`, if `uri` is of this template.
    fn id_in(&self, uri: &str) -> Option<Result<String, ErrorData>> {
        let encoded = uri.strip_prefix(self.prefix)?;
        Some(decode_id(uri, encoded))
    }
}

/// The id of `uri` decoded: 1 to [`MAX_ID_BYTES`] bytes, no `/`, no control character.
fn decode_id(uri: &str, encoded: &str) -> Result<String, ErrorData> {
    let refused = |why: &str| {
        ErrorData::invalid_params(
            format!("resource URI {}: {why}", shown(uri)),
            Some(json!({"uri": shown(uri)})),
        )
    };
    if encoded.contains('/') {
        return Err(refused("the id must be one path segment"));
    }
    let id = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| refused("the id is not UTF-8 once decoded"))?;
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(refused(&format!("the id must be 1 to {MAX_ID_BYTES} bytes")));
    }
    if id.chars().any(|c| c.is_control() || c == '/') {
        return Err(refused("the id may not hold control characters or `/`"));
    }
    Ok(id.into_owned())
}

/// At most 200 characters of a URI, for errors.
fn shown(uri: &str) -> String {
    uri.chars().take(200).collect()
}

/// Invalid params naming the URI, as SEP-2164 asks of a resource that does not exist.
pub fn not_found(uri: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("resource not found: {}", shown(uri)),
        Some(json!({"uri": shown(uri)})),
    )
}

/// The templates `caller` may read: those of tools the tenant offers and their tiers allow.
pub fn allowed<'a>(
    calls: &'a ToolCalls,
    caller: &'a Caller,
) -> impl Iterator<Item = &'static TemplateDefinition> + 'a {
    TEMPLATES.iter().filter(move |t| calls.offers(caller, t.tool))
}

/// A link to the item `id` of the template read by `tool`, named `name` (e.g. a subject), for a
/// tool's result. The MCP layer drops links the caller may not read.
pub fn link(tool: &str, id: &str, name: &str) -> Option<Resource> {
    let template = TEMPLATES.iter().find(|t| t.tool == tool)?;
    let name = if name.trim().is_empty() { id } else { name };
    Some(Resource::new(template.uri(id), name).with_mime_type(MIME_TYPE))
}

/// Whether `caller` may read the resource `uri` (a URI of no template is not this module's).
pub fn readable(calls: &ToolCalls, caller: &Caller, uri: &str) -> bool {
    match TEMPLATES.iter().find(|t| uri.starts_with(t.prefix)) {
        Some(template) => calls.offers(caller, template.tool),
        None => true,
    }
}

/// What a read needs besides the URI.
pub struct ReadRequest<'a> {
    pub caller: Arc<Caller>,
    pub request_id: String,
    pub uri: &'a str,
    pub cancel: CancellationToken,
}

/// `resources/read` of an `m365://` URI: `None` when no template has the URI (another source
/// may); a template the caller may not read, and an item Graph does not find, are not found.
pub async fn read(
    calls: &ToolCalls,
    request: ReadRequest<'_>,
) -> Option<Result<ReadResourceResult, ErrorData>> {
    let (template, id) = TEMPLATES
        .iter()
        .find_map(|t| t.id_in(request.uri).map(|id| (t, id)))?;
    Some(read_item(calls, request, template, id).await)
}

async fn read_item(
    calls: &ToolCalls,
    request: ReadRequest<'_>,
    template: &TemplateDefinition,
    id: Result<String, ErrorData>,
) -> Result<ReadResourceResult, ErrorData> {
    let uri = request.uri;
    let id = id?;
    let decision = calls.authorize(&request.caller, template.tool);
    if !decision.is_allowed() {
        return Err(not_found(uri));
    }
    let call = ToolCall {
        caller: request.caller,
        request_id: request.request_id,
        name: template.tool,
        arguments: Map::from_iter([(template.argument.to_owned(), Value::String(id))]),
        cancel: request.cancel,
        channels: CallChannels::default(),
    };
    let result = calls.run(call, decision).await.map_err(|_| not_found(uri))?;
    match result {
        Ok(result) => {
            let text: Vec<String> = result
                .content
                .iter()
                .filter_map(|block| block.as_text().map(|t| t.text.clone()))
                .collect();
            let contents = ResourceContents::text(text.join("\n\n"), uri).with_mime_type(MIME_TYPE);
            Ok(ReadResourceResult::new(vec![contents]))
        }
        Err(ToolError::Upstream { code, .. }) if code.to_ascii_lowercase().ends_with("notfound") => {
            Err(not_found(uri))
        }
        Err(ToolError::Cancelled) => Err(tool_calls::cancelled()),
        Err(error @ (ToolError::InvalidArguments(_) | ToolError::SignInRequired(_))) => Err(
            ErrorData::invalid_params(format!("resource {}: {error}", shown(uri)), None),
        ),
        Err(error) => Err(ErrorData::internal_error(
            format!("resource {}: {error}", shown(uri)),
            None,
        )),
    }
}
