//! The Graph routes the double answers.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde_json::{Value, json};

use crate::{
    Answer, GraphDouble, Incoming, lock,
    odata::{Clause, parse_filter, parse_search},
    seed::{Data, ME_ADDRESS, ME_NAME, recipient},
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
        ("GET", ["me", "mailFolders"]) => page(req, mail_folders(d), 10),
        ("GET", ["me", "mailFolders", folder, "messages"]) => match folder.to_ascii_lowercase().as_str() {
            "inbox" => list_messages(req, d.inbox.clone()),
            "sentitems" => list_messages(req, d.sent.clone()),
            "drafts" => list_messages(req, d.drafts.clone()),
            _ => not_found(),
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
        ("POST", ["me", "sendMail"]) => send_mail(d, req),
        ("POST", ["me", "messages", id, action @ ("reply" | "replyAll")]) => reply(d, req, id, action),
        ("POST", ["me", "messages"]) => create_draft(d, req),
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
        ("POST", ["me", "onlineMeetings"]) => online_meeting(d, req),
        ("POST", ["search", "query"]) => search_query(d, req),
        ("GET", ["me", "insights", "shared"]) => page(req, d.shared.clone(), 10),
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

/// The top-level folders: the well-known ones with the messages the double holds, and a few of the
/// user's own (empty). Graph pages `mailFolders` by 10 unless `$top` says otherwise.
fn mail_folders(d: &Data) -> Vec<Value> {
    let none: &[Value] = &[];
    let folders = [
        ("inbox", "Inbox", &d.inbox[..]),
        ("drafts", "Drafts", &d.drafts[..]),
        ("sentitems", "Sent Items", &d.sent[..]),
        ("deleteditems", "Deleted Items", none),
        ("junkemail", "Junk Email", none),
        ("archive", "Archive", none),
        ("outbox", "Outbox", none),
        ("conversationhistory", "Conversation History", none),
        ("projects", "Projects", none),
        ("customers", "Customers", none),
        ("finance", "Finance", none),
        ("newsletters", "Newsletters", none),
    ];
    folders
        .iter()
        .map(|(id, name, items)| {
            json!({
                "id": format!("AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAA-{id}"),
                "displayName": name,
                "parentFolderId": "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAAAAEIAAA=",
                "childFolderCount": 0,
                "unreadItemCount": items.iter().filter(|m| m["isRead"] == false).count(),
                "totalItemCount": items.len(),
                "sizeInBytes": items.len() * 4096,
                "isHidden": false,
            })
        })
        .collect()
}

fn find_message(d: &Data, id: &str) -> Option<Value> {
    d.inbox
        .iter()
        .chain(&d.sent)
        .chain(&d.drafts)
        .find(|m| m["id"] == id)
        .cloned()
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

const MESSAGE_FILTER_FIELDS: &[&str] = &[
    "isRead",
    "receivedDateTime",
    "importance",
    "flag/flagStatus",
    "conversationId",
    "hasAttachments",
];

fn addresses(m: &Value, key: &str) -> Vec<String> {
    m[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| as_text(&r["emailAddress"]["address"]).to_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

fn list_messages(req: &Incoming, mut items: Vec<Value>) -> Answer {
    if req.param("$search").is_some() && (req.param("$filter").is_some() || req.param("$orderby").is_some()) {
        return bad("Query option '$search' cannot be combined with '$filter' or '$orderby' on messages.");
    }
    items = match apply_filter(req, items, MESSAGE_FILTER_FIELDS) {
        Ok(i) => i,
        Err(a) => return a,
    };
    if let Some(s) = req.param("$search") {
        let search = match parse_search(s) {
            Ok(s) => s,
            Err(e) => return bad(&e),
        };
        items.retain(|m| {
            let from = format!(
                "{} {}",
                as_text(&m["from"]["emailAddress"]["name"]),
                as_text(&m["from"]["emailAddress"]["address"])
            )
            .to_lowercase();
            let text =
                format!("{} {} {from}", as_text(&m["subject"]), as_text(&m["bodyPreview"])).to_lowercase();
            let props = search.properties.iter().all(|(p, v)| match p.as_str() {
                "from" => from.contains(v),
                "to" => addresses(m, "toRecipients").iter().any(|a| a.contains(v)),
                "participants" => {
                    from.contains(v)
                        || ["toRecipients", "ccRecipients"]
                            .iter()
                            .any(|k| addresses(m, k).iter().any(|a| a.contains(v)))
                }
                "subject" => as_text(&m["subject"]).to_lowercase().contains(v),
                _ => false,
            });
            props && search.terms.iter().all(|t| text.contains(t))
        });
    }
    // Newest first, as Graph's default and the `receivedDateTime desc` the server asks for.
    items.sort_by(|a, b| as_text(&b["receivedDateTime"]).cmp(&as_text(&a["receivedDateTime"])));
    for m in &mut items {
        if let Some(o) = m.as_object_mut() {
            o.remove("attachments");
        }
    }
    page(req, items, 10)
}

fn send_mail(d: &mut Data, req: &Incoming) -> Answer {
    let Some(msg) = req.body.as_ref().and_then(|b| b.get("message")) else {
        return bad("Empty Payload. JSON content expected.");
    };
    if msg["toRecipients"].as_array().is_none_or(Vec::is_empty) {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient is not valid.",
        );
    }
    let mut sent = msg.clone();
    sent["id"] = Value::String(d.new_id("sent"));
    sent["from"] = recipient(ME_NAME, ME_ADDRESS);
    sent["sentDateTime"] = Value::String(d.now.to_string());
    d.sent.insert(0, sent);
    Answer::empty(StatusCode::ACCEPTED)
}

fn reply(d: &mut Data, req: &Incoming, id: &str, _action: &str) -> Answer {
    if find_message(d, id).is_none() {
        return not_found();
    }
    let body = req.body.clone().unwrap_or(Value::Null);
    if body.get("comment").is_none() && body.get("message").is_none() {
        return bad("Empty Payload. JSON content expected.");
    }
    Answer::empty(StatusCode::ACCEPTED)
}

fn create_draft(d: &mut Data, req: &Incoming) -> Answer {
    let Some(mut draft) = req.body.clone().filter(Value::is_object) else {
        return bad("Empty Payload. JSON content expected.");
    };
    draft["id"] = Value::String(d.new_id("draft"));
    draft["isDraft"] = Value::Bool(true);
    draft["parentFolderId"] = Value::String("drafts".into());
    draft["webLink"] = Value::String(format!(
        "https://outlook.office365.example/owa/?ItemID={}",
        draft["id"].as_str().unwrap_or("")
    ));
    d.drafts.push(draft.clone());
    Answer::json(StatusCode::CREATED, draft)
}

fn preferred_zone(req: &Incoming) -> Option<(String, TimeZone)> {
    let prefer = req.headers.get("prefer")?;
    let name = prefer
        .split(',')
        .find_map(|p| p.trim().strip_prefix("outlook.timezone="))?
        .trim_matches('"');
    let tz = TimeZone::get(name).ok()?;
    Some((name.to_string(), tz))
}

/// Rewrites `start`/`end` into the `Prefer: outlook.timezone` zone, as Graph does.
fn localize(e: &mut Value, req: &Incoming) {
    let Some((name, tz)) = preferred_zone(req) else {
        return;
    };
    for k in ["start", "end"] {
        if let Some(t) = e[k]["dateTime"]
            .as_str()
            .and_then(|s| s.parse::<Timestamp>().ok())
        {
            let local = t
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S.0000000")
                .to_string();
            e[k] = json!({"dateTime": local, "timeZone": name});
        }
    }
}

fn calendar_view(d: &Data, req: &Incoming) -> Answer {
    let range = (req.param("startDateTime"), req.param("endDateTime"));
    let (Some(Ok(start)), Some(Ok(end))) = (
        range.0.map(str::parse::<Timestamp>),
        range.1.map(str::parse::<Timestamp>),
    ) else {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        );
    };
    let mut events: Vec<Value> = d
        .events
        .iter()
        .filter(|e| {
            let s = e["start"]["dateTime"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok());
            let en = e["end"]["dateTime"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok());
            matches!((s, en), (Some(s), Some(en)) if s < end && en > start)
        })
        .cloned()
        .collect();
    events.sort_by(|a, b| as_text(&a["start"]["dateTime"]).cmp(&as_text(&b["start"]["dateTime"])));
    for e in &mut events {
        localize(e, req);
    }
    let mut a = page(req, events, 10);
    if let Some((name, _)) = preferred_zone(req) {
        a.headers
            .push(("Preference-Applied", format!("outlook.timezone=\"{name}\"")));
    }
    a
}

fn create_event(d: &mut Data, req: &Incoming) -> Answer {
    let Some(mut e) = req.body.clone().filter(Value::is_object) else {
        return bad("Empty Payload. JSON content expected.");
    };
    if e["start"]["dateTime"].as_str().is_none() || e["end"]["dateTime"].as_str().is_none() {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "ErrorPropertyValidationFailure",
            "start and end are required.",
        );
    }
    let id = d.new_id("event");
    e["id"] = Value::String(id.clone());
    e["organizer"] = json!({"emailAddress": {"name": ME_NAME, "address": ME_ADDRESS}});
    e["webLink"] = Value::String(format!("https://outlook.office365.example/calendar/item/{id}"));
    if e["isOnlineMeeting"] == Value::Bool(true) {
        e["onlineMeeting"] = json!({"joinUrl": format!("https://teams.example/l/meetup-join/{id}")});
    }
    d.events.push(e.clone());
    Answer::json(StatusCode::CREATED, e)
}

fn iso_minutes(d: &str) -> Option<i64> {
    let rest = d.strip_prefix("PT")?;
    let (h, rest) = match rest.split_once('H') {
        Some((h, r)) => (h.parse::<i64>().ok()?, r),
        None => (0, rest),
    };
    let m = match rest.strip_suffix('M') {
        Some(m) if !m.is_empty() => m.parse::<i64>().ok()?,
        _ => 0,
    };
    Some(h * 60 + m)
}

/// A Graph `dateTimeTimeZone` in UTC (the only zone the double's scheduling understands).
fn utc_date_time(v: &Value) -> Option<Timestamp> {
    if v["timeZone"].as_str().is_some_and(|z| z != "UTC") {
        return None;
    }
    let dt: jiff::civil::DateTime = v["dateTime"].as_str()?.trim_end_matches('Z').parse().ok()?;
    dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

fn find_meeting_times(d: &Data, req: &Incoming) -> Answer {
    let body = req.body.clone().unwrap_or(Value::Null);
    let slot = &body["timeConstraint"]["timeSlots"][0];
    let (Some(start), Some(end)) = (utc_date_time(&slot["start"]), utc_date_time(&slot["end"])) else {
        return bad("timeConstraint.timeSlots[0] with start and end is required.");
    };
    let Some(minutes) = body["meetingDuration"]
        .as_str()
        .and_then(iso_minutes)
        .filter(|m| *m > 0)
    else {
        return bad("meetingDuration must be an ISO 8601 duration such as PT30M.");
    };
    let max = body["maxCandidates"].as_u64().unwrap_or(5) as usize;
    let attendees: Vec<Value> = body["attendees"].as_array().cloned().unwrap_or_default();
    let busy: Vec<(Timestamp, Timestamp)> = d
        .events
        .iter()
        .filter_map(|e| {
            Some((
                e["start"]["dateTime"].as_str()?.parse().ok()?,
                e["end"]["dateTime"].as_str()?.parse().ok()?,
            ))
        })
        .collect();
    let mut out = Vec::new();
    let mut t = start;
    let step = SignedDuration::from_mins(30);
    let len = SignedDuration::from_mins(minutes);
    while t + len <= end && out.len() < max {
        let e = t + len;
        if !busy.iter().any(|(bs, be)| *bs < e && *be > t) {
            out.push(json!({
                "confidence": 100.0, "organizerAvailability": "free",
                "attendeeAvailability": attendees.iter().map(|a| json!({"attendee": {"type": a["type"].clone(), "emailAddress": a["emailAddress"].clone()}, "availability": "free"})).collect::<Vec<_>>(),
                "locations": [],
                "meetingTimeSlot": {"start": {"dateTime": t.strftime("%Y-%m-%dT%H:%M:%S.0000000").to_string(), "timeZone": "UTC"}, "end": {"dateTime": e.strftime("%Y-%m-%dT%H:%M:%S.0000000").to_string(), "timeZone": "UTC"}},
            }));
        }
        t += step;
    }
    let reason = if out.is_empty() {
        "AttendeesUnavailable"
    } else {
        ""
    };
    Answer::json(
        StatusCode::OK,
        json!({"emptySuggestionsReason": reason, "meetingTimeSuggestions": out}),
    )
}

fn people(d: &Data, req: &Incoming) -> Answer {
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

fn contacts(d: &Data, req: &Incoming) -> Answer {
    match apply_filter(
        req,
        d.contacts.clone(),
        &["displayName", "givenName", "surname", "emailAddresses/address"],
    ) {
        Ok(items) => page(req, items, 10),
        Err(a) => a,
    }
}

fn channel_message(d: &mut Data, req: &Incoming, team: &str, channel: &str) -> Answer {
    if !d.channels.iter().any(|(t, c)| t == team && c["id"] == channel) {
        return not_found();
    }
    let Some(content) = req.body.as_ref().and_then(|b| b["body"]["content"].as_str()) else {
        return bad("body.content is required.");
    };
    let id = d.new_id("chatmsg");
    Answer::json(
        StatusCode::CREATED,
        json!({
            "id": id, "messageType": "message", "createdDateTime": d.now.to_string(),
            "from": {"user": {"displayName": ME_NAME}},
            "body": {"contentType": req.body.as_ref().map(|b| b["body"]["contentType"].clone()).unwrap_or(Value::Null), "content": content},
            "webUrl": format!("https://teams.example/l/message/{channel}/{id}"),
        }),
    )
}

fn online_meeting(d: &mut Data, req: &Incoming) -> Answer {
    let body = req.body.clone().unwrap_or(Value::Null);
    if body["startDateTime"].as_str().is_none() || body["endDateTime"].as_str().is_none() {
        return bad("startDateTime and endDateTime are required.");
    }
    let id = d.new_id("meeting");
    Answer::json(
        StatusCode::CREATED,
        json!({
            "id": id, "subject": body["subject"].clone(),
            "startDateTime": body["startDateTime"].clone(), "endDateTime": body["endDateTime"].clone(),
            "joinWebUrl": format!("https://teams.example/l/meetup-join/{id}"),
            "participants": {"organizer": {"upn": ME_ADDRESS}},
        }),
    )
}

fn search_query(d: &Data, req: &Incoming) -> Answer {
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
