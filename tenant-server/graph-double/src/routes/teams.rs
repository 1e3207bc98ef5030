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
