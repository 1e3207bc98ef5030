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

/// A directory user by id or user principal name (`me` is the signed-in user).
fn find_user<'a>(d: &'a Data, user: &str) -> Option<&'a Value> {
    let user = if user == "me" { ME_ADDRESS } else { user };
    d.users.iter().find(|u| {
        u["id"] == user
            || u["userPrincipalName"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(user))
    })
}

fn public(u: &Value) -> Value {
    let mut u = u.clone();
    if let Some(o) = u.as_object_mut() {
        o.remove("managerId");
    }
    u
}

fn user_not_found(user: &str) -> Answer {
    Answer::error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{user}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

/// `/users/{id}`, with `$expand=manager(...)`.
pub(super) fn user(d: &Data, req: &Incoming, user: &str) -> Answer {
    let Some(u) = find_user(d, user) else {
        return user_not_found(user);
    };
    let mut out = public(u);
    if let Some(expand) = req.param("$expand") {
        if !expand.starts_with("manager") {
            return bad(&format!(
                "Could not find a property named '{expand}' on type 'microsoft.graph.user'."
            ));
        }
        if let Some(m) = u["managerId"].as_str().and_then(|m| find_user(d, m)) {
            out["manager"] = public(m);
        }
    }
    Answer::json(StatusCode::OK, select(req, out))
}

/// `/users/{id}/directReports` or `/me/directReports`.
pub(super) fn direct_reports(d: &Data, req: &Incoming, user: &str) -> Answer {
    let Some(u) = find_user(d, user) else {
        return user_not_found(user);
    };
    let reports = d
        .users
        .iter()
        .filter(|r| r["managerId"] == u["id"])
        .map(|r| {
            let mut r = public(r);
            r["@odata.type"] = json!("#microsoft.graph.user");
            r
        })
        .collect();
    page(req, reports, 100)
}
