//! Just enough OData and KQL parsing to answer the queries the tenant server sends, strictly:
//! a malformed literal or unknown clause is a 400, as Graph would answer.

/// A parsed filter clause.
#[derive(Debug, PartialEq)]
pub enum Clause {
    /// `field eq 'v'` / `field eq true` / `field ge 2026-...Z`.
    Compare {
        field: String,
        op: String,
        value: String,
    },
    /// `startswith(field,'v')`.
    StartsWith { field: String, value: String },
    /// `coll/any(a:startswith(a/field,'v'))`.
    AnyStartsWith {
        collection: String,
        field: String,
        value: String,
    },
}

/// A filter: clauses joined by one kind of connective.
#[derive(Debug, PartialEq)]
pub struct Filter {
    pub any: bool,
    pub clauses: Vec<Clause>,
}

/// Splits on a connective outside string literals; `''` inside a literal is an escaped quote.
fn split_outside_literals<'a>(s: &'a str, sep: &str) -> Result<Vec<&'a str>, String> {
    let mut parts = Vec::new();
    let bytes = s.as_bytes();
    let mut in_lit = false;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if in_lit && bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            in_lit = !in_lit;
        } else if !in_lit && s[i..].starts_with(sep) {
            parts.push(&s[start..i]);
            i += sep.len();
            start = i;
            continue;
        }
        i += 1;
    }
    if in_lit {
        return Err("unterminated string literal".into());
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// `'it''s'` → `it's`; the whole input must be one literal.
fn literal(s: &str) -> Result<String, String> {
    let inner = s
        .trim()
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .ok_or_else(|| format!("expected a string literal: {s}"))?;
    if inner.replace("''", "").contains('\'') {
        return Err(format!("a quote ends the literal early: {s}"));
    }
    Ok(inner.replace("''", "'"))
}

pub fn parse_filter(s: &str) -> Result<Filter, String> {
    let ands = split_outside_literals(s, " and ")?;
    let ors = split_outside_literals(s, " or ")?;
    let (any, parts) = match (ands.len(), ors.len()) {
        (_, 1) => (false, ands),
        (1, _) => (true, ors),
        _ => return Err("mixing and/or is not supported by the double".into()),
    };
    let clauses = parts.into_iter().map(clause).collect::<Result<_, _>>()?;
    Ok(Filter { any, clauses })
}

fn clause(s: &str) -> Result<Clause, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("startswith(") {
        let rest = rest.strip_suffix(')').ok_or("unbalanced startswith(")?;
        let (field, lit) = rest.split_once(',').ok_or("startswith needs two arguments")?;
        return Ok(Clause::StartsWith {
            field: field.trim().into(),
            value: literal(lit)?,
        });
    }
    if let Some((collection, rest)) = s.split_once("/any(a:startswith(a/") {
        let rest = rest.strip_suffix("))").ok_or("unbalanced any(")?;
        let (field, lit) = rest.split_once(',').ok_or("startswith needs two arguments")?;
        return Ok(Clause::AnyStartsWith {
            collection: collection.into(),
            field: field.into(),
            value: literal(lit)?,
        });
    }
    let mut it = s.splitn(3, ' ');
    let (Some(field), Some(op), Some(value)) = (it.next(), it.next(), it.next()) else {
        return Err(format!("cannot parse clause: {s}"));
    };
    if !["eq", "ne", "ge", "le", "gt", "lt"].contains(&op) {
        return Err(format!("unknown operator {op}"));
    }
    let value = if value.starts_with('\'') {
        literal(value)?
    } else {
        value.to_string()
    };
    if value.contains(' ') && !s.contains('\'') {
        return Err(format!("cannot parse clause: {s}"));
    }
    Ok(Clause::Compare {
        field: field.into(),
        op: op.into(),
        value,
    })
}

/// A `$search` value: `"..."` holding terms and `prop:value` restrictions.
#[derive(Debug, Default, PartialEq)]
pub struct Search {
    pub terms: Vec<String>,
    pub properties: Vec<(String, String)>,
}

pub fn parse_search(s: &str) -> Result<Search, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or("$search must be a double-quoted string")?;
    if inner.contains('"') {
        return Err("Syntax error: unexpected quote in $search".into());
    }
    let mut out = Search::default();
    for word in inner.split_whitespace() {
        match word.split_once(':') {
            Some((p, v)) if !p.is_empty() => out.properties.push((p.to_lowercase(), v.to_lowercase())),
            _ => out.terms.push(word.to_lowercase()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_literals_with_escaped_quotes() {
        let f = parse_filter("startswith(displayName,'O''Br') or startswith(surname,'x and y')").unwrap();
        assert!(f.any);
        assert_eq!(
            f.clauses[0],
            Clause::StartsWith {
                field: "displayName".into(),
                value: "O'Br".into()
            }
        );
        assert!(parse_filter("startswith(displayName,'x') or 1 eq 1 or ('')").is_err());
        assert!(parse_filter("isRead eq false and receivedDateTime ge 2026-01-01T00:00:00Z").is_ok());
    }

    #[test]
    fn searches_reject_inner_quotes() {
        assert!(parse_search("\"a\" OR \"b\"").is_err());
        let s = parse_search("\"from:alex@contoso.example budget\"").unwrap();
        assert_eq!(s.properties, vec![("from".into(), "alex@contoso.example".into())]);
        assert_eq!(s.terms, vec!["budget".to_string()]);
    }
}
