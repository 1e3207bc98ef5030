//! Teams: channel messages and online meetings.

use super::*;

pub(super) fn channel_message(d: &mut Data, req: &Incoming, team: &str, channel: &str) -> Answer {
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

/// A channel's messages, newest first; `replies` only with `$expand=replies`.
pub(super) fn channel_messages(d: &Data, req: &Incoming, team: &str, channel: &str) -> Answer {
    if !d.channels.iter().any(|(t, c)| t == team && c["id"] == channel) {
        return not_found();
    }
    let expand = req.param("$expand") == Some("replies");
    let messages = d
        .channel_messages
        .iter()
        .filter(|(c, _)| c == channel)
        .map(|(_, m)| {
            let mut m = m.clone();
            if !expand && let Some(o) = m.as_object_mut() {
                o.remove("replies");
            }
            m
        })
        .collect();
    page(req, messages, 20)
}

/// A chat's messages, newest first.
pub(super) fn chat_messages(d: &Data, req: &Incoming, chat: &str) -> Answer {
    if !d.chats.iter().any(|c| c["id"] == chat) {
        return not_found();
    }
    let messages = d
        .chat_messages
        .iter()
        .filter(|(c, _)| c == chat)
        .map(|(_, m)| m.clone())
        .collect();
    page(req, messages, 20)
}

pub(super) fn online_meeting(d: &mut Data, req: &Incoming) -> Answer {
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

/// The user's chats, each with its newest message as `lastMessagePreview` when expanded; most
/// recently active first (the only `$orderby` Graph allows on chats).
pub(super) fn chats(d: &Data, req: &Incoming) -> Answer {
    if let Some(order) = req.param("$orderby")
        && order != "lastMessagePreview/createdDateTime desc"
    {
        return bad("Unsupported $orderby for chats.");
    }
    let expand = req.param("$expand").unwrap_or("");
    let mut chats: Vec<Value> = d
        .chats
        .iter()
        .map(|c| {
            let mut c = c.clone();
            let last = d.chat_messages.iter().find(|(id, _)| *id == as_text(&c["id"]));
            if expand.split(',').any(|e| e == "lastMessagePreview")
                && let Some((_, m)) = last
            {
                c["lastMessagePreview"] = json!({
                    "createdDateTime": m["createdDateTime"], "from": m["from"], "body": m["body"],
                });
            }
            if !expand.split(',').any(|e| e == "members")
                && let Some(o) = c.as_object_mut()
            {
                o.remove("members");
            }
            c
        })
        .collect();
    chats.sort_by(|a, b| {
        as_text(&b["lastMessagePreview"]["createdDateTime"])
            .cmp(&as_text(&a["lastMessagePreview"]["createdDateTime"]))
    });
    page(req, chats, 50)
}

/// A new message in a chat, or a reply in a channel thread (`thread` holds the channel and the
/// first message's id).
pub(super) fn post_message(
    d: &mut Data,
    req: &Incoming,
    chat: Option<&str>,
    thread: Option<(&str, &str, &str)>,
) -> Answer {
    let known = match (chat, thread) {
        (Some(chat), _) => d.chats.iter().any(|c| c["id"] == chat),
        (None, Some((team, channel, message))) => {
            d.channels.iter().any(|(t, c)| t == team && c["id"] == channel)
                && d.channel_messages
                    .iter()
                    .any(|(c, m)| c == channel && m["id"] == message)
        }
        (None, None) => false,
    };
    if !known {
        return not_found();
    }
    let Some(content) = req.body.as_ref().and_then(|b| b["body"]["content"].as_str()) else {
        return bad("body.content is required.");
    };
    let id = d.new_id("chatmsg");
    let posted = json!({
        "id": id, "messageType": "message", "createdDateTime": d.now.to_string(),
        "from": {"user": {"displayName": ME_NAME}},
        "body": {"contentType": req.body.as_ref().map(|b| b["body"]["contentType"].clone()).unwrap_or(Value::Null), "content": content},
        "webUrl": format!("https://teams.example/l/message/{}/{id}", chat.or(thread.map(|t| t.1)).unwrap_or_default()),
    });
    match (chat, thread) {
        (Some(chat), _) => d.chat_messages.insert(0, (chat.to_owned(), posted.clone())),
        (None, Some((_, channel, message))) => {
            if let Some((_, m)) = d
                .channel_messages
                .iter_mut()
                .find(|(c, m)| c == channel && m["id"] == message)
                && let Some(replies) = m["replies"].as_array_mut()
            {
                replies.push(posted.clone());
            }
        }
        (None, None) => {}
    }
    Answer::json(StatusCode::CREATED, posted)
}

/// A colleague's presence, by address or object id; unknown users are 404 as in Graph.
pub(super) fn presence(d: &Data, user: &str) -> Answer {
    let Some(i) = d.people.iter().position(|p| {
        as_text(&p["id"]) == user
            || p["scoredEmailAddresses"][0]["address"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(user))
    }) else {
        return Answer::error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{user}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let (availability, activity) = [
        ("Available", "Available"),
        ("Busy", "InAMeeting"),
        ("Away", "Away"),
        ("DoNotDisturb", "Presenting"),
        ("Offline", "OffWork"),
    ][i % 5];
    let mut p =
        json!({"id": as_text(&d.people[i]["id"]), "availability": availability, "activity": activity});
    if i == 1 {
        p["statusMessage"] =
            json!({"message": {"content": "Heads down on the launch", "contentType": "text"}});
    }
    Answer::json(StatusCode::OK, p)
}
