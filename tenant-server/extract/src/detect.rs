//! The format of a file from its name, then its content type.

use crate::{ExtractError, Format};

/// Extensions of text files: documents, data and source code.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "text",
    "md",
    "markdown",
    "rst",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "ndjson",
    "xml",
    "log",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "properties",
    "env",
    "tex",
    "srt",
    "vtt",
    "ics",
    "vcf",
    "eml",
    "sql",
    "sh",
    "bash",
    "ps1",
    "bat",
    "py",
    "rs",
    "go",
    "java",
    "kt",
    "cs",
    "c",
    "h",
    "cpp",
    "hpp",
    "js",
    "mjs",
    "ts",
    "tsx",
    "jsx",
    "css",
    "scss",
    "rb",
    "php",
    "swift",
    "r",
    "pl",
    "lua",
    "diff",
    "patch",
];

/// The format named by a file's extension: `Ok(None)` when the extension says nothing.
fn by_extension(extension: &str) -> Result<Option<Format>, ExtractError> {
    let format = match extension {
        "docx" | "docm" | "dotx" | "dotm" => Format::Word,
        "xlsx" | "xlsm" | "xltx" | "xltm" => Format::Excel,
        "pptx" | "pptm" | "ppsx" | "ppsm" | "potx" => Format::PowerPoint,
        "pdf" => Format::Pdf,
        "html" | "htm" | "xhtml" => Format::Html,
        _ if TEXT_EXTENSIONS.contains(&extension) => Format::Text,
        _ => {
            let kind = match extension {
                "doc" | "dot" => "a legacy Word document",
                "xls" | "xlt" => "a legacy Excel workbook",
                "ppt" | "pps" | "pot" => "a legacy PowerPoint presentation",
                "xlsb" => "a binary Excel workbook",
                "rtf" => "a Rich Text document",
                "odt" | "ods" | "odp" => "an OpenDocument file",
                "msg" => "an Outlook message",
                "png" | "jpg" | "jpeg" | "gif" | "bmp" | "tif" | "tiff" | "webp" | "heic" | "svg" | "ico" => {
                    "an image"
                }
                "zip" | "7z" | "rar" | "gz" | "tgz" | "tar" | "bz2" | "xz" | "zst" | "cab" => "an archive",
                "exe" | "dll" | "msi" | "bin" | "so" | "dylib" | "com" | "scr" | "app" | "apk" => {
                    "a program or binary file"
                }
                "mp3" | "wav" | "m4a" | "aac" | "ogg" | "flac" | "mp4" | "mov" | "avi" | "mkv" | "webm" => {
                    "an audio or video file"
                }
                _ => return Ok(None),
            };
            return Err(ExtractError::Unsupported {
                what: format!("{kind} (.{extension})"),
            });
        }
    };
    Ok(Some(format))
}

/// The format named by a content type (parameters such as `charset` ignored).
fn by_content_type(mime: &str) -> Option<Format> {
    let format = match mime {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.template"
        | "application/vnd.ms-word.document.macroenabled.12" => Format::Word,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.template"
        | "application/vnd.ms-excel.sheet.macroenabled.12" => Format::Excel,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "application/vnd.openxmlformats-officedocument.presentationml.slideshow"
        | "application/vnd.ms-powerpoint.presentation.macroenabled.12" => Format::PowerPoint,
        "application/pdf" | "application/x-pdf" => Format::Pdf,
        "text/html" | "application/xhtml+xml" => Format::Html,
        // RTF is markup, not text: left to the unsupported answer below.
        "text/rtf" => return None,
        "application/json"
        | "application/ld+json"
        | "application/xml"
        | "application/yaml"
        | "application/x-yaml"
        | "application/toml"
        | "application/x-ndjson"
        | "application/csv"
        | "application/sql"
        | "application/javascript"
        | "application/x-sh"
        | "message/rfc822" => Format::Text,
        _ if mime.starts_with("text/") => Format::Text,
        _ if mime.ends_with("+json") || mime.ends_with("+xml") => Format::Text,
        _ => return None,
    };
    Some(format)
}

/// The format of a file, by its extension first, then its content type (which senders often
/// leave as `application/octet-stream`). An extension that names an unsupported kind of file
/// (`.doc`, `.png`, `.exe`...) is refused whatever the content type says.
pub fn detect(file_name: &str, content_type: Option<&str>) -> Result<Format, ExtractError> {
    let extension = file_name
        .rsplit_once('.')
        .map(|(stem, extension)| (stem, extension.trim().to_ascii_lowercase()))
        .filter(|(stem, extension)| !stem.is_empty() && !extension.is_empty() && !extension.contains('/'))
        .map(|(_, extension)| extension);
    if let Some(format) = extension.as_deref().map(by_extension).transpose()?.flatten() {
        return Ok(format);
    }
    let mime = content_type
        .and_then(|mime| mime.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .filter(|mime| !mime.is_empty());
    if let Some(format) = mime.as_deref().and_then(by_content_type) {
        return Ok(format);
    }
    let what = match (extension, mime) {
        (Some(extension), _) => format!("a file of type .{extension}"),
        (None, Some(mime)) => format!("a file of type {mime}"),
        (None, None) => "a file with no extension or content type".to_string(),
    };
    Err(ExtractError::Unsupported { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

    fn unsupported(file_name: &str, content_type: Option<&str>) -> String {
        match detect(file_name, content_type) {
            Err(ExtractError::Unsupported { what }) => what,
            other => panic!("{file_name}: {other:?}"),
        }
    }

    #[test]
    fn extension_first_then_content_type() {
        assert_eq!(
            detect("Budget.XLSX", Some("application/octet-stream")).unwrap(),
            Format::Excel
        );
        assert_eq!(detect("notes.md", None).unwrap(), Format::Text);
        assert_eq!(detect("page.htm", Some("text/plain")).unwrap(), Format::Html);
        assert_eq!(detect("report", Some(DOCX)).unwrap(), Format::Word);
        assert_eq!(
            detect("attachment.dat", Some("Application/PDF; name=x")).unwrap(),
            Format::Pdf
        );
        assert_eq!(
            detect("x.unknown", Some("text/csv; charset=utf-8")).unwrap(),
            Format::Text
        );
        assert_eq!(detect("deck.pptx", None).unwrap(), Format::PowerPoint);
        assert_eq!(detect(".bashrc", Some("text/plain")).unwrap(), Format::Text);
    }

    #[test]
    fn unsupported_names_the_type() {
        assert_eq!(
            unsupported("old.doc", Some(DOCX)),
            "a legacy Word document (.doc)"
        );
        assert_eq!(unsupported("setup.exe", None), "a program or binary file (.exe)");
        assert_eq!(unsupported("photo.PNG", Some("image/png")), "an image (.png)");
        assert_eq!(unsupported("sheet.xls", None), "a legacy Excel workbook (.xls)");
        assert_eq!(
            unsupported("blob.qqq", Some("application/octet-stream")),
            "a file of type .qqq"
        );
        assert_eq!(
            unsupported("blob", Some("image/jpeg")),
            "a file of type image/jpeg"
        );
        assert_eq!(
            unsupported("blob", None),
            "a file with no extension or content type"
        );
        let message = detect("old.ppt", None).unwrap_err().to_string();
        assert_eq!(
            message,
            "a legacy PowerPoint presentation (.ppt) cannot be read as text; text, HTML, Word (.docx), \
             Excel (.xlsx), PowerPoint (.pptx) and PDF files can"
        );
    }
}
