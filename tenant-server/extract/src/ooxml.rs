//! Office Open XML packages (ZIP archives of XML parts): opened within limits, and the text of
//! Word documents and PowerPoint presentations, streamed out of their XML parts.

use std::io::{self, BufRead, BufReader, Cursor, Read};

use quick_xml::events::{BytesRef, BytesStart, Event};
use zip::ZipArchive;
use zip::result::ZipError;

use crate::output::Output;
use crate::{ExtractError, Format, Limits, Oversize, guarded};

/// The signature of an OLE compound file: what Office writes for a password-protected
/// `.docx`/`.xlsx`/`.pptx` (the package is then an encrypted stream inside it), and for the
/// legacy binary formats.
const COMPOUND_FILE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The decompressed bytes a package may still produce, shared by all its parts.
struct Budget {
    remaining: u64,
    exceeded: bool,
}

/// A part's reader that fails the read passing the budget, whatever the ZIP headers claim.
struct Metered<'b, R> {
    inner: R,
    budget: &'b mut Budget,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.budget.remaining {
            self.budget.exceeded = true;
            return Err(io::Error::other("the expanded size limit was reached"));
        }
        self.budget.remaining -= n as u64;
        Ok(n)
    }
}

/// An open package, its entry count checked.
pub(crate) struct Package<'a> {
    format: Format,
    zip: ZipArchive<Cursor<&'a [u8]>>,
    budget: Budget,
    limit: u64,
}

impl<'a> Package<'a> {
    pub(crate) fn open(format: Format, bytes: &'a [u8], limits: &Limits) -> Result<Self, ExtractError> {
        if bytes.starts_with(COMPOUND_FILE) {
            return Err(compound_file(format, bytes));
        }
        let zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            ExtractError::malformed(format, format_args!("it is not a valid ZIP archive ({e})"))
        })?;
        if zip.len() > limits.max_entries {
            return Err(ExtractError::too_large(
                format,
                Oversize::Entries,
                limits.max_entries as u64,
            ));
        }
        let budget = Budget {
            remaining: limits.max_expanded_bytes,
            exceeded: false,
        };
        Ok(Self {
            format,
            zip,
            budget,
            limit: limits.max_expanded_bytes,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.zip.index_for_name(name).is_some()
    }

    /// Reads the part `name` with `read`, its decompressed bytes counted against the budget.
    fn read_part<T>(
        &mut self,
        name: &str,
        read: impl FnOnce(&mut dyn BufRead) -> Result<T, PartError>,
    ) -> Result<T, ExtractError> {
        let format = self.format;
        let entry = match self.zip.by_name(name) {
            Ok(entry) => entry,
            Err(ZipError::FileNotFound) => {
                return Err(ExtractError::malformed(
                    format,
                    format_args!("it has no {name} part"),
                ));
            }
            Err(e) => {
                return Err(ExtractError::malformed(
                    format,
                    format_args!("its {name} part: {e}"),
                ));
            }
        };
        let mut reader = BufReader::new(Metered {
            inner: entry,
            budget: &mut self.budget,
        });
        let result = read(&mut reader);
        drop(reader);
        // A refused read surfaces as an I/O or XML error: the budget says which it was.
        if self.budget.exceeded {
            return Err(ExtractError::too_large(format, Oversize::Expanded, self.limit));
        }
        result.map_err(|e| ExtractError::malformed(format, format_args!("its {name} part {e}")))
    }

    /// Decompresses every part once, so a reader that is given the whole package (calamine)
    /// cannot be made to expand more than the budget.
    pub(crate) fn measure(&mut self) -> Result<(), ExtractError> {
        for index in 0..self.zip.len() {
            let entry = self
                .zip
                .by_index(index)
                .map_err(|e| ExtractError::malformed(self.format, e))?;
            let name = entry.name().map(|name| name.into_owned()).unwrap_or_default();
            let mut metered = Metered {
                inner: entry,
                budget: &mut self.budget,
            };
            let copied = io::copy(&mut metered, &mut io::sink());
            if self.budget.exceeded {
                return Err(ExtractError::too_large(
                    self.format,
                    Oversize::Expanded,
                    self.limit,
                ));
            }
            copied.map_err(|e| ExtractError::malformed(self.format, format_args!("its {name} part: {e}")))?;
        }
        Ok(())
    }
}

/// A password-protected package, or a legacy binary file with a new extension.
fn compound_file(format: Format, bytes: &[u8]) -> ExtractError {
    // The encrypted package is the compound file's "EncryptedPackage" stream; directory entry
    // names are UTF-16LE.
    let marker: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    if bytes.windows(marker.len()).any(|window| window == marker) {
        return ExtractError::Encrypted {
            format: format.name(),
        };
    }
    ExtractError::Unsupported {
        what: format!(
            "a legacy binary {} (.doc, .xls or .ppt) saved under a newer extension",
            format.name()
        ),
    }
}

/// Why a part could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PartError {
    #[error("is not valid XML ({0})")]
    Xml(#[from] quick_xml::Error),
}

/// The text of a Word document's body (`word/document.xml`): paragraphs on lines, table rows on
/// lines with their cells separated by tabs.
pub(crate) fn word(bytes: &[u8], limits: &Limits, out: &mut Output) -> Result<(), ExtractError> {
    guarded(Format::Word, || {
        let mut package = Package::open(Format::Word, bytes, limits)?;
        package.read_part("word/document.xml", |xml| Ok(walk(xml, out)?))
    })
}

/// The text of a presentation's slides, in the order of their part names (slide1, slide2, ...,
/// slide10: PowerPoint names them in presentation order when it saves), each under "## Slide N".
pub(crate) fn powerpoint(bytes: &[u8], limits: &Limits, out: &mut Output) -> Result<(), ExtractError> {
    guarded(Format::PowerPoint, || {
        let mut package = Package::open(Format::PowerPoint, bytes, limits)?;
        if !package.has("ppt/presentation.xml") {
            return Err(ExtractError::malformed(
                Format::PowerPoint,
                "it has no ppt/presentation.xml part",
            ));
        }
        let mut slides: Vec<u32> = package
            .zip
            .file_names()
            .filter_map(Result::ok)
            .filter_map(|name| {
                name.strip_prefix("ppt/slides/slide")?
                    .strip_suffix(".xml")?
                    .parse()
                    .ok()
            })
            .collect();
        slides.sort_unstable();
        for (position, number) in slides.into_iter().enumerate() {
            let heading = format!(
                "{}## Slide {}\n",
                if position == 0 { "" } else { "\n" },
                position + 1
            );
            if !out.push(&heading) {
                break;
            }
            package.read_part(&format!("ppt/slides/slide{number}.xml"), |xml| {
                Ok(walk(xml, out)?)
            })?;
            if out.is_full() {
                break;
            }
        }
        Ok(())
    })
}

/// Where the walk is in a table: cells are separated by tabs, a cell's paragraphs by spaces.
#[derive(Default)]
struct Table {
    cells_in_row: usize,
    cell_has_text: bool,
    cell_needs_space: bool,
}

/// Streams the text out of a WordprocessingML or DrawingML part. Both spell text the same way
/// by local name: `t` (text), `r` (run), `tab` (a tab inside a run), `br`/`cr` (line break),
/// `p` (paragraph), `tbl`/`tr`/`tc` (table, row, cell). Stops once `out` is full.
fn walk(xml: &mut dyn BufRead, out: &mut Output) -> Result<(), quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut in_text = false;
    let mut run_depth = 0usize;
    // Inside `mc:Fallback`, the copy of `mc:Choice` content for older readers: skipped, or text
    // boxes would be read twice.
    let mut fallback_depth = 0usize;
    let mut tables: Vec<Table> = Vec::new();
    while !out.is_full() {
        let event = reader.read_event_into(&mut buf)?;
        if fallback_depth > 0 {
            match event {
                Event::Start(_) => fallback_depth += 1,
                Event::End(_) => fallback_depth -= 1,
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
            continue;
        }
        match event {
            Event::Start(e) => {
                if e.name().as_ref() == "mc:Fallback" {
                    fallback_depth = 1;
                } else {
                    start(&e, &mut tables, &mut in_text, &mut run_depth, out);
                }
            }
            Event::Empty(e) => {
                let mut in_empty_text = false;
                start(&e, &mut tables, &mut in_empty_text, &mut run_depth, out);
                end(
                    e.local_name().as_ref(),
                    &mut tables,
                    &mut in_empty_text,
                    &mut run_depth,
                    out,
                );
            }
            Event::End(e) => end(
                e.local_name().as_ref(),
                &mut tables,
                &mut in_text,
                &mut run_depth,
                out,
            ),
            Event::Text(t) if in_text => text(&t.xml10_content(), &mut tables, out),
            Event::CData(t) if in_text => text(&t.xml10_content(), &mut tables, out),
            Event::GeneralRef(r) if in_text => {
                if let Some(c) = reference(&r)? {
                    text(c.encode_utf8(&mut [0; 4]), &mut tables, out);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

fn start(
    e: &BytesStart<'_>,
    tables: &mut Vec<Table>,
    in_text: &mut bool,
    run_depth: &mut usize,
    out: &mut Output,
) {
    match e.local_name().as_ref() {
        "t" => *in_text = true,
        "r" => *run_depth += 1,
        "tab" if *run_depth > 0 => text("\t", tables, out),
        "br" | "cr" => text(if tables.is_empty() { "\n" } else { " " }, tables, out),
        "tbl" => tables.push(Table::default()),
        "tr" => {
            if let Some(table) = tables.last_mut() {
                table.cells_in_row = 0;
            }
        }
        "tc" => {
            if let Some(table) = tables.last_mut() {
                if table.cells_in_row > 0 {
                    out.push("\t");
                }
                table.cells_in_row += 1;
                table.cell_has_text = false;
                table.cell_needs_space = false;
            }
        }
        _ => {}
    }
}

fn end(
    local_name: &str,
    tables: &mut Vec<Table>,
    in_text: &mut bool,
    run_depth: &mut usize,
    out: &mut Output,
) {
    match local_name {
        "t" => *in_text = false,
        "r" => *run_depth = run_depth.saturating_sub(1),
        "p" => match tables.last_mut() {
            Some(table) => table.cell_needs_space = table.cell_has_text,
            None => {
                out.push("\n");
            }
        },
        "tr" if !tables.is_empty() => {
            out.push("\n");
        }
        "tbl" => {
            tables.pop();
        }
        _ => {}
    }
}

/// Appends text; in a table cell, a new paragraph is set off from the last by a space.
fn text(s: &str, tables: &mut [Table], out: &mut Output) {
    if let Some(table) = tables.last_mut() {
        if table.cell_needs_space {
            out.push(" ");
            table.cell_needs_space = false;
        }
        table.cell_has_text |= !s.is_empty();
    }
    out.push(s);
}

/// The character an entity or character reference stands for (`&amp;`, `&#233;`, `&#x20AC;`).
fn reference(r: &BytesRef<'_>) -> Result<Option<char>, quick_xml::Error> {
    if let Some(c) = r.resolve_char_ref()? {
        return Ok(Some(c));
    }
    Ok(quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).and_then(|s| s.chars().next()))
}
