//! Excel workbooks, read with calamine's streaming cell reader.

use std::fmt::Write as _;
use std::io::Cursor;

use calamine::{DataRef, ExcelDateTime, Reader, Xlsx, XlsxError};

use crate::ooxml::Package;
use crate::output::Output;
use crate::{ExtractError, Format, Limits, guarded};

/// Columns past this one are dropped: a single cell at column XFD would otherwise be preceded by
/// 16 000 tabs.
const MAX_COLUMNS: u32 = 1_000;

/// Each sheet as "## Sheet name", then one line per row with its cells separated by tabs. Empty
/// rows are skipped; empty cells keep their column.
pub(crate) fn excel(bytes: &[u8], limits: &Limits, out: &mut Output) -> Result<(), ExtractError> {
    guarded(Format::Excel, || {
        // calamine reads parts as it needs them, with no limit of its own: every part is
        // decompressed once through the budget first, so none can expand past it later.
        Package::open(Format::Excel, bytes, limits)?.measure()?;
        let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(error)?;
        for (position, name) in workbook.sheet_names().into_iter().enumerate() {
            let heading = format!("{}## {name}\n", if position == 0 { "" } else { "\n" });
            if !out.push(&heading) {
                break;
            }
            let mut cells = workbook.worksheet_cells_reader(&name).map_err(error)?;
            let mut row_at: Option<u32> = None;
            let mut column_at = 0;
            let mut value = String::new();
            while let Some(cell) = cells.next_cell().map_err(error)? {
                let (row, column) = cell.get_position();
                value.clear();
                write_value(cell.get_value(), &mut value);
                if value.is_empty() || column >= MAX_COLUMNS {
                    continue;
                }
                if row_at != Some(row) {
                    if row_at.is_some() {
                        out.push("\n");
                    }
                    row_at = Some(row);
                    column_at = 0;
                }
                for _ in column_at..column {
                    out.push("\t");
                }
                // Tabs and newlines inside a cell would break the row into false cells or rows.
                if value.contains(['\t', '\n', '\r']) {
                    value = value.replace(['\t', '\n', '\r'], " ");
                }
                if !out.push(&value) {
                    return Ok(());
                }
                column_at = column;
            }
            if row_at.is_some() {
                out.push("\n");
            }
        }
        Ok(())
    })
}

fn write_value(value: &DataRef<'_>, to: &mut String) {
    // Writing to a String cannot fail.
    let _ = match value {
        DataRef::Empty => Ok(()),
        DataRef::SharedString(s) => write!(to, "{s}"),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => write!(to, "{s}"),
        DataRef::Int(n) => write!(to, "{n}"),
        DataRef::Float(n) => write!(to, "{n}"),
        DataRef::Bool(b) => write!(to, "{}", if *b { "TRUE" } else { "FALSE" }),
        DataRef::Error(e) => write!(to, "{e}"),
        DataRef::DateTime(date) => write_date(date, to),
    };
}

/// A date cell as an ISO date (and time when it has one), as Excel shows it in a sheet's cell
/// rather than the serial number it stores. Durations stay numbers of days.
fn write_date(date: &ExcelDateTime, to: &mut String) -> std::fmt::Result {
    if !date.is_datetime() {
        return write!(to, "{}", date.as_f64());
    }
    let (year, month, day, hour, minute, second, _) = date.to_ymd_hms_milli();
    write!(to, "{year:04}-{month:02}-{day:02}")?;
    if (hour, minute, second) != (0, 0, 0) {
        write!(to, " {hour:02}:{minute:02}:{second:02}")?;
    }
    Ok(())
}

fn error(e: XlsxError) -> ExtractError {
    match e {
        XlsxError::Password => ExtractError::Encrypted {
            format: Format::Excel.name(),
        },
        XlsxError::FileNotFound(name) => {
            ExtractError::malformed(Format::Excel, format_args!("it has no {name} part"))
        }
        XlsxError::Zip(e) => {
            ExtractError::malformed(Format::Excel, format_args!("it is not a valid ZIP archive ({e})"))
        }
        e => ExtractError::malformed(Format::Excel, e),
    }
}
