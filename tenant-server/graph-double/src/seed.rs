//! The seeded tenant: one user's mailbox, calendar, people, contacts, teams and files, in the
//! JSON shapes Microsoft Graph v1.0 returns. Deterministic for a given size and clock.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::documents::{mk_docx, mk_pdf, mk_pptx, mk_xlsx, p, table};

/// The user's OneDrive, and a colleague's that shares a file with them.
pub const MY_DRIVE: &str = "b!adele-onedrive";
pub const MEGAN_DRIVE: &str = "b!megan-onedrive";

/// The signed-in user of the double.
pub const ME_NAME: &str = "Adele Vance";
pub const ME_ADDRESS: &str = "adele@contoso.example";
pub const MANAGER_NAME: &str = "Miriam Graham";
pub const MANAGER_ADDRESS: &str = "miriam@contoso.example";

/// People of the tenant: (name, address). Index 0 is the manager.
pub const COLLEAGUES: &[(&str, &str)] = &[
    (MANAGER_NAME, MANAGER_ADDRESS),
    ("Alex Wilber", "alex@contoso.example"),
    ("Megan Bowen", "megan@contoso.example"),
    ("Lee Gu", "lee@contoso.example"),
    ("Nestor Wilke", "nestor@contoso.example"),
    ("Patti Fernandez", "patti@contoso.example"),
    ("Lynne Robbins", "lynne@contoso.example"),
    ("Isaiah Langer", "isaiah@contoso.example"),
    ("Johanna Lorenz", "johanna@contoso.example"),
    ("Grady Archie", "grady@contoso.example"),
];

const EXTERNAL: &[(&str, &str)] = &[
    ("Fabrikam Newsletter", "news@fabrikam.example"),
    ("Northwind Billing", "billing@northwind.example"),
    ("Service Alerts", "noreply@alerts.example"),
];

const SUBJECTS: &[&str] = &[
    "Q3 budget review",
    "Design sync notes",
    "Contract renewal - action needed by Friday",
    "Weekly newsletter",
    "Re: Launch checklist",
    "Invoice 4471 is due tomorrow",
    "Team offsite ideas",
    "Customer escalation: urgent",
    "Hiring loop feedback",
    "Your subscription",
    "Roadmap draft for review",
    "Lunch on Thursday?",
];

/// How large a tenant to seed.
#[derive(Clone, Debug)]
pub struct Seed {
    /// Messages in the inbox; four in five are unread.
    pub inbox_messages: usize,
    /// The clock everything is placed around.
    pub now: Timestamp,
}

impl Default for Seed {
    fn default() -> Self {
        Self {
            inbox_messages: 640,
            now: Timestamp::now(),
        }
    }
}

/// Everything the double serves; writes (drafts, events, sends) change it.
#[derive(Clone, Debug)]
pub struct Data {
    pub now: Timestamp,
    pub me: Value,
    pub manager: Value,
    pub inbox: Vec<Value>,
    pub sent: Vec<Value>,
    pub drafts: Vec<Value>,
    /// Messages moved to other folders (Archive, Deleted Items, the user's own), by well-known
    /// folder name.
    pub filed: Vec<(String, Value)>,
    pub events: Vec<Value>,
    pub people: Vec<Value>,
    pub contacts: Vec<Value>,
    pub teams: Vec<Value>,
    pub channels: Vec<(String, Value)>,
    /// Channel messages (newest first) by channel id, each with its `replies`.
    pub channel_messages: Vec<(String, Value)>,
    /// Chats the user is in.
    pub chats: Vec<Value>,
    /// Chat messages (newest first) by chat id.
    pub chat_messages: Vec<(String, Value)>,
    pub files: Vec<Value>,
    /// Drive items with content (`/me/drive/items/{id}`), and their bytes.
    pub drive: Vec<(Value, Vec<u8>)>,
    pub shared: Vec<Value>,
    /// Microsoft To Do lists, and their tasks by list id.
    pub task_lists: Vec<Value>,
    /// The directory: the user, their manager and colleagues, each with `managerId`.
    pub users: Vec<Value>,
    pub tasks: Vec<(String, Value)>,
    pub next_id: u64,
}

pub fn recipient(name: &str, address: &str) -> Value {
    json!({"emailAddress": {"name": name, "address": address}})
}

/// The default list's tasks (due today, in three days, undated, done) and one of the shared list.
fn tasks(now: Timestamp) -> Vec<(String, Value)> {
    let day = |days: i64| {
        let at = (now + SignedDuration::from_hours(24 * days)).strftime("%Y-%m-%dT00:00:00.0000000");
        json!({"dateTime": at.to_string(), "timeZone": "UTC"})
    };
    let task = |id: &str, title: &str, status: &str, due: Option<i64>| {
        let mut t = json!({"id": id, "title": title, "status": status, "importance": "normal",
                           "isReminderOn": false, "body": {"content": "", "contentType": "text"}});
        if let Some(d) = due {
            t["dueDateTime"] = day(d);
        }
        t
    };
    let mut urgent = task("task-q3", "Send Q3 numbers to Megan", "notStarted", Some(0));
    urgent["importance"] = json!("high");
    urgent["isReminderOn"] = json!(true);
    urgent["reminderDateTime"] =
        json!({"dateTime": ts(now - minutes(60)).trim_end_matches('Z'), "timeZone": "UTC"});
    vec![
        (
            "list-default".into(),
            task("task-venue", "Book the offsite venue", "inProgress", Some(3)),
        ),
        (
            "list-default".into(),
            task("task-passport", "Renew passport", "notStarted", None),
        ),
        ("list-default".into(), urgent),
        (
            "list-default".into(),
            task("task-expenses", "File expenses", "completed", Some(-2)),
        ),
        (
            "list-launch".into(),
            task("task-press", "Draft the press release", "notStarted", Some(5)),
        ),
    ]
}

/// The user reports to their manager, as do most colleagues; Lee and Nestor report to the user.
fn directory() -> Vec<Value> {
    let user = |name: &str, address: &str, title: &str, department: &str, manager: Option<&str>| {
        let id = format!("u-{}", address.split('@').next().unwrap_or(address));
        json!({"id": id, "displayName": name, "mail": address, "userPrincipalName": address,
               "jobTitle": title, "department": department, "officeLocation": "Building 2, 3rd floor",
               "businessPhones": ["+1 425 555 0100"], "managerId": manager})
    };
    let mut users = vec![
        user(MANAGER_NAME, MANAGER_ADDRESS, "Director", "Marketing", None),
        user(
            ME_NAME,
            ME_ADDRESS,
            "Product Manager",
            "Marketing",
            Some("u-miriam"),
        ),
    ];
    for (name, address) in &COLLEAGUES[1..] {
        let manager = if matches!(*name, "Lee Gu" | "Nestor Wilke") {
            "u-adele"
        } else {
            "u-miriam"
        };
        users.push(user(
            name,
            address,
            "Marketing Specialist",
            "Marketing",
            Some(manager),
        ));
    }
    users
}

/// A workbook, a document, an image, a file over the tools' limit and an attached message.
fn extra_attachments() -> Vec<Value> {
    let file = |id: &str, name: &str, size: u64, mime: &str| {
        json!({"@odata.type": "#microsoft.graph.fileAttachment", "id": id, "name": name, "size": size,
               "contentType": mime, "isInline": false})
    };
    vec![
        file(
            "att-12-xlsx",
            "Budget.xlsx",
            9_000,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        file(
            "att-12-docx",
            "Notes.docx",
            7_000,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        file("att-12-png", "photo.png", 40_000, "image/png"),
        file(
            "att-12-big",
            "Deck.pptx",
            40 * 1024 * 1024,
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        json!({"@odata.type": "#microsoft.graph.itemAttachment", "id": "att-12-item", "name": "Fwd: contract", "size": 30_000,
               "contentType": null, "isInline": false}),
    ]
}

/// The bytes of a seeded attachment, made when asked for (by its name's extension).
pub fn attachment_content(name: &str) -> Vec<u8> {
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("pdf") => mk_pdf(&[&[name], &["Spend is on plan."]]),
        Some("xlsx") => mk_xlsx(&[(
            "Q3",
            &[&["Item", "Cost"], &["Travel", "1200"], &["Licenses", "800"]],
        )]),
        Some("docx") => mk_docx(&p(&["Notes: ship on May 4."])),
        Some("png") => b"\x89PNG\r\n\x1a\n".to_vec(),
        _ => b"attachment".to_vec(),
    }
}

fn ts(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn minutes(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

impl Data {
    pub fn seeded(seed: &Seed) -> Self {
        let now = seed.now;
        let me = json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
            "displayName": ME_NAME, "givenName": "Adele", "surname": "Vance",
            "mail": ME_ADDRESS, "userPrincipalName": ME_ADDRESS,
            "jobTitle": "Product Marketing Manager", "officeLocation": "18/2111",
        });
        let manager = json!({
            "@odata.type": "#microsoft.graph.user",
            "id": "08fa38e4-cbfa-4488-94ed-c834da6539df",
            "displayName": MANAGER_NAME, "mail": MANAGER_ADDRESS, "userPrincipalName": MANAGER_ADDRESS,
            "jobTitle": "Director",
        });
        let inbox = (0..seed.inbox_messages).map(|i| inbox_message(i, now)).collect();
        let sent = (0..60).map(|i| sent_message(i, now)).collect();
        let mut events: Vec<Value> = (0..40).map(|i| event(i, now)).collect();
        // One the user organizes, beyond every window the tools read (at most 31 days).
        let own = now + SignedDuration::from_hours(24 * 40);
        events.push(json!({
            "id": "event-mine", "subject": "Budget review", "bodyPreview": "Numbers for Q3.",
            "start": {"dateTime": ts(own), "timeZone": "UTC"},
            "end": {"dateTime": ts(own + minutes(60)), "timeZone": "UTC"},
            "location": {"displayName": "Conf Room Adams"},
            "isOnlineMeeting": false, "onlineMeeting": null,
            "organizer": {"emailAddress": {"name": ME_NAME, "address": ME_ADDRESS}},
            "attendees": [{"type": "required", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}, "emailAddress": {"name": "Megan Bowen", "address": "megan@contoso.example"}}],
            "isCancelled": false, "showAs": "busy",
            "webLink": "https://outlook.office365.example/calendar/item/event-mine",
        }));
        let people = COLLEAGUES
            .iter()
            .enumerate()
            .map(|(i, (name, addr))| {
                json!({
                    "id": format!("person-{i}"), "displayName": name,
                    "givenName": name.split(' ').next(), "surname": name.split(' ').nth(1),
                    "jobTitle": if i == 0 { "Director" } else { "Engineer" },
                    "department": if i % 2 == 0 { "Marketing" } else { "Engineering" },
                    "companyName": "Contoso",
                    "scoredEmailAddresses": [{"address": addr, "relevanceScore": 30.0 - i as f64}],
                    "personType": {"class": "Person", "subclass": "OrganizationUser"},
                })
            })
            .collect();
        let contacts = COLLEAGUES
            .iter()
            .chain(EXTERNAL)
            .enumerate()
            .map(|(i, (name, addr))| {
                json!({
                    "id": format!("contact-{i}"), "displayName": name,
                    "givenName": name.split(' ').next(), "surname": name.split(' ').nth(1).unwrap_or(""),
                    "emailAddresses": [{"name": name, "address": addr}],
                    "businessPhones": [format!("+1 425 555 01{i:02}")],
                    "companyName": if addr.ends_with("contoso.example") { "Contoso" } else { "" },
                })
            })
            .collect();
        let teams = vec![
            json!({"id": "team-mark-8b0e", "displayName": "Marketing", "description": "Marketing team"}),
            json!({"id": "team-launch-1f2c", "displayName": "Product Launch", "description": "Launch war room"}),
        ];
        let channels = vec![
            (
                "team-mark-8b0e".into(),
                json!({"id": "19:general-mark@thread.tacv2", "displayName": "General", "description": "", "membershipType": "standard"}),
            ),
            (
                "team-mark-8b0e".into(),
                json!({"id": "19:campaigns@thread.tacv2", "displayName": "Campaigns", "description": "Campaign planning", "membershipType": "standard"}),
            ),
            (
                "team-launch-1f2c".into(),
                json!({"id": "19:general-launch@thread.tacv2", "displayName": "General", "description": "", "membershipType": "standard"}),
            ),
        ];
        let message = |id: &str, from: (&str, &str), minutes_ago: i64, html: &str| {
            json!({
                "id": id, "messageType": "message",
                "createdDateTime": ts(now - minutes(minutes_ago)),
                "from": {"user": {"displayName": from.0, "userIdentityType": "aadUser", "id": from.1}},
                "body": {"contentType": "html", "content": html},
            })
        };
        let (megan, alex, lee) = (COLLEAGUES[2], COLLEAGUES[1], COLLEAGUES[3]);
        let me_user = (ME_NAME, ME_ADDRESS);
        let channel_messages = vec![
            ("19:campaigns@thread.tacv2".to_owned(), {
                let mut m = message(
                    "cm-3",
                    megan,
                    30,
                    "<p>Spring campaign assets are <b>final</b>; review by Friday.</p>",
                );
                m["replies"] = json!([
                    message("cm-3-r1", alex, 20, "<p>Looks good to me.</p>"),
                    message("cm-3-r2", lee, 10, "<p>One typo on slide 4.</p>"),
                ]);
                m
            }),
            (
                "19:campaigns@thread.tacv2".to_owned(),
                json!(message(
                    "cm-2",
                    alex,
                    120,
                    "<p>Budget for paid social is approved.<script>x()</script></p>"
                )),
            ),
            (
                "19:campaigns@thread.tacv2".to_owned(),
                json!(message(
                    "cm-1",
                    lee,
                    600,
                    "<p>Kick-off notes are in the Campaigns wiki.</p>"
                )),
            ),
        ];
        let chats = vec![
            json!({"id": "19:megan-adele@unq.gbl.spaces", "topic": null, "chatType": "oneOnOne",
                   "webUrl": "https://teams.example/l/chat/19:megan-adele@unq.gbl.spaces",
                   "members": [{"displayName": "Megan Bowen"}, {"displayName": ME_NAME}]}),
            json!({"id": "19:design-crew@thread.v2", "topic": "Design crew", "chatType": "group",
                   "webUrl": "https://teams.example/l/chat/19:design-crew@thread.v2",
                   "members": [{"displayName": "Alex Wilber"}, {"displayName": "Lee Gu"}, {"displayName": ME_NAME}]}),
        ];
        let chat_messages = vec![
            (
                "19:megan-adele@unq.gbl.spaces".to_owned(),
                message(
                    "chat-3",
                    megan,
                    5,
                    "<p>Can you send me the Q3 numbers before 3 pm?</p>",
                ),
            ),
            ("19:design-crew@thread.v2".to_owned(), {
                let mut m = message(
                    "chat-d2",
                    lee,
                    15,
                    "<p><at id=\"0\">Adele</at> can you review the mockups today?</p>",
                );
                m["mentions"] = json!([{"id": 0, "mentionText": "Adele",
                        "mentioned": {"user": {"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "displayName": ME_NAME}}}]);
                m
            }),
            (
                "19:megan-adele@unq.gbl.spaces".to_owned(),
                message("chat-2", me_user, 50, "<p>Sure, after the sync.</p>"),
            ),
            (
                "19:megan-adele@unq.gbl.spaces".to_owned(),
                message("chat-1", megan, 55, "<p>Are you joining the budget sync?</p>"),
            ),
            (
                "19:design-crew@thread.v2".to_owned(),
                message("chat-d1", alex, 90, "<p>New mockups are up.</p>"),
            ),
        ];
        let files = (0..15)
            .map(|i| {
                let (author, _) = COLLEAGUES[i % COLLEAGUES.len()];
                let name = format!(
                    "{} {}.docx",
                    ["Budget", "Roadmap", "Launch plan", "Offsite"][i % 4],
                    2026 - (i % 3) as i64
                );
                json!({
                    "@odata.type": "#microsoft.graph.driveItem",
                    "id": format!("file-{i}"), "name": name, "size": 10_000 + i * 731,
                    "webUrl": format!("https://contoso.sharepoint.example/docs/file-{i}"),
                    "lastModifiedDateTime": ts(now - SignedDuration::from_hours(i as i64 * 9)),
                    "createdBy": {"user": {"displayName": author}},
                })
            })
            .collect();
        let item = |id: &str, name: &str, mime: &str, content: Vec<u8>| {
            let meta = json!({
                "id": id, "name": name, "size": content.len(),
                "webUrl": format!("https://contoso.sharepoint.example/docs/{id}"),
                "file": {"mimeType": mime},
                "parentReference": {"driveId": MY_DRIVE},
                "lastModifiedDateTime": ts(now - minutes(content.len() as i64 % 600)),
                "lastModifiedBy": {"user": {"displayName": ME_NAME}},
            });
            (meta, content)
        };
        let drive = vec![
            item(
                "file-notes",
                "Budget sync notes.md",
                "text/markdown",
                "# Budget sync\n\n- Q3 spend is 4 % under plan.\n- Megan sends the numbers by Friday.\n".into(),
            ),
            item(
                "file-csv",
                "Headcount.csv",
                "text/csv",
                "team,people\nMarketing,12\nLaunch,7\n".into(),
            ),
            item(
                "file-page",
                "Launch page.html",
                "text/html",
                "<html><head><script>steal()</script></head><body><h1>Launch</h1><p>Ships <b>May 4</b>.</p></body></html>".into(),
            ),
            item(
                "file-deck",
                "Roadmap.pptx",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                mk_pptx(&[&["Roadmap 2026"], &["Q3: launch in May", "Q4: second region"]]),
            ),
            item(
                "file-plan",
                "Launch plan.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                mk_docx(&format!(
                    "{}{}{}",
                    p(&["Launch plan"]),
                    p(&["We ship on May 4 in two regions."]),
                    table(&[&["Region", "Owner"], &["North", "Megan"], &["South", "Lee"]])
                )),
            ),
            item(
                "file-budget",
                "Budget 2026.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                mk_xlsx(&[("Summary", &[&["Team", "Budget"], &["Marketing", "120000"], &["Launch", "80000"]])]),
            ),
            item(
                "file-report",
                "Q3 report.pdf",
                "application/pdf",
                mk_pdf(&[&["Q3 report"], &["Spend is 4 % under plan."]]),
            ),
            item("file-broken", "Broken.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04 not a package".to_vec()),
            item("file-legacy", "Old budget.xls", "application/vnd.ms-excel", b"\xd0\xcf\x11\xe0 legacy".to_vec()),
            item("file-photo", "Team photo.png", "image/png", b"\x89PNG\r\n\x1a\n".to_vec()),
            // In Megan's OneDrive, shared with the user.
            {
                let (mut meta, content) = item(
                    "file-forecast",
                    "Forecast.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    mk_docx(&p(&["Forecast: revenue grows 12 % in Q4."])),
                );
                meta["parentReference"] = json!({"driveId": MEGAN_DRIVE});
                meta["shared"] = json!({"sharedDateTime": ts(now - minutes(90)),
                    "sharedBy": {"user": {"displayName": "Megan Bowen", "email": "megan@contoso.example"}}});
                (meta, content)
            },
            // Graph says it is 20 MiB; the double holds 2 MiB of it.
            {
                let (mut meta, content) = item("file-big", "Server log.txt", "text/plain", vec![b'x'; 2 * 1024 * 1024]);
                meta["size"] = json!(20 * 1024 * 1024);
                (meta, content)
            },
            item("file-binary", "notes.txt", "text/plain", b"abc\x00def".to_vec()),
        ];
        let shared = (0..10)
            .map(|i| {
                let (name, addr) = if i % 3 == 2 { (ME_NAME, ME_ADDRESS) } else { COLLEAGUES[1 + i % 4] };
                json!({
                    "id": format!("shared-{i}"),
                    "lastShared": {
                        "sharedDateTime": ts(now - SignedDuration::from_hours(i as i64 * 20)),
                        "sharedBy": {"displayName": name, "address": addr, "id": format!("u-{i}")},
                        "sharingSubject": format!("Shared: {}", SUBJECTS[i % SUBJECTS.len()]),
                        "sharingType": "Direct",
                    },
                    "resourceVisualization": {"title": format!("Shared doc {i}.pptx"), "type": "PowerPoint", "previewText": "Slides"},
                    "resourceReference": {"webUrl": format!("https://contoso.sharepoint.example/shared/{i}"), "id": format!("res-{i}"), "type": "microsoft.graph.driveItem"},
                })
            })
            .collect();
        Self {
            now,
            me,
            manager,
            inbox,
            sent,
            // One draft the user saved earlier (mail_send_draft sends it).
            drafts: vec![json!({
                "id": "draft-seeded", "subject": "Quarterly numbers", "isDraft": true,
                "parentFolderId": "drafts",
                "toRecipients": [recipient("Megan Bowen", "megan@contoso.example")],
                "body": {"contentType": "text", "content": "Hi Megan, the numbers are attached."},
                "bodyPreview": "Hi Megan, the numbers are attached.",
                "lastModifiedDateTime": ts(now - minutes(30)),
            })],
            filed: Vec::new(),
            events,
            people,
            contacts,
            teams,
            channels,
            channel_messages,
            chats,
            chat_messages,
            files,
            drive,
            shared,
            task_lists: vec![
                json!({"id": "list-default", "displayName": "Tasks", "isOwner": true, "isShared": false, "wellknownListName": "defaultList"}),
                json!({"id": "list-launch", "displayName": "Launch", "isOwner": false, "isShared": true, "wellknownListName": "none"}),
            ],
            tasks: tasks(now),
            users: directory(),
            next_id: 1,
        }
    }

    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-new-{}", self.next_id)
    }
}

fn inbox_message(i: usize, now: Timestamp) -> Value {
    let sender = match i % 7 {
        0 => EXTERNAL[i % EXTERNAL.len()],
        _ => COLLEAGUES[i % COLLEAGUES.len()],
    };
    let subject = SUBJECTS[i % SUBJECTS.len()];
    let me = recipient(ME_NAME, ME_ADDRESS);
    let other = recipient(
        COLLEAGUES[(i + 3) % COLLEAGUES.len()].0,
        COLLEAGUES[(i + 3) % COLLEAGUES.len()].1,
    );
    let (to, cc) = if i % 4 == 3 {
        (vec![other], vec![me])
    } else {
        (vec![me], vec![])
    };
    let mention = if i.is_multiple_of(9) {
        "@Adele could you take a look? "
    } else {
        ""
    };
    let script = if i == 0 {
        "<script>alert('x')</script><style>p{color:red}</style>"
    } else {
        ""
    };
    let preview = format!("{mention}Hi, notes on {subject}. Details inside.");
    let attachments: Vec<Value> = if i.is_multiple_of(6) {
        vec![
            json!({"@odata.type": "#microsoft.graph.fileAttachment", "id": format!("att-{i}"), "name": format!("report-{i}.pdf"), "size": 20_480 + i, "contentType": "application/pdf", "isInline": false}),
        ]
        .into_iter()
        // One message carries one attachment of each kind the tools meet.
        .chain(if i == 12 { extra_attachments() } else { Vec::new() })
        .collect()
    } else {
        vec![]
    };
    json!({
        "@odata.etag": format!("W/\"CQAAABYAAAA{i}\""),
        "id": format!("msg-{i:04}"),
        "conversationId": format!("conv-{:03}", i % 150),
        "subject": subject,
        "bodyPreview": preview,
        "body": {"contentType": "html", "content": format!("<html><head>{script}</head><body><p>{mention}Hi,</p><p>notes on <b>{subject}</b>.</p><ul><li>Details inside.</li></ul></body></html>")},
        "importance": if i.is_multiple_of(11) { "high" } else { "normal" },
        "isRead": i % 5 == 4,
        "isDraft": false,
        "hasAttachments": !attachments.is_empty(),
        "attachments": attachments,
        "flag": {"flagStatus": if i.is_multiple_of(13) { "flagged" } else { "notFlagged" }},
        "receivedDateTime": ts(now - minutes(i as i64 * 37 + 5)),
        "sentDateTime": ts(now - minutes(i as i64 * 37 + 6)),
        "from": recipient(sender.0, sender.1),
        "sender": recipient(sender.0, sender.1),
        "toRecipients": to,
        "ccRecipients": cc,
        "bccRecipients": [],
        "replyTo": [],
        "parentFolderId": "inbox",
        "webLink": format!("https://outlook.office365.example/owa/?ItemID=msg-{i:04}"),
    })
}

fn sent_message(i: usize, now: Timestamp) -> Value {
    // Most sent mail goes to a few close colleagues: they are the frequent correspondents.
    let to = COLLEAGUES[[1, 2, 1, 3, 2, 1, 4, 5][i % 8]];
    json!({
        "id": format!("sent-{i:04}"),
        "conversationId": format!("conv-{:03}", (i * 5) % 150),
        "subject": format!("Re: {}", SUBJECTS[i % SUBJECTS.len()]),
        "bodyPreview": "Thanks, will do.",
        "sentDateTime": ts(now - minutes(i as i64 * 90 + 10)),
        "receivedDateTime": ts(now - minutes(i as i64 * 90 + 10)),
        "from": recipient(ME_NAME, ME_ADDRESS),
        "toRecipients": [recipient(to.0, to.1)],
        "ccRecipients": [],
        "parentFolderId": "sentitems",
        "isRead": true,
    })
}

fn event(i: usize, now: Timestamp) -> Value {
    // Event 0 starts in two hours: the "next meeting" of the brief.
    let start = now + SignedDuration::from_hours(2) + SignedDuration::from_hours(17 * i as i64);
    let end = start + minutes(30 + 30 * (i % 2) as i64);
    let attendees: Vec<Value> = (0..3)
        .map(|k| {
            let (n, a) = COLLEAGUES[(i + k * 2) % COLLEAGUES.len()];
            json!({"type": if k == 2 { "optional" } else { "required" }, "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"}, "emailAddress": {"name": n, "address": a}})
        })
        .collect();
    json!({
        "id": format!("event-{i:03}"),
        "subject": if i == 0 { "Quarterly planning".to_string() } else { format!("{} sync", SUBJECTS[i % SUBJECTS.len()]) },
        "bodyPreview": "Agenda: status, risks, next steps.",
        "start": {"dateTime": ts(start), "timeZone": "UTC"},
        "end": {"dateTime": ts(end), "timeZone": "UTC"},
        "location": {"displayName": if i.is_multiple_of(2) { "Conf Room Baker" } else { "" }},
        "isOnlineMeeting": i % 2 == 1,
        "onlineMeeting": if i % 2 == 1 { json!({"joinUrl": format!("https://teams.example/l/meetup-join/{i}")}) } else { Value::Null },
        "organizer": {"emailAddress": {"name": COLLEAGUES[i % COLLEAGUES.len()].0, "address": COLLEAGUES[i % COLLEAGUES.len()].1}},
        "attendees": attendees,
        // Events 1 and 3 changed, event 2 was added and event 4 cancelled in the last hours; the
        // rest are weeks old.
        "createdDateTime": ts(now - if i == 2 { minutes(180) } else { SignedDuration::from_hours(24 * 30) }),
        "lastModifiedDateTime": ts(now - match i {
            1 | 3 => minutes(120),
            2 => minutes(180),
            4 => minutes(60),
            _ => SignedDuration::from_hours(24 * 20),
        }),
        "isCancelled": i == 4,
        "showAs": if i == 4 { "free" } else { "busy" },
        "webLink": format!("https://outlook.office365.example/calendar/item/event-{i:03}"),
    })
}
