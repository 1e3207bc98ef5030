//! Plain text from the bytes of a document, for the tools that read mail attachments and OneDrive
//! files ("what does the budget spreadsheet say?").
//!
//! [`detect`] picks a [`Format`] from the file name (then the content type), [`extract`] turns the
//! bytes into text within [`Limits`]: the input size, the bytes a ZIP package may expand to, the
//! number of parts in it and the characters returned. Extraction is synchronous and CPU-bound:
//! callers run it in `tokio::task::spawn_blocking`.
//!
//! Each format uses the crate that reads it best, not hand-written parsing:
//! - text: UTF-8 (lossy for invalid bytes), UTF-8 and UTF-16 byte order marks; std only.
//! - HTML: `html2text` (a full HTML5 parser; already what the tenant server renders mail with).
//! - Word and PowerPoint: `zip` (pure Rust, deflate only: no crypto, so neither `ring` nor OpenSSL)
//!   and `quick-xml`'s streaming reader. The text of a `.docx`/`.pptx` is a few elements (`t`,
//!   `tab`, `br`, `p`, `tbl`/`tr`/`tc`), so a streaming walk beats a document model crate: it reads
//!   each part once, in bounded memory, and stops as soon as the text cap is reached.
//! - Excel: `calamine` (the maintained pure-Rust spreadsheet reader, by the author of `quick-xml`,
//!   with which it shares `zip` and `quick-xml`). Its cell reader streams a sheet row by row, with
//!   shared strings, inline strings, numbers, booleans, errors and dates (serials made ISO dates).
//! - PDF: `pdf-extract` over `lopdf`. `lopdf` parses the file (xref, object streams, filters,
//!   standard security handler); `pdf-extract` lays the text out from the content streams with
//!   the font encodings and `ToUnicode` maps, spacing words and lines by position, which
//!   `lopdf::Document::extract_text` does not. Both are MIT; `pdf-extract` unwraps on some
//!   malformed input, so it runs under `catch_unwind`.
//!
//! All limits are checked before or while reading, never after: a ZIP entry is read through a
//! meter that refuses the read that would pass [`Limits::max_expanded_bytes`] (so a zip bomb stops
//! at the limit, whatever sizes its headers claim), and the PDF's compressed streams are measured
//! the same way before text is laid out.

use std::fmt;

mod detect;
mod ooxml;
mod output;
mod pdf;
mod plain;
mod xlsx;

pub use detect::detect;

const MIB: u64 = 1024 * 1024;

/// What one extraction may read and return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest input accepted, in bytes.
    pub max_input_bytes: usize,
    /// The most bytes a document may decompress to, summed over the parts of a ZIP package (Word,
    /// Excel, PowerPoint) or the compressed streams of a PDF. Each part is streamed, so this also
    /// bounds the size of any one XML part.
    pub max_expanded_bytes: u64,
    /// The most parts (entries) a ZIP package may have.
    pub max_entries: usize,
    /// The most characters returned; longer text is cut on a character boundary.
    pub max_text_chars: usize,
}

impl Default for Limits {
    /// 16 MiB in, 64 MiB expanded, 10 000 parts, 200 000 characters out.
    fn default() -> Self {
        Self {
            max_input_bytes: 16 * MIB as usize,
            max_expanded_bytes: 64 * MIB,
            max_entries: 10_000,
            max_text_chars: 200_000,
        }
    }
}

/// The document formats [`extract`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Plain text: `text/*`, `.txt`, `.md`, `.csv`, `.json`, `.xml`, `.log`, `.yaml`...
    Text,
    /// HTML (`.html`, `.htm`, `text/html`).
    Html,
    /// Word document (`.docx`, `.docm`, `.dotx`).
    Word,
    /// Excel workbook (`.xlsx`, `.xlsm`).
    Excel,
    /// PowerPoint presentation (`.pptx`, `.pptm`, `.ppsx`).
    PowerPoint,
    /// PDF.
    Pdf,
}

impl Format {
    /// The format's name in a sentence: "the {name} is encrypted".
    pub fn name(&self) -> &'static str {
        match self {
            Self::Text => "text file",
            Self::Html => "HTML document",
            Self::Word => "Word document",
            Self::Excel => "Excel workbook",
            Self::PowerPoint => "PowerPoint presentation",
            Self::Pdf => "PDF",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub format: Format,
    pub text: String,
    /// The text was cut at [`Limits::max_text_chars`] (on a character boundary).
    pub truncated: bool,
}

/// Which limit a document passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// The input is larger than [`Limits::max_input_bytes`].
    Input,
    /// The document decompresses beyond [`Limits::max_expanded_bytes`].
    Expanded,
    /// The ZIP package has more than [`Limits::max_entries`] parts.
    Entries,
}

impl Oversize {
    fn sentence(self, limit: u64) -> String {
        match self {
            Self::Input => format!("is larger than {}", bytes(limit)),
            Self::Expanded => format!("expands beyond {} when decompressed", bytes(limit)),
            Self::Entries => format!("has more than {limit} parts"),
        }
    }
}

/// "16 MiB" for whole mebibytes, "1500 bytes" otherwise.
fn bytes(n: u64) -> String {
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// Why a document has no text. Each message is a sentence a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "{what} cannot be read as text; text, HTML, Word (.docx), Excel (.xlsx), PowerPoint (.pptx) \
         and PDF files can"
    )]
    Unsupported { what: String },
    #[error("the {format} {}, too large to read", .what.sentence(*.limit))]
    TooLarge {
        format: &'static str,
        what: Oversize,
        limit: u64,
    },
    #[error("the {format} cannot be read: {reason}; it may be damaged or not really a {format}")]
    Malformed { format: &'static str, reason: String },
    #[error("the {format} is encrypted with a password; open it in OneDrive or Office to read it")]
    Encrypted { format: &'static str },
}

impl ExtractError {
    pub(crate) fn malformed(format: Format, reason: impl fmt::Display) -> Self {
        Self::Malformed {
            format: format.name(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn too_large(format: Format, what: Oversize, limit: u64) -> Self {
        Self::TooLarge {
            format: format.name(),
            what,
            limit,
        }
    }
}

/// The text of `bytes` read as `format`, within `limits`.
pub fn extract(format: Format, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    if bytes.len() > limits.max_input_bytes {
        return Err(ExtractError::too_large(
            format,
            Oversize::Input,
            limits.max_input_bytes as u64,
        ));
    }
    let mut out = output::Output::new(limits.max_text_chars);
    match format {
        Format::Text => plain::text(bytes, &mut out)?,
        Format::Html => plain::html(bytes, &mut out)?,
        Format::Word => ooxml::word(bytes, limits, &mut out)?,
        Format::PowerPoint => ooxml::powerpoint(bytes, limits, &mut out)?,
        Format::Excel => xlsx::excel(bytes, limits, &mut out)?,
        Format::Pdf => pdf::pdf(bytes, limits, &mut out)?,
    }
    let (text, truncated) = out.finish(format != Format::Text);
    Ok(Extracted {
        format,
        text,
        truncated,
    })
}

/// Runs a parser that may panic on hostile input; a panic is a malformed document.
pub(crate) fn guarded<T>(
    format: Format,
    parse: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    // The closure's state is dropped with the panic; nothing it touched is reused afterwards.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse))
        .unwrap_or_else(|_| Err(ExtractError::malformed(format, "its parser failed on it")))
}
