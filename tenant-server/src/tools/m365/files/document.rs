//! A document's bytes as text, for files and mail attachments alike: the format from its name
//! and type, the text from `mcp-tenancy-extract` on a blocking thread, errors as tool results.

use mcp_tenancy_extract::{ExtractError, Extracted, Format, Limits};

use crate::tools::{ToolContext, ToolError};

/// The largest file read as text (downloaded, never held twice).
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;
/// The most characters of a document's text returned.
pub const MAX_TEXT_CHARS: usize = 100_000;

/// Every limit the tools read documents within: the input, 64 MiB decompressed, 10,000 parts
/// in a package, and [`MAX_TEXT_CHARS`] out.
fn limits() -> Limits {
    Limits {
        max_input_bytes: MAX_DOCUMENT_BYTES as usize,
        max_text_chars: MAX_TEXT_CHARS,
        ..Limits::default()
    }
}

/// The format a document named `name` of media type `mime` is read as, or a clear refusal.
pub fn format_of(name: &str, mime: Option<&str>) -> Result<Format, ToolError> {
    mcp_tenancy_extract::detect(name, mime).map_err(|e| refusal(name, e))
}

/// Whether `name` is a document the tools can read (for resource links).
pub fn readable(name: &str) -> bool {
    mcp_tenancy_extract::detect(name, None).is_ok()
}

/// The text of `bytes` as `format`, extracted off the async runtime.
pub async fn text_of(
    ctx: &ToolContext,
    name: &str,
    format: Format,
    bytes: Vec<u8>,
) -> Result<Extracted, ToolError> {
    let extracted =
        tokio::task::spawn_blocking(move || mcp_tenancy_extract::extract(format, &bytes, &limits()))
            .await
            .map_err(|e| {
                tracing::error!(request_id = %ctx.request_id, error = %e, "document extraction stopped");
                ToolError::Internal {
                    request_id: ctx.request_id.clone(),
                }
            })?;
    extracted.map_err(|e| refusal(name, e))
}

/// A document the tools cannot read, named, with why.
fn refusal(name: &str, e: ExtractError) -> ToolError {
    let code = match &e {
        ExtractError::Unsupported { .. } => "unsupportedType",
        ExtractError::TooLarge { .. } => "tooLarge",
        ExtractError::Encrypted { .. } => "encrypted",
        ExtractError::Malformed { .. } => "unreadableDocument",
    };
    ToolError::Upstream {
        service: "files",
        code: code.into(),
        message: format!("{name:?}: {e}"),
    }
}
