//! HTML mail bodies to plain text.

/// Converts HTML to readable text with html2text (a full HTML5 parser): `<script>`, `<style>`
/// and `<head>` contents are not rendered, links keep their targets as footnotes.
pub fn html_to_text(html: &str) -> String {
    match html2text::config::plain_no_decorate().string_from_read(html.as_bytes(), 100) {
        Ok(text) => text.trim().to_string(),
        // html2text only fails on I/O errors, impossible for an in-memory slice; never return
        // raw HTML (it may hold scripts), return nothing instead.
        Err(e) => {
            tracing::warn!(error = %e, "HTML body could not be converted");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_styles_are_dropped() {
        let html = "<html><head><style>p{color:red}</style><script>alert('x')</script></head>\
                    <body><p>Hello <b>there</b></p><script>steal()</script><ul><li>one</li></ul></body></html>";
        let text = html_to_text(html);
        assert!(text.contains("Hello there"), "{text}");
        assert!(text.contains("one"));
        for bad in ["alert", "steal", "color:red", "<"] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
    }
}
