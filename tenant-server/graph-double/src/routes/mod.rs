//! The Graph routes the double answers: one dispatch table here, the handlers by area.

mod calendar;
mod files;
mod mail;
mod people;
mod tasks;
mod teams;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde_json::{Value, json};

use self::{calendar::*, files::*, mail::*, people::*, tasks::*, teams::*};
use crate::{
    Answer, GraphDouble, Incoming, lock,
    odata::{Clause, parse_filter, parse_search},
    seed::{Data, ME_ADDRESS, ME_NAME, MY_DRIVE, recipient},
};

fn bad(message: &str) -> Answer {
    Answer::error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn not_found() -> Answer {
    Answer::error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn route(double: &GraphDouble, req: &Incoming) -> Answer {
    let segs: Vec<String> = req
        .path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if segs == ["$batch"] && req.method == Method::POST {
        return batch(double, req);
    }
    let mut data = lock(&double.shared.data);
    let d = &mut *data;
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["me"]) => Answer::json(StatusCode::OK, select(req, d.me.clone())),
        ("GET", ["me", "manager"]) => Answer::json(StatusCode::OK, select(req, d.manager.clone())),
        ("GET", ["me", "messages"]) => {
            let all: Vec<Value> = d.inbox.iter().chain(&d.sent).chain(&d.drafts).cloned().collect();
            list_messages(req, all)
        }
        ("GET", ["me", "mailFolders"]) => match apply_filter(req, mail_folders(d), &["displayName"]) {
            Ok(folders) => page(req, folders, 10),
            Err(a) => a,
        },
        ("GET", ["me", "mailFolders", folder, "messages"]) => match filed_messages(d, folder) {
            Some(messages) => list_messages(req, messages),
            None => not_found(),
        },
        ("GET", ["me", "messages", id]) => match find_message(d, id) {
            Some(mut m) => {
                if req.param("$expand").is_none_or(|e| !e.starts_with("attachments"))
                    && let Some(o) = m.as_object_mut()
                {
                    o.remove("attachments");
                }
                Answer::json(StatusCode::OK, select(req, m))
            }
            None => not_found(),
        },
        ("GET", ["me", "messages", id, "attachments"]) => match find_message(d, id) {
            Some(m) => Answer::json(StatusCode::OK, json!({"value": m["attachments"].clone()})),
            None => not_found(),
        },
        ("GET", ["me", "messages", id, "attachments", attachment_id]) => {
            attachment(d, req, id, attachment_id)
        }
        ("POST", ["me", "sendMail"]) => send_mail(d, req),
        ("POST", ["me", "messages", id, action @ ("reply" | "replyAll")]) => reply(d, req, id, action),
        ("POST", ["me", "messages"]) => create_draft(d, req),
        ("POST", ["me", "messages", id, "move"]) => move_message(d, req, id),
        ("PATCH", ["me", "messages", id]) => update_message(d, req, id),
        ("DELETE", ["me", "messages", id]) => delete_message(d, id),
        ("POST", ["me", "messages", id, "forward"]) => forward(d, req, id),
        ("POST", ["me", "messages", id, "send"]) => send_draft(d, id),
        ("GET", ["me", "calendarView"]) => calendar_view(d, req),
        ("GET", ["me", "events", id]) => match d.events.iter().find(|e| e["id"] == *id) {
            Some(e) => {
                let mut e = e.clone();
                localize(&mut e, req);
                Answer::json(StatusCode::OK, select(req, e))
            }
            None => not_found(),
        },
        ("POST", ["me", "events"]) => create_event(d, req),
        ("PATCH", ["me", "events", id]) => update_event(d, req, id),
        ("POST", ["me", "events", id, "cancel"]) => cancel_event(d, id),
        (
            "POST",
            [
                "me",
                "events",
                id,
                action @ ("accept" | "tentativelyAccept" | "decline"),
            ],
        ) => respond_event(d, req, id, action),
        ("GET", ["me", "calendars"]) => calendars(req),
        ("POST", ["me", "findMeetingTimes"]) => find_meeting_times(d, req),
        ("GET", ["me", "people"]) => people(d, req),
        ("GET", ["me", "contacts"]) => contacts(d, req),
        ("GET", ["me", "joinedTeams"]) => page(req, d.teams.clone(), 100),
        ("GET", ["teams", team, "channels"]) => {
            if !d.teams.iter().any(|t| t["id"] == *team) {
                return not_found();
            }
            let chans = d
                .channels
                .iter()
                .filter(|(t, _)| t == team)
                .map(|(_, c)| c.clone())
                .collect();
            page(req, chans, 100)
        }
        ("POST", ["teams", team, "channels", channel, "messages"]) => channel_message(d, req, team, channel),
        ("GET", ["teams", team, "channels", channel, "messages"]) => channel_messages(d, req, team, channel),
        ("GET", ["me", "chats", chat, "messages"]) => chat_messages(d, req, chat),
        ("GET", ["me", "chats"]) => chats(d, req),
        ("POST", ["chats", chat, "messages"]) => post_message(d, req, Some(chat), None),
        ("POST", ["teams", team, "channels", channel, "messages", message, "replies"]) => {
            post_message(d, req, None, Some((team, channel, message)))
        }
        ("GET", ["users", user, "presence"]) => presence(d, user),
        ("GET", ["users", id]) => user(d, req, id),
        ("GET", ["users", id, "directReports"]) => direct_reports(d, req, id),
        ("GET", ["me", "directReports"]) => direct_reports(d, req, "me"),
        ("GET", ["me", "todo", "lists"]) => task_lists(d, req),
        ("GET", ["me", "todo", "lists", list, "tasks"]) => list_tasks(d, req, list),
        ("POST", ["me", "todo", "lists", list, "tasks"]) => create_task(d, req, list),
        ("PATCH", ["me", "todo", "lists", list, "tasks", id]) => update_task(d, req, list, id),
        ("POST", ["me", "onlineMeetings"]) => online_meeting(d, req),
        ("POST", ["search", "query"]) => search_query(d, req),
        ("GET", ["me", "insights", "shared"]) => page(req, d.shared.clone(), 10),
        ("GET", ["me", "drive", "items", id]) => drive_item(d, req, MY_DRIVE, id),
        ("GET", ["drives", drive, "items", id]) => drive_item(d, req, drive, id),
        ("GET", ["me", "drive", "recent"]) => recent_files(d, req),
        ("GET", ["me", "drive", "sharedWithMe"]) => shared_with_me(d, req),
        ("PUT", ["me", "drive", "items", parent, name, "content"]) => upload(d, req, parent, name),
        _ => Answer::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Resource not found for the segment '{}'.",
                segs.last().unwrap_or(&"")
            ),
        ),
    }
}

/// `$select` on an object (`id` always kept).
fn select(req: &Incoming, v: Value) -> Value {
    let Some(sel) = req.param("$select") else { return v };
    let mut fields: Vec<&str> = sel.split(',').map(str::trim).collect();
    // Expanded navigation properties come back whatever `$select` says.
    if let Some(e) = req.param("$expand") {
        fields.push(e.split('(').next().unwrap_or(e));
    }
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| k == "id" || k.starts_with('@') || fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

/// `$top`/`$skip` paging with an `@odata.nextLink` back to the double.
fn page(req: &Incoming, items: Vec<Value>, default_top: usize) -> Answer {
    let top = match req.param("$top").map(str::parse::<usize>) {
        None => default_top,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return bad("Invalid value for $top"),
    };
    let skip = match req.param("$skip").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad("Invalid value for $skip"),
    };
    let total = items.len();
    let value: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|v| select(req, v))
        .collect();
    let mut body = json!({ "value": value });
    if skip + top < total {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in req.params.iter().filter(|(k, _)| k != "$skip") {
            ser.append_pair(k, v);
        }
        ser.append_pair("$skip", &(skip + top).to_string());
        body["@odata.nextLink"] = Value::String(format!("{}/v1.0{}?{}", req.origin, req.path, ser.finish()));
    }
    Answer::json(StatusCode::OK, body)
}

fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('/').fold(v, |v, k| &v[k])
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn clause_matches(v: &Value, c: &Clause, known: &[&str]) -> Result<bool, Answer> {
    let check = |f: &str| {
        if known.contains(&f) {
            Ok(())
        } else {
            Err(bad(&format!("Could not find a property named '{f}'.")))
        }
    };
    Ok(match c {
        Clause::Compare { field: f, op, value } => {
            check(f)?;
            let actual = as_text(field(v, f));
            match op.as_str() {
                "eq" => actual.eq_ignore_ascii_case(value),
                "ne" => !actual.eq_ignore_ascii_case(value),
                "ge" => actual.as_str() >= value.as_str(),
                "le" => actual.as_str() <= value.as_str(),
                "gt" => actual.as_str() > value.as_str(),
                _ => actual.as_str() < value.as_str(),
            }
        }
        Clause::StartsWith { field: f, value } => {
            check(f)?;
            as_text(field(v, f))
                .to_lowercase()
                .starts_with(&value.to_lowercase())
        }
        Clause::AnyStartsWith {
            collection,
            field: f,
            value,
        } => {
            check(&format!("{collection}/{f}"))?;
            v[collection.as_str()].as_array().is_some_and(|a| {
                a.iter().any(|x| {
                    as_text(&x[f.as_str()])
                        .to_lowercase()
                        .starts_with(&value.to_lowercase())
                })
            })
        }
    })
}

fn apply_filter(req: &Incoming, items: Vec<Value>, known: &[&str]) -> Result<Vec<Value>, Answer> {
    let Some(f) = req.param("$filter") else {
        return Ok(items);
    };
    let filter = parse_filter(f).map_err(|e| bad(&format!("Invalid filter clause: {e}")))?;
    let mut out = Vec::new();
    for item in items {
        let mut results = Vec::new();
        for c in &filter.clauses {
            results.push(clause_matches(&item, c, known)?);
        }
        let keep = if filter.any {
            results.iter().any(|b| *b)
        } else {
            results.iter().all(|b| *b)
        };
        if keep {
            out.push(item);
        }
    }
    Ok(out)
}

fn batch(double: &GraphDouble, req: &Incoming) -> Answer {
    let Some(items) = req.body.as_ref().and_then(|b| b["requests"].as_array()) else {
        return bad("Invalid batch payload format.");
    };
    if items.len() > 20 {
        return bad("Number of batch request steps exceeds the maximum of 20.");
    }
    let mut responses = Vec::new();
    for item in items {
        let id = as_text(&item["id"]);
        let (Some(method), Some(url)) = (item["method"].as_str(), item["url"].as_str()) else {
            return bad("Each batch request needs id, method and url.");
        };
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let mut headers: BTreeMap<String, String> = item["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), as_text(v)))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(auth) = req.headers.get("authorization") {
            headers.insert("authorization".into(), auth.clone());
        }
        let inner = Incoming {
            method: method.parse().unwrap_or(Method::GET),
            path: format!("/{}", path.trim_start_matches('/')),
            raw_query: query.to_string(),
            params: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers,
            body: item.get("body").cloned(),
            raw: None,
            in_batch: true,
            origin: req.origin.clone(),
        };
        let a = double.handle(inner);
        let mut h = serde_json::Map::new();
        h.insert("Content-Type".into(), Value::String("application/json".into()));
        for (k, v) in a.headers {
            h.insert(k.into(), Value::String(v));
        }
        let body = match a.body {
            None => Value::Null,
            Some(Ok(v)) => v,
            Some(Err(raw)) => Value::String(raw.into()),
        };
        responses.push(json!({"id": id, "status": a.status.as_u16(), "headers": h, "body": body}));
    }
    Answer::json(StatusCode::OK, json!({ "responses": responses }))
}
