//! Plain text and HTML.

use crate::output::Output;
use crate::{ExtractError, Format, guarded};

/// Decodes text: a UTF-16 byte order mark means UTF-16 (little or big endian), otherwise UTF-8
/// with its mark dropped and invalid bytes replaced by U+FFFD. A NUL byte in UTF-8 means the
/// file is binary, whatever its name says.
pub(crate) fn text(bytes: &[u8], out: &mut Output) -> Result<(), ExtractError> {
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes, out),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes, out),
        _ if bytes.contains(&0) => {
            return Err(ExtractError::malformed(
                Format::Text,
                "it holds binary data (NUL bytes), not text",
            ));
        }
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest, out),
        _ => utf8(bytes, out),
    }
    Ok(())
}

fn utf8(bytes: &[u8], out: &mut Output) {
    // Chunk by chunk, so text past the cap is never decoded.
    for chunk in bytes.utf8_chunks() {
        if !out.push(chunk.valid()) || (!chunk.invalid().is_empty() && !out.push_char('\u{FFFD}')) {
            return;
        }
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16, out: &mut Output) {
    let units = bytes.chunks(2).map(|pair| match *pair {
        [a, b] => unit([a, b]),
        // An odd trailing byte is not a character.
        _ => 0xFFFD,
    });
    for c in char::decode_utf16(units) {
        if !out.push_char(c.unwrap_or('\u{FFFD}')) {
            return;
        }
    }
}

/// HTML as html2text renders it for a reader: no markup, scripts or styles; links as footnotes.
pub(crate) fn html(bytes: &[u8], out: &mut Output) -> Result<(), ExtractError> {
    // Decoded as text first, so UTF-16 and marked HTML read as well as UTF-8.
    let mut source = Output::new(usize::MAX);
    text(bytes, &mut source)
        .map_err(|_| ExtractError::malformed(Format::Html, "it holds binary data (NUL bytes), not HTML"))?;
    let (source, _) = source.finish(false);
    let rendered = guarded(Format::Html, || {
        html2text::config::plain_no_decorate()
            .string_from_read(source.as_bytes(), 100)
            .map_err(|e| ExtractError::malformed(Format::Html, e))
    })?;
    out.push(rendered.trim_end());
    Ok(())
}
