//! `mcp-tenant`: signs a user in to their mcp-tenancy tenant and bridges any stdio MCP client to
//! it. Messages for people go to stderr; stdout carries only MCP (bridge) or results (tools, call,
//! config).

mod bridge;
mod error;
mod oauth;
mod session;
mod shell;
mod snippet;
mod store;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use url::Url;

use crate::{
    error::{Error, Result},
    shell::Output,
    store::{Store, StoreKind},
};

const EXAMPLES: &str = "\
Examples:
  mcp-tenant login https://contoso.mcp.example.com/mcp
  mcp-tenant login --browser https://contoso.mcp.example.com/mcp
  mcp-tenant tools
  mcp-tenant call mail_search_messages --arg query=invoice --arg top:=5
  mcp-tenant call calendar_list_events --json '{\"days\": 7}' --output json
  mcp-tenant config claude https://contoso.mcp.example.com/mcp
  mcp-tenant bridge https://contoso.mcp.example.com/mcp   (what an MCP client runs)
  mcp-tenant logout

Exit codes: 0 done, 1 the tool answered with an error, 2 usage, 3 not signed in (log in again),
4 the server is unreachable or not an MCP server, 5 the local token store failed.";

#[derive(Parser, Debug)]
#[command(name = "mcp-tenant", version, about, after_help = EXAMPLES)]
struct Cli {
    /// Log level on stderr: error, warn, info, debug or trace.
    #[arg(long, global = true, env = "MCP_TENANT_LOG", default_value = "warn")]
    log_level: String,
    /// Where sign-ins are kept: the OS keyring when there is one (auto), the keyring only, or a
    /// file only the user can read.
    #[arg(long, global = true, env = "MCP_TENANT_STORE", value_enum, default_value_t = StoreKind::Auto)]
    store: StoreKind,
    /// Directory for the sign-in files and the default tenant [default: the user's config
    /// directory + mcp-tenant].
    #[arg(long, global = true, env = "MCP_TENANT_HOME")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign in to a tenant: the device code flow (a code to enter in any browser), or --browser.
    Login {
        /// The tenant's MCP endpoint, https://<tenant host>/mcp.
        url: String,
        /// Sign in in a browser on this machine (code + PKCE, redirected to 127.0.0.1).
        #[arg(long)]
        browser: bool,
        /// Do not try to open a browser; only print where to go.
        #[arg(long)]
        no_open: bool,
        /// A client ID metadata document URL, or a client ID registered with the tenant
        /// [default: registered now, when the tenant allows].
        #[arg(long)]
        client_id: Option<String>,
        /// Scopes to ask for, space-separated [default: the tenant's].
        #[arg(long)]
        scope: Option<String>,
    },
    /// Revoke the sign-in at the tenant and delete it here.
    Logout {
        /// The tenant's MCP endpoint [default: the one logged in to last].
        url: Option<String>,
    },
    /// Serve MCP on stdin/stdout for a local client, forwarding everything to the tenant.
    Bridge {
        /// The tenant's MCP endpoint.
        url: String,
    },
    /// List the tenant's tools.
    Tools {
        /// The tenant's MCP endpoint [default: the one logged in to last].
        #[arg(long, env = "MCP_TENANT_URL")]
        url: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Call one tool and print its result.
    Call {
        /// The tool's name (see `mcp-tenant tools`).
        tool: String,
        /// An argument: key=text, or key:=json for numbers, booleans, lists and objects.
        #[arg(long = "arg", value_name = "KEY=VALUE")]
        args: Vec<String>,
        /// All arguments as one JSON object (--arg entries are applied over it).
        #[arg(long)]
        json: Option<String>,
        /// The tenant's MCP endpoint [default: the one logged in to last].
        #[arg(long, env = "MCP_TENANT_URL")]
        url: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Print the configuration that makes a desktop client start the bridge.
    Config {
        #[arg(value_enum)]
        client: snippet::Client,
        /// The tenant's MCP endpoint [default: the one logged in to last].
        url: Option<String>,
        /// The server's name in the client [default: the tenant's first host label].
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_level);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mcp-tenant: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-tenant: {error}");
            error.exit_code()
        }
    }
}

fn init_logs(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{level},rmcp=warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// HTTP for OAuth: bounded in time, never following redirects (a token request goes where the
/// metadata says, nowhere else).
fn oauth_http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("mcp-tenant/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Server(format!("cannot start an HTTP client: {e}")))
}

/// HTTP for MCP: streams stay open as long as a call runs, so only connecting is bounded.
fn mcp_http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("mcp-tenant/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Server(format!("cannot start an HTTP client: {e}")))
}

struct Home {
    dir: PathBuf,
    store: Store,
}

impl Home {
    fn new(cli: &Cli) -> Result<Self> {
        let dir = match &cli.home {
            Some(dir) => dir.clone(),
            None => Store::default_dir()?,
        };
        Ok(Self {
            store: Store::new(cli.store, dir.clone()),
            dir,
        })
    }

    fn default_file(&self) -> PathBuf {
        self.dir.join("default-url")
    }

    /// `given`, else the tenant logged in to last.
    fn url(&self, given: Option<&str>) -> Result<Url> {
        if let Some(given) = given {
            return oauth::endpoint(given);
        }
        match std::fs::read_to_string(self.default_file()) {
            Ok(text) => oauth::endpoint(text.trim()),
            Err(_) => Err(Error::Usage(
                "which tenant? Pass its MCP endpoint URL (--url), or log in first".into(),
            )),
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .map_err(|_| Error::Server("another TLS provider was installed first".into()))?;
    let home = Home::new(&cli)?;
    match cli.command {
        Command::Login {
            url,
            browser,
            no_open,
            client_id,
            scope,
        } => {
            let url = oauth::endpoint(&url)?;
            login(
                &home,
                &url,
                browser,
                !no_open,
                client_id.as_deref(),
                scope.as_deref(),
            )
            .await
        }
        Command::Logout { url } => logout(&home, &home.url(url.as_deref())?).await,
        Command::Bridge { url } => {
            let url = oauth::endpoint(&url)?;
            let session = session::Session::open(oauth_http()?, home.store.clone(), url.as_str())?;
            // A sign-in that cannot be renewed is said now, not at the first request.
            session.token().await?;
            bridge::run(mcp_http()?, session).await
        }
        Command::Tools { url, output } => {
            let url = home.url(url.as_deref())?;
            let session = session::Session::open(oauth_http()?, home.store.clone(), url.as_str())?;
            shell::tools(mcp_http()?, session, output).await
        }
        Command::Call {
            tool,
            args,
            json,
            url,
            output,
        } => {
            let arguments = shell::arguments(json.as_deref(), &args)?;
            let url = home.url(url.as_deref())?;
            let session = session::Session::open(oauth_http()?, home.store.clone(), url.as_str())?;
            shell::call(mcp_http()?, session, &tool, arguments, output).await
        }
        Command::Config { client, url, name } => {
            let url = home.url(url.as_deref())?;
            let program = std::env::current_exe()
                .map(|path| path.display().to_string())
                .unwrap_or_else(|_| "mcp-tenant".into());
            let name = name.unwrap_or_else(|| snippet::default_name(&url));
            eprintln!("Add this to {}:", client.file());
            let value = snippet::snippet(client, &name, &program, &url);
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            Ok(())
        }
    }
}

async fn login(
    home: &Home,
    url: &Url,
    browser: bool,
    open: bool,
    client_id: Option<&str>,
    scope: Option<&str>,
) -> Result<()> {
    let http = oauth_http()?;
    let metadata = oauth::discover(&http, url).await?;
    let prompt = oauth::Prompt { open_browser: open };
    let sign_in = if browser {
        let loopback = oauth::Loopback::bind().await?;
        let flow = oauth::Flow::Browser(loopback.redirect_uri.clone());
        let client_id = oauth::client_id(&http, &metadata, client_id, &flow).await?;
        oauth::browser_sign_in(&http, &metadata, url, &client_id, scope, loopback, &prompt).await?
    } else {
        let client_id = oauth::client_id(&http, &metadata, client_id, &oauth::Flow::Device).await?;
        oauth::device_sign_in(&http, &metadata, url, &client_id, scope, &prompt).await?
    };
    // A sign-in replaced here would otherwise stay valid at the server.
    if let Ok(Some(previous)) = home.store.load(url.as_str())
        && let Err(error) = oauth::revoke(&http, &previous).await
    {
        tracing::warn!(%error, "could not revoke the previous sign-in");
    }
    let place = home.store.save(&sign_in)?;
    // The home directory may not exist yet: a keyring keeps the sign-in elsewhere.
    if let Err(error) = store::write_private(&home.default_file(), url.as_str().as_bytes()) {
        tracing::warn!(%error, "could not remember the default tenant");
    }
    eprintln!("Signed in to {url}; the sign-in is kept in {place}.");
    Ok(())
}

async fn logout(home: &Home, url: &Url) -> Result<()> {
    let Some(sign_in) = home.store.load(url.as_str())? else {
        eprintln!("Not signed in to {url}; nothing to do.");
        return Ok(());
    };
    let revoked = oauth::revoke(&oauth_http()?, &sign_in).await;
    home.store.delete(url.as_str())?;
    if let Ok(text) = std::fs::read_to_string(home.default_file())
        && text.trim() == url.as_str()
    {
        let _ = std::fs::remove_file(home.default_file());
    }
    match revoked {
        Ok(()) => {
            eprintln!("Signed out of {url}: the tokens are revoked and deleted.");
            Ok(())
        }
        Err(error) => Err(Error::Server(format!(
            "the tokens are deleted here, but {url} did not revoke them: {error}"
        ))),
    }
}
