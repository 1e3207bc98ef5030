//! The Microsoft 365 tools through the real MCP endpoint (`tools/list`, `tools/call` over
//! Streamable HTTP with a signed client token): the client's token is exchanged on-behalf-of and
//! never reaches Graph, read-only mode drops the writing tools, Graph failures are tool errors,
//! and meeting_brief's progress arrives as `notifications/progress`.

use std::time::Duration;

use mcp_graph_double::{Fault, FaultRule, Seed};
use mcp_tenancy_config::catalog::{TOOL_CATALOG, ToolGroup};
use serde_json::{Value, json};
use support::{
    Client, LocalIssuer,
    m365::{GraphSetup, graph_setup},
    router, state,
};

use crate::support;

/// The double (default seed), an IdP that exchanges exactly `client_token`, and the tools.
async fn setup(client_token: &str) -> GraphSetup {
    graph_setup(&Seed::default(), client_token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_and_call_through_mcp_with_on_behalf_of() {
    let issuer = LocalIssuer::start().await;
    let token = issuer.token("adele", json!({}));
    let s = setup(&token).await;
    let mut client = Client::new(router(state(issuer.config("", ""), s.tools)), &token);
    client.initialize().await;

    let mut names = client.tool_names().await;
    names.sort();
    // External mode: every tool but the admin tools (Builtin mode's grants).
    let mut all: Vec<String> = TOOL_CATALOG
        .iter()
        .filter(|t| t.group != ToolGroup::Admin)
        .map(|t| t.name.to_string())
        .collect();
    all.sort();
    assert_eq!(names, all);

    let reply = client
        .call(
            2,
            "tools/call",
            json!({"name": "mail_list_messages", "arguments": {"unread_only": true, "count": 3}}),
        )
        .await;
    let result = reply.result();
    assert_ne!(result["isError"], true, "{}", reply.text);
    assert_eq!(
        result["structuredContent"]["messages"].as_array().unwrap().len(),
        3,
        "{}",
        reply.text
    );
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("3 message(s) in inbox")
    );

    let reqs = s.double.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer graph-obo-mcp"));
    for r in &reqs {
        let all = format!("{:?} {} {:?}", r.headers, r.raw_query, r.body);
        assert!(!all.contains(&token), "the client token reached Graph");
    }

    // Graph failing is a tool error the model can act on, not a protocol error.
    s.double.push_fault(FaultRule::once(Fault::Throttle {
        retry_after_secs: 120,
    }));
    let reply = client
        .call(
            3,
            "tools/call",
            json!({"name": "teams_list_teams", "arguments": {}}),
        )
        .await;
    let result = reply.result();
    assert_eq!(result["isError"], true, "{}", reply.text);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("try again in 120 seconds"),
        "{}",
        reply.text
    );

    // Bad arguments are refused before Graph.
    let before = s.double.requests().len();
    let reply = client
        .call(
            4,
            "tools/call",
            json!({"name": "mail_list_messages", "arguments": {"count": 500}}),
        )
        .await;
    assert_eq!(reply.result()["isError"], true, "{}", reply.text);
    assert_eq!(s.double.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tenants_do_not_offer_writing_tools() {
    let issuer = LocalIssuer::start().await;
    let token = issuer.token("adele", json!({}));
    let s = setup(&token).await;
    let config = issuer.config("", "tools: {readOnly: true, teams: false}\n");
    let client = {
        let mut c = Client::new(router(state(config, s.tools)), &token);
        c.initialize().await;
        c
    };
    let names = client.tool_names().await;
    for entry in TOOL_CATALOG {
        let offered = names.iter().any(|n| n == entry.name);
        let expected = entry.group != ToolGroup::Admin && !entry.writes && !entry.name.starts_with("teams_");
        assert_eq!(offered, expected, "{}", entry.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meeting_brief_progress_reaches_the_mcp_client() {
    let issuer = LocalIssuer::start().await;
    let token = issuer.token("adele", json!({}));
    let s = setup(&token).await;
    let mut client = Client::new(router(state(issuer.config("", ""), s.tools)), &token);
    client.initialize().await;
    let reply = client
        .call(
            7,
            "tools/call",
            json!({"name": "meeting_brief", "arguments": {}, "_meta": {"progressToken": "brief-1"}}),
        )
        .await;
    let progress: Vec<&Value> = reply
        .messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 4, "{}", reply.text);
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "brief-1" && p["params"]["total"] == 4.0)
    );
    let steps: Vec<f64> = progress
        .iter()
        .map(|p| p["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(steps, vec![1.0, 2.0, 3.0, 4.0]);
    assert!(
        progress[0]["params"]["message"]
            .as_str()
            .unwrap()
            .contains("Quarterly planning")
    );
    let brief = &reply.result()["structuredContent"];
    assert_eq!(brief["meeting"]["subject"], "Quarterly planning");
    assert_eq!(brief["attendees"].as_array().unwrap().len(), 3);
}

/// Collects the progress notifications rmcp's own client receives.
struct ProgressCollector(tokio::sync::mpsc::UnboundedSender<rmcp::model::ProgressNotificationParam>);

impl rmcp::ClientHandler for ProgressCollector {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        let _ = self.0.send(params);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_over_a_socket_sees_meeting_brief_progress() {
    use rmcp::{
        ServiceExt,
        model::CallToolRequestParams,
        transport::{
            StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };

    let issuer = LocalIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let token = issuer.token("adele", json!({"aud": format!("{public}/mcp")}));
    let s = setup(&token).await;
    let config = support::config(&public, support::ISSUER, &issuer.jwks_url(), "", "");
    let app = router(state(config, s.tools));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{public}/mcp")).auth_header(token.clone()),
    );
    let client = ProgressCollector(tx).serve(transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "meeting_brief"));
    let mut params = CallToolRequestParams::new("meeting_brief");
    params.arguments = Some(serde_json::Map::new());
    let result = client.call_tool(params).await.unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let brief = result.structured_content.unwrap();
    assert_eq!(brief["meeting"]["subject"], "Quarterly planning");
    let mut steps = Vec::new();
    while let Ok(Some(p)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        steps.push((p.progress, p.total));
        if steps.len() == 4 {
            break;
        }
    }
    assert_eq!(
        steps,
        vec![
            (1.0, Some(4.0)),
            (2.0, Some(4.0)),
            (3.0, Some(4.0)),
            (4.0, Some(4.0))
        ]
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_follow_the_callers_tiers_and_check_their_arguments() {
    let issuer = LocalIssuer::start().await;
    let token = issuer.token("adele", json!({}));
    let s = setup(&token).await;
    // Everyone may read mail and the calendar; only Mail.Sender may draft.
    let tiers = "access:
  tiers:
    - {name: readers, roles: ['*'], tools: [inbox_triage, mail_get_message, calendar_list_events, meeting_brief, people_search, calendar_find_meeting_times]}
    - {name: drafters, roles: [Mail.Sender], tools: [mail_create_draft]}
";
    let router = router(state(issuer.config("", tiers), s.tools));
    let prompt_names = async |client: &Client| {
        let reply = client.call(1, "prompts/list", json!({})).await;
        let mut names: Vec<String> = reply.result()["prompts"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", reply.text))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let mut reader = Client::new(router.clone(), &token);
    let init = reader.initialize().await;
    assert!(
        init.result()["capabilities"]["prompts"].is_object(),
        "{}",
        init.text
    );
    assert_eq!(
        prompt_names(&reader).await,
        ["find_time", "prepare_next_meeting", "triage_inbox"],
        "draft_reply needs mail_create_draft"
    );
    let mut drafter = Client::new(router, &issuer.token("bo", json!({"roles": ["Mail.Sender"]})));
    drafter.initialize().await;
    assert_eq!(
        prompt_names(&drafter).await,
        ["draft_reply", "find_time", "prepare_next_meeting", "triage_inbox"]
    );

    let get = async |client: &Client, params: Value| client.call(2, "prompts/get", params).await;
    let reply = get(
        &drafter,
        json!({"name": "draft_reply", "arguments": {"message_id": "AAMk1", "tone": "warm"}}),
    )
    .await;
    let message = &reply.result()["messages"][0];
    assert_eq!(message["role"], "user", "{}", reply.text);
    let text = message["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("\"AAMk1\"") && text.contains("in this tone: \"warm\""),
        "{text}"
    );
    // Forbidden is answered like unknown; bad arguments are named.
    let forbidden = get(
        &reader,
        json!({"name": "draft_reply", "arguments": {"message_id": "AAMk1"}}),
    )
    .await;
    let unknown = get(&reader, json!({"name": "no_such_prompt"})).await;
    assert_eq!(forbidden.error_code(), -32602);
    assert_eq!(
        forbidden.response()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("draft_reply", "X"),
        unknown.response()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("no_such_prompt", "X"),
    );
    let missing = get(&drafter, json!({"name": "draft_reply"})).await;
    assert_eq!(missing.error_code(), -32602);
    assert!(
        missing.text.contains("argument \\\"message_id\\\" is required"),
        "{}",
        missing.text
    );
    let long = "x".repeat(501);
    let oversized = get(
        &reader,
        json!({"name": "triage_inbox", "arguments": {"focus": long}}),
    )
    .await;
    assert!(
        oversized.text.contains("longer than 500 characters"),
        "{}",
        oversized.text
    );
    // Completions of prompt arguments: the suggestions that start with what was typed.
    let complete = async |client: &Client, prompt: &str, argument: &str, value: &str| {
        let params = json!({"ref": {"type": "ref/prompt", "name": prompt}, "argument": {"name": argument, "value": value}});
        client.call(3, "completion/complete", params).await
    };
    let values = |reply: &support::Reply| reply.result()["completion"]["values"].clone();
    assert_eq!(
        values(&complete(&drafter, "draft_reply", "tone", "B").await),
        json!(["brief and friendly"])
    );
    assert_eq!(
        values(&complete(&reader, "find_time", "duration", "1").await),
        json!(["15 minutes", "1 hour"])
    );
    assert_eq!(
        values(&complete(&reader, "find_time", "attendees", "A").await),
        json!([])
    );
    let forbidden = complete(&reader, "draft_reply", "tone", "").await;
    assert_eq!(forbidden.error_code(), -32602, "{}", forbidden.text);
    assert!(
        forbidden.text.contains("unknown prompt: draft_reply"),
        "{}",
        forbidden.text
    );
    let unknown = complete(&reader, "find_time", "colour", "").await;
    assert!(
        unknown.text.contains("unknown argument \\\"colour\\\""),
        "{}",
        unknown.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_messages_are_resources_read_with_the_callers_tiers_and_token() {
    let issuer = LocalIssuer::start().await;
    let token = issuer.token("adele", json!({"roles": ["Mail.Reader"]}));
    let s = setup(&token).await;
    let tiers = "access:
  tiers:
    - {name: everyone, roles: ['*'], tools: [whoami]}
    - {name: readers, roles: [Mail.Reader], tools: [mail_get_message, calendar_get_event, mail_list_messages, teams_read_chat, files_read_text]}
    - {name: listers, roles: [Mail.Lister], tools: [mail_list_messages]}
";
    let router = router(state(issuer.config("", tiers), s.tools));
    let mut reader = Client::new(router.clone(), &token);
    reader.initialize().await;
    let mut other = Client::new(router.clone(), &issuer.token("bo", json!({"roles": []})));
    other.initialize().await;
    let templates = async |client: &Client| {
        let reply = client.call(1, "resources/templates/list", json!({})).await;
        reply.result()["resourceTemplates"].clone()
    };
    let read = async |client: &Client, uri: &str| client.call(2, "resources/read", json!({"uri": uri})).await;
    let listed = templates(&reader).await;
    assert_eq!(listed[0]["uriTemplate"], "m365://mail/messages/{id}", "{listed}");
    assert_eq!(listed[0]["mimeType"], "text/plain");
    assert_eq!(
        listed[1]["uriTemplate"], "m365://calendar/events/{id}",
        "{listed}"
    );
    assert_eq!(
        templates(&other).await,
        json!([]),
        "a caller without the tool sees no template"
    );

    let reply = read(&reader, "m365://mail/messages/msg-0000").await;
    let contents = &reply.result()["contents"][0];
    assert_eq!(contents["uri"], "m365://mail/messages/msg-0000", "{}", reply.text);
    assert_eq!(contents["mimeType"], "text/plain");
    let text = contents["text"].as_str().unwrap();
    assert!(text.contains("notes on Q3 budget review"), "{text}");
    assert!(!text.contains("<script"), "{text}");
    let graph = s.double.requests();
    let last = graph.last().unwrap();
    assert_eq!(last.path, "/me/messages/msg-0000");
    assert_eq!(last.header("authorization"), Some("Bearer graph-obo-mcp"));
    let event = read(&reader, "m365://calendar/events/event-000").await;
    let text = event.result()["contents"][0]["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("Quarterly planning\n"), "{text}");
    assert!(text.contains("(UTC)\nWhere: Conf Room Baker"), "{text}");
    assert_eq!(s.double.requests().last().unwrap().path, "/me/events/event-000");
    let chat = read(&reader, "m365://teams/chats/19%3Amegan-adele%40unq.gbl.spaces").await;
    let text = chat.result()["contents"][0]["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("Megan Bowen: Can you send me the Q3 numbers"),
        "{text}"
    );
    assert_eq!(
        s.double.requests().last().unwrap().path,
        "/me/chats/19:megan-adele@unq.gbl.spaces/messages"
    );
    let file = read(&reader, "m365://files/items/file-notes").await;
    let text = file.result()["contents"][0]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("- Megan sends the numbers by Friday."), "{text}");
    // A Word document reads as its text.
    let plan = read(&reader, "m365://files/items/file-plan").await;
    let text = plan.result()["contents"][0]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("We ship on May 4 in two regions."), "{text}");
    // A file no reader understands is refused naming the resource and the type.
    let photo = read(&reader, "m365://files/items/file-photo").await;
    assert_eq!(photo.error_code(), -32603, "{}", photo.text);
    assert!(
        photo.text.contains("m365://files/items/file-photo") && photo.text.contains("image"),
        "{}",
        photo.text
    );

    // Listing mail links each message as a resource, for a caller who may read it.
    let list = json!({"name": "mail_list_messages", "arguments": {"count": 2}});
    let reply = reader.call(5, "tools/call", list.clone()).await;
    let content = reply.result()["content"].as_array().unwrap().clone();
    let ids: Vec<&str> = reply.result()["structuredContent"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(content.len(), 3, "{}", reply.text);
    for (link, id) in content[1..].iter().zip(&ids) {
        assert_eq!(link["type"], "resource_link", "{link}");
        assert_eq!(link["uri"], format!("m365://mail/messages/{id}"));
        assert!(!link["name"].as_str().unwrap().is_empty(), "{link}");
    }
    let mut lister = Client::new(
        router.clone(),
        &issuer.token("lee", json!({"roles": ["Mail.Lister"]})),
    );
    lister.initialize().await;
    let reply = lister.call(5, "tools/call", list).await;
    let content = reply.result()["content"].as_array().unwrap().clone();
    assert_eq!(
        content.len(),
        1,
        "no links to what lee may not read: {}",
        reply.text
    );
    // Nor to what the tenant does not offer, whatever the tiers allow.
    let without_reader = format!("{tiers}tools: {{disabled: [mail_get_message]}}\n");
    let s2 = setup(&token).await;
    let router2 = support::router(state(issuer.config("", &without_reader), s2.tools));
    let mut disabled = Client::new(router2, &token);
    disabled.initialize().await;
    let reply = disabled
        .call(
            5,
            "tools/call",
            json!({"name": "mail_list_messages", "arguments": {"count": 2}}),
        )
        .await;
    let content = reply.result()["content"].as_array().unwrap().clone();
    assert_eq!(content.len(), 1, "no links to a disabled reader: {}", reply.text);
    let listed = disabled.call(1, "resources/templates/list", json!({})).await;
    assert!(!listed.text.contains("m365://mail/messages/"), "{}", listed.text);

    // Not found: an item Graph does not have, a caller without the tool, an unknown scheme.
    let not_found = |reply: &support::Reply, uri: &str| {
        assert_eq!(reply.error_code(), -32602, "{}", reply.text);
        assert_eq!(reply.response()["error"]["data"]["uri"], uri, "{}", reply.text);
    };
    for (client, uri) in [
        (&reader, "m365://mail/messages/nope"),
        (&other, "m365://mail/messages/msg-0000"),
        (&reader, "m365://calendar/events/e1"),
        (&reader, "m365://teams/chats/c1"),
        (&reader, "m365://files/items/f1"),
        (&reader, "m365://drive/items/file-notes"),
        (&reader, "file:///etc/passwd"),
    ] {
        not_found(&read(client, uri).await, uri);
    }
    // Malformed ids are refused before Graph, naming the URI.
    let before = s.double.requests().len();
    let long = format!("m365://mail/messages/{}", "a".repeat(600));
    for uri in [
        "m365://mail/messages/",
        "m365://mail/messages/a/b",
        "m365://mail/messages/%2E%2E%2Fme",
        "m365://mail/messages/%FF",
        "m365://mail/messages/a%00b",
        long.as_str(),
    ] {
        let reply = read(&reader, uri).await;
        assert_eq!(reply.error_code(), -32602, "{uri}: {}", reply.text);
        assert!(
            reply.text.contains("resource URI m365://mail/messages/"),
            "{}",
            reply.text
        );
    }
    assert_eq!(s.double.requests().len(), before);
    // Graph failing is an error naming the resource, with no token in it.
    s.double
        .push_fault(FaultRule::once(Fault::Throttle { retry_after_secs: 30 }));
    let busy = read(&reader, "m365://mail/messages/msg-0001").await;
    assert_eq!(busy.error_code(), -32603, "{}", busy.text);
    assert!(busy.text.contains("try again in 30 seconds"), "{}", busy.text);
    assert!(!busy.text.contains("graph-obo"), "{}", busy.text);
}
