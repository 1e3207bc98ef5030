//! Extraction of each format from fixtures made in code, and the refusals of hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Cursor, Write};

use lopdf::encryption::{EncryptionState, EncryptionVersion, Permissions};
use mcp_tenancy_extract::{ExtractError, Extracted, Format, Limits, Oversize, detect, extract};
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::support::{Words, mk_docx, mk_pdf, mk_pdf_document, mk_pptx, mk_xlsx, mk_zip, p, save, table};

fn text_of(format: Format, bytes: &[u8]) -> String {
    let Extracted {
        format: got,
        text,
        truncated,
    } = extract(format, bytes, &Limits::default()).unwrap();
    assert_eq!(got, format);
    assert!(!truncated);
    text
}

fn error_of(format: Format, bytes: &[u8], limits: &Limits) -> ExtractError {
    match extract(format, bytes, limits) {
        Ok(extracted) => panic!("{format}: extracted {:?}", extracted.text),
        Err(e) => e,
    }
}

#[test]
fn word_paragraphs_runs_tabs_breaks_and_tables() {
    let body = [
        p(&["Budget ", "2025"]),
        "<w:p><w:r><w:t>Q1</w:t><w:tab/><w:t>Q2</w:t><w:br/><w:t>next line &amp; more &#233;&#x20AC;</w:t></w:r></w:p>".into(),
        "<w:p/>".into(),
        table(&[&["Item", "Cost"], &["Cloud", "1200"]]),
        // A cell of two paragraphs reads as one cell.
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>two</w:t></w:r></w:p><w:p><w:r><w:t>lines</w:t></w:r></w:p></w:tc><w:tc><w:p/></w:tc></w:tr></w:tbl>".into(),
        // Deleted text, and the fallback copy of a text box, are not text.
        "<w:p><w:del><w:r><w:delText>gone</w:delText></w:r></w:del><w:r><w:t>kept</w:t></w:r></w:p>".into(),
        "<mc:AlternateContent><mc:Choice><w:p><w:r><w:t>box</w:t></w:r></w:p></mc:Choice><mc:Fallback><w:p><w:r><w:t>box</w:t></w:r></w:p></mc:Fallback></mc:AlternateContent>".into(),
        p(&["The end"]),
    ]
    .concat();
    assert_eq!(
        text_of(Format::Word, &mk_docx(&body)),
        "Budget 2025\nQ1\tQ2\nnext line & more é€\n\nItem\tCost\nCloud\t1200\ntwo lines\t\nkept\nbox\nThe end"
    );
}

#[test]
fn powerpoint_slides_in_numeric_order() {
    let slides: Vec<Vec<String>> = (1..=11)
        .map(|n| vec![format!("Title {n}"), format!("Point {n}")])
        .collect();
    let slides: Vec<Vec<&str>> = slides
        .iter()
        .map(|s| s.iter().map(String::as_str).collect())
        .collect();
    let slides: Vec<&[&str]> = slides.iter().map(Vec::as_slice).collect();
    let text = text_of(Format::PowerPoint, &mk_pptx(&slides));
    let expected: Vec<String> = (1..=11)
        .map(|n| format!("## Slide {n}\nTitle {n}\nPoint {n}"))
        .collect();
    assert_eq!(text, expected.join("\n\n"));
    assert!(text.find("Title 10").unwrap() > text.find("Title 9").unwrap());
}

#[test]
fn excel_sheets_rows_and_cells() {
    let workbook = mk_xlsx(&[
        (
            "Budget",
            &[
                &["Item", "Q1", "Q2"],
                &["Cloud", "1200", "1350.5"],
                &["", "", ""],
                &["Travel", "", "80"],
            ],
        ),
        ("Notes & more", &[&["only text"]]),
    ]);
    assert_eq!(
        text_of(Format::Excel, &workbook),
        "## Budget\nItem\tQ1\tQ2\nCloud\t1200\t1350.5\nTravel\t\t80\n\n## Notes & more\nonly text"
    );
}

#[test]
fn pdf_pages_in_order() {
    let text = text_of(
        Format::Pdf,
        &mk_pdf(&[&["Budget report", "Total 1200"], &["Second page"]]),
    );
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(lines, ["Budget report", "Total 1200", "Second page"], "{text:?}");
}

#[test]
fn plain_text_utf8_utf16_and_invalid_bytes() {
    assert_eq!(text_of(Format::Text, "a,b\n1,2\n".as_bytes()), "a,b\n1,2\n");
    assert_eq!(text_of(Format::Text, b"\xEF\xBB\xBFmarked"), "marked");
    assert_eq!(text_of(Format::Text, b"bad \xFF byte"), "bad \u{FFFD} byte");
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("héllo €".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    assert_eq!(text_of(Format::Text, &le), "héllo €");
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain("𝄞 clef".encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    assert_eq!(text_of(Format::Text, &be), "𝄞 clef");
}

#[test]
fn html_to_text() {
    let html = b"<html><head><style>p{color:red}</style><script>alert(1)</script></head><body><h1>Budget</h1><p>Total: <b>1200</b></p></body></html>";
    let text = text_of(Format::Html, html);
    assert!(text.contains("Budget") && text.contains("Total: 1200"), "{text}");
    assert!(!text.contains("alert") && !text.contains("color"), "{text}");
}

#[test]
fn text_is_cut_on_a_char_boundary() {
    let limits = Limits {
        max_text_chars: 5,
        ..Limits::default()
    };
    let cut = extract(Format::Text, "aé€𝄞bc".as_bytes(), &limits).unwrap();
    assert_eq!((cut.text.as_str(), cut.truncated), ("aé€𝄞b", true));
    let exact = extract(Format::Text, "aé€𝄞b".as_bytes(), &limits).unwrap();
    assert_eq!((exact.text.as_str(), exact.truncated), ("aé€𝄞b", false));
}

#[test]
fn structured_text_is_cut_and_parsing_stops() {
    let limits = Limits {
        max_text_chars: 12,
        ..Limits::default()
    };
    let docx = mk_docx(&[p(&["première ligne"]), p(&["second"])].concat());
    let cut = extract(Format::Word, &docx, &limits).unwrap();
    assert_eq!((cut.text.as_str(), cut.truncated), ("première lig", true));
    let workbook = mk_xlsx(&[("S", &[&["ééééé", "b"]]), ("Other", &[&["x"]])]);
    let cut = extract(Format::Excel, &workbook, &limits).unwrap();
    assert_eq!((cut.text.as_str(), cut.truncated), ("## S\nééééé\tb", true));
    let pdf = mk_pdf(&[&["abcdefghijklmnopqrstuvwxyz"]]);
    let cut = extract(Format::Pdf, &pdf, &limits).unwrap();
    assert!(cut.truncated && cut.text.chars().count() == 12, "{:?}", cut.text);
}

#[test]
fn random_bytes_are_malformed_in_every_format() {
    let mut words = Words(0x9E37_79B9_7F4A_7C15);
    let noise: Vec<u8> = (0..4096).map(|_| words.next() as u8).collect();
    for format in [Format::Word, Format::Excel, Format::PowerPoint, Format::Pdf] {
        let e = error_of(format, &noise, &Limits::default());
        assert!(
            matches!(e, ExtractError::Malformed { format: name, .. } if name == format.name()),
            "{format}: {e:?}"
        );
        assert!(
            e.to_string()
                .starts_with(&format!("the {format} cannot be read: ")),
            "{e}"
        );
    }
}

#[test]
fn truncated_zip_is_malformed() {
    let docx = mk_docx(&p(&["hello"]));
    let e = error_of(Format::Word, &docx[..docx.len() / 2], &Limits::default());
    assert!(
        e.to_string()
            .starts_with("the Word document cannot be read: it is not a valid ZIP archive"),
        "{e}"
    );
}

#[test]
fn package_missing_its_main_part() {
    let zip = mk_zip(&[("word/other.xml", b"<x/>")]);
    let e = error_of(Format::Word, &zip, &Limits::default());
    assert!(e.to_string().contains("it has no word/document.xml part"), "{e}");
    let e = error_of(Format::PowerPoint, &zip, &Limits::default());
    assert!(
        e.to_string().contains("it has no ppt/presentation.xml part"),
        "{e}"
    );
    let e = error_of(Format::Excel, &zip, &Limits::default());
    assert!(e.to_string().contains("it has no _rels/.rels part"), "{e}");
}

#[test]
fn invalid_xml_is_malformed() {
    let zip = mk_zip(&[("word/document.xml", b"<w:document><w:body><w:p></w:body>")]);
    let e = error_of(Format::Word, &zip, &Limits::default());
    assert!(
        e.to_string()
            .contains("its word/document.xml part is not valid XML"),
        "{e}"
    );
}

/// One entry of zeros, 1 MiB per kilobyte or so compressed.
fn bomb(name: &str, expanded: usize) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.start_file(name, options).unwrap();
    zip.write_all(b"<w:document><w:body><w:p><w:r><w:t>").unwrap();
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..expanded >> 20 {
        zip.write_all(&zeros).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn zip_bombs_stop_at_the_expanded_limit() {
    let limits = Limits {
        max_expanded_bytes: 8 << 20,
        ..Limits::default()
    };
    let docx = bomb("word/document.xml", 32 << 20);
    assert!(docx.len() < 200_000, "the bomb is {} bytes", docx.len());
    let e = error_of(Format::Word, &docx, &limits);
    assert!(
        matches!(e, ExtractError::TooLarge { what: Oversize::Expanded, limit, .. } if limit == 8 << 20),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the Word document expands beyond 8 MiB when decompressed, too large to read"
    );
    // calamine is handed the package only after every part was measured.
    let e = error_of(Format::Excel, &bomb("xl/sharedStrings.xml", 32 << 20), &limits);
    assert!(
        matches!(
            e,
            ExtractError::TooLarge {
                what: Oversize::Expanded,
                ..
            }
        ),
        "{e:?}"
    );
    let e = error_of(
        Format::PowerPoint,
        &bomb("ppt/slides/slide1.xml", 32 << 20),
        &limits,
    );
    // No presentation.xml: refused before the bomb is read.
    assert!(matches!(e, ExtractError::Malformed { .. }), "{e:?}");
}

#[test]
fn a_document_just_under_the_expanded_limit_reads() {
    let body = p(&[&"x".repeat(4096)]);
    let docx = mk_docx(&body);
    let limits = Limits {
        max_expanded_bytes: 8192,
        ..Limits::default()
    };
    assert_eq!(
        extract(Format::Word, &docx, &limits).unwrap().text,
        "x".repeat(4096)
    );
    let limits = Limits {
        max_expanded_bytes: 4096,
        ..Limits::default()
    };
    assert!(matches!(
        error_of(Format::Word, &docx, &limits),
        ExtractError::TooLarge { .. }
    ));
}

#[test]
fn too_many_parts() {
    let names: Vec<String> = (0..101).map(|n| format!("part{n}.xml")).collect();
    let parts: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"<x/>"[..])).collect();
    let zip = mk_zip(&parts);
    let limits = Limits {
        max_entries: 100,
        ..Limits::default()
    };
    for format in [Format::Word, Format::Excel, Format::PowerPoint] {
        let e = error_of(format, &zip, &limits);
        assert!(
            matches!(
                e,
                ExtractError::TooLarge {
                    what: Oversize::Entries,
                    limit: 100,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    assert_eq!(
        error_of(Format::Word, &zip, &limits).to_string(),
        "the Word document has more than 100 parts, too large to read"
    );
}

#[test]
fn input_over_the_size_limit() {
    let limits = Limits {
        max_input_bytes: 1000,
        ..Limits::default()
    };
    for format in [
        Format::Text,
        Format::Html,
        Format::Word,
        Format::Excel,
        Format::PowerPoint,
        Format::Pdf,
    ] {
        let e = error_of(format, &[b'a'; 1001], &limits);
        assert!(
            matches!(
                e,
                ExtractError::TooLarge {
                    what: Oversize::Input,
                    limit: 1000,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    let e = error_of(Format::Pdf, &vec![0; 17 << 20], &Limits::default());
    assert_eq!(e.to_string(), "the PDF is larger than 16 MiB, too large to read");
    assert!(extract(Format::Text, &[b'a'; 1000], &limits).is_ok());
}

#[test]
fn encrypted_pdf() {
    let mut doc = mk_pdf_document(&[&["secret figures"]]);
    doc.trailer.set(
        "ID",
        vec![
            lopdf::Object::string_literal("0123456789abcdef"),
            lopdf::Object::string_literal("0123456789abcdef"),
        ],
    );
    let version = EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password: "user",
        key_length: 128,
        permissions: Permissions::default(),
    };
    let state = EncryptionState::try_from(version).unwrap();
    doc.encrypt(&state).unwrap();
    let e = error_of(Format::Pdf, &save(doc), &Limits::default());
    assert!(matches!(e, ExtractError::Encrypted { format: "PDF" }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the PDF is encrypted with a password; open it in OneDrive or Office to read it"
    );
}

#[test]
fn pdf_stream_bomb() {
    let mut doc = mk_pdf_document(&[&["hello"]]);
    let mut stream = lopdf::Stream::new(lopdf::dictionary! {}, vec![b' '; 4 << 20]);
    stream.compress().unwrap();
    doc.add_object(stream);
    let limits = Limits {
        max_expanded_bytes: 1 << 20,
        ..Limits::default()
    };
    let e = error_of(Format::Pdf, &save(doc), &limits);
    assert!(
        matches!(
            e,
            ExtractError::TooLarge {
                what: Oversize::Expanded,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn password_protected_office_file() {
    // Office writes a password-protected package as a compound file with an EncryptedPackage stream.
    let mut compound = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    compound.extend(vec![0; 504]);
    let legacy = error_of(Format::Word, &compound, &Limits::default());
    assert!(matches!(legacy, ExtractError::Unsupported { .. }), "{legacy:?}");
    compound.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
    let e = error_of(Format::Excel, &compound, &Limits::default());
    assert!(
        matches!(
            e,
            ExtractError::Encrypted {
                format: "Excel workbook"
            }
        ),
        "{e:?}"
    );
}

#[test]
fn detection_feeds_extraction() {
    let format = detect("Budget.docx", Some("application/octet-stream")).unwrap();
    assert_eq!(text_of(format, &mk_docx(&p(&["hi"]))), "hi");
    for (name, what) in [
        ("old.doc", "a legacy Word document (.doc)"),
        ("tool.exe", "a program or binary file (.exe)"),
        ("chart.png", "an image (.png)"),
    ] {
        match detect(name, None) {
            Err(ExtractError::Unsupported { what: got }) => assert_eq!(got, what),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_text_file_with_nul_bytes_is_binary_not_text() {
    let e = extract(Format::Text, b"abc\x00def", &Limits::default()).unwrap_err();
    assert!(matches!(e, ExtractError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("binary data"), "{e}");
    // UTF-16 has NULs in every ASCII character and is text.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("hi".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    assert_eq!(
        extract(Format::Text, &utf16, &Limits::default()).unwrap().text,
        "hi"
    );
}
