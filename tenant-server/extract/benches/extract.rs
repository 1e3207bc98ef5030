//! Extraction time and memory on large generated documents: a ~5 MB .docx, a large .xlsx and a
//! multi-page PDF, each read N times with the default limits (the text cap stops the reading
//! early) and with no text cap (the whole document is read). Prints p50/p99 and the peak RSS
//! (VmHWM) before and after; asserts nothing about time.
//!
//! Run: cargo bench -p mcp-tenancy-extract

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use mcp_tenancy_extract::{Format, Limits, extract};

use crate::support::{Words, mk_docx, mk_pdf, mk_xlsx, p, table};

/// Peak resident set of this process, from /proc/self/status ("n/a" elsewhere).
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "n/a".into())
}

/// Resets VmHWM to the current RSS (Linux: "5" to clear_refs), so each run's peak is its own
/// rather than that of generating the fixtures.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn big_docx(words: &mut Words) -> Vec<u8> {
    let mut body = String::new();
    let mut docx = Vec::new();
    // Grow until the package itself is about 5 MB: the text is varied, so it compresses ~3:1.
    while docx.len() < 5_000_000 {
        for _ in 0..5_000 {
            body.push_str(&p(&[&words.sentence(12), &words.sentence(8)]));
        }
        let rows: Vec<Vec<String>> = (0..200)
            .map(|_| (0..4).map(|_| words.sentence(2)).collect())
            .collect();
        let rows: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        let rows: Vec<&[&str]> = rows.iter().map(Vec::as_slice).collect();
        body.push_str(&table(&rows));
        docx = mk_docx(&body);
    }
    docx
}

fn big_xlsx(words: &mut Words) -> Vec<u8> {
    let rows: Vec<Vec<String>> = (0..50_000)
        .map(|n| {
            vec![
                n.to_string(),
                words.sentence(2),
                words.sentence(3),
                (words.next() % 100_000).to_string(),
                words.sentence(1),
            ]
        })
        .collect();
    let rows: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let rows: Vec<&[&str]> = rows.iter().map(Vec::as_slice).collect();
    mk_xlsx(&[("Data", &rows), ("Summary", &[&["total", "123"]])])
}

fn big_pdf(words: &mut Words) -> Vec<u8> {
    let pages: Vec<Vec<String>> = (0..200)
        .map(|_| (0..35).map(|_| words.sentence(8)).collect())
        .collect();
    let pages: Vec<Vec<&str>> = pages
        .iter()
        .map(|p| p.iter().map(String::as_str).collect())
        .collect();
    let pages: Vec<&[&str]> = pages.iter().map(Vec::as_slice).collect();
    mk_pdf(&pages)
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn run(label: &str, format: Format, bytes: &[u8], limits: &Limits, runs: usize) {
    reset_peak_rss();
    let before = peak_rss();
    let mut times = Vec::with_capacity(runs);
    let mut chars = 0;
    let mut truncated = false;
    for _ in 0..runs {
        let start = Instant::now();
        let extracted = extract(format, bytes, limits).unwrap();
        times.push(start.elapsed());
        chars = extracted.text.chars().count();
        truncated = extracted.truncated;
    }
    times.sort();
    println!(
        "{label:<28} {:>6.2} MB in  n={runs:<3} p50 {:>8.1} ms  p99 {:>8.1} ms  {chars:>9} chars{}  VmHWM {before} -> {}",
        bytes.len() as f64 / 1e6,
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        if truncated { " (cut)" } else { "      " },
        peak_rss(),
    );
}

fn main() {
    let mut words = Words(0x2545_F491_4F6C_DD1D);
    println!("generating fixtures... (VmHWM {})", peak_rss());
    let docx = big_docx(&mut words);
    let xlsx = big_xlsx(&mut words);
    let pdf = big_pdf(&mut words);
    println!("fixtures ready (VmHWM {})", peak_rss());
    let capped = Limits::default();
    let whole = Limits {
        max_text_chars: usize::MAX,
        ..Limits::default()
    };
    for (name, format, bytes, runs) in [
        ("docx", Format::Word, &docx, 10),
        ("xlsx", Format::Excel, &xlsx, 10),
        ("pdf", Format::Pdf, &pdf, 5),
    ] {
        run(&format!("{name}, default limits"), format, bytes, &capped, runs);
        run(&format!("{name}, no text cap"), format, bytes, &whole, runs);
    }
}
