//! Microsoft To Do: lists and tasks.

use super::*;

const TASK_FILTER_FIELDS: &[&str] = &["status", "importance"];

pub(super) fn task_lists(d: &Data, req: &Incoming) -> Answer {
    match apply_filter(req, d.task_lists.clone(), &["wellknownListName", "displayName"]) {
        Ok(lists) => page(req, lists, 10),
        Err(a) => a,
    }
}

fn known_list(d: &Data, list: &str) -> bool {
    d.task_lists.iter().any(|l| l["id"] == list)
}

pub(super) fn list_tasks(d: &Data, req: &Incoming, list: &str) -> Answer {
    if !known_list(d, list) {
        return not_found();
    }
    let tasks = d
        .tasks
        .iter()
        .filter(|(l, _)| l == list)
        .map(|(_, t)| t.clone())
        .collect();
    match apply_filter(req, tasks, TASK_FILTER_FIELDS) {
        Ok(tasks) => page(req, tasks, 10),
        Err(a) => a,
    }
}

pub(super) fn create_task(d: &mut Data, req: &Incoming, list: &str) -> Answer {
    if !known_list(d, list) {
        return not_found();
    }
    let Some(mut t) = req.body.clone().filter(|b| b["title"].is_string()) else {
        return bad("Invalid request: the task needs a title.");
    };
    for key in ["dueDateTime", "reminderDateTime"] {
        if !t[key].is_null()
            && (t[key]["dateTime"].as_str().is_none() || t[key]["timeZone"].as_str().is_none())
        {
            return bad(&format!("Invalid value for property '{key}'."));
        }
    }
    t["id"] = Value::String(d.new_id("task"));
    if t["status"].is_null() {
        t["status"] = json!("notStarted");
    }
    d.tasks.push((list.to_owned(), t.clone()));
    Answer::json(StatusCode::CREATED, t)
}

pub(super) fn update_task(d: &mut Data, req: &Incoming, list: &str, id: &str) -> Answer {
    let Some(patch) = req.body.as_ref().and_then(Value::as_object) else {
        return bad("Empty Payload. JSON content expected.");
    };
    if let Some(s) = patch.get("status")
        && !matches!(
            s.as_str(),
            Some("notStarted" | "inProgress" | "completed" | "waitingOnOthers" | "deferred")
        )
    {
        return bad("Invalid value for property 'status'.");
    }
    let Some((_, t)) = d.tasks.iter_mut().find(|(l, t)| l == list && t["id"] == id) else {
        return not_found();
    };
    for (k, v) in patch {
        t[k.as_str()] = v.clone();
    }
    Answer::json(StatusCode::OK, t.clone())
}
