//! Reading a mail attachment as text: the same formats and limits as files, within what Graph
//! hands over inline (base64 in JSON).

use std::sync::Arc;

use base64::{Engine as _, prelude::BASE64_STANDARD};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    graph::{Endpoint, GraphError, GraphRequest, odata::Query},
    tools::{
        Tool, ToolContext, ToolError,
        m365::{M365Deps, files::document},
        typed::{TypedTool, typed},
    },
};

const ATTACHMENT: Endpoint = Endpoint::new("/me/messages/{id}/attachments/{id}");

/// The largest attachment read: its base64 (a third larger) must fit the 16 MiB the Graph
/// client reads of one answer.
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadAttachmentArgs {
    /// The message's id.
    #[schemars(length(min = 1, max = 512))]
    pub message_id: String,
    /// The attachment's id (from mail_get_message).
    #[schemars(length(min = 1, max = 512))]
    pub attachment_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GAttachmentMeta {
    #[serde(default, rename = "@odata.type")]
    odata_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GAttachmentContent {
    #[serde(default)]
    content_bytes: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AttachmentText {
    pub name: String,
    /// What it was read as: `Word document`, `Excel workbook`, `PDF`, ...
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub size_bytes: u64,
    /// The attachment's text, at most 100,000 characters.
    pub text: String,
    pub truncated: bool,
}

fn refused(code: &str, message: String) -> ToolError {
    ToolError::Upstream {
        service: "mail",
        code: code.into(),
        message,
    }
}

pub struct ReadAttachment;

#[async_trait::async_trait]
impl TypedTool for ReadAttachment {
    type Deps = M365Deps;
    type Args = ReadAttachmentArgs;
    type Output = AttachmentText;
    const NAME: &'static str = "mail_read_attachment";
    const TITLE: &'static str = "Read an attachment";
    const DESCRIPTION: &'static str = "Read the text of a file attached to an email: Word, Excel, PowerPoint, PDF, \
        text, CSV or HTML, up to 10 MiB and 100,000 characters. Images, attached emails, links to cloud files \
        and other types are refused with their type.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ReadAttachmentArgs,
    ) -> Result<(AttachmentText, String), ToolError> {
        let params = [a.message_id.as_str(), a.attachment_id.as_str()];
        // What it is and how large, before any content is fetched.
        let meta_req = GraphRequest::get(ATTACHMENT, &params)?.query(Query::new().select(&[
            "id",
            "name",
            "contentType",
            "size",
            "isInline",
        ]));
        let meta: GAttachmentMeta = deps.graph.send_as(ctx.into(), &meta_req).await?;
        let name = meta.name.unwrap_or_default();
        match meta.odata_type.as_deref() {
            Some("#microsoft.graph.fileAttachment") | None => {}
            Some("#microsoft.graph.itemAttachment") => {
                return Err(refused(
                    "unsupportedType",
                    format!("{name:?} is an attached Outlook item (an email or event), not a file"),
                ));
            }
            Some(other) => {
                return Err(refused(
                    "unsupportedType",
                    format!("{name:?} is a {other} (a link to a cloud file); read it with the files tools"),
                ));
            }
        }
        let format = document::format_of(&name, meta.content_type.as_deref())?;
        if meta.size.is_some_and(|s| s > MAX_ATTACHMENT_BYTES) {
            return Err(GraphError::TooLarge {
                limit: MAX_ATTACHMENT_BYTES,
            }
            .into());
        }
        let content: GAttachmentContent = deps
            .graph
            .send_as(ctx.into(), &GraphRequest::get(ATTACHMENT, &params)?)
            .await?;
        let encoded = content
            .content_bytes
            .ok_or_else(|| GraphError::Malformed("the attachment has no contentBytes".into()))?;
        let bytes = BASE64_STANDARD.decode(encoded.as_bytes()).map_err(|e| {
            GraphError::Malformed(format!("the attachment's contentBytes are not base64: {e}"))
        })?;
        if bytes.len() as u64 > MAX_ATTACHMENT_BYTES {
            return Err(GraphError::TooLarge {
                limit: MAX_ATTACHMENT_BYTES,
            }
            .into());
        }
        let size = bytes.len() as u64;
        let doc = document::text_of(ctx, &name, format, bytes).await?;
        let text = format!(
            "{name} ({}, {size} bytes{})\n\n{}",
            doc.format,
            if doc.truncated {
                ", text cut at 100,000 characters"
            } else {
                ""
            },
            doc.text
        );
        Ok((
            AttachmentText {
                name,
                format: doc.format.name().into(),
                content_type: meta.content_type,
                size_bytes: size,
                text: doc.text,
                truncated: doc.truncated,
            },
            text,
        ))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![typed::<ReadAttachment>(deps.clone())]
}
