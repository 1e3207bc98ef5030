//! The ceiling for scripts/bench-server: a bare axum endpoint answering a JSON-RPC tools/call
//! result of the same shape, with TCP_NODELAY, on 127.0.0.1. Prints its URL, runs until killed.

use axum::{Json, Router, routing::post, serve::ListenerExt};
use serde_json::{Value, json};

async fn call(Json(request): Json<Value>) -> Json<Value> {
    Json(json!({
        "jsonrpc": "2.0",
        "id": request.get("id").cloned().unwrap_or(Value::Null),
        "result": {
            "content": [{"type": "text", "text": "MCP server for Bench (version 0.1.0)"}],
            "structuredContent": {"tenant": "bench"},
            "isError": false
        }
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}/mcp", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, Router::new().route("/mcp", post(call))).await
}
