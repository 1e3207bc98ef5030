//! OneDrive: drive items with their pre-authenticated download URL, recent files, files shared
//! with the user, and uploads.

use super::*;

/// Graph's simple upload takes files up to 250 MB; the double keeps to what the tools send.
const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;

fn drive_of(meta: &Value) -> &str {
    meta["parentReference"]["driveId"].as_str().unwrap_or(MY_DRIVE)
}

/// `/me/drive/items/{id}` or `/drives/{drive}/items/{id}`: an item of that drive.
pub(super) fn drive_item(d: &Data, req: &Incoming, drive: &str, id: &str) -> Answer {
    match d
        .drive
        .iter()
        .find(|(m, _)| m["id"] == id && drive_of(m) == drive)
    {
        Some((meta, _)) => {
            let mut meta = meta.clone();
            // Pre-authenticated, as Graph's: fetched without the bearer token.
            meta["@microsoft.graph.downloadUrl"] =
                Value::String(format!("{}/_download/{id}?tempauth=t-{id}", req.origin));
            Answer::json(StatusCode::OK, select(req, meta))
        }
        None => not_found(),
    }
}

/// As Graph shows an item of another drive in a listing of the user's: a `remoteItem` facet.
fn listed(meta: &Value) -> Value {
    if drive_of(meta) == MY_DRIVE {
        return meta.clone();
    }
    json!({
        "id": meta["id"], "name": meta["name"], "size": meta["size"], "webUrl": meta["webUrl"],
        "lastModifiedDateTime": meta["lastModifiedDateTime"],
        "remoteItem": {
            "id": meta["id"], "name": meta["name"], "size": meta["size"], "webUrl": meta["webUrl"],
            "file": meta["file"], "parentReference": meta["parentReference"], "shared": meta["shared"],
            "lastModifiedDateTime": meta["lastModifiedDateTime"],
        },
    })
}

/// Files the user used lately (theirs and shared ones), most recent first.
pub(super) fn recent_files(d: &Data, req: &Incoming) -> Answer {
    let mut items: Vec<Value> = d.drive.iter().map(|(m, _)| listed(m)).collect();
    items.sort_by(|a, b| as_text(&b["lastModifiedDateTime"]).cmp(&as_text(&a["lastModifiedDateTime"])));
    page(req, items, 20)
}

pub(super) fn shared_with_me(d: &Data, req: &Incoming) -> Answer {
    let items = d
        .drive
        .iter()
        .filter(|(m, _)| drive_of(m) != MY_DRIVE)
        .map(|(m, _)| listed(m))
        .collect();
    page(req, items, 20)
}

/// `PUT /me/drive/items/{parent}:/{name}:/content` with the file's bytes.
pub(super) fn upload(d: &mut Data, req: &Incoming, parent: &str, name: &str) -> Answer {
    let (Some(parent), Some(name)) = (parent.strip_suffix(':'), name.strip_suffix(':')) else {
        return bad("Resource not found for the segment 'content'.");
    };
    if parent != "root"
        && !d
            .drive
            .iter()
            .any(|(m, _)| m["id"] == parent && m["folder"].is_object())
    {
        return not_found();
    }
    let Some(content) = req.raw.clone() else {
        return bad("The request body is empty or is not a file's content.");
    };
    if content.len() > MAX_UPLOAD_BYTES {
        return Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalidRequest",
            "The file is too large.",
        );
    }
    let behavior = req
        .param("@microsoft.graph.conflictBehavior")
        .unwrap_or("replace");
    let existing = d
        .drive
        .iter()
        .position(|(m, _)| m["name"] == name && drive_of(m) == MY_DRIVE);
    let name = match (existing, behavior) {
        (Some(_), "fail") => {
            return Answer::error(
                StatusCode::CONFLICT,
                "nameAlreadyExists",
                "The specified item name already exists.",
            );
        }
        (Some(_), "rename") => format!("{name} 1"),
        _ => name.to_owned(),
    };
    if let (Some(i), "replace") = (existing, behavior) {
        d.drive.remove(i);
    }
    let id = d.new_id("file");
    let mime = req.headers.get("content-type").cloned().unwrap_or_default();
    let meta = json!({
        "id": id, "name": name, "size": content.len(),
        "webUrl": format!("https://contoso.sharepoint.example/docs/{id}"),
        "file": {"mimeType": mime},
        "parentReference": {"driveId": MY_DRIVE, "id": parent},
        "lastModifiedDateTime": d.now.to_string(),
        "lastModifiedBy": {"user": {"displayName": ME_NAME}},
    });
    d.drive.push((meta.clone(), content));
    Answer::json(StatusCode::CREATED, meta)
}
