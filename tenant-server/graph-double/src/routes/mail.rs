//! Mail: folders, messages, sending, replies and drafts.

use super::*;

/// The top-level folders: the well-known ones with the messages the double holds, and a few of the
/// user's own (empty). Graph pages `mailFolders` by 10 unless `$top` says otherwise.
pub(super) fn mail_folders(d: &Data) -> Vec<Value> {
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

pub(super) fn find_message(d: &Data, id: &str) -> Option<Value> {
    d.inbox
        .iter()
        .chain(&d.sent)
        .chain(&d.drafts)
        .chain(d.filed.iter().map(|(_, m)| m))
        .find(|m| m["id"] == id)
        .cloned()
}

pub(super) const MESSAGE_FILTER_FIELDS: &[&str] = &[
    "isRead",
    "receivedDateTime",
    "importance",
    "flag/flagStatus",
    "conversationId",
    "hasAttachments",
];

pub(super) fn addresses(m: &Value, key: &str) -> Vec<String> {
    m[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| as_text(&r["emailAddress"]["address"]).to_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn list_messages(req: &Incoming, mut items: Vec<Value>) -> Answer {
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

pub(super) fn send_mail(d: &mut Data, req: &Incoming) -> Answer {
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

pub(super) fn reply(d: &mut Data, req: &Incoming, id: &str, _action: &str) -> Answer {
    if find_message(d, id).is_none() {
        return not_found();
    }
    let body = req.body.clone().unwrap_or(Value::Null);
    if body.get("comment").is_none() && body.get("message").is_none() {
        return bad("Empty Payload. JSON content expected.");
    }
    Answer::empty(StatusCode::ACCEPTED)
}

pub(super) fn create_draft(d: &mut Data, req: &Incoming) -> Answer {
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

/// The well-known name of a folder given as Graph takes it: a well-known name or a folder id of
/// [`mail_folders`].
fn folder_key(d: &Data, folder: &str) -> Option<String> {
    let key = folder.to_ascii_lowercase();
    mail_folders(d)
        .iter()
        .find(|f| {
            as_text(&f["id"]).eq_ignore_ascii_case(folder) || as_text(&f["id"]).ends_with(&format!("-{key}"))
        })
        .map(|f| {
            as_text(&f["id"])
                .rsplit('-')
                .next()
                .unwrap_or_default()
                .to_string()
        })
}

/// Takes a message out of whichever folder holds it.
fn take_message(d: &mut Data, id: &str) -> Option<Value> {
    for folder in [&mut d.inbox, &mut d.sent, &mut d.drafts] {
        if let Some(i) = folder.iter().position(|m| m["id"] == id) {
            return Some(folder.remove(i));
        }
    }
    let i = d.filed.iter().position(|(_, m)| m["id"] == id)?;
    Some(d.filed.remove(i).1)
}

/// Files a message under `key` with a new id, as Outlook does on a move.
fn file_message(d: &mut Data, key: &str, mut m: Value) -> Value {
    m["id"] = Value::String(d.new_id("moved"));
    m["parentFolderId"] = Value::String(key.into());
    match key {
        "inbox" => d.inbox.insert(0, m.clone()),
        "sentitems" => d.sent.insert(0, m.clone()),
        "drafts" => d.drafts.push(m.clone()),
        _ => d.filed.push((key.into(), m.clone())),
    }
    m
}

pub(super) fn filed_messages(d: &Data, folder: &str) -> Option<Vec<Value>> {
    let key = folder_key(d, folder)?;
    Some(match key.as_str() {
        "inbox" => d.inbox.clone(),
        "sentitems" => d.sent.clone(),
        "drafts" => d.drafts.clone(),
        _ => d
            .filed
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, m)| m.clone())
            .collect(),
    })
}

pub(super) fn move_message(d: &mut Data, req: &Incoming, id: &str) -> Answer {
    let Some(destination) = req.body.as_ref().and_then(|b| b["destinationId"].as_str()) else {
        return bad("Empty Payload. JSON content expected.");
    };
    let Some(key) = folder_key(d, destination) else {
        return Answer::error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidIdMalformed",
            "Id is malformed.",
        );
    };
    let Some(m) = take_message(d, id) else {
        return not_found();
    };
    let moved = file_message(d, &key, m);
    Answer::json(StatusCode::CREATED, moved)
}

pub(super) fn delete_message(d: &mut Data, id: &str) -> Answer {
    let Some(m) = take_message(d, id) else {
        return not_found();
    };
    file_message(d, "deleteditems", m);
    Answer::empty(StatusCode::NO_CONTENT)
}

/// `PATCH /me/messages/{id}`: the writable properties the tools set, checked as Graph does.
pub(super) fn update_message(d: &mut Data, req: &Incoming, id: &str) -> Answer {
    let Some(patch) = req.body.as_ref().and_then(Value::as_object) else {
        return bad("Empty Payload. JSON content expected.");
    };
    for (k, v) in patch {
        let ok = match k.as_str() {
            "isRead" => v.is_boolean(),
            "flag" => matches!(
                v["flagStatus"].as_str(),
                Some("flagged" | "complete" | "notFlagged")
            ),
            "categories" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            _ => false,
        };
        if !ok {
            return bad(&format!("Invalid value for property '{k}'."));
        }
    }
    let mut all = d
        .inbox
        .iter_mut()
        .chain(&mut d.sent)
        .chain(&mut d.drafts)
        .chain(d.filed.iter_mut().map(|(_, m)| m));
    let Some(m) = all.find(|m| m["id"] == id) else {
        return not_found();
    };
    for (k, v) in patch {
        m[k.as_str()] = v.clone();
    }
    Answer::json(StatusCode::OK, m.clone())
}

pub(super) fn forward(d: &mut Data, req: &Incoming, id: &str) -> Answer {
    let Some(original) = find_message(d, id) else {
        return not_found();
    };
    let body = req.body.clone().unwrap_or(Value::Null);
    if body["toRecipients"].as_array().is_none_or(Vec::is_empty) {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient is not valid.",
        );
    }
    let sent = json!({
        "id": d.new_id("sent"),
        "subject": format!("FW: {}", as_text(&original["subject"])),
        "from": recipient(ME_NAME, ME_ADDRESS),
        "toRecipients": body["toRecipients"].clone(),
        "bodyPreview": as_text(&body["comment"]),
        "sentDateTime": d.now.to_string(),
    });
    d.sent.insert(0, sent);
    Answer::empty(StatusCode::ACCEPTED)
}

/// `POST /me/messages/{id}/send`: only a draft can be sent.
pub(super) fn send_draft(d: &mut Data, id: &str) -> Answer {
    let Some(i) = d.drafts.iter().position(|m| m["id"] == id) else {
        return match find_message(d, id) {
            Some(_) => Answer::error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidOperation",
                "Only a draft message can be sent.",
            ),
            None => not_found(),
        };
    };
    let mut m = d.drafts.remove(i);
    m["isDraft"] = Value::Bool(false);
    m["from"] = recipient(ME_NAME, ME_ADDRESS);
    m["sentDateTime"] = Value::String(d.now.to_string());
    d.sent.insert(0, m);
    Answer::empty(StatusCode::ACCEPTED)
}

/// One attachment: its metadata, and for a file attachment without `$select` its
/// `contentBytes` (base64), as Graph answers.
pub(super) fn attachment(d: &Data, req: &Incoming, id: &str, attachment: &str) -> Answer {
    let Some(m) = find_message(d, id) else {
        return not_found();
    };
    let Some(a) = m["attachments"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["id"] == attachment))
        .cloned()
    else {
        return not_found();
    };
    let mut a = a;
    if req.param("$select").is_none() && a["@odata.type"] == "#microsoft.graph.fileAttachment" {
        use base64::{Engine as _, prelude::BASE64_STANDARD};
        let content = crate::seed::attachment_content(a["name"].as_str().unwrap_or(""));
        a["size"] = json!(content.len());
        a["contentBytes"] = Value::String(BASE64_STANDARD.encode(content));
    }
    Answer::json(StatusCode::OK, select(req, a))
}
