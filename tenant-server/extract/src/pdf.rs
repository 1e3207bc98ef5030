//! PDF: parsed by lopdf, laid out as text by pdf-extract.

use std::cell::RefCell;
use std::io::{self, Read};

use flate2::read::ZlibDecoder;
use lopdf::{Document, Object};
use pdf_extract::{MediaBox, OutputDev, OutputError, PlainTextOutput, Transform};

use crate::output::Output;
use crate::{ExtractError, Format, Limits, Oversize, guarded};

pub(crate) fn pdf(bytes: &[u8], limits: &Limits, out: &mut Output) -> Result<(), ExtractError> {
    let document = guarded(Format::Pdf, || {
        let document = Document::load_mem(bytes).map_err(|e| ExtractError::malformed(Format::Pdf, e))?;
        // lopdf decrypts a document whose user password is empty as it loads it; one that is
        // still encrypted needs a password nobody here has.
        if document.is_encrypted() {
            return Err(ExtractError::Encrypted {
                format: Format::Pdf.name(),
            });
        }
        Ok(document)
    })?;
    measure_streams(&document, limits.max_expanded_bytes)?;
    let out = RefCell::new(out);
    guarded(Format::Pdf, || {
        let mut writer = Writer { out: &out };
        let mut pages = Pages {
            text: PlainTextOutput::new(&mut writer as &mut dyn io::Write),
            out: &out,
            pages: 0,
        };
        match pdf_extract::output_doc(&document, &mut pages) {
            Ok(()) => Ok(()),
            // The writer refuses text once the output is full: that ends the layout early.
            Err(_) if out.borrow().is_full() => Ok(()),
            Err(e) => Err(ExtractError::malformed(Format::Pdf, describe(&e))),
        }
    })
}

/// Decompresses each Flate stream (page contents, fonts, images...) through the budget, so
/// laying out the text cannot expand more than `limit` bytes.
fn measure_streams(document: &Document, limit: u64) -> Result<(), ExtractError> {
    let mut remaining = limit;
    for object in document.objects.values() {
        let Object::Stream(stream) = object else { continue };
        let flate = match stream.dict.get(b"Filter") {
            Ok(Object::Name(name)) => name == b"FlateDecode",
            Ok(Object::Array(filters)) => filters
                .iter()
                .any(|f| matches!(f, Object::Name(n) if n == b"FlateDecode")),
            _ => false,
        };
        if !flate {
            continue;
        }
        let mut decoder = ZlibDecoder::new(stream.content.as_slice()).take(remaining + 1);
        // A corrupt stream is pdf-extract's to report (or skip); only its size matters here.
        let expanded = io::copy(&mut decoder, &mut io::sink()).unwrap_or(0);
        if expanded > remaining {
            return Err(ExtractError::too_large(Format::Pdf, Oversize::Expanded, limit));
        }
        remaining -= expanded;
    }
    Ok(())
}

fn describe(e: &OutputError) -> String {
    match e {
        OutputError::PdfError(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

/// pdf-extract's plain text layout, with a blank line between pages.
struct Pages<'w, 'o, 'p> {
    text: PlainTextOutput<&'w mut dyn io::Write>,
    out: &'o RefCell<&'p mut Output>,
    pages: u32,
}

impl OutputDev for Pages<'_, '_, '_> {
    fn begin_page(
        &mut self,
        page_num: u32,
        media_box: &MediaBox,
        art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        if self.pages > 0 && !self.out.borrow_mut().push("\n\n") {
            return Err(OutputError::FormatError(std::fmt::Error));
        }
        self.pages += 1;
        self.text.begin_page(page_num, media_box, art_box)
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        self.text.end_page()
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        self.text.output_character(trm, width, spacing, font_size, char)
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.text.begin_word()
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        self.text.end_word()
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        self.text.end_line()
    }
}

/// Where pdf-extract writes: the output, refusing writes once it is full.
struct Writer<'o, 'p> {
    out: &'o RefCell<&'p mut Output>,
}

impl io::Write for Writer<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // pdf-extract writes whole `&str`s, so each buffer is valid UTF-8.
        if self.out.borrow_mut().push(&String::from_utf8_lossy(buf)) {
            Ok(buf.len())
        } else {
            Err(io::Error::other("the text limit was reached"))
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
