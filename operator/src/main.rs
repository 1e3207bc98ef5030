fn main() -> std::process::ExitCode {
    mcp_tenancy_operator::cli::main()
}
