//! The extracted text, capped at a number of characters.

/// Text collected from a document. Once a push would pass the cap, the text is cut on a character
/// boundary, `is_full` turns true and further pushes are ignored, so parsers can stop early.
pub(crate) struct Output {
    text: String,
    chars: usize,
    max_chars: usize,
    truncated: bool,
}

impl Output {
    pub(crate) fn new(max_chars: usize) -> Self {
        Self {
            text: String::new(),
            chars: 0,
            max_chars,
            truncated: false,
        }
    }

    /// Appends `s`, or as much of it as fits. Returns false once the text is full.
    pub(crate) fn push(&mut self, s: &str) -> bool {
        if self.truncated {
            return false;
        }
        let room = self.max_chars - self.chars;
        // A byte count at most the room is at most that many chars: the common case counts nothing.
        let fits = s.len() <= room || s.chars().count() <= room;
        if fits {
            self.text.push_str(s);
            self.chars += s.chars().count();
            return true;
        }
        let cut = s.char_indices().nth(room).map_or(s.len(), |(at, _)| at);
        self.text.push_str(&s[..cut]);
        self.chars = self.max_chars;
        self.truncated = true;
        false
    }

    pub(crate) fn push_char(&mut self, c: char) -> bool {
        self.push(c.encode_utf8(&mut [0; 4]))
    }

    pub(crate) fn is_full(&self) -> bool {
        self.truncated
    }

    /// The text and whether it was cut. Structured formats end their last paragraph or row with a
    /// newline that is not part of the text: `trim_newlines` drops it.
    pub(crate) fn finish(mut self, trim_newlines: bool) -> (String, bool) {
        if trim_newlines {
            let end = self.text.trim_end_matches(['\n', '\r']).len();
            self.text.truncate(end);
        }
        (self.text, self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_char_boundary_and_stops() {
        let mut out = Output::new(4);
        assert!(out.push("ab"));
        assert!(!out.push("çé€x"));
        assert!(out.is_full());
        assert!(!out.push("more"));
        assert_eq!(out.finish(false), ("abçé".to_string(), true));
    }

    #[test]
    fn exactly_full_is_not_truncated() {
        let mut out = Output::new(3);
        assert!(out.push("a€b"));
        assert!(!out.is_full());
        assert_eq!(out.finish(true), ("a€b".to_string(), false));
    }
}
