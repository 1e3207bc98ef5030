//! Query strings for Microsoft Graph, built so that user text can never change their meaning:
//! OData string literals are quoted with doubled single quotes, KQL search text is reduced to
//! quoted plain terms, and every value is percent-encoded.

use std::fmt::Write as _;

use jiff::Timestamp;

/// Longest search text accepted from a tool argument.
pub const MAX_SEARCH_CHARS: usize = 256;

/// An OData string literal (`'it''s'`). Control characters are dropped: Graph rejects them and
/// they have no place in a filter value.
pub fn string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '\'' {
            out.push_str("''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// An OData `DateTimeOffset` literal (unquoted, UTC, second precision).
pub fn datetime_literal(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Why search text cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchTextError {
    #[error("the search text is empty once operators and punctuation are removed")]
    Empty,
    #[error("the search text is longer than {MAX_SEARCH_CHARS} characters")]
    TooLong,
    #[error("`{0}` is not a plain e-mail address")]
    BadAddress(String),
}

/// KQL keywords that would turn terms into operators.
const KQL_OPERATORS: &[&str] = &["AND", "OR", "NOT", "NEAR", "ONEAR", "XRANK", "WORDS", "TO"];

/// Reduces free text to plain KQL terms: characters with a meaning in KQL (quotes, colons for
/// property restrictions, parentheses, wildcards, comparison signs, backslashes) become spaces,
/// operator keywords are lower-cased (KQL operators are upper case only), and the terms are
/// joined by spaces (implicit AND). The result contains no `"`, so it can sit inside a quoted
/// `$search` value or a Microsoft Search `queryString`.
pub fn kql_terms(text: &str) -> Result<String, SearchTextError> {
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(SearchTextError::TooLong);
    }
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_control() || "\"\\:()*<>=[]{}^~+!?;|%$#`".contains(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let terms: Vec<String> = cleaned
        .split_whitespace()
        .map(|t| t.trim_matches(|c: char| c == '-' || c == '\''))
        .filter(|t| !t.is_empty())
        .map(|t| {
            if KQL_OPERATORS.contains(&t) {
                t.to_lowercase()
            } else {
                t.to_string()
            }
        })
        .collect();
    if terms.is_empty() {
        return Err(SearchTextError::Empty);
    }
    Ok(terms.join(" "))
}

/// A plain e-mail address (for KQL property restrictions such as `participants:`), or an error.
pub fn plain_address(address: &str) -> Result<&str, SearchTextError> {
    let ok = address.len() <= 254
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._%+-'".contains(c))
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
                && !domain.contains("..")
        });
    if ok {
        Ok(address)
    } else {
        Err(SearchTextError::BadAddress(address.chars().take(80).collect()))
    }
}

/// A `$search` value for messages or people: the KQL wrapped in double quotes.
pub fn search_value(kql: &str) -> String {
    format!("\"{kql}\"")
}

/// The query of a Graph request, kept as pairs and encoded once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(&'static str, String)>,
}

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn select(self, fields: &[&str]) -> Self {
        self.param("$select", fields.join(","))
    }

    pub fn top(self, n: u32) -> Self {
        self.param("$top", n.to_string())
    }

    /// `filter` must come from [`Filter`] (literals escaped), never from raw user text.
    pub fn filter(self, filter: &Filter) -> Self {
        self.param("$filter", filter.0.clone())
    }

    /// `$search="<kql>"`; `kql` must come from [`kql_terms`] or be built from checked parts.
    pub fn search(self, kql: &str) -> Self {
        self.param("$search", search_value(kql))
    }

    pub fn orderby(self, order: &str) -> Self {
        self.param("$orderby", order.to_string())
    }

    pub fn expand(self, expand: &str) -> Self {
        self.param("$expand", expand.to_string())
    }

    pub fn param(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.pairs.push((key, value.into()));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `k=v&k=v` with every value percent-encoded (keys are constants of this crate).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(&encode_component(v));
        }
        out
    }
}

/// An OData `$filter` expression assembled from field names of this crate and escaped literals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter(String);

impl Filter {
    pub fn eq_bool(field: &'static str, value: bool) -> Self {
        Self(format!("{field} eq {value}"))
    }

    pub fn eq_str(field: &'static str, value: &str) -> Self {
        Self(format!("{field} eq {}", string_literal(value)))
    }

    pub fn ne_str(field: &'static str, value: &str) -> Self {
        Self(format!("{field} ne {}", string_literal(value)))
    }

    pub fn ge_datetime(field: &'static str, at: Timestamp) -> Self {
        Self(format!("{field} ge {}", datetime_literal(at)))
    }

    pub fn starts_with(field: &'static str, value: &str) -> Self {
        Self(format!("startswith({field},{})", string_literal(value)))
    }

    /// `collection/any(a:startswith(a/field,'v'))`.
    pub fn any_starts_with(collection: &'static str, field: &'static str, value: &str) -> Self {
        Self(format!(
            "{collection}/any(a:startswith(a/{field},{}))",
            string_literal(value)
        ))
    }

    pub fn and(self, other: Filter) -> Self {
        Self(format!("{} and {}", self.0, other.0))
    }

    pub fn or(self, other: Filter) -> Self {
        Self(format!("{} or {}", self.0, other.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Percent-encodes one path segment (an id). `=`, `:`, `@` and `$` are kept (valid in a path
/// segment, and Graph ids and `$batch` use them); `/`, `?`, `#`, `%` and the rest are encoded.
pub fn encode_segment(value: &str) -> String {
    encode_component(value)
        .replace("%3D", "=")
        .replace("%3A", ":")
        .replace("%40", "@")
        .replace("%24", "$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_double_quotes_and_drop_controls() {
        assert_eq!(string_literal("O'Brien"), "'O''Brien'");
        assert_eq!(string_literal("x') or true or ('"), "'x'') or true or ('''");
        assert_eq!(string_literal("a\u{0}b\nc"), "'abc'");
    }

    #[test]
    fn hostile_filter_values_stay_inside_one_literal() {
        let hostile = "x' or startswith(displayName,'') or 'a' eq 'a";
        let f = Filter::starts_with("displayName", hostile);
        // Every quote the user typed is doubled, so the literal closes only at the very end.
        let inner = f
            .as_str()
            .strip_prefix("startswith(displayName,'")
            .and_then(|s| s.strip_suffix("')"));
        let inner = inner.expect("shape");
        assert!(!inner.replace("''", "").contains('\''), "{inner}");
    }

    #[test]
    fn kql_terms_remove_operators_and_property_restrictions() {
        assert_eq!(kql_terms("budget review").unwrap(), "budget review");
        assert_eq!(
            kql_terms("from:ceo@contoso.com OR \"x\"").unwrap(),
            "from ceo@contoso.com or x"
        );
        assert_eq!(
            kql_terms("a\" OR subject:*) NOT (b").unwrap(),
            "a or subject not b"
        );
        assert_eq!(kql_terms("\\\" \" :: ()"), Err(SearchTextError::Empty));
        assert_eq!(kql_terms(&"a".repeat(300)), Err(SearchTextError::TooLong));
        let q = kql_terms("x\" &$top=999&$search=\"y").unwrap();
        assert!(!q.contains('"') && !q.contains('$') && !q.contains('='), "{q}");
    }

    #[test]
    fn addresses_must_be_plain() {
        assert!(plain_address("adele.vance@contoso.example").is_ok());
        assert!(plain_address("x@y\" OR from:z").is_err());
        assert!(plain_address("a b@c").is_err());
        assert!(plain_address("@c").is_err());
    }

    #[test]
    fn queries_encode_values_but_not_keys() {
        let q = Query::new()
            .select(&["id", "subject"])
            .top(5)
            .filter(&Filter::eq_str("a", "x&$top=1"))
            .search("a b");
        assert_eq!(
            q.encode(),
            "$select=id%2Csubject&$top=5&$filter=a%20eq%20%27x%26%24top%3D1%27&$search=%22a%20b%22"
        );
        assert_eq!(encode_segment("AAMk+/x=="), "AAMk%2B%2Fx==");
    }
}
