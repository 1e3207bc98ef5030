//! `config CLIENT`: the snippet that makes a desktop MCP client start the bridge.

use serde_json::{Value, json};
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Claude Desktop: claude_desktop_config.json.
    Claude,
    /// VS Code: .vscode/mcp.json (or the user's mcp.json).
    Vscode,
    /// Cursor: ~/.cursor/mcp.json or .cursor/mcp.json.
    Cursor,
}

impl Client {
    /// Where the snippet goes, for the line printed above it.
    pub fn file(self) -> &'static str {
        match self {
            Client::Claude => {
                "Claude Desktop's claude_desktop_config.json (Settings > Developer > Edit Config)"
            }
            Client::Vscode => ".vscode/mcp.json in a workspace, or MCP: Open User Configuration",
            Client::Cursor => "~/.cursor/mcp.json, or .cursor/mcp.json in a project",
        }
    }
}

/// A name for the server entry: the tenant's first host label ("contoso" of contoso.mcp.example.com).
pub fn default_name(url: &Url) -> String {
    let host = url.host_str().unwrap_or("tenant");
    let label = host.split('.').next().unwrap_or(host);
    let name: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
        "mcp-tenant".into()
    } else {
        name
    }
}

pub fn snippet(client: Client, name: &str, program: &str, url: &Url) -> Value {
    let args = json!(["bridge", url.as_str()]);
    match client {
        Client::Claude | Client::Cursor => json!({
            "mcpServers": { name: { "command": program, "args": args } }
        }),
        Client::Vscode => json!({
            "servers": { name: { "type": "stdio", "command": program, "args": args } }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_own_shape() {
        let url = Url::parse("https://contoso.mcp.example.com/mcp").unwrap();
        assert_eq!(default_name(&url), "contoso");
        assert_eq!(
            default_name(&Url::parse("http://127.0.0.1:8080/mcp").unwrap()),
            "mcp-tenant"
        );
        let bridge = json!({"command": "/usr/local/bin/mcp-tenant", "args": ["bridge", "https://contoso.mcp.example.com/mcp"]});
        let claude = snippet(Client::Claude, "contoso", "/usr/local/bin/mcp-tenant", &url);
        assert_eq!(claude, json!({"mcpServers": {"contoso": bridge}}));
        assert_eq!(
            snippet(Client::Cursor, "contoso", "/usr/local/bin/mcp-tenant", &url),
            claude
        );
        let vscode = snippet(Client::Vscode, "contoso", "/usr/local/bin/mcp-tenant", &url);
        assert_eq!(vscode["servers"]["contoso"]["type"], "stdio");
        assert_eq!(vscode["servers"]["contoso"]["args"], bridge["args"]);
    }
}
