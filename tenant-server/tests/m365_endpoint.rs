//! Every Microsoft 365 tool of the catalog through the real MCP endpoint: `tools/call` over
//! Streamable HTTP with a signed client token, exchanged on-behalf-of for a Graph token, against
//! the Graph double. Each case asserts the tool result (not an error, the structured content's key
//! facts from the seed, the text) and the exact Graph requests (method, path, query parameters in
//! order, headers, JSON bodies, `$batch` items), that every request carries the provider's Graph
//! token and the call's `client-request-id`, and that the client's token never reaches Graph.
//! A catalog tool without a case here fails the coverage check.

use std::{collections::BTreeSet, panic::AssertUnwindSafe};

use futures::FutureExt;
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use mcp_graph_double::{Fault, FaultRule, GraphDouble, RecordedRequest, Seed};
use mcp_tenancy_config::catalog::TOOL_CATALOG;
use serde_json::{Value, json};
use support::{
    Client, LocalIssuer,
    m365::{GRAPH_TOKEN, GraphSetup, graph_setup},
    router, state,
};

use crate::support;

const MESSAGE_SUMMARY: &str =
    "id,subject,from,receivedDateTime,isRead,importance,hasAttachments,bodyPreview,webLink";
const EVENT_FIELDS: &str =
    "id,subject,start,end,location,organizer,attendees,isOnlineMeeting,onlineMeeting,webLink,bodyPreview";
const PEOPLE_FIELDS: &str = "displayName,scoredEmailAddresses,jobTitle,department,companyName";

// ---------------------------------------------------------------- the app

struct Env {
    graph: GraphSetup,
    client: Client,
}

/// A fresh double seeded around `now`, an IdP that exchanges exactly `client_token` for
/// [`GRAPH_TOKEN`], the app with the Microsoft 365 tools, and an initialized MCP session.
async fn env(issuer: &LocalIssuer, client_token: &str, now: Timestamp) -> Env {
    let graph = graph_setup(
        &Seed {
            inbox_messages: 640,
            now,
        },
        client_token,
    )
    .await;
    let mut client = Client::new(
        router(state(issuer.config("", ""), graph.tools.clone())),
        client_token,
    );
    client.initialize().await;
    Env { graph, client }
}

// ---------------------------------------------------------------- expected Graph requests

#[derive(Debug)]
enum Body {
    /// No body (GET).
    Empty,
    /// Exactly this JSON.
    Json(Value),
    /// A `$batch`: its items' ids and paths, in order (the items themselves are matched as
    /// requests of their own).
    Batch(Vec<(&'static str, &'static str)>),
}

/// A query parameter's value that the call's own clock decides (a window starting now).
const ANY: &str = "<any>";

#[derive(Debug)]
struct Want {
    method: &'static str,
    /// Below the API version, decoded.
    path: String,
    /// Every query parameter, decoded, in the order sent.
    params: Vec<(String, String)>,
    /// Headers besides those every request carries.
    headers: Vec<(&'static str, String)>,
    body: Body,
    in_batch: bool,
}

fn get(path: impl Into<String>) -> Want {
    Want {
        method: "GET",
        path: path.into(),
        params: Vec::new(),
        headers: Vec::new(),
        body: Body::Empty,
        in_batch: false,
    }
}

fn post(path: impl Into<String>, body: Value) -> Want {
    Want {
        method: "POST",
        body: Body::Json(body),
        ..get(path)
    }
}

/// A `PUT` of a file's content (the double records uploaded text as a JSON string).
fn put(path: impl Into<String>, text: &str) -> Want {
    Want {
        method: "PUT",
        body: Body::Json(Value::String(text.into())),
        ..get(path)
    }
}

/// A `POST` without a body (an action such as `/send`).
fn post_empty(path: impl Into<String>) -> Want {
    Want {
        method: "POST",
        ..get(path)
    }
}

fn patch(path: impl Into<String>, body: Value) -> Want {
    Want {
        method: "PATCH",
        body: Body::Json(body),
        ..get(path)
    }
}

fn delete(path: impl Into<String>) -> Want {
    Want {
        method: "DELETE",
        ..get(path)
    }
}

fn batch(items: &[(&'static str, &'static str)]) -> Want {
    Want {
        method: "POST",
        body: Body::Batch(items.to_vec()),
        ..get("/$batch")
    }
}

impl Want {
    fn q(mut self, name: &str, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sent as an item of a `$batch`.
    fn batched(mut self) -> Self {
        self.in_batch = true;
        self
    }

    fn matches(&self, r: &RecordedRequest) -> bool {
        let body = match &self.body {
            Body::Empty => r.body.is_none(),
            Body::Json(v) => r.body.as_ref() == Some(v),
            Body::Batch(items) => r
                .body
                .as_ref()
                .and_then(|b| b["requests"].as_array())
                .is_some_and(|reqs| {
                    reqs.len() == items.len()
                        && reqs.iter().zip(items).all(|(req, (id, path))| {
                            req["id"] == *id
                                && req["method"] == "GET"
                                && req["url"]
                                    .as_str()
                                    .is_some_and(|u| u.split('?').next() == Some(*path))
                        })
                }),
        };
        r.method == self.method
            && r.path == self.path
            && r.in_batch == self.in_batch
            && r.params.len() == self.params.len()
            && r.params
                .iter()
                .zip(&self.params)
                .all(|(got, want)| got.0 == want.0 && (want.1 == ANY || got.1 == want.1))
            && self.headers.iter().all(|(k, v)| r.header(k) == Some(v.as_str()))
            && body
    }
}

fn describe<'a>(requests: impl IntoIterator<Item = &'a RecordedRequest>) -> String {
    requests
        .into_iter()
        .map(|r| {
            format!(
                "  {} {}{} params={:?} headers={:?} body={}",
                r.method,
                r.path,
                if r.in_batch { " (in $batch)" } else { "" },
                r.params,
                r.headers,
                r.body.as_ref().map(Value::to_string).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each wanted request matches exactly one recorded one (in any order: a tool may send some
/// concurrently), and nothing else was sent.
fn assert_requests(tool: &str, wants: &[Want], got: &[RecordedRequest]) {
    let mut unused: Vec<&RecordedRequest> = got.iter().collect();
    for w in wants {
        match unused.iter().position(|r| w.matches(r)) {
            Some(i) => {
                unused.remove(i);
            }
            None => panic!(
                "{tool}: no Graph request matched\n{w:#?}\nrecorded:\n{}",
                describe(got)
            ),
        }
    }
    assert!(
        unused.is_empty(),
        "{tool}: unexpected Graph requests:\n{}",
        describe(unused)
    );
}

// ---------------------------------------------------------------- the cases

type Check = Box<dyn Fn(&Value, &GraphDouble) + Send + Sync>;

struct Case {
    tool: &'static str,
    args: Value,
    /// The text content contains each of these.
    text: &'static [&'static str],
    requests: Vec<Want>,
    /// Key facts of `structuredContent` (and of the double's data, for writes).
    check: Check,
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array: {list}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect()
}

fn strings<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array: {list}"))
        .iter()
        .map(|x| x.pointer(key).and_then(Value::as_str).unwrap_or(""))
        .collect()
}

fn literal(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One case per Microsoft 365 tool, against the default seed placed around `now`.
fn cases(now: Timestamp) -> Vec<Case> {
    let window = (literal(now), literal(now + SignedDuration::from_hours(48)));
    let berlin_start = (now + SignedDuration::from_hours(2))
        .to_zoned(TimeZone::get("Europe/Berlin").unwrap())
        .strftime("%Y-%m-%dT%H:%M:%S.0000000")
        .to_string();
    vec![
        // ------------------------------------------------ mail
        Case {
            tool: "mail_list_messages",
            args: json!({"folder": "inbox", "unread_only": true, "count": 5, "since": "2020-01-01T00:00:00Z"}),
            text: &["5 message(s) in inbox (more available)", "id msg-0000"],
            requests: vec![
                get("/me/mailFolders/inbox/messages")
                    .q("$select", MESSAGE_SUMMARY)
                    .q("$top", "5")
                    .q("$orderby", "receivedDateTime desc")
                    .q(
                        "$filter",
                        "receivedDateTime ge 2020-01-01T00:00:00Z and isRead eq false",
                    ),
            ],
            check: Box::new(|out, _| {
                // Newest first; msg-0004 is read.
                assert_eq!(
                    ids(&out["messages"]),
                    ["msg-0000", "msg-0001", "msg-0002", "msg-0003", "msg-0005"]
                );
                assert!(out["messages"].as_array().unwrap().iter().all(|m| m["is_read"] == false));
                assert_eq!(out["messages"][1]["subject"], "Design sync notes");
                assert_eq!(out["messages"][1]["from"]["address"], "alex@contoso.example");
                assert_eq!(out["more"], true);
            }),
        },
        Case {
            tool: "mail_list_folders",
            args: json!({"count": 5}),
            text: &["5 folder(s)", "- Inbox: 512 unread of 640 (id AAMk"],
            requests: vec![
                get("/me/mailFolders")
                    .q("$select", "id,displayName,unreadItemCount,totalItemCount,childFolderCount")
                    .q("$top", "5"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(
                    strings(&out["folders"], "/name"),
                    ["Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk Email"]
                );
                // Four in five of the 640 seeded inbox messages are unread; sent mail is read.
                let inbox = &out["folders"][0];
                assert_eq!((inbox["unread"].as_u64(), inbox["total"].as_u64()), (Some(512), Some(640)));
                assert!(inbox["id"].as_str().unwrap().ends_with("-inbox"));
                assert_eq!((out["folders"][2]["unread"].as_u64(), out["folders"][2]["total"].as_u64()), (Some(0), Some(60)));
                // Twelve folders, five asked for: Graph has a next page.
                assert_eq!(out["more"], true);
            }),
        },
        Case {
            tool: "mail_search",
            args: json!({"query": "design sync", "from": "alex@contoso.example", "count": 3}),
            text: &["3 matching message(s) (more available)"],
            requests: vec![
                get("/me/messages")
                    .q("$search", "\"from:alex@contoso.example design sync\"")
                    .q("$select", MESSAGE_SUMMARY)
                    .q("$top", "3"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(ids(&out["messages"]), ["msg-0001", "msg-0061", "msg-0121"]);
                assert!(
                    strings(&out["messages"], "/from/address")
                        .iter()
                        .all(|a| *a == "alex@contoso.example")
                );
                assert!(
                    strings(&out["messages"], "/subject")
                        .iter()
                        .all(|s| *s == "Design sync notes")
                );
                assert_eq!(out["more"], true);
            }),
        },
        Case {
            tool: "mail_get_message",
            args: json!({"id": "msg-0006"}),
            text: &["From Lynne Robbins <lynne@contoso.example>: Team offsite ideas"],
            requests: vec![
                get("/me/messages/msg-0006")
                    .q(
                        "$select",
                        "id,subject,from,toRecipients,ccRecipients,receivedDateTime,importance,body,conversationId,webLink,hasAttachments",
                    )
                    .q("$expand", "attachments($select=id,name,size,contentType,isInline)"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(out["id"], "msg-0006");
                assert_eq!(out["subject"], "Team offsite ideas");
                assert_eq!(out["from"]["address"], "lynne@contoso.example");
                assert_eq!(out["to"], json!([{"name": "Adele Vance", "address": "adele@contoso.example"}]));
                assert_eq!(out["conversation_id"], "conv-006");
                let body = out["body"].as_str().unwrap();
                assert!(body.contains("notes on Team offsite ideas"), "{body}");
                assert!(!body.contains('<'), "HTML left in {body}");
                assert_eq!(out["body_truncated"], false);
                assert_eq!(
                    out["attachments"],
                    json!([{"id": "att-6", "name": "report-6.pdf", "size_bytes": 20486, "content_type": "application/pdf"}])
                );
            }),
        },
        Case {
            tool: "mail_send",
            args: json!({"to": ["alex@contoso.example"], "cc": ["megan@contoso.example"], "bcc": ["lee@contoso.example"],
                         "subject": "Budget follow-up", "body": "Numbers attached.", "importance": "high"}),
            text: &["Sent \"Budget follow-up\" to 3 recipient(s)."],
            requests: vec![post(
                "/me/sendMail",
                json!({"message": {
                    "subject": "Budget follow-up",
                    "body": {"contentType": "text", "content": "Numbers attached."},
                    "toRecipients": [{"emailAddress": {"address": "alex@contoso.example"}}],
                    "ccRecipients": [{"emailAddress": {"address": "megan@contoso.example"}}],
                    "bccRecipients": [{"emailAddress": {"address": "lee@contoso.example"}}],
                    "importance": "high"}, "saveToSentItems": true}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(out, &json!({"sent": true, "recipients": 3}));
                assert_eq!(double.data().sent[0]["subject"], "Budget follow-up");
            }),
        },
        Case {
            tool: "mail_reply",
            args: json!({"id": "msg-0002", "comment": "Thanks, on it."}),
            text: &["Replied to the sender."],
            requests: vec![post(
                "/me/messages/msg-0002/reply",
                json!({"comment": "Thanks, on it."}),
            )],
            check: Box::new(|out, _| {
                assert_eq!(out, &json!({"replied": true, "reply_all": false}));
            }),
        },
        Case {
            tool: "mail_create_draft",
            args: json!({"to": ["megan@contoso.example"], "subject": "Draft agenda", "body": "<p>Agenda</p>", "body_format": "html"}),
            text: &["Draft \"Draft agenda\" saved (id draft-new-2)."],
            requests: vec![post(
                "/me/messages",
                json!({
                    "subject": "Draft agenda",
                    "body": {"contentType": "html", "content": "<p>Agenda</p>"},
                    "toRecipients": [{"emailAddress": {"address": "megan@contoso.example"}}],
                    "ccRecipients": [], "bccRecipients": [], "importance": "normal"}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(
                    out,
                    &json!({"id": "draft-new-2", "web_link": "https://outlook.office365.example/owa/?ItemID=draft-new-2"})
                );
                let drafts = double.data().drafts;
                assert_eq!(drafts.len(), 2, "the seeded draft and this one");
                assert_eq!(drafts[1]["id"], "draft-new-2");
                assert_eq!(drafts[1]["subject"], "Draft agenda");
            }),
        },
        Case {
            tool: "mail_move_message",
            args: json!({"id": "msg-0003", "folder": "Projects"}),
            text: &["Moved to Projects (new id moved-new-"],
            requests: vec![
                get("/me/mailFolders")
                    .q("$filter", "displayName eq 'Projects'")
                    .q("$select", "id,displayName")
                    .q("$top", "2"),
                post(
                    "/me/messages/msg-0003/move",
                    json!({"destinationId": "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAA-projects"}),
                ),
            ],
            check: Box::new(|out, double| {
                assert_eq!(out["folder"], "Projects");
                let data = double.data();
                assert!(!data.inbox.iter().any(|m| m["id"] == "msg-0003"));
                let (folder, moved) = &data.filed[0];
                assert_eq!((folder.as_str(), &moved["id"]), ("projects", &out["id"]));
                assert_eq!(moved["subject"], data.filed[0].1["subject"]);
            }),
        },
        Case {
            tool: "mail_mark_message",
            args: json!({"id": "msg-0002", "read": true, "flag": "flagged", "categories": ["Red category", "Finance"]}),
            text: &["Now read, flag flagged, categories: Red category, Finance."],
            requests: vec![patch(
                "/me/messages/msg-0002",
                json!({"isRead": true, "flag": {"flagStatus": "flagged"}, "categories": ["Red category", "Finance"]}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(
                    out,
                    &json!({"id": "msg-0002", "is_read": true, "flag": "flagged", "categories": ["Red category", "Finance"]})
                );
                let m = double.data().inbox.into_iter().find(|m| m["id"] == "msg-0002").unwrap();
                assert_eq!((&m["isRead"], &m["flag"]["flagStatus"]), (&json!(true), &json!("flagged")));
            }),
        },
        Case {
            tool: "mail_delete_message",
            args: json!({"id": "msg-0004"}),
            text: &["Moved to Deleted Items."],
            requests: vec![delete("/me/messages/msg-0004")],
            check: Box::new(|out, double| {
                assert_eq!(out, &json!({"deleted": true}));
                let data = double.data();
                assert!(!data.inbox.iter().any(|m| m["id"] == "msg-0004"));
                assert_eq!(data.filed[0].0, "deleteditems");
            }),
        },
        Case {
            tool: "mail_forward",
            args: json!({"id": "msg-0006", "to": ["megan@contoso.example"], "comment": "FYI"}),
            text: &["Forwarded to 1 recipient(s)."],
            requests: vec![post(
                "/me/messages/msg-0006/forward",
                json!({"comment": "FYI", "toRecipients": [{"emailAddress": {"address": "megan@contoso.example"}}]}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(out, &json!({"forwarded": true, "recipients": 1}));
                assert_eq!(double.data().sent[0]["subject"], "FW: Team offsite ideas");
            }),
        },
        Case {
            tool: "mail_send_draft",
            args: json!({"id": "draft-seeded"}),
            text: &["Draft sent."],
            requests: vec![post_empty("/me/messages/draft-seeded/send")],
            check: Box::new(|out, double| {
                assert_eq!(out, &json!({"sent": true}));
                let data = double.data();
                assert!(data.drafts.is_empty());
                assert_eq!(data.sent[0]["id"], "draft-seeded");
            }),
        },
        Case {
            tool: "inbox_triage",
            args: json!({"count": 5, "scan": 100}),
            text: &["100 unread analysed; most important first:"],
            requests: vec![
                get("/me/mailFolders/inbox/messages")
                    .q(
                        "$filter",
                        "receivedDateTime ge 1970-01-01T00:00:00Z and isRead eq false",
                    )
                    .q("$orderby", "receivedDateTime desc")
                    .q(
                        "$select",
                        "id,subject,bodyPreview,from,toRecipients,ccRecipients,importance,flag,conversationId,receivedDateTime,webLink",
                    )
                    .q("$top", "100"),
                // The user's signals, fetched once in one $batch.
                batch(&[
                    ("profile", "/me"),
                    ("manager", "/me/manager"),
                    ("people", "/me/people"),
                    ("sent_items", "/me/mailFolders/sentitems/messages"),
                ]),
                get("/me")
                    .q("$select", "id,displayName,givenName,mail,userPrincipalName")
                    .batched(),
                get("/me/manager")
                    .q("$select", "id,displayName,mail,userPrincipalName")
                    .batched(),
                get("/me/people")
                    .q("$select", "displayName,scoredEmailAddresses")
                    .q("$top", "25")
                    .batched(),
                get("/me/mailFolders/sentitems/messages")
                    .q("$select", "toRecipients,ccRecipients,conversationId")
                    .q("$top", "100")
                    .batched(),
            ],
            check: Box::new(|out, _| {
                assert_eq!(out["analysed"], 100);
                assert_eq!(out["more_unread"], true);
                let msgs = out["messages"].as_array().unwrap();
                assert_eq!(msgs.len(), 5);
                let scores: Vec<i64> = msgs.iter().map(|m| m["score"].as_i64().unwrap()).collect();
                assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
                assert!(msgs.iter().all(|m| !m["reasons"].as_array().unwrap().is_empty()));
                // The manager's mail ranks first, and says so.
                assert_eq!(msgs[0]["from"]["address"], "miriam@contoso.example", "{out}");
                assert!(
                    strings(&msgs[0]["reasons"], "")
                        .iter()
                        .any(|r| r.starts_with("from your manager Miriam Graham")),
                    "{out}"
                );
            }),
        },
        // ------------------------------------------------ calendar
        Case {
            tool: "catch_me_up",
            args: json!({"since": literal(now - SignedDuration::from_hours(6)), "count": 5}),
            text: &["important unread message(s)", "Lee Gu in Design crew (mentioned you): Adele can you review the mockups today?",
                    "added: ", "changed: ", "cancelled: ", "task(s) due by tomorrow\n- Send Q3 numbers to Megan (due "],
            requests: vec![
                batch(&[
                    ("profile", "/me"),
                    ("manager", "/me/manager"),
                    ("people", "/me/people"),
                    ("sent_items", "/me/mailFolders/sentitems/messages"),
                ]),
                get("/me").q("$select", "id,displayName,givenName,mail,userPrincipalName").batched(),
                get("/me/manager").q("$select", "id,displayName,mail,userPrincipalName").batched(),
                get("/me/people").q("$select", "displayName,scoredEmailAddresses").q("$top", "25").batched(),
                get("/me/mailFolders/sentitems/messages")
                    .q("$select", "toRecipients,ccRecipients,conversationId")
                    .q("$top", "100")
                    .batched(),
                get("/me/mailFolders/inbox/messages")
                    .q("$filter", format!("receivedDateTime ge {} and isRead eq false", literal(now - SignedDuration::from_hours(6))))
                    .q("$orderby", "receivedDateTime desc")
                    .q("$select", "id,subject,bodyPreview,from,toRecipients,ccRecipients,importance,flag,conversationId,receivedDateTime,webLink")
                    .q("$top", "200"),
                get("/me/chats")
                    .q("$expand", "lastMessagePreview")
                    .q("$orderby", "lastMessagePreview/createdDateTime desc")
                    .q("$top", "10"),
                batch(&[
                    ("0", "/me/chats/19:megan-adele@unq.gbl.spaces/messages"),
                    ("1", "/me/chats/19:design-crew@thread.v2/messages"),
                ]),
                get("/me/chats/19:megan-adele@unq.gbl.spaces/messages").q("$top", "20").batched(),
                get("/me/chats/19:design-crew@thread.v2/messages").q("$top", "20").batched(),
                get("/me/calendarView")
                    .q("startDateTime", ANY)
                    .q("endDateTime", ANY)
                    .q("$select", format!("{EVENT_FIELDS},createdDateTime,lastModifiedDateTime,isCancelled"))
                    .q("$orderby", "start/dateTime")
                    .q("$top", "100")
                    .header("prefer", "outlook.timezone=\"UTC\""),
                get("/me/todo/lists").q("$filter", "wellknownListName eq 'defaultList'"),
                get("/me/todo/lists/list-default/tasks")
                    .q("$top", "200")
                    .q("$filter", "status ne 'completed'"),
            ],
            check: Box::new(|out, _| {
                let mail = out["mail"].as_array().unwrap();
                assert!(!mail.is_empty() && mail.len() <= 5, "{mail:?}");
                assert!(mail.iter().all(|m| m["score"].as_i64().unwrap() > 0));
                // Megan's direct messages and Lee's mention, newest first; Adele's own reply in
                // between is not news to her, nor is Alex's older group message without a mention.
                assert_eq!(strings(&out["chats"], "/why"), ["direct message", "mentioned you", "direct message"]);
                assert_eq!(strings(&out["chats"], "/from"), ["Megan Bowen", "Lee Gu", "Megan Bowen"]);
                let changes: Vec<(&str, &str)> = out["meetings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| (m["change"].as_str().unwrap(), m["meeting"]["id"].as_str().unwrap()))
                    .collect();
                assert_eq!(changes, [("changed", "event-001"), ("added", "event-002"), ("changed", "event-003"), ("cancelled", "event-004")]);
                assert_eq!(ids(&out["tasks"]), ["task-q3"]);
                assert_eq!(out["gaps"], json!([]));
                assert_eq!(out["skipped"], json!([]));
            }),
        },
        Case {
            tool: "calendar_list_events",
            args: json!({"start": window.0, "end": window.1, "time_zone": "Europe/Berlin", "count": 5}),
            text: &["3 event(s) (Europe/Berlin)", "Quarterly planning | id event-000"],
            requests: vec![
                get("/me/calendarView")
                    .q("startDateTime", window.0.clone())
                    .q("endDateTime", window.1.clone())
                    .q("$select", EVENT_FIELDS)
                    .q("$orderby", "start/dateTime")
                    .q("$top", "5")
                    .header("prefer", "outlook.timezone=\"Europe/Berlin\""),
            ],
            check: Box::new(move |out, _| {
                let events = &out["events"];
                assert_eq!(ids(events), ["event-000", "event-001", "event-002"]);
                assert_eq!(events[0]["subject"], "Quarterly planning");
                assert_eq!(events[0]["start"], berlin_start.as_str());
                assert_eq!(events[0]["location"], "Conf Room Baker");
                assert_eq!(events[0]["organizer"]["address"], "miriam@contoso.example");
                assert_eq!(
                    strings(&events[0]["attendees"], "/person/address"),
                    ["miriam@contoso.example", "megan@contoso.example", "nestor@contoso.example"]
                );
                assert_eq!(
                    events[1]["online_meeting_url"],
                    "https://teams.example/l/meetup-join/1"
                );
                assert!(
                    strings(events, "/time_zone")
                        .iter()
                        .all(|z| *z == "Europe/Berlin")
                );
                assert_eq!(out["more"], false);
            }),
        },
        Case {
            tool: "calendar_get_event",
            args: json!({"id": "event-000", "time_zone": "Europe/Berlin"}),
            text: &[
                "Quarterly planning\n",
                "(Europe/Berlin)\nWhere: Conf Room Baker\nOrganizer: ",
                "miriam@contoso.example",
            ],
            requests: vec![
                get("/me/events/event-000")
                    .q("$select", EVENT_FIELDS)
                    .header("prefer", "outlook.timezone=\"Europe/Berlin\""),
            ],
            check: Box::new(move |out, _| {
                assert_eq!(out["id"], "event-000");
                assert_eq!(out["subject"], "Quarterly planning");
                assert_eq!(out["location"], "Conf Room Baker");
                assert_eq!(out["time_zone"], "Europe/Berlin");
                assert_eq!(
                    strings(&out["attendees"], "/person/address"),
                    ["miriam@contoso.example", "megan@contoso.example", "nestor@contoso.example"]
                );
            }),
        },
        Case {
            tool: "calendar_create_event",
            args: json!({"subject": "Design review", "start": "2030-05-04T09:30:00", "end": "2030-05-04T10:30:00",
                         "time_zone": "Europe/Berlin", "attendees": ["alex@contoso.example"],
                         "optional_attendees": ["lee@contoso.example"], "location": "Room 1",
                         "body": "Walk through the mockups.", "online_meeting": true}),
            text: &["Created \"Design review\" (id event-new-2)."],
            requests: vec![post(
                "/me/events",
                json!({"subject": "Design review",
                    "start": {"dateTime": "2030-05-04T09:30:00", "timeZone": "Europe/Berlin"},
                    "end": {"dateTime": "2030-05-04T10:30:00", "timeZone": "Europe/Berlin"},
                    "attendees": [
                        {"emailAddress": {"address": "alex@contoso.example"}, "type": "required"},
                        {"emailAddress": {"address": "lee@contoso.example"}, "type": "optional"}],
                    "isOnlineMeeting": true, "onlineMeetingProvider": "teamsForBusiness",
                    "location": {"displayName": "Room 1"},
                    "body": {"contentType": "text", "content": "Walk through the mockups."}}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(
                    out,
                    &json!({"id": "event-new-2",
                        "web_link": "https://outlook.office365.example/calendar/item/event-new-2",
                        "online_meeting_url": "https://teams.example/l/meetup-join/event-new-2"})
                );
                let events = double.data().events;
                let created = events.iter().find(|e| e["id"] == "event-new-2").unwrap();
                assert_eq!(created["subject"], "Design review");
            }),
        },
        Case {
            tool: "calendar_update_event",
            args: json!({"id": "event-mine", "subject": "Budget review (moved)", "start": "2026-06-01T10:00:00",
                         "end": "2026-06-01T11:00:00", "time_zone": "Europe/Berlin"}),
            text: &["Updated \"Budget review (moved)\": 2026-06-01T10:00:00"],
            requests: vec![patch(
                "/me/events/event-mine",
                json!({"subject": "Budget review (moved)",
                       "start": {"dateTime": "2026-06-01T10:00:00", "timeZone": "Europe/Berlin"},
                       "end": {"dateTime": "2026-06-01T11:00:00", "timeZone": "Europe/Berlin"}}),
            )
            .header("prefer", "outlook.timezone=\"Europe/Berlin\"")],
            check: Box::new(|out, double| {
                assert_eq!(out["id"], "event-mine");
                assert_eq!(out["subject"], "Budget review (moved)");
                assert_eq!(out["location"], "Conf Room Adams");
                let e = double.data().events.into_iter().find(|e| e["id"] == "event-mine").unwrap();
                assert_eq!(e["start"]["timeZone"], "Europe/Berlin");
            }),
        },
        Case {
            tool: "calendar_cancel_event",
            args: json!({"id": "event-mine", "comment": "Numbers are not ready."}),
            text: &["Meeting cancelled; attendees are told."],
            requests: vec![post("/me/events/event-mine/cancel", json!({"comment": "Numbers are not ready."}))],
            check: Box::new(|out, double| {
                assert_eq!(out, &json!({"cancelled": true}));
                assert!(!double.data().events.iter().any(|e| e["id"] == "event-mine"));
            }),
        },
        Case {
            tool: "calendar_respond_to_event",
            args: json!({"id": "event-003", "response": "tentative", "comment": "Can we move it?",
                         "proposed_start": "2026-06-02T15:00:00", "proposed_end": "2026-06-02T15:30:00"}),
            text: &["Response: tentativelyAccepted; the organizer is told."],
            requests: vec![post(
                "/me/events/event-003/tentativelyAccept",
                json!({"comment": "Can we move it?", "sendResponse": true,
                       "proposedNewTime": {"start": {"dateTime": "2026-06-02T15:00:00", "timeZone": "UTC"},
                                           "end": {"dateTime": "2026-06-02T15:30:00", "timeZone": "UTC"}}}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(
                    out,
                    &json!({"response": "tentativelyAccepted", "organizer_told": true, "proposed_new_time": true})
                );
                let e = double.data().events.into_iter().find(|e| e["id"] == "event-003").unwrap();
                assert_eq!(e["responseStatus"]["response"], "tentativelyAccepted");
            }),
        },
        Case {
            tool: "calendar_list_calendars",
            args: json!({}),
            text: &["3 calendar(s)", "- Megan Bowen (megan@contoso.example, read only)"],
            requests: vec![
                get("/me/calendars")
                    .q("$select", "id,name,canEdit,isDefaultCalendar,owner")
                    .q("$top", "50"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(ids(&out["calendars"]), ["cal-default", "cal-holidays", "cal-megan"]);
                assert_eq!(out["calendars"][0]["is_default"], true);
                assert_eq!(out["calendars"][2]["can_edit"], false);
                assert_eq!(out["more"], false);
            }),
        },
        Case {
            tool: "calendar_find_meeting_times",
            args: json!({"attendees": ["alex@contoso.example", "megan@contoso.example"], "duration_minutes": 90,
                         "start": "2030-05-06T09:00:00Z", "end": "2030-05-06T17:00:00Z", "max_candidates": 4}),
            text: &["4 suggestion(s) (UTC)"],
            requests: vec![post(
                "/me/findMeetingTimes",
                json!({
                    "attendees": [
                        {"emailAddress": {"address": "alex@contoso.example"}, "type": "required"},
                        {"emailAddress": {"address": "megan@contoso.example"}, "type": "required"}],
                    "timeConstraint": {"activityDomain": "work", "timeSlots": [{
                        "start": {"dateTime": "2030-05-06T09:00:00", "timeZone": "UTC"},
                        "end": {"dateTime": "2030-05-06T17:00:00", "timeZone": "UTC"}}]},
                    "meetingDuration": "PT1H30M", "maxCandidates": 4, "returnSuggestionReasons": true}),
            )],
            check: Box::new(|out, _| {
                let s = &out["suggestions"];
                assert_eq!(
                    strings(s, "/start"),
                    [
                        "2030-05-06T09:00:00.0000000",
                        "2030-05-06T09:30:00.0000000",
                        "2030-05-06T10:00:00.0000000",
                        "2030-05-06T10:30:00.0000000"
                    ]
                );
                assert_eq!(s[0]["end"], "2030-05-06T10:30:00.0000000");
                assert_eq!(
                    s[0]["attendees"],
                    json!([{"address": "alex@contoso.example", "availability": "free"},
                           {"address": "megan@contoso.example", "availability": "free"}])
                );
                assert!(out.get("empty_reason").is_none());
            }),
        },
        Case {
            tool: "meeting_brief",
            args: json!({"event_id": "event-000", "mail_per_attendee": 2}),
            text: &["Quarterly planning — ", "4 shared file(s)"],
            requests: vec![
                get("/me").q("$select", "id,displayName,givenName,mail,userPrincipalName"),
                get("/me/events/event-000")
                    .q("$select", EVENT_FIELDS)
                    .header("prefer", "outlook.timezone=\"UTC\""),
                batch(&[("p0", "/me/people"), ("p1", "/me/people"), ("p2", "/me/people")]),
                batch(&[("m0", "/me/messages"), ("m1", "/me/messages"), ("m2", "/me/messages")]),
                get("/me/insights/shared").q("$top", "50"),
            ]
            .into_iter()
            .chain(
                ["miriam", "megan", "nestor"]
                    .into_iter()
                    .flat_map(|who| {
                        [
                            get("/me/people")
                                .q("$search", format!("\"{who}@contoso.example\""))
                                .q("$select", PEOPLE_FIELDS)
                                .q("$top", "1")
                                .batched(),
                            get("/me/messages")
                                .q("$search", format!("\"participants:{who}@contoso.example\""))
                                .q(
                                    "$select",
                                    "id,subject,from,receivedDateTime,bodyPreview,webLink,isRead,importance,hasAttachments",
                                )
                                .q("$top", "2")
                                .batched(),
                        ]
                    }),
            )
            .collect(),
            check: Box::new(|out, _| {
                assert_eq!(out["meeting"]["id"], "event-000");
                assert_eq!(out["meeting"]["subject"], "Quarterly planning");
                assert_eq!(out["meeting"]["time_zone"], "UTC");
                let attendees = &out["attendees"];
                assert_eq!(
                    strings(attendees, "/address"),
                    ["miriam@contoso.example", "megan@contoso.example", "nestor@contoso.example"]
                );
                assert_eq!(strings(attendees, "/role"), ["organizer", "required", "optional"]);
                assert_eq!(
                    strings(attendees, "/profile/job_title"),
                    ["Director", "Engineer", "Engineer"]
                );
                for a in attendees.as_array().unwrap() {
                    let n = a["recent_mail"].as_array().unwrap().len();
                    assert!((1..=2).contains(&n), "{a}");
                }
                // Files shared by the attendees only (the seed also has the user's own shares).
                assert_eq!(
                    strings(&out["files"], "/title"),
                    ["Shared doc 1.pptx", "Shared doc 3.pptx", "Shared doc 7.pptx", "Shared doc 9.pptx"]
                );
                assert_eq!(
                    strings(&out["files"], "/shared_by"),
                    ["Megan Bowen", "Nestor Wilke", "Nestor Wilke", "Megan Bowen"]
                );
                assert_eq!(out["gaps"], json!([]));
            }),
        },
        // ------------------------------------------------ Teams
        Case {
            tool: "teams_list_teams",
            args: json!({"count": 10}),
            text: &["2 team(s)", "Marketing (id team-mark-8b0e)"],
            requests: vec![get("/me/joinedTeams").q("$select", "id,displayName,description")],
            check: Box::new(|out, _| {
                assert_eq!(
                    out,
                    &json!({"teams": [
                        {"id": "team-mark-8b0e", "name": "Marketing", "description": "Marketing team"},
                        {"id": "team-launch-1f2c", "name": "Product Launch", "description": "Launch war room"}],
                        "more": false})
                );
            }),
        },
        Case {
            tool: "teams_list_channels",
            args: json!({"team_id": "team-mark-8b0e"}),
            text: &["2 channel(s)", "Campaigns (id 19:campaigns@thread.tacv2)"],
            requests: vec![
                get("/teams/team-mark-8b0e/channels")
                    .q("$select", "id,displayName,description,membershipType"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(
                    out,
                    &json!({"channels": [
                        {"id": "19:general-mark@thread.tacv2", "name": "General", "membership_type": "standard"},
                        {"id": "19:campaigns@thread.tacv2", "name": "Campaigns", "description": "Campaign planning", "membership_type": "standard"}],
                        "more": false})
                );
            }),
        },
        Case {
            tool: "teams_read_channel",
            args: json!({"team_id": "team-mark-8b0e", "channel_id": "19:campaigns@thread.tacv2", "count": 2}),
            text: &[
                "2 message(s), newest first (older ones exist)",
                "Megan Bowen: Spring campaign assets are final; review by Friday.",
                "\n  - ",
                "Lee Gu: One typo on slide 4.",
            ],
            requests: vec![
                get("/teams/team-mark-8b0e/channels/19:campaigns@thread.tacv2/messages")
                    .q("$top", "2")
                    .q("$expand", "replies"),
            ],
            check: Box::new(|out, _| {
                let messages = &out["messages"];
                assert_eq!(ids(messages), ["cm-3", "cm-2"]);
                assert_eq!(ids(&messages[0]["replies"]), ["cm-3-r1", "cm-3-r2"], "oldest reply first");
                assert_eq!(messages[0]["from"], "Megan Bowen");
                let budget = messages[1]["text"].as_str().unwrap();
                assert_eq!(budget, "Budget for paid social is approved.", "HTML and scripts gone");
                assert!(messages[1].get("replies").is_none());
                assert_eq!(out["more"], true);
            }),
        },
        Case {
            tool: "teams_read_chat",
            args: json!({"chat_id": "19:megan-adele@unq.gbl.spaces"}),
            text: &["3 message(s), newest first\n", "Megan Bowen: Can you send me the Q3 numbers before 3 pm?"],
            requests: vec![get("/me/chats/19:megan-adele@unq.gbl.spaces/messages").q("$top", "20")],
            check: Box::new(|out, _| {
                assert_eq!(ids(&out["messages"]), ["chat-3", "chat-2", "chat-1"]);
                assert_eq!(out["messages"][1]["from"], "Adele Vance");
                assert_eq!(out["more"], false);
            }),
        },
        Case {
            tool: "teams_list_chats",
            args: json!({"count": 5}),
            text: &["2 chat(s)", "- Megan Bowen, Adele Vance (oneOnOne, id 19:megan-adele@unq.gbl.spaces): Megan Bowen: Can you send me the Q3 numbers"],
            requests: vec![
                get("/me/chats")
                    .q("$expand", "members,lastMessagePreview")
                    .q("$orderby", "lastMessagePreview/createdDateTime desc")
                    .q("$top", "5"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(ids(&out["chats"]), ["19:megan-adele@unq.gbl.spaces", "19:design-crew@thread.v2"]);
                assert_eq!(out["chats"][1]["name"], "Design crew");
                assert_eq!(out["chats"][1]["members"], json!(["Alex Wilber", "Lee Gu", "Adele Vance"]));
                assert_eq!(out["chats"][1]["last_message"]["preview"], "Adele can you review the mockups today?");
                assert_eq!(out["more"], false);
            }),
        },
        Case {
            tool: "teams_send_chat_message",
            args: json!({"chat_id": "19:megan-adele@unq.gbl.spaces", "message": "Numbers are in your inbox."}),
            text: &["Sent chat message chatmsg-new-2."],
            requests: vec![post(
                "/chats/19:megan-adele@unq.gbl.spaces/messages",
                json!({"body": {"contentType": "text", "content": "Numbers are in your inbox."}}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(out["id"], "chatmsg-new-2");
                let newest = &double.data().chat_messages[0];
                assert_eq!(newest.0, "19:megan-adele@unq.gbl.spaces");
                assert_eq!(newest.1["body"]["content"], "Numbers are in your inbox.");
            }),
        },
        Case {
            tool: "teams_reply_to_channel_message",
            args: json!({"team_id": "team-mark-8b0e", "channel_id": "19:campaigns@thread.tacv2",
                         "message_id": "cm-3", "message": "Fixed the typo."}),
            text: &["Replied in the thread (message chatmsg-new-2)."],
            requests: vec![post(
                "/teams/team-mark-8b0e/channels/19:campaigns@thread.tacv2/messages/cm-3/replies",
                json!({"body": {"contentType": "text", "content": "Fixed the typo."}}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(out["id"], "chatmsg-new-2");
                let thread = double.data().channel_messages.into_iter().find(|(_, m)| m["id"] == "cm-3").unwrap();
                assert_eq!(thread.1["replies"][2]["body"]["content"], "Fixed the typo.");
            }),
        },
        Case {
            tool: "teams_get_presence",
            args: json!({"users": ["alex@contoso.example", "megan@contoso.example"]}),
            text: &["- alex@contoso.example: Busy (InAMeeting)", "- megan@contoso.example: Away (Away)"],
            requests: vec![
                batch(&[
                    ("0", "/users/alex@contoso.example/presence"),
                    ("1", "/users/megan@contoso.example/presence"),
                ]),
                get("/users/alex@contoso.example/presence").batched(),
                get("/users/megan@contoso.example/presence").batched(),
            ],
            check: Box::new(|out, _| {
                let p = &out["presence"];
                assert_eq!(p[0]["availability"], "Busy");
                assert_eq!(p[0]["status_message"], "Heads down on the launch");
                assert_eq!(p[1]["activity"], "Away");
                assert!(p[0]["error"].is_null());
            }),
        },
        Case {
            tool: "tasks_list_lists",
            args: json!({}),
            text: &["2 list(s)", "- Tasks (id list-default, default)"],
            requests: vec![get("/me/todo/lists").q("$top", "50")],
            check: Box::new(|out, _| {
                assert_eq!(ids(&out["lists"]), ["list-default", "list-launch"]);
                assert_eq!((&out["lists"][0]["is_default"], &out["lists"][1]["is_shared"]), (&json!(true), &json!(true)));
            }),
        },
        Case {
            tool: "tasks_list_tasks",
            args: json!({}),
            text: &["3 task(s)", "- Send Q3 numbers to Megan (notStarted, due "],
            requests: vec![
                get("/me/todo/lists").q("$filter", "wellknownListName eq 'defaultList'"),
                get("/me/todo/lists/list-default/tasks")
                    .q("$top", "200")
                    .q("$filter", "status ne 'completed'"),
            ],
            check: Box::new(|out, _| {
                // Soonest due first, the undated task last, the completed one left out.
                assert_eq!(ids(&out["tasks"]), ["task-q3", "task-venue", "task-passport"]);
                assert_eq!(out["tasks"][0]["importance"], "high");
                assert!(out["tasks"][0]["reminder"].is_string());
                assert_eq!(out["list_id"], "list-default");
            }),
        },
        Case {
            tool: "tasks_create_task",
            args: json!({"list_id": "list-launch", "title": "Book the launch venue", "due": "2026-12-04",
                         "reminder": "2026-12-04T09:00:00", "time_zone": "Europe/Berlin", "importance": "high",
                         "note": "Two rooms."}),
            text: &["Added \"Book the launch venue\", due 2026-12-04 (id task-new-2)."],
            requests: vec![post(
                "/me/todo/lists/list-launch/tasks",
                json!({"title": "Book the launch venue", "importance": "high",
                       "dueDateTime": {"dateTime": "2026-12-04T00:00:00", "timeZone": "Europe/Berlin"},
                       "isReminderOn": true,
                       "reminderDateTime": {"dateTime": "2026-12-04T09:00:00", "timeZone": "Europe/Berlin"},
                       "body": {"content": "Two rooms.", "contentType": "text"}}),
            )],
            check: Box::new(|out, double| {
                assert_eq!(out["reminder"], "2026-12-04T09:00:00");
                assert_eq!(out["note"], "Two rooms.");
                let tasks = double.data().tasks;
                assert!(tasks.iter().any(|(l, t)| l == "list-launch" && t["id"] == "task-new-2"));
            }),
        },
        Case {
            tool: "tasks_complete_task",
            args: json!({"list_id": "list-default", "task_id": "task-venue"}),
            text: &["Completed \"Book the offsite venue\"."],
            requests: vec![patch("/me/todo/lists/list-default/tasks/task-venue", json!({"status": "completed"}))],
            check: Box::new(|out, double| {
                assert_eq!(out["status"], "completed");
                let (_, t) = double.data().tasks.into_iter().find(|(_, t)| t["id"] == "task-venue").unwrap();
                assert_eq!(t["status"], "completed");
            }),
        },
        Case {
            tool: "files_read_text",
            args: json!({"id": "file-plan"}),
            text: &["Launch plan.docx (Word document, ", "We ship on May 4 in two regions."],
            requests: vec![
                get("/me/drive/items/file-plan")
                    .q("$select", "id,name,size,webUrl,file,@microsoft.graph.downloadUrl"),
                get("/_download/file-plan").q("tempauth", "t-file-plan"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(out["name"], "Launch plan.docx");
                assert_eq!(out["format"], "Word document");
                assert_eq!(
                    out["text"],
                    "Launch plan\nWe ship on May 4 in two regions.\nRegion\tOwner\nNorth\tMegan\nSouth\tLee"
                );
                assert_eq!(out["truncated"], false);
            }),
        },
        Case {
            tool: "files_list_recent",
            args: json!({"count": 3}),
            text: &["3 file(s)"],
            requests: vec![get("/me/drive/recent").q("$top", "3")],
            check: Box::new(|out, _| {
                let files = out["files"].as_array().unwrap();
                assert_eq!(files.len(), 3);
                let times: Vec<&str> = files.iter().map(|f| f["last_modified"].as_str().unwrap()).collect();
                assert!(times.windows(2).all(|w| w[0] >= w[1]), "most recent first: {times:?}");
                assert_eq!(out["more"], true);
            }),
        },
        Case {
            tool: "files_list_shared",
            args: json!({}),
            text: &["1 file(s)", "- Forecast.docx (id file-forecast, shared by Megan Bowen)"],
            requests: vec![get("/me/drive/sharedWithMe").q("$top", "20")],
            check: Box::new(|out, _| {
                assert_eq!(
                    out["files"][0],
                    json!({"id": "file-forecast", "drive_id": "b!megan-onedrive", "name": "Forecast.docx",
                           "size_bytes": out["files"][0]["size_bytes"], "web_url": "https://contoso.sharepoint.example/docs/file-forecast",
                           "last_modified": out["files"][0]["last_modified"], "shared_by": "Megan Bowen", "readable": true})
                );
            }),
        },
        Case {
            tool: "files_upload_text",
            args: json!({"name": "Offsite ideas.md", "content": "# Offsite\n\n- Lake Tahoe\n"}),
            text: &["Saved Offsite ideas.md (24 bytes, id file-new-2)."],
            requests: vec![
                put("/me/drive/items/root:/Offsite%20ideas.md:/content", "# Offsite\n\n- Lake Tahoe\n")
                    .q("@microsoft.graph.conflictBehavior", "fail")
                    .header("content-type", "text/markdown"),
            ],
            check: Box::new(|out, double| {
                assert_eq!(out["name"], "Offsite ideas.md");
                let (meta, bytes) = double.data().drive.into_iter().find(|(m, _)| m["id"] == "file-new-2").unwrap();
                assert_eq!(meta["file"]["mimeType"], "text/markdown");
                assert_eq!(bytes, b"# Offsite\n\n- Lake Tahoe\n");
            }),
        },
        Case {
            tool: "teams_send_channel_message",
            args: json!({"team_id": "team-launch-1f2c", "channel_id": "19:general-launch@thread.tacv2",
                         "message": "<b>Launch</b> is go", "format": "html"}),
            text: &["Posted message chatmsg-new-2."],
            requests: vec![post(
                "/teams/team-launch-1f2c/channels/19:general-launch@thread.tacv2/messages",
                json!({"body": {"contentType": "html", "content": "<b>Launch</b> is go"}}),
            )],
            check: Box::new(|out, _| {
                assert_eq!(
                    out,
                    &json!({"id": "chatmsg-new-2",
                        "web_url": "https://teams.example/l/message/19:general-launch@thread.tacv2/chatmsg-new-2"})
                );
            }),
        },
        Case {
            tool: "teams_create_online_meeting",
            args: json!({"subject": "Standup", "start": "2030-05-04T09:00:00Z", "end": "2030-05-04T09:15:00Z"}),
            text: &["Teams meeting \"Standup\": https://teams.example/l/meetup-join/meeting-new-2"],
            requests: vec![post(
                "/me/onlineMeetings",
                json!({"subject": "Standup", "startDateTime": "2030-05-04T09:00:00Z", "endDateTime": "2030-05-04T09:15:00Z"}),
            )],
            check: Box::new(|out, _| {
                assert_eq!(
                    out,
                    &json!({"id": "meeting-new-2", "join_url": "https://teams.example/l/meetup-join/meeting-new-2"})
                );
            }),
        },
        // ------------------------------------------------ contacts, people, files
        Case {
            tool: "contacts_search",
            args: json!({"query": "meg", "count": 5}),
            text: &["1 contact(s)", "Megan Bowen megan@contoso.example"],
            requests: vec![
                get("/me/contacts")
                    .q(
                        "$filter",
                        "startswith(displayName,'meg') or startswith(givenName,'meg') or startswith(surname,'meg') or emailAddresses/any(a:startswith(a/address,'meg'))",
                    )
                    .q(
                        "$select",
                        "id,displayName,emailAddresses,businessPhones,mobilePhone,companyName,jobTitle",
                    )
                    .q("$top", "5"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(
                    out,
                    &json!({"contacts": [{"id": "contact-2", "name": "Megan Bowen", "emails": ["megan@contoso.example"],
                        "phones": ["+1 425 555 0102"], "company": "Contoso"}], "more": false})
                );
            }),
        },
        Case {
            tool: "people_search",
            args: json!({"query": "alex", "count": 5}),
            text: &["1 person(s)", "Alex Wilber alex@contoso.example"],
            requests: vec![
                get("/me/people")
                    .q("$search", "\"alex\"")
                    .q("$select", PEOPLE_FIELDS)
                    .q("$top", "5"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(
                    out,
                    &json!({"people": [{"name": "Alex Wilber", "address": "alex@contoso.example", "job_title": "Engineer",
                        "department": "Engineering", "company": "Contoso", "relevance": 29.0}]})
                );
            }),
        },
        Case {
            tool: "people_get_profile",
            args: json!({"user": "megan@contoso.example"}),
            text: &["Megan Bowen <megan@contoso.example> Marketing Specialist, Marketing", "Manager: Miriam Graham"],
            requests: vec![
                get("/users/megan@contoso.example")
                    .q("$select", "id,displayName,mail,userPrincipalName,jobTitle,department,officeLocation,businessPhones")
                    .q("$expand", "manager($select=id,displayName,mail,jobTitle,department)"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(out["id"], "u-megan");
                assert_eq!(out["office"], "Building 2, 3rd floor");
                assert_eq!(out["manager"]["name"], "Miriam Graham");
                assert_eq!(out["manager"]["job_title"], "Director");
            }),
        },
        Case {
            tool: "people_list_direct_reports",
            args: json!({}),
            text: &["2 direct report(s)", "- Lee Gu <lee@contoso.example>"],
            requests: vec![
                get("/me/directReports").q("$select", "id,displayName,mail,userPrincipalName,jobTitle,department"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(ids(&out["reports"]), ["u-lee", "u-nestor"]);
                assert_eq!(out["more"], false);
            }),
        },
        Case {
            tool: "mail_read_attachment",
            args: json!({"message_id": "msg-0012", "attachment_id": "att-12-xlsx"}),
            text: &["Budget.xlsx (Excel workbook, ", "Travel\t1200"],
            requests: vec![
                get("/me/messages/msg-0012/attachments/att-12-xlsx").q("$select", "id,name,contentType,size,isInline"),
                get("/me/messages/msg-0012/attachments/att-12-xlsx"),
            ],
            check: Box::new(|out, _| {
                assert_eq!(out["format"], "Excel workbook");
                assert_eq!(out["text"], "## Q3\nItem\tCost\nTravel\t1200\nLicenses\t800");
                assert_eq!(out["truncated"], false);
            }),
        },
        Case {
            tool: "files_search",
            args: json!({"query": "roadmap", "count": 3}),
            text: &["3 file(s)", "Roadmap 2025.docx https://contoso.sharepoint.example/docs/file-1"],
            requests: vec![post(
                "/search/query",
                json!({"requests": [{"entityTypes": ["driveItem"], "query": {"queryString": "roadmap"}, "from": 0, "size": 3}]}),
            )],
            check: Box::new(|out, _| {
                let files = &out["files"];
                assert_eq!(ids(files), ["file-1", "file-5", "file-9"]);
                assert_eq!(
                    strings(files, "/name"),
                    ["Roadmap 2025.docx", "Roadmap 2024.docx", "Roadmap 2026.docx"]
                );
                assert_eq!(
                    strings(files, "/created_by"),
                    ["Alex Wilber", "Patti Fernandez", "Grady Archie"]
                );
                assert_eq!(files[0]["size_bytes"], 10731);
                assert_eq!(files[0]["summary"], "…Roadmap 2025.docx…");
                assert_eq!(out["more"], true);
            }),
        },
    ]
}

// ---------------------------------------------------------------- running a case

/// Calls the case's tool through `tools/call` with `x-request-id: request_id` and checks the
/// result and every Graph request.
async fn run(env: &Env, client_token: &str, request_id: &str, id: i64, case: &Case) {
    let tool = case.tool;
    let reply = env
        .client
        .post(
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                   "params": {"name": tool, "arguments": case.args}}),
            &[("x-request-id", request_id)],
        )
        .await;
    assert_eq!(reply.status, http::StatusCode::OK, "{tool}: {}", reply.text);
    assert_eq!(reply.header("x-request-id"), Some(request_id), "{tool}");
    let result = reply.result();
    assert_ne!(result["isError"], true, "{tool}: {}", reply.text);
    let structured = &result["structuredContent"];
    assert!(
        structured.is_object(),
        "{tool}: no structuredContent: {}",
        reply.text
    );
    let text = result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{tool}: no text content: {}", reply.text));
    for want in case.text {
        assert!(text.contains(want), "{tool}: {want:?} not in {text:?}");
    }
    // As an MCP client checks it (the Python SDK refuses a result its schema does not admit).
    let schema = output_schema(env, tool).await;
    let validator =
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{tool}: output schema: {e}"));
    if let Err(e) = validator.validate(structured) {
        panic!("{tool}: structuredContent does not match its outputSchema: {e}\n{structured}");
    }
    (case.check)(structured, &env.graph.double);

    let recorded = env.graph.double.requests();
    assert_requests(tool, &case.requests, &recorded);
    for r in &recorded {
        let what = format!("{tool}: {} {}", r.method, r.path);
        assert!((200..300).contains(&r.status), "{what} answered {}", r.status);
        let all = format!("{} {} {:?} {:?}", r.path, r.raw_query, r.headers, r.body);
        if r.path.starts_with("/_download/") {
            // A pre-authenticated download URL: no token at all goes there.
            assert_eq!(r.header("authorization"), None, "{what}");
            assert!(
                !all.contains(GRAPH_TOKEN) && !all.contains(client_token),
                "{what}"
            );
            continue;
        }
        // The provider's Graph token, never the MCP client's.
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {GRAPH_TOKEN}").as_str()),
            "{what}"
        );
        assert!(
            !all.contains(client_token),
            "{what}: the client token reached Graph"
        );
        if !r.in_batch {
            // The call's request id correlates every Graph request.
            assert_eq!(r.header("client-request-id"), Some(request_id), "{what}");
            assert_eq!(r.header("return-client-request-id"), Some("true"), "{what}");
            if r.method == "POST" {
                assert!(
                    r.header("content-type")
                        .is_some_and(|c| c.starts_with("application/json")),
                    "{what}: {:?}",
                    r.headers
                );
            }
        }
    }
}

/// The `outputSchema` `tools/list` declares for `tool`.
async fn output_schema(env: &Env, tool: &str) -> Value {
    let reply = env
        .client
        .post(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}), &[])
        .await;
    let tools = reply.result()["tools"].as_array().cloned().unwrap_or_default();
    tools
        .into_iter()
        .find(|t| t["name"] == tool)
        .and_then(|t| t.get("outputSchema").cloned())
        .unwrap_or_else(|| panic!("{tool} declares no outputSchema"))
}

fn m365_catalog() -> BTreeSet<&'static str> {
    TOOL_CATALOG
        .iter()
        .filter(|t| t.group.is_m365())
        .map(|t| t.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_m365_tool_through_tools_call_makes_the_exact_graph_requests() {
    let issuer = LocalIssuer::start().await;
    let token = issuer.token("adele", json!({}));
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let mut called = BTreeSet::new();
    let mut failed = Vec::new();
    for (i, case) in cases(now).iter().enumerate() {
        // A fresh double and app per case: only this tool's requests are recorded, no cache is
        // warm, and created ids are predictable.
        let env = env(&issuer, &token, now).await;
        let request_id = format!("6f9619ff-8b86-d011-b42d-{:012x}", i + 1);
        called.insert(case.tool);
        let outcome = AssertUnwindSafe(run(&env, &token, &request_id, 100 + i as i64, case))
            .catch_unwind()
            .await;
        if outcome.is_err() {
            failed.push(case.tool);
        }
        // wiremock's MockServer blocks on a tokio lock in its Drop: were this task's coop budget
        // spent by the case, that lock would answer Pending forever and the drop spin. A yield
        // gives the drop a fresh budget.
        tokio::task::yield_now().await;
        drop(env);
    }
    assert!(failed.is_empty(), "failed through tools/call: {failed:?}");
    assert_eq!(
        called,
        m365_catalog(),
        "every Microsoft 365 tool of the catalog is called through the endpoint (add a case)"
    );
}

/// Graph refusing (403), throttling beyond the retry budget (429) and failing (500), for every
/// tool through `tools/call`: a tool result with `isError` and a message naming what Graph said,
/// or for the tools that combine sources, a result that lists the gap. Never a protocol error,
/// never a token in the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_m365_tool_answers_graph_failures_with_a_clear_tool_error() {
    let issuer = LocalIssuer::start().await;
    let token = issuer.token("adele", json!({}));
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let faults = [
        (Fault::Forbidden, "ErrorAccessDenied"),
        (
            Fault::Throttle {
                retry_after_secs: 3_600,
            },
            "try again in 3600 seconds",
        ),
        (Fault::ServerError, "generalException"),
    ];
    let mut failed = Vec::new();
    for (fault, said) in faults {
        for (i, case) in cases(now).iter().enumerate() {
            let env = env(&issuer, &token, now).await;
            env.graph.double.push_fault(FaultRule::always(fault.clone()));
            let reply = env
                .client
                .post(
                    json!({"jsonrpc": "2.0", "id": 500 + i, "method": "tools/call",
                           "params": {"name": case.tool, "arguments": case.args}}),
                    &[],
                )
                .await;
            let result = reply.result();
            let text = result["content"][0]["text"].as_str().unwrap_or_default();
            let gaps = result["structuredContent"]["gaps"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            let clear = if result["isError"] == true {
                text.contains(said)
            } else {
                // Combined tools keep what they could read and name the rest.
                gaps > 0 && text.contains(said)
            };
            if !clear || text.contains(&token) || text.contains(GRAPH_TOKEN) {
                failed.push(format!("{} under {fault:?}: {text}", case.tool));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn the_cases_cover_exactly_the_m365_catalog() {
    let now = Timestamp::now();
    let names: Vec<&str> = cases(now).iter().map(|c| c.tool).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "one case per tool: {names:?}");
    assert_eq!(unique, m365_catalog());
}
