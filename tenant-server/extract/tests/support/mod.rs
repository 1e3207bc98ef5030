//! Fixture builders: the Graph double's documents, and varied text for large ones.

#![allow(dead_code)] // the tests and the bench each use a part

pub use mcp_graph_double::documents::*;

/// A small PRNG (xorshift), so generated text is varied and does not compress to nothing.
pub struct Words(pub u64);

impl Words {
    const WORDS: &'static [&'static str] = &[
        "budget", "forecast", "quarter", "revenue", "team", "project", "meeting", "review", "plan", "cost",
        "growth", "customer", "report", "risk", "target", "margin", "hiring", "travel", "license", "cloud",
        "north", "south", "east", "west", "alpha", "beta", "gamma", "delta", "summary", "action",
    ];

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn sentence(&mut self, words: usize) -> String {
        let mut s = String::new();
        for i in 0..words {
            if i > 0 {
                s.push(' ');
            }
            let n = self.next();
            s.push_str(Self::WORDS[(n % Self::WORDS.len() as u64) as usize]);
            // Numbers make the text far less compressible than words alone.
            if n.is_multiple_of(3) {
                s.push_str(&format!(" {}", (n >> 20) % 100_000));
            }
        }
        s
    }
}
