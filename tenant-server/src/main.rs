fn main() -> std::process::ExitCode {
    mcp_tenant_server::cli::main()
}
