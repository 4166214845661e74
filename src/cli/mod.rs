//! The command line. Each subcommand is one run mode; `run` dispatches.

mod agent_cmds;
mod assistant_cmds;
mod channels_cmd;
mod check;
mod client_cmds;
mod config_cmd;
mod cron_cmd;
mod doctor;
mod doctor_openclaw;
mod gateway;
mod onboard;
pub mod service;
mod skills_cmd;
mod whatsapp_cmd;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use gateway::GatewayArgs;

const ABOUT: &str = "Clawdbot gateway: the always-on daemon of your personal AI assistant.\n\
Speaks the Clawdbot protocol v3, and OpenClaw's v4 beside it, on one port (default 127.0.0.1:18789) for CLIs, the Control UI and devices.";

const AFTER: &str = "Examples:\n  clawdbot gateway                       start on 127.0.0.1:18789 with built-in defaults\n  clawdbot gateway --bind lan --port 3000 --token \"$T\"\n  clawdbot health                        ask the running gateway how it is\n  clawdbot check-config ~/.clawdbot/clawdbot.json\n\n\
Files: config $CLAWDBOT_CONFIG_PATH or ~/.clawdbot/clawdbot.json (JSON5); state $CLAWDBOT_STATE_DIR or ~/.clawdbot.\n\
OpenClaw's names work too: OPENCLAW_* (wins over CLAWDBOT_*), ~/.openclaw, openclaw.json (docs/openclaw.md).";

#[derive(Debug, Parser)]
#[command(name = "clawdbot", version, about = ABOUT, after_help = AFTER, propagate_version = true)]
pub struct Cli {
    /// Use a named profile: state in ~/.clawdbot-NAME (letters, digits, '_' and '-').
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (or talk to a running one with `gateway call`).
    Gateway(GatewayArgs),
    /// Validate a config file exactly as the gateway would, without starting it.
    #[command(
        name = "check-config",
        after_help = "Examples:\n  clawdbot check-config\n  clawdbot check-config ./clawdbot.json --no-secrets   # at build time (Nix): secret files are not read\n\nExit status: 0 when valid, 1 when not (every problem is listed with its key path)."
    )]
    CheckConfig(check::CheckArgs),
    /// Show the running gateway's health: channels, agents, heartbeat, sessions.
    #[command(
        after_help = "Examples:\n  clawdbot health\n  clawdbot health --json\n  clawdbot health --url ws://10.0.0.5:18789 --token \"$T\""
    )]
    Health(client_cmds::HealthArgs),
    /// Show a status overview of the running gateway.
    #[command(after_help = "Examples:\n  clawdbot status\n  clawdbot status --json")]
    Status(client_cmds::StatusArgs),
    /// Print the Control UI URL (with the token) for this gateway.
    #[command(
        after_help = "Example:\n  clawdbot dashboard        # prints http://127.0.0.1:18789/#token=..."
    )]
    Dashboard(client_cmds::DashboardArgs),
    /// List, approve or reject paired devices.
    #[command(
        after_help = "Examples:\n  clawdbot devices list\n  clawdbot devices approve 6f1c...   # a requestId from `devices list`"
    )]
    Devices(client_cmds::DevicesArgs),
    /// Read or change the config file (refused in Nix mode, with the option to set instead).
    #[command(
        after_help = "Examples:\n  clawdbot config path\n  clawdbot config get gateway.port\n  clawdbot config set gateway.port 3000\n  clawdbot config unset gateway.bind"
    )]
    Config(config_cmd::ConfigArgs),
    /// Add, list and remove channel accounts (Telegram and Discord bot tokens); live status.
    Channels(channels_cmd::ChannelsArgs),
    /// How to update this install (cargo, Nix or Docker).
    Update,
    /// Check the setup: config, permissions, token, port, service, clock, disk.
    Doctor(doctor::DoctorArgs),
    /// Set up the assistant: model key, Telegram/Discord bot, gateway, workspace (and the service).
    Onboard(onboard::OnboardArgs),
    /// Send a message to a chat through a channel account.
    Message(agent_cmds::MessageArgs),
    /// Ask the agent something and print its answer (optionally deliver it to a chat).
    Agent(agent_cmds::AgentArgs),
    /// Sessions of the running gateway, or one session's last messages.
    #[command(
        after_help = "Examples:\n  clawdbot sessions\n  clawdbot sessions show agent:main:main --limit 10\n  clawdbot sessions --json"
    )]
    Sessions(agent_cmds::SessionsArgs),
    /// The gateway's log (its JSON log file), optionally followed.
    Logs(agent_cmds::LogsArgs),
    /// Models the gateway knows; `models status` checks the configured chain's keys.
    #[command(after_help = "Examples:\n  clawdbot models\n  clawdbot models status")]
    Models(agent_cmds::ModelsArgs),
    /// Let Telegram and Discord senders in: list pending pairing codes, approve one.
    #[command(
        after_help = "An unknown sender who messages the bot gets an 8-character code (valid for an hour).\n\nExamples:\n  clawdbot pairing list\n  clawdbot pairing list discord\n  clawdbot pairing approve telegram K7QX2M9P"
    )]
    Pairing(assistant_cmds::PairingArgs),
    /// Decide on commands the agent wants to run (tools.exec.ask).
    #[command(
        after_help = "Examples:\n  clawdbot approvals list\n  clawdbot approvals approve 3f9a...          # run it once\n  clawdbot approvals approve 3f9a... --always # and remember the program\n  clawdbot approvals deny 3f9a..."
    )]
    Approvals(assistant_cmds::ApprovalsArgs),
    /// List and check skills (workspace, managed, extra dirs) offline, from the config.
    #[command(after_help = skills_cmd::AFTER)]
    Skills(skills_cmd::SkillsArgs),
    /// Scheduled jobs: list, add, edit, rm, run, runs (on the running gateway).
    Cron(Box<cron_cmd::CronArgs>),
}

/// Connection options shared by the client commands.
#[derive(Debug, Clone, Args, Default)]
pub struct ConnectOpts {
    /// Gateway WebSocket URL (default: ws://127.0.0.1:<port> from the config).
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,
    /// Gateway token (default: CLAWDBOT_GATEWAY_TOKEN, the config, or the generated token).
    #[arg(long, value_name = "TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Gateway password, when the gateway uses password auth.
    #[arg(long, value_name = "PASSWORD", global = true)]
    pub password: Option<String>,
    /// Give up after this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000, global = true)]
    pub timeout: u64,
}

impl Cli {
    /// Whether this invocation runs the gateway itself (long-lived, writes to child
    /// pipes) rather than a command whose output may be piped into `head`.
    pub fn runs_server(&self) -> bool {
        matches!(
            &self.command,
            Command::Gateway(GatewayArgs {
                command: None | Some(gateway::GatewayCommand::Run(_)),
                ..
            })
        )
    }
}

pub fn run(cli: Cli) -> ExitCode {
    if let Some(p) = &cli.profile
        && let Err(e) = crate::paths::check_profile(p)
    {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let profile = cli.profile.as_deref();
    match cli.command {
        Command::Gateway(args) => gateway::run(args, profile),
        Command::CheckConfig(args) => check::run(args, profile),
        Command::Health(args) => client_cmds::health(args, profile),
        Command::Status(args) => client_cmds::status(args, profile),
        Command::Dashboard(args) => client_cmds::dashboard(args, profile),
        Command::Devices(args) => client_cmds::devices(args, profile),
        Command::Config(args) => config_cmd::run(args, profile),
        Command::Channels(args) => channels_cmd::run(args, profile),
        Command::Update => channels_cmd::update(),
        Command::Doctor(args) => doctor::run(args, profile),
        Command::Onboard(args) => onboard::run(args, profile),
        Command::Message(args) => agent_cmds::message(args, profile),
        Command::Agent(args) => agent_cmds::agent(args, profile),
        Command::Sessions(args) => agent_cmds::sessions(args, profile),
        Command::Logs(args) => agent_cmds::logs(args, profile),
        Command::Models(args) => agent_cmds::models(args, profile),
        Command::Pairing(args) => assistant_cmds::pairing(args, profile),
        Command::Approvals(args) => assistant_cmds::approvals(args, profile),
        Command::Skills(args) => skills_cmd::run(args, profile),
        Command::Cron(args) => cron_cmd::run(*args, profile),
    }
}

/// A tokio runtime for one-shot client commands.
fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}
