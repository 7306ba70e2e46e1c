//! `stemedb mcp`: the StemeDB MCP server over stdio for an agent that spawns
//! it. The tools are `stemedb_mcp::StemeTools`; here they reach the server
//! given by `--server` (and `--token`) over HTTP.

use serde_json::Value;
use stemedb_mcp::rmcp::ServiceExt;
use stemedb_mcp::rmcp::transport::stdio;
use stemedb_mcp::{ApiRequest, Backend, Method, StemeTools, ToolError};

use crate::client::Client;
use crate::error::{CliError, Result};

/// Serve the MCP tools on stdin/stdout (JSON-RPC); the agent's MCP client
/// spawns this command. Logs and errors go to stderr.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The tools' backend: blocking HTTP calls on tokio's blocking pool.
pub struct HttpBackend {
    client: Client,
}

impl HttpBackend {
    /// A backend over `client`.
    pub fn new(client: Client) -> Self {
        HttpBackend { client }
    }
}

/// Turns a CLI error into the tool error an agent sees.
pub fn tool_error(e: CliError) -> ToolError {
    match e {
        CliError::Server {
            status,
            code,
            message,
            field,
            ..
        } => ToolError {
            status: Some(status),
            code,
            message,
            field,
        },
        other => ToolError::unreachable(other.to_string()),
    }
}

impl Backend for HttpBackend {
    async fn call(
        &self,
        req: ApiRequest,
        _authorization: Option<String>,
    ) -> std::result::Result<Value, ToolError> {
        let client = self.client.clone();
        let run = move || {
            let query: Vec<(&str, String)> = req
                .query
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            match (req.method, &req.body) {
                (Method::Get, _) => client.get_json(&req.path, &query),
                (Method::Post, Some(body)) => client.post_json(&req.path, body),
                (Method::Post, None) => client.post_json(&req.path, &Value::Null),
            }
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r.map_err(tool_error),
            Err(e) => Err(ToolError::unreachable(format!("request task failed: {e}"))),
        }
    }
}

/// Serves the tools on stdio until the client closes stdin.
pub fn run(_args: Args, client: &Client) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::io("starting the async runtime", e))?;
    let tools = StemeTools::new(HttpBackend::new(client.clone()));
    rt.block_on(async move {
        let service = tools
            .serve(stdio())
            .await
            .map_err(|e| CliError::Input(format!("MCP session failed to start: {e}")))?;
        service
            .waiting()
            .await
            .map_err(|e| CliError::Input(format!("MCP session ended with an error: {e}")))?;
        Ok(())
    })
}
