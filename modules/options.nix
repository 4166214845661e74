# The options of one gateway, shared by the NixOS and Home Manager modules, by the top
# level (services.clawdbot) and by every instance (services.clawdbot.instances.<name>).
# `d` holds the defaults that differ between them: package, stateDir, workspace (each with
# a *Text variant for the documentation).
{
  lib,
  json,
}:
d:
let
  document = lib.types.submodule {
    options = {
      source = lib.mkOption {
        type = lib.types.nullOr lib.types.path;
        default = null;
        description = "File to copy (a path in your configuration, copied to the store first).";
      };
      text = lib.mkOption {
        type = lib.types.nullOr lib.types.lines;
        default = null;
        description = "The document's text.";
      };
    };
  };
  # A path (./SOUL.md, or a store path string) is a source; any other string is text.
  toDocument = v: if builtins.isPath v || lib.isStorePath v then { source = v; } else { text = v; };
in
{
  package = lib.mkOption {
    type = lib.types.package;
    default = d.package;
    defaultText = d.packageText;
    description = "The clawdbot package to run.";
  };

  settings = lib.mkOption {
    description = ''
      Gateway configuration (clawdbot.json), validated by `clawdbot check-config` at build
      time. Any key of the original's config is accepted; secrets never go here (use
      `secrets`).

      Tool sandbox: `agents.defaults.sandbox` (the original's keys) confines each tool
      process with Landlock, seccomp and rlimits, no Docker and no namespaces, so it works
      inside this unit. Default `mode = "non-main"` (sessions other than the agent's main
      one are sandboxed; the original defaults to `"off"`), `workspaceAccess = "none"`,
      `docker.network = "none"`; limits: `docker.memory`, `docker.cpus`,
      `docker.pidsLimit`, `docker.ulimits`. `mode = "off"` turns it off.
    '';
    default = { };
    type = lib.types.submodule {
      freeformType = json.type;
      options.gateway = lib.mkOption {
        default = { };
        description = "The `gateway` section.";
        type = lib.types.submodule {
          freeformType = json.type;
          options = {
            port = lib.mkOption {
              type = lib.types.port;
              default = 18789;
              description = "Port for WebSocket and HTTP.";
            };
            bind = lib.mkOption {
              type = lib.types.enum [
                "loopback"
                "lan"
                "tailnet"
                "auto"
                "custom"
              ];
              default = "loopback";
              description = "Interfaces to listen on; anything but loopback needs a token or password.";
            };
            auth = lib.mkOption {
              default = { };
              description = "The `gateway.auth` section (secrets as files only).";
              type = lib.types.submodule {
                freeformType = json.type;
                options = {
                  mode = lib.mkOption {
                    type = lib.types.nullOr (
                      lib.types.enum [
                        "token"
                        "password"
                      ]
                    );
                    default = null;
                    description = "Auth mode (default: token, or password when only a password is set).";
                  };
                  tokenFile = lib.mkOption {
                    type = lib.types.nullOr lib.types.str;
                    default = null;
                    description = "File holding the gateway token (read at start, outside the store).";
                  };
                  passwordFile = lib.mkOption {
                    type = lib.types.nullOr lib.types.str;
                    default = null;
                    description = "File holding the gateway password.";
                  };
                };
              };
            };
          };
        };
      };
    };
  };

  configFile = lib.mkOption {
    type = lib.types.nullOr lib.types.path;
    default = null;
    description = "Use this config file instead of `settings` (it is not checked at build time).";
  };

  secrets = lib.mkOption {
    type = lib.types.attrsOf lib.types.path;
    default = { };
    example = lib.literalExpression ''{ gateway-token = "/run/agenix/clawdbot-token"; }'';
    description = ''
      Secret files, by name, passed to the gateway as files (NixOS: LoadCredential;
      Home Manager: the config's *File keys). Never read at evaluation, never copied to
      the store. Known names: gateway-token,
      gateway-password, telegram-bot-token (channels.telegram.tokenFile),
      discord-bot-token (channels.discord.tokenFile: a Discord bot, with the Message
      Content intent enabled in the Developer Portal), and
      `<provider>-api-key` for model providers (anthropic-api-key, openai-api-key, …;
      passed as `<PROVIDER>_API_KEY_FILE`).
    '';
  };

  environmentFile = lib.mkOption {
    type = lib.types.nullOr lib.types.path;
    default = null;
    description = "An EnvironmentFile= for the service (e.g. CLAWDBOT_GATEWAY_TOKEN=…); keep it outside the store.";
  };

  extraPackages = lib.mkOption {
    type = lib.types.listOf lib.types.package;
    default = [ ];
    description = "Programs on the service's PATH (tools the agent may run).";
  };

  logLevel = lib.mkOption {
    type = lib.types.enum [
      "error"
      "warn"
      "info"
      "debug"
      "trace"
    ];
    default = "info";
    description = "Log level.";
  };

  extraArgs = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    description = "Extra arguments to `clawdbot gateway`.";
  };

  stateDir = lib.mkOption {
    type = lib.types.str;
    default = d.stateDir;
    defaultText = d.stateDirText;
    description = "Runtime state (devices, sessions, logs, the generated token); never managed by Nix.";
  };

  workspace = {
    path = lib.mkOption {
      type = lib.types.str;
      default = d.workspace;
      defaultText = d.workspaceText;
      description = ''
        The agent's workspace: its documents and the files its tools work on. Passed to
        the gateway as `agents.defaults.workspace`, unless `settings` sets that key (then
        this defaults to it).
      '';
    };
    documents = lib.mkOption {
      type = lib.types.attrsOf (
        lib.types.coercedTo (lib.types.either lib.types.path lib.types.str) toDocument document
      );
      default = { };
      example = lib.literalExpression ''
        {
          "AGENTS.md" = ./documents/AGENTS.md;
          "SOUL.md" = ./documents/SOUL.md;
          "USER.md" = "I am Alice; I live in Lisbon.";
        }
      '';
      description = ''
        Documents copied into the workspace (AGENTS.md, SOUL.md, TOOLS.md, IDENTITY.md,
        USER.md, or any relative path), as regular files of mode 0600 owned by the
        gateway's user, not as links into the store. A path value is a file to copy, a
        string is the text itself (or give `{ source = …; }` / `{ text = …; }`).
        They are copied again on every switch (Home Manager) or start (NixOS), so edits the
        agent makes to a declared document do not survive; undeclared files are left
        alone, including documents you stop declaring.
      '';
    };
  };
}
