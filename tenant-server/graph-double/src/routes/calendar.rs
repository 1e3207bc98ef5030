//! Calendar: the calendar view in the caller's time zone, events, meeting times.

use super::*;

pub(super) fn preferred_zone(req: &Incoming) -> Option<(String, TimeZone)> {
    let prefer = req.headers.get("prefer")?;
    let name = prefer
        .split(',')
        .find_map(|p| p.trim().strip_prefix("outlook.timezone="))?
        .trim_matches('"');
    let tz = TimeZone::get(name).ok()?;
    Some((name.to_string(), tz))
}

/// Rewrites `start`/`end` into the `Prefer: outlook.timezone` zone, as Graph does.
pub(super) fn localize(e: &mut Value, req: &Incoming) {
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

pub(super) fn calendar_view(d: &Data, req: &Incoming) -> Answer {
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

pub(super) fn create_event(d: &mut Data, req: &Incoming) -> Answer {
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

pub(super) fn iso_minutes(d: &str) -> Option<i64> {
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
pub(super) fn utc_date_time(v: &Value) -> Option<Timestamp> {
    if v["timeZone"].as_str().is_some_and(|z| z != "UTC") {
        return None;
    }
    let dt: jiff::civil::DateTime = v["dateTime"].as_str()?.trim_end_matches('Z').parse().ok()?;
    dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

pub(super) fn find_meeting_times(d: &Data, req: &Incoming) -> Answer {
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

fn organized_by_me(e: &Value) -> bool {
    e["organizer"]["emailAddress"]["address"]
        .as_str()
        .is_some_and(|a| a.eq_ignore_ascii_case(ME_ADDRESS))
}

/// `PATCH /me/events/{id}`: the organizer's changes.
pub(super) fn update_event(d: &mut Data, req: &Incoming, id: &str) -> Answer {
    let Some(patch) = req.body.as_ref().and_then(Value::as_object) else {
        return bad("Empty Payload. JSON content expected.");
    };
    const WRITABLE: &[&str] = &["subject", "start", "end", "location", "body", "attendees"];
    if let Some(k) = patch.keys().find(|k| !WRITABLE.contains(&k.as_str())) {
        return bad(&format!(
            "The property '{k}' does not exist on type 'microsoft.graph.event'."
        ));
    }
    let Some(e) = d.events.iter_mut().find(|e| e["id"] == id) else {
        return not_found();
    };
    if !organized_by_me(e) {
        return Answer::error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Only the organizer can update the meeting.",
        );
    }
    for (k, v) in patch {
        e[k.as_str()] = v.clone();
    }
    let mut e = e.clone();
    localize(&mut e, req);
    Answer::json(StatusCode::OK, e)
}

/// `POST /me/events/{id}/cancel`: organizer only; the event leaves the calendar.
pub(super) fn cancel_event(d: &mut Data, id: &str) -> Answer {
    let Some(i) = d.events.iter().position(|e| e["id"] == id) else {
        return not_found();
    };
    if !organized_by_me(&d.events[i]) {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
        );
    }
    d.events.remove(i);
    Answer::empty(StatusCode::ACCEPTED)
}

/// `accept`, `tentativelyAccept`, `decline`: an attendee's answer, recorded on the event.
pub(super) fn respond_event(d: &mut Data, req: &Incoming, id: &str, action: &str) -> Answer {
    let body = req.body.clone().unwrap_or(Value::Null);
    if action == "accept" && body.get("proposedNewTime").is_some() {
        return bad("proposedNewTime is not supported for accept.");
    }
    let Some(e) = d.events.iter_mut().find(|e| e["id"] == id) else {
        return not_found();
    };
    if organized_by_me(e) {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Your request can't be completed. You can't respond to a meeting you organized.",
        );
    }
    let response = match action {
        "accept" => "accepted",
        "tentativelyAccept" => "tentativelyAccepted",
        _ => "declined",
    };
    e["responseStatus"] = json!({"response": response});
    Answer::empty(StatusCode::ACCEPTED)
}

/// The user's calendars and one a colleague shared (read only).
pub(super) fn calendars(req: &Incoming) -> Answer {
    let mine = |id: &str, name: &str, default: bool| {
        json!({"id": id, "name": name, "canEdit": true, "isDefaultCalendar": default,
               "owner": {"name": ME_NAME, "address": ME_ADDRESS}})
    };
    let all = vec![
        mine("cal-default", "Calendar", true),
        mine("cal-holidays", "United States holidays", false),
        json!({"id": "cal-megan", "name": "Megan Bowen", "canEdit": false, "isDefaultCalendar": false,
               "owner": {"name": "Megan Bowen", "address": "megan@contoso.example"}}),
    ];
    page(req, all, 10)
}
