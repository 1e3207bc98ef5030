//! People, contacts and search.

use super::*;

pub(super) fn people(d: &Data, req: &Incoming) -> Answer {
    let mut items = d.people.clone();
    if let Some(s) = req.param("$search") {
        let search = match parse_search(s) {
            Ok(s) => s,
            Err(e) => return bad(&e),
        };
        items.retain(|p| {
            let text = format!(
                "{} {}",
                as_text(&p["displayName"]),
                as_text(&p["scoredEmailAddresses"][0]["address"])
            )
            .to_lowercase();
            search.terms.iter().all(|t| text.contains(t)) && search.properties.is_empty()
        });
    }
    page(req, items, 10)
}

pub(super) fn contacts(d: &Data, req: &Incoming) -> Answer {
    match apply_filter(
        req,
        d.contacts.clone(),
        &["displayName", "givenName", "surname", "emailAddresses/address"],
    ) {
        Ok(items) => page(req, items, 10),
        Err(a) => a,
    }
}

pub(super) fn search_query(d: &Data, req: &Incoming) -> Answer {
    let r = req
        .body
        .as_ref()
        .map(|b| b["requests"][0].clone())
        .unwrap_or(Value::Null);
    if r["entityTypes"]
        .as_array()
        .is_none_or(|t| !t.iter().any(|t| t == "driveItem"))
    {
        return bad("entityTypes must contain driveItem.");
    }
    let Some(q) = r["query"]["queryString"].as_str() else {
        return bad("query.queryString is required.");
    };
    if q.matches('"').count() % 2 == 1 {
        return bad("Syntax error in queryString.");
    }
    let terms: Vec<String> = q
        .split_whitespace()
        .map(|t| t.trim_matches('"').to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let size = r["size"].as_u64().unwrap_or(25) as usize;
    let hits: Vec<Value> = d
        .files
        .iter()
        .filter(|f| {
            let name = as_text(&f["name"]).to_lowercase();
            terms.iter().all(|t| name.contains(t))
        })
        .enumerate()
        .map(|(i, f)| json!({"hitId": f["id"].clone(), "rank": i + 1, "summary": format!("…{}…", as_text(&f["name"])), "resource": f.clone()}))
        .collect();
    let total = hits.len();
    let hits: Vec<Value> = hits.into_iter().take(size).collect();
    Answer::json(
        StatusCode::OK,
        json!({"value": [{"searchTerms": terms, "hitsContainers": [{"hits": hits, "total": total, "moreResultsAvailable": total > size}]}]}),
    )
}
